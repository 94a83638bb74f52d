"""Contour maps of a tag probability over a pair of features.

The probability is evaluated on a 2-D grid over features ``i`` and ``j``; the other features
are either held at their medians over a reference sample (``mode="median"``: the function
itself along a plane) or averaged over the sample (``mode="average"``: for every grid point,
features i and j of every sample row are set to the grid values and the probabilities are
averaged, the partial dependence of the probability on the pair). With K Bayesian weight
draws the map is the draw mean and the spread the draw standard deviation of the
(averaged) probability. All grid points and rows are evaluated in one batched call.

References:
    Roxlo, Reece, "Opening the black box of neural nets: case studies in stop/top
    discrimination", arXiv:1804.09278 (a classifier read against physical variables).
    Friedman, "Greedy function approximation", Ann. Statist. 29 (2001) (partial dependence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surrotag.errors import InputValueError
from surrotag.explain.probability import ProbFn, evaluate

__all__ = ["ContourMap", "contour_map", "feature_grid"]


@dataclass(frozen=True)
class ContourMap:
    """A probability map over two features.

    Attributes:
        features: the names (or indices) of the x and y features.
        x, y: grid values ``[nx]``, ``[ny]`` (feature units).
        mean: ``[ny, nx]`` draw-mean probability.
        spread: ``[ny, nx]`` draw standard deviation (ddof 1; zeros for one draw).
        mode: ``"median"`` or ``"average"``.
        n_rows: rows averaged per grid point (1 for ``median``).
    """

    features: tuple[str, str]
    x: np.ndarray
    y: np.ndarray
    mean: np.ndarray
    spread: np.ndarray
    mode: str
    n_rows: int

    def to_dict(self) -> dict:
        """JSON-able summary (grid and maps as lists)."""
        return {
            "features": list(self.features),
            "mode": self.mode,
            "n_rows": self.n_rows,
            "x": self.x.tolist(),
            "y": self.y.tolist(),
            "mean": np.round(self.mean, 6).tolist(),
            "spread": np.round(self.spread, 6).tolist(),
        }


def feature_grid(
    sample: np.ndarray, index: int, n: int, quantiles: tuple[float, float] = (0.01, 0.99)
) -> np.ndarray:
    """``n`` equally spaced values of feature ``index`` between two quantiles of a sample."""
    low, high = np.quantile(np.asarray(sample)[:, index], quantiles)
    if not high > low:
        high = low + 1.0
    return np.linspace(low, high, n)


def contour_map(
    prob: ProbFn,
    sample: np.ndarray,
    i: int,
    j: int,
    x: np.ndarray,
    y: np.ndarray,
    *,
    mode: str = "median",
    names: tuple[str, str] | None = None,
    chunk: int = 4096,
) -> ContourMap:
    """Probability map over features ``i`` (x axis) and ``j`` (y axis).

    Args:
        prob: probability function ``prob(x [N, F]) -> [N] or [K, N]``.
        sample: reference rows ``[M, F]`` (e.g. a table sample), units of ``prob``.
        i, j: column indices of the x and y features (different).
        x, y: grid values of features i and j.
        mode: ``"median"`` (others at the sample medians) or ``"average"`` (others averaged
            over every sample row).
        names: feature names for the result (default ``(str(i), str(j))``).
        chunk: rows per evaluation.

    Returns:
        :class:`ContourMap` with ``mean`` and ``spread`` of shape ``[len(y), len(x)]``.
    """
    sample = np.asarray(sample, dtype=np.float64)
    if sample.ndim != 2 or len(sample) == 0:
        raise InputValueError(f"contour sample of shape {sample.shape}: expected [M>0, F]")
    f = sample.shape[1]
    if not (0 <= i < f and 0 <= j < f) or i == j:
        raise InputValueError(f"contour features {i}, {j}: need two different columns of {f}")
    if mode not in ("median", "average"):
        raise InputValueError(f"contour mode {mode!r}: choose median or average")
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    rows = np.median(sample, axis=0, keepdims=True) if mode == "median" else sample
    m = len(rows)
    gx, gy = np.meshgrid(x, y)  # [ny, nx]
    grid = np.broadcast_to(rows, (gx.size, m, f)).copy()  # [G, M, F]
    grid[:, :, i] = gx.reshape(-1, 1)
    grid[:, :, j] = gy.reshape(-1, 1)
    p = evaluate(prob, grid.reshape(-1, f), chunk)  # [K, G * M]
    p = p.reshape(p.shape[0], gx.size, m).mean(-1)  # [K, G]
    spread = p.std(0, ddof=1) if p.shape[0] > 1 else np.zeros(gx.size)
    return ContourMap(
        features=names or (str(i), str(j)),
        x=x,
        y=y,
        mean=p.mean(0).reshape(gx.shape),
        spread=spread.reshape(gx.shape),
        mode=mode,
        n_rows=m,
    )
