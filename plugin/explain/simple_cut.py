"""The best rectangular cut on two or three features that mimics a tagger's decisions.

A human-readable approximation of a tag probability: a box ``lo_f <= x_f < hi_f`` on a few
public features (e.g. a soft-drop mass window and an upper cut on tau32, the classic
cut-based top tagger, arXiv:1902.09914), chosen to agree as often as possible with the
more-likely decision of the tagger or surrogate, ``p > 1/2``.

The search is exhaustive over a grid of edges and vectorised: each feature is binned at its
quantiles, the tagged and untagged counts are histogrammed in the d-dimensional bin grid,
and their summed-area tables give the counts inside every candidate box by
inclusion-exclusion (2^d lookups per box, all boxes at once). Per feature the box is a
``window`` (both edges free), ``below`` (upper cut only) or ``above`` (lower cut only).

agreement = (tagged jets inside the box + untagged jets outside) / all jets.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from surrotag.errors import InputValueError

__all__ = ["KINDS", "RectangularCut", "apply_cut", "best_rectangular_cut"]

#: Per-feature cut shapes.
KINDS = ("window", "below", "above")


@dataclass(frozen=True)
class RectangularCut:
    """A box cut and how well it reproduces the target decisions.

    Attributes:
        names: the cut features.
        low, high: ``[d]`` edges (``-inf`` / ``inf`` where open); pass: low <= x < high.
        kinds: the shape per feature.
        agreement: fraction of rows where the cut's decision equals the target decision.
        trivial_agreement: agreement of the better constant decision (all pass or all fail).
        pass_fraction: fraction of rows passing the cut.
        target_fraction: fraction of rows the target tags.
        n_boxes: candidate boxes searched.
    """

    names: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray
    kinds: tuple[str, ...]
    agreement: float
    trivial_agreement: float
    pass_fraction: float
    target_fraction: float
    n_boxes: int

    def describe(self, units: Mapping[str, str] | None = None) -> str:
        """The cut as text, e.g. ``105.2 <= jet_sd_mass < 210.4 GeV and jet_tau32 < 0.63``."""
        units = units or {}
        parts = []
        for name, lo, hi in zip(self.names, self.low, self.high, strict=True):
            unit = f" {units[name]}" if units.get(name) else ""
            if np.isfinite(lo) and np.isfinite(hi):
                parts.append(f"{lo:.4g} <= {name} < {hi:.4g}{unit}")
            elif np.isfinite(hi):
                parts.append(f"{name} < {hi:.4g}{unit}")
            elif np.isfinite(lo):
                parts.append(f"{name} >= {lo:.4g}{unit}")
            else:
                parts.append(f"{name} any")
        return " and ".join(parts)

    def to_dict(self) -> dict:
        """JSON-able summary (open edges as null)."""

        def edge(v: float) -> float | None:
            return float(v) if np.isfinite(v) else None

        return {
            "features": list(self.names),
            "kinds": list(self.kinds),
            "low": [edge(v) for v in self.low],
            "high": [edge(v) for v in self.high],
            "cut": self.describe(),
            "agreement": self.agreement,
            "trivial_agreement": self.trivial_agreement,
            "pass_fraction": self.pass_fraction,
            "target_fraction": self.target_fraction,
            "n_boxes": self.n_boxes,
        }


def apply_cut(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Bool ``[N]``: rows of ``x [N, d]`` inside the box ``low <= x < high``."""
    x = np.asarray(x, dtype=np.float64)
    return ((x >= low) & (x < high)).all(axis=1)


