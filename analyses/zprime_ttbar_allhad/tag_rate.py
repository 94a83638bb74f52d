"""Tag-rate function (TRF): the per-jet mistag rate of QCD jets in bins of jet pT.

When simulation is too scarce to count doubly-tagged multijet events directly, the boosted
t tbar resonance searches estimate them from pre-tag events weighted by the probability
that their jets would be tagged, a mistag rate measured per jet (CMS arXiv:1810.05905 uses
such a rate measured in data). Here the rate is measured on the jets of the QCD sample:

    r_i = sum_j w_j t_j / sum_j w_j    over jets j with pT in bin i,

with event weights ``w`` and tag decisions ``t`` (0/1). Its statistical error is the
weighted-binomial one, ``sqrt(sum_j w_j^2 (t_j - r_i)^2) / sum_j w_j``; a bin without a
single tag (or with all jets tagged) gets the one-jet bound ``1 / n_eff`` instead, with
``n_eff = (sum w)^2 / sum w^2``. An event whose two jets have rates p1 and p2 enters the
double-tag region with weight ``p1 p2`` and the exactly-one region with weight
``p1 (1 - p2) + p2 (1 - p1)``.

Closure by construction: applied to the jets it was measured on, the TRF gives exactly the
weighted number of tagged jets per pT bin (``sum_j w_j r(pT_j) = sum_j w_j t_j``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from surrotag.errors import InputValueError

__all__ = ["TRF_PT_EDGES", "TagRateFunction", "tag_rate_function"]

#: Jet-pT bin edges (GeV) of the TRF: the card's subleading-jet threshold (400 GeV) upwards,
#: the efficiency-map binning of the shipped surrogates (surrotag.reference.ship) above it.
#: Jets outside the edges take the rate of the nearest bin.
TRF_PT_EDGES: Final = (400.0, 500.0, 600.0, 800.0, 1000.0, 1300.0, 1700.0, 2500.0, 6500.0)


@dataclass(frozen=True)
class TagRateFunction:
    """Mistag rate per jet-pT bin with its statistical error.

    Attributes:
        pt_edges: bin edges ``[B + 1]`` in GeV.
        rate: weighted tag rate per bin ``[B]``.
        error: its statistical error ``[B]``.
        n_jets: jets measured per bin ``[B]`` (unweighted).
        n_tagged: tagged jets per bin ``[B]`` (unweighted).
    """

    pt_edges: np.ndarray
    rate: np.ndarray
    error: np.ndarray
    n_jets: np.ndarray
    n_tagged: np.ndarray

    @property
    def n_bins(self) -> int:
        """Number of pT bins B."""
        return int(self.rate.size)

    def bin_index(self, pt: Any) -> np.ndarray:
        """Bin of each jet pT (GeV); below the first edge -> 0, above the last -> B - 1."""
        pt = np.asarray(pt, dtype=np.float64)
        index = np.searchsorted(self.pt_edges, pt, side="right") - 1
        return np.clip(index, 0, self.n_bins - 1)

    def __call__(self, pt: Any) -> np.ndarray:
        """Tag probability of jets with transverse momenta ``pt`` (GeV), any shape."""
        return self.rate[self.bin_index(pt)]

    def varied(self, index: int, sign: float) -> TagRateFunction:
        """The TRF with bin ``index`` moved by ``sign`` times its error (kept in [0, 1])."""
        rate = self.rate.copy()
        rate[index] = np.clip(rate[index] + sign * self.error[index], 0.0, 1.0)
        return TagRateFunction(self.pt_edges, rate, self.error, self.n_jets, self.n_tagged)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready table (GeV)."""
        return {
            "pt_edges_gev": self.pt_edges.tolist(),
            "rate": self.rate.tolist(),
            "error": self.error.tolist(),
            "n_jets": self.n_jets.astype(int).tolist(),
            "n_tagged": self.n_tagged.astype(int).tolist(),
        }


def tag_rate_function(
    pt: Any, tagged: Any, weight: Any, pt_edges: Any = TRF_PT_EDGES
) -> TagRateFunction:
    """Measure the tag rate per jet-pT bin.

    Args:
        pt: jet transverse momenta ``[M]`` (GeV).
        tagged: tag decision of each jet ``[M]`` (bool or 0/1).
        weight: weight of each jet ``[M]`` (its event's weight), finite and >= 0.
        pt_edges: strictly increasing bin edges (GeV).

    Returns:
        :class:`TagRateFunction`.

    Raises:
        InputValueError: mismatched shapes, bad weights or edges, or an empty bin.

    Example:
        >>> trf = tag_rate_function([450.0, 460.0, 700.0, 720.0], [1, 0, 0, 0], [1, 1, 1, 1],
        ...                         pt_edges=[400.0, 500.0, 1000.0])
        >>> trf.rate.tolist(), trf([480.0, 2000.0]).tolist()
        ([0.5, 0.0], [0.5, 0.0])
    """
    pt = np.asarray(pt, dtype=np.float64).reshape(-1)
    tag = np.asarray(tagged, dtype=np.float64).reshape(-1)
    w = np.asarray(weight, dtype=np.float64).reshape(-1)
    edges = np.asarray(pt_edges, dtype=np.float64)
    if not (pt.shape == tag.shape == w.shape):
        raise InputValueError(
            f"tag_rate_function: pt {pt.shape}, tagged {tag.shape} and weight {w.shape} must "
            "all be [M] (one entry per jet)"
        )
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        raise InputValueError(f"TRF pT edges {edges.tolist()} must increase strictly")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.all(np.isfinite(pt)):
        raise InputValueError("tag_rate_function: jet pT and weights must be finite, weights >= 0")
    n_bins = edges.size - 1
    index = np.clip(np.searchsorted(edges, pt, side="right") - 1, 0, n_bins - 1)
    sum_w = np.bincount(index, weights=w, minlength=n_bins)
    sum_w2 = np.bincount(index, weights=w * w, minlength=n_bins)
    n_jets = np.bincount(index, minlength=n_bins).astype(np.float64)
    n_tagged = np.bincount(index, weights=tag, minlength=n_bins)
    if np.any(sum_w <= 0):
        empty = [f"{edges[i]:g}-{edges[i + 1]:g}" for i in np.flatnonzero(sum_w <= 0)]
        raise InputValueError(
            f"tag_rate_function: no jets in pT bin(s) {', '.join(empty)} GeV; use a larger QCD "
            "sample or wider bins"
        )
    rate = np.bincount(index, weights=w * tag, minlength=n_bins) / sum_w
    residual = np.bincount(index, weights=(w * (tag - rate[index])) ** 2, minlength=n_bins)
    error = np.sqrt(residual) / sum_w
    degenerate = (n_tagged == 0) | (n_tagged == n_jets)
    error = np.where(degenerate, sum_w2 / sum_w**2, error)  # 1 / n_eff
    return TagRateFunction(edges, rate, error, n_jets, n_tagged)
