"""Mutual information of weighted samples: equal-frequency bins, Miller-Madow corrected.

:func:`mutual_information` estimates I(x; y) in nats from weighted rows (generator weights):
each variable is cut into bins of equal weighted frequency (tied values share a bin, so a
ReLU's zeros stay together and the estimate is invariant under monotone transformations),
and the plug-in entropies of the joint and marginal frequencies get the Miller-Madow
correction with Kish's effective number of rows. :func:`binned_columns` and
:func:`binned_mutual_information` do the same for many columns at once (every neuron of a
network against one variable), in chunks of columns so that memory stays bounded.

The internal top tagger's explanation (:mod:`surrotag.explain.tagger`) uses scikit-learn's
unweighted k-NN estimator on unweighted jets; this one serves weighted events
(:mod:`surrotag.explain.event_classifier`).

References:
    G. A. Miller, Note on the bias of information estimates, in Information Theory in
    Psychology (Free Press, 1955) 95; L. Kish, Survey Sampling (Wiley, 1965); T. Roxlo,
    M. Reece, arXiv:1804.09278 (mutual information of single neurons).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from surrotag.errors import InputValueError
from surrotag.reference.classifier_metrics import kish_effective

__all__ = [
    "binned_columns",
    "binned_mutual_information",
    "check_bins",
    "checked_weights",
    "mutual_information",
    "rank_bins",
]

_CELLS_PER_CHUNK: Final = 1 << 22  # (rows x columns) binned at once: bounds the memory


def rank_bins(values: np.ndarray, weights: np.ndarray, bins: int) -> np.ndarray:
    """Equal-frequency bin of every value, column by column (``values`` [N] or [N, K]).

    A value's bin is ``floor(bins * F_<)``, capped at ``bins - 1``, where ``F_<`` is the
    weighted fraction of rows with a strictly smaller value: tied values share a bin, and
    the bins depend only on the order of the values.
    """
    order = np.argsort(values, axis=0, kind="stable")
    ordered = np.take_along_axis(values, order, axis=0)
    w = weights[order]
    before = np.zeros_like(w)
    np.cumsum(w[:-1], axis=0, out=before[1:])  # weight strictly before each sorted row
    index = np.arange(len(values)).reshape((-1,) + (1,) * (values.ndim - 1))
    first = np.ones(ordered.shape, dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    start = np.maximum.accumulate(np.where(first, index, 0), axis=0)  # first row of its tie
    fraction = np.take_along_axis(before, start, axis=0) / w.sum(axis=0)
    sorted_bins = np.minimum(np.floor(fraction * bins).astype(np.int64), bins - 1)
    out = np.empty_like(sorted_bins)
    np.put_along_axis(out, order, sorted_bins, axis=0)
    return out


def _entropy(p: np.ndarray) -> np.ndarray:
    """-sum p ln p over the last axis (nats), 0 ln 0 = 0."""
    safe = np.where(p > 0.0, p, 1.0)
    return -np.sum(p * np.log(safe), axis=-1)


def _chunk(n_rows: int) -> int:
    """Columns handled at once so that a chunk holds about ``_CELLS_PER_CHUNK`` cells."""
    return max(1, _CELLS_PER_CHUNK // max(n_rows, 1))


def binned_columns(x: np.ndarray, w: np.ndarray, bins: int) -> np.ndarray:
    """:func:`rank_bins` of every column of ``x`` [N, K], as small integers."""
    out = np.empty(x.shape, dtype=np.min_scalar_type(bins - 1))
    step = _chunk(len(x))
    for lo in range(0, x.shape[1], step):  # chunks of neurons, not events
        out[:, lo : lo + step] = rank_bins(x[:, lo : lo + step], w, bins)
    return out


def binned_mutual_information(
    bx: np.ndarray, by: np.ndarray, w: np.ndarray, bins: int
) -> np.ndarray:
    """Miller-Madow MI (nats) of each binned column of ``bx`` [N, K] with the binned ``by``
    [N]; non-negative weights of positive total. 0 where either side has one occupied bin."""
    n_eff = kish_effective(w)
    out = np.empty(bx.shape[1])
    step = _chunk(len(by))
    for lo in range(0, bx.shape[1], step):  # chunks of neurons, not events
        block = bx[:, lo : lo + step].astype(np.int64)
        k = block.shape[1]
        cells = (np.arange(k) * bins + block) * bins + by[:, None]
        joint = np.bincount(
            cells.ravel(), weights=np.repeat(w, k), minlength=k * bins * bins
        ).reshape(k, bins, bins)
        p = joint / w.sum()
        px, py, pxy = p.sum(axis=2), p.sum(axis=1), p.reshape(k, -1)
        plug_in = _entropy(px) + _entropy(py) - _entropy(pxy)
        mx, my, mxy = ((a > 0.0).sum(axis=-1) for a in (px, py, pxy))
        mi = plug_in + (mx + my - mxy - 1) / (2.0 * n_eff)
        out[lo : lo + k] = np.where((mx > 1) & (my > 1), mi, 0.0)
    return out


def checked_weights(weights: np.ndarray | None, n: int, what: str) -> np.ndarray:
    """Row weights as float64 (all 1 for None), refused when not finite and non-negative.

    Raises:
        InputValueError: another length than ``n``, or negative or non-finite weights.
    """
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != n:
        raise InputValueError(f"{what}: {len(w)} weights for {n} rows")
    if not np.isfinite(w).all() or (w < 0).any():
        raise InputValueError(
            f"{what}: weights must be finite and non-negative for the mutual information "
            f"({int(np.sum(~np.isfinite(w)))} non-finite, {int(np.sum(w < 0))} negative)"
        )
    return w


def check_bins(bins: int) -> int:
    """``bins`` as an int (InputValueError unless an integer >= 2)."""
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 2:
        raise InputValueError(f"bins must be an integer >= 2, got {bins!r}")
    return int(bins)


def mutual_information(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, bins: int = 20
) -> float:
    """Mutual information I(x; y) in nats, binned on equal-frequency bins, Miller-Madow corrected.

    Each variable is cut into ``bins`` bins of equal weighted frequency: a row's bin is
    ``floor(bins * F_<)`` (capped at ``bins - 1``), ``F_<`` the weighted fraction of rows of
    strictly smaller value, so tied values (e.g. a ReLU's zeros) share a bin and the estimate
    is invariant under strictly increasing transformations of either variable. From the
    weighted joint frequencies, ``I = H(x) + H(y) - H(x, y)`` (plug-in entropies), and each
    entropy gets the Miller-Madow correction ``(m - 1) / (2 N)`` (``m`` occupied bins), which
    removes the plug-in estimator's leading bias:
    ``I_MM = I_plug-in + (m_x + m_y - m_xy - 1) / (2 N)``. ``N`` is Kish's effective number
    of events ``(sum w)^2 / sum w^2`` (the number of rows for equal weights). The estimate
    is not clipped: for independent variables it scatters around 0, slightly negative too.
    Binning loses information, so for large samples it lies at or below the true value
    (about 0.04 nats below for a Gaussian of correlation 0.9 with 20 bins).

    Args:
        x, y: the two variables, one value per row (any units: only the order counts).
        weights: non-negative row weights (e.g. generator weights); None: all 1. Scaling
            all of them by one factor changes nothing.
        bins: bins per variable (>= 2); the estimate saturates at ln(bins).

    Returns:
        The estimate in nats: 0.0 when x or y is constant over the rows used, NaN when no
        row with positive weight remains. Rows where x or y is NaN are dropped.

    Raises:
        InputValueError: x, y and weights of different lengths, negative or non-finite
            weights, or fewer than 2 bins.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x, z = rng.normal(size=(2, 100_000))
        >>> abs(mutual_information(x, z)) < 0.005  # independent
        True
        >>> y = 0.5 * x + np.sqrt(0.75) * z  # correlation 0.5: -ln(0.75) / 2 = 0.1438 nats
        >>> abs(mutual_information(x, y) - 0.1438) < 0.02
        True
        >>> mutual_information(np.ones(10), np.arange(10.0))
        0.0
    """
    bins = check_bins(bins)
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(x) != len(y):
        raise InputValueError(f"mutual information: x has {len(x)} rows, y has {len(y)}")
    w = checked_weights(weights, len(x), "mutual information")
    keep = ~(np.isnan(x) | np.isnan(y)) & (w > 0)
    if not keep.any():
        return math.nan
    w = w[keep]
    return float(
        binned_mutual_information(
            rank_bins(x[keep, None], w, bins), rank_bins(y[keep], w, bins), w, bins
        )[0]
    )