def _pairs(kind: str, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin ranges [a, b) of one feature: a, b index the summed-area table (0..q)."""
    if kind == "window":
        a, b = np.triu_indices(q + 1, k=1)
    elif kind == "below":
        b = np.arange(1, q + 1)
        a = np.zeros_like(b)
    else:
        a = np.arange(q)
        b = np.full_like(a, q)
    return a, b


def best_rectangular_cut(
    x: np.ndarray,
    target: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    n_edges: int = 24,
    edges: Mapping[int, np.ndarray] | None = None,
) -> RectangularCut:
    """Exhaustive vectorised search of the box cut that best reproduces ``target``.

    Args:
        x: features ``[N, d]`` of the cut (d = 1..3; more is allowed but grows as q^(2d)).
        target: ``[N]`` bool decisions, or probabilities (decision ``p > 1/2``).
        names: feature names (default ``"0"``, ``"1"``, ...).
        kinds: per feature ``window``, ``below`` or ``above`` (default all ``window``).
        n_edges: candidate edges per feature (interior quantiles of ``x``), unless ``edges``.
        edges: column -> candidate edge values, replacing the quantiles for that column.

    Returns:
        :class:`RectangularCut` with the best box.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise InputValueError(f"cut features of shape {x.shape}: expected [N>0, d]")
    n, d = x.shape
    if not np.isfinite(x).all():
        raise InputValueError("cut features hold NaN or inf: drop those rows first")
    target = np.asarray(target)
    decision = target if target.dtype == bool else target.astype(np.float64) > 0.5
    if decision.shape != (n,):
        raise InputValueError(f"target of shape {decision.shape}: expected [{n}]")
    kinds = tuple(kinds) if kinds is not None else ("window",) * d
    if len(kinds) != d or any(k not in KINDS for k in kinds):
        raise InputValueError(f"cut kinds {kinds}: give one of {', '.join(KINDS)} per feature")
    names = tuple(names) if names is not None else tuple(str(i) for i in range(d))
    levels = np.linspace(0.0, 1.0, n_edges + 2)[1:-1]
    cuts = [
        np.unique(np.asarray(edges[j], dtype=np.float64))
        if edges and j in edges
        else np.unique(np.quantile(x[:, j], levels))
        for j in range(d)
    ]
    q = [len(c) + 1 for c in cuts]  # bins per feature
    bins = np.stack([np.searchsorted(c, x[:, j], side="right") for j, c in enumerate(cuts)], 1)
    flat = np.ravel_multi_index(bins.T, q)
    tagged = np.bincount(flat[decision], minlength=int(np.prod(q))).reshape(q)
    total = np.bincount(flat, minlength=int(np.prod(q))).reshape(q)
    sat_t, sat_n = np.pad(tagged, 1)[(slice(0, -1),) * d], np.pad(total, 1)[(slice(0, -1),) * d]
    for axis in range(d):
        sat_t, sat_n = sat_t.cumsum(axis), sat_n.cumsum(axis)
    ranges = [_pairs(kind, qj) for kind, qj in zip(kinds, q, strict=True)]
    in_t = np.zeros([len(r[0]) for r in ranges])
    in_n = np.zeros_like(in_t)
    for corner in itertools.product((0, 1), repeat=d):  # 2^d lookups, each over all boxes
        sign = (-1) ** (d - sum(corner))
        index = np.ix_(*[r[c] for r, c in zip(ranges, corner, strict=True)])
        in_t += sign * sat_t[index]
        in_n += sign * sat_n[index]
    n_tagged = int(decision.sum())
    agree = in_t + (n - n_tagged) - (in_n - in_t)
    best = np.unravel_index(int(np.argmax(agree)), agree.shape)
    low, high = np.empty(d), np.empty(d)
    for j, (r, k) in enumerate(zip(ranges, best, strict=True)):
        a, b = int(r[0][k]), int(r[1][k])
        low[j] = cuts[j][a - 1] if a > 0 else -np.inf
        high[j] = cuts[j][b - 1] if b < q[j] else np.inf
    passed = apply_cut(x, low, high)
    return RectangularCut(
        names=names,
        low=low,
        high=high,
        kinds=kinds,
        agreement=float(np.mean(passed == decision)),
        trivial_agreement=float(max(n_tagged, n - n_tagged) / n),
        pass_fraction=float(passed.mean()),
        target_fraction=float(n_tagged / n),
        n_boxes=int(agree.size),
    )
