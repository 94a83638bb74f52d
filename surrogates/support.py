"""Joint training support of a surrogate's inputs: flags objects it has never seen the like of.

A per-feature box (each feature within its 0.1% and 99.9% training quantiles) is blind to
joint outliers (a top-matched jet with a soft-drop mass of 20 GeV: every feature inside its
own range, the combination nowhere in the data) and to truth categories (a combination of
truth labels never seen in training). :class:`Support` judges an object on all its features
together:

* **discrete cells**: the features that take few distinct values in the training table
  (at most ``max_levels``, e.g. ``truth_top_matched`` and ``truth_top_n_contained``) form
  a cell per combination of values. A value or combination absent from training (or seen
  in fewer than ``min_cell_rows`` rows) is an *unseen category*, always flagged.
* **k-nearest-neighbour distance** within the cell: the mean Euclidean distance, in the
  continuous features standardised by their training mean and standard deviation, to the
  ``k`` nearest rows of a stored reference subsample of that cell's training rows
  (kNN out-of-distribution detection, arXiv:2204.06507).
* **threshold per cell**: the ``quantile`` (default 99.5%) of the same distance computed on
  held-out training rows of the cell (disjoint from the reference, inside the box), so by
  construction about ``1 - quantile`` of in-distribution objects inside the box are flagged
  as far (a split-conformal calibration, arXiv:2107.07511). The reported ``score`` is the
  distance over the cell's threshold: above 1 is far.
* **box**: any feature outside its [0.1%, 99.9%] training quantiles is flagged too.

``flag = outside_box | unseen_category | (score > 1)``. Every step is batched: one chunked
distance matrix (one matmul) per cell (a loop over the few cells, never over objects); 1e5
objects take about 0.6 s on one CPU core. The support is a small :class:`torch.nn.Module` whose
buffers travel with the surrogate's tensors (safetensors) and whose :meth:`Support.config`
goes into the surrogate card (``model.support``; :meth:`Support.summary` is its ``support``).

:func:`probe_spreads` measures what the Bayesian spread does beyond the support, in absolute
terms: a relative spread (std over mean) grows without bound as the mean tag probability
falls to zero even while the absolute spread vanishes, so a ratio of relative spreads says
nothing about how uncertain the yields are.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = np.column_stack([rng.normal(size=2000), rng.integers(0, 2, 2000)])
    >>> support = fit_support(x, ["mass", "matched"], seed=0)
    >>> support.discrete, support.continuous
    (['matched'], ['mass'])
    >>> support.evaluate(torch.tensor([[0.0, 1.0], [0.0, 5.0], [9.0, 0.0]])).flag.tolist()
    [False, True, True]

References:
    Sun et al., "Out-of-distribution detection with deep nearest neighbors",
    arXiv:2204.06507; Angelopoulos and Bates, "A gentle introduction to conformal prediction",
    arXiv:2107.07511; Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import numpy as np
import torch
from torch import nn

from .errors import SurrogateError, SurrogateInputError

if TYPE_CHECKING:
    from .flow import Surrogate

__all__ = [
    "BOX_ONLY_NOTE",
    "SUPPORT_FORMAT",
    "Support",
    "SupportResult",
    "beyond_support_probes",
    "fit_support",
    "knn_distance",
    "probe_spreads",
]

#: Format tag of :meth:`Support.config`.
SUPPORT_FORMAT: Final = "surrotag-support/1"
#: What a surrogate without a stored :class:`Support` checks, and what it misses.
BOX_ONLY_NOTE: Final = (
    "this surrogate stores no joint support (saved before surrotag judged inputs jointly): "
    "only the per-feature box (0.1%/99.9% training quantiles) is checked, so joint outliers "
    "and unseen truth-category combinations are not flagged; retrain it to add the joint score"
)
#: Entries of one [objects, reference rows] distance block (16 MiB of float32).
_CHUNK_ENTRIES: Final = 1 << 22
#: Relative tolerance of matching a discrete feature's value to a training level.
_LEVEL_RTOL: Final = 1e-6
_BUFFERS: Final = (
    "low",
    "high",
    "mean",
    "std",
    "levels",
    "level_counts",
    "cell_codes",
    "offsets",
    "reference",
    "threshold",
)


class SupportResult(NamedTuple):
    """Out-of-support verdict of N objects (bool or float tensors of shape [N]).

    Attributes:
        flag: True where the object is out of support (any of the three reasons below).
        score: kNN distance over the cell's threshold (> 1: far from the training rows of
            its cell); ``inf`` for an unseen category, NaN where no joint support is stored.
        outside_box: a feature lies outside its [0.1%, 99.9%] training quantiles.
        unseen_category: the combination of discrete (truth) feature values never occurred
            in training (or in fewer than ``min_cell_rows`` rows).
    """

    flag: torch.Tensor
    score: torch.Tensor
    outside_box: torch.Tensor
    unseen_category: torch.Tensor


def knn_distance(x: torch.Tensor, reference: torch.Tensor, k: int) -> torch.Tensor:
    """Mean Euclidean distance of each row of ``x`` to its ``k`` nearest reference rows.

    Args:
        x: Queries [N, D].
        reference: Reference rows [R, D] (R >= 1).
        k: Neighbours (capped at R).

    Returns:
        Distances [N] in the units of the inputs; zeros when D = 0.
    """
    n, r = x.shape[0], reference.shape[0]
    if x.shape[1] == 0 or n == 0:
        return torch.zeros(n, dtype=x.dtype, device=x.device)
    k = min(int(k), r)
    step = max(1, _CHUNK_ENTRIES // r)
    out = torch.empty(n, dtype=x.dtype, device=x.device)
    reference_norms = (reference * reference).sum(1)
    for start in range(0, n, step):  # chunks of objects bound the [n, R] block in memory
        xc = x[start : start + step]
        # |x - r|^2 - |x|^2 = |r|^2 - 2 x.r ranks the rows of the reference as the distance
        # does; the square root is taken of the k nearest only (torch.cdist takes it of all)
        partial = torch.addmm(reference_norms, xc, reference.T, alpha=-2.0)
        nearest = partial.topk(k, dim=1, largest=False, sorted=False).values
        squared = nearest.add_((xc * xc).sum(1, keepdim=True)).clamp_min_(0.0)
        out[start : start + step] = squared.sqrt_().mean(1)
    return out


class Support(nn.Module):
    """Joint training support of a surrogate's N x F inputs (see the module docstring).

    Build one with :func:`fit_support`; :meth:`config` and the module's buffers rebuild it
    exactly (``Support(config, tensors)``).

    Args:
        config: JSON description (:meth:`config`): feature names, which are discrete, k,
            quantile and the calibration figures.
        tensors: ``low``/``high`` [F] box, ``mean``/``std`` [Fc] standardisation of the
            continuous features, ``levels`` [D, L] sorted training values of the discrete
            features (the first ``level_counts`` [D] of each row; zero padded),
            ``cell_codes`` [C] seen cells (sorted), ``offsets`` [C + 1] rows of each cell in
            ``reference`` [R, Fc] (standardised), ``threshold`` [C].

    Raises:
        SurrogateError: a config of another format or tensors that do not fit it.
    """

    low: torch.Tensor
    high: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    levels: torch.Tensor
    level_counts: torch.Tensor
    cell_codes: torch.Tensor
    offsets: torch.Tensor
    reference: torch.Tensor
    threshold: torch.Tensor

    def __init__(self, config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        if config.get("format") != SUPPORT_FORMAT:
            raise SurrogateError(
                f"support config format {config.get('format')!r}: this surrotag reads "
                f"{SUPPORT_FORMAT}"
            )
        missing = [name for name in _BUFFERS if name not in tensors]
        if missing:
            raise SurrogateError(f"support tensors lack {', '.join(missing)}: re-save the model")
        self._config = dict(config)
        self.feature_names = list(config["feature_names"])
        self.discrete = list(config["discrete"])
        self.continuous = [n for n in self.feature_names if n not in self.discrete]
        self.k = int(config["k"])
        self.quantile = float(config["quantile"])
        for name in _BUFFERS:
            self.register_buffer(name, torch.as_tensor(tensors[name]).clone())
        f, fc, d = len(self.feature_names), len(self.continuous), len(self.discrete)
        shapes_ok = (
            self.low.shape == self.high.shape == (f,)
            and self.mean.shape == self.std.shape == (fc,)
            and self.levels.dim() == 2
            and self.levels.shape[0] == d
            and self.level_counts.shape == (d,)
            and self.offsets.shape == (self.cell_codes.shape[0] + 1,)
            and self.threshold.shape == self.cell_codes.shape
            and self.reference.dim() == 2
            and self.reference.shape[1] == fc
        )
        if not shapes_ok:
            raise SurrogateError(
                "support tensors do not fit its config (feature or cell counts differ): "
                "weights and card are from different models; re-save both together"
            )
        self._disc = [self.feature_names.index(n) for n in self.discrete]
        self._cont = [self.feature_names.index(n) for n in self.continuous]

    def config(self) -> dict[str, Any]:
        """JSON-able description (format, features, method settings, calibration figures)."""
        return dict(self._config)

    def summary(self) -> dict[str, Any]:
        """The card's ``support`` entry: method, discrete features, settings, flag rate."""
        calibration = self._config.get("calibration", {})
        return {
            "method": "joint",
            "description": (
                "flagged: a feature outside its box quantiles, an unseen combination of the "
                "discrete features, or a mean distance to the k nearest reference training "
                "rows of the object's cell (standardised continuous features) above that "
                "cell's quantile of the same distance on held-out training rows"
            ),
            "discrete": list(self.discrete),
            "continuous": list(self.continuous),
            "k": self.k,
            "quantile": self.quantile,
            "box": list(self._config.get("box", [0.001, 0.999])),
            "cells": self.n_cells,
            "reference_rows": int(self.reference.shape[0]),
            "expected_flag_rate": float(calibration.get("expected_flag_rate", 0.0)),
        }

    def tensors(self) -> dict[str, torch.Tensor]:
        """The buffers, on CPU and contiguous (safetensors-ready)."""
        return {k: v.detach().cpu().clone().contiguous() for k, v in self.state_dict().items()}

    @property
    def n_cells(self) -> int:
        """Number of seen discrete cells C."""
        return int(self.cell_codes.shape[0])

    def _cells(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cell position [N] (index into ``cell_codes``) and seen flag [N] of raw features."""
        n = x.shape[0]
        code = torch.zeros(n, dtype=torch.int64, device=x.device)
        known = torch.ones(n, dtype=torch.bool, device=x.device)
        stride = 1
        for j, column in enumerate(self._disc):  # a few discrete features
            levels = self.levels[j, : int(self.level_counts[j])]
            diff = (x[:, column, None] - levels[None, :]).abs()
            match = diff <= _LEVEL_RTOL * levels.abs().clamp(min=1.0)
            known &= match.any(1)
            code += match.to(torch.int64).argmax(1) * stride
            stride *= int(levels.numel())
        if self.n_cells == 0:
            return torch.zeros(n, dtype=torch.int64, device=x.device), torch.zeros_like(known)
        position = torch.searchsorted(self.cell_codes, code).clamp(max=self.n_cells - 1)
        return position, known & (self.cell_codes[position] == code)

    def _standardised(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, self._cont] - self.mean) / self.std

    @torch.no_grad()
    def evaluate(self, features: torch.Tensor) -> SupportResult:
        """Out-of-support verdict of raw (unstandardised) features [N, F], on their device.

        Returns:
            :class:`SupportResult`, tensors [N].
        """
        x = features.to(device=self.low.device, dtype=self.low.dtype)
        if x.dim() != 2 or x.shape[1] != len(self.feature_names):
            raise SurrogateInputError(
                f"features of shape {tuple(x.shape)}: expected [N, {len(self.feature_names)}] "
                f"with columns {', '.join(self.feature_names)}"
            )
        outside = ((x < self.low) | (x > self.high)).any(1)
        cell, seen = self._cells(x)
        score = torch.full((x.shape[0],), math.inf, dtype=x.dtype, device=x.device)
        z = self._standardised(x)
        rows = torch.nonzero(seen).squeeze(1)
        order = rows[torch.argsort(cell[rows])]
        counts = torch.bincount(cell[order], minlength=self.n_cells).tolist()
        start = 0
        for c, count in enumerate(counts):  # one block per seen cell, never per object
            if count == 0:
                continue
            idx = order[start : start + count]
            start += count
            lo, hi = int(self.offsets[c]), int(self.offsets[c + 1])
            d = knn_distance(z[idx], self.reference[lo:hi], self.k)
            t = self.threshold[c]
            score[idx] = d / t if float(t) > 0 else torch.where(d > 0, math.inf, 0.0).to(d)
        unseen = ~seen
        return SupportResult(outside | unseen | (score > 1.0), score, outside, unseen)

    def flag(self, features: torch.Tensor) -> torch.Tensor:
        """Bool [N]: :attr:`SupportResult.flag` of :meth:`evaluate`."""
        return self.evaluate(features).flag

    def rows(self) -> torch.Tensor:
        """The stored reference rows as raw features [R, F] in the columns of
        ``feature_names``: training objects of every seen cell, available wherever the
        surrogate is (e.g. to measure its solver error without the training table).
        """
        x = torch.empty(self.reference.shape[0], len(self.feature_names), dtype=self.std.dtype)
        x[:, self._cont] = self.reference * self.std + self.mean
        offsets = self.offsets.tolist()
        for c, code in enumerate(self.cell_codes.tolist()):
            stride = 1
            for j, column in enumerate(self._disc):
                count = int(self.level_counts[j])
                x[offsets[c] : offsets[c + 1], column] = self.levels[j, (code // stride) % count]
                stride *= count
        return x


def _check_table(features: np.ndarray, feature_names: Sequence[str]) -> np.ndarray:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != len(feature_names):
        raise SurrogateInputError(
            f"support table of shape {f.shape}: expected [N, {len(feature_names)}] for "
            f"feature_names {list(feature_names)}"
        )
    if not np.isfinite(f).all():
        raise SurrogateInputError("support table holds NaN or inf: fill or drop those rows first")
    if f.shape[0] < 2:
        raise SurrogateInputError(f"support table has {f.shape[0]} rows: need >= 2")
    return f


def fit_support(
    features: np.ndarray,
    feature_names: Sequence[str],
    *,
    seed: int,
    k: int = 5,
    quantile: float = 0.995,
    discrete: Sequence[str] | None = None,
    max_levels: int = 8,
    n_reference: int = 2048,
    n_calibration: int = 4096,
    max_bytes: int = 2_000_000,
    min_cell_rows: int = 20,
    box: tuple[float, float] = (0.001, 0.999),
) -> Support:
    """Fit the joint support of a training table (call it on the surrogate's training rows).

    Per discrete cell, a random ``n_reference`` rows become the stored reference and up to
    ``n_calibration`` other rows (inside the box) set the threshold at ``quantile`` of their
    kNN distance; the references of all cells together hold at most ``max_bytes`` of float32.

    Args:
        features: Training features [N, F] (raw units, e.g. GeV; NaN already filled).
        feature_names: The F column names, in model order.
        seed: Seed of the reference/calibration split (reproducible supports).
        k: Neighbours of the distance.
        quantile: Share of held-out in-box rows *not* flagged as far, in (0, 1].
        discrete: Names of the discrete (category) features; default: every feature with at
            most ``max_levels`` distinct values in ``features``.
        max_levels: Most distinct values of a feature detected as discrete.
        n_reference: Most reference rows per cell.
        n_calibration: Most held-out rows per cell that set its threshold.
        max_bytes: Cap on the stored reference rows of all cells (float32 bytes).
        min_cell_rows: Cells with fewer training rows count as unseen.
        box: Quantiles of the per-feature box.

    Returns:
        The fitted :class:`Support`; its ``config()["calibration"]`` holds the expected
        in-distribution flag rate (box and far, weighted by cell size) and the cell counts.

    Raises:
        SurrogateInputError: a table of the wrong shape, non-finite values, bad settings.
    """
    names = list(feature_names)
    f = _check_table(features, names)
    if not 0.0 < quantile <= 1.0 or k < 1 or min_cell_rows < 2 or n_reference < 1:
        raise SurrogateInputError(
            f"quantile={quantile} must lie in (0, 1], k={k} >= 1, min_cell_rows={min_cell_rows}"
            f" >= 2 and n_reference={n_reference} >= 1"
        )
    n = f.shape[0]
    if discrete is None:
        discrete = [nm for j, nm in enumerate(names) if np.unique(f[:, j]).size <= max_levels]
    unknown = [nm for nm in discrete if nm not in names]
    if unknown:
        raise SurrogateInputError(f"discrete features {unknown} are not among {names}")
    disc = [names.index(nm) for nm in discrete]
    cont = [j for j in range(len(names)) if j not in disc]
    low, high = np.quantile(f, box, axis=0)
    outside = ((f < low) | (f > high)).any(1)

    levels = [np.unique(f[:, j]) for j in disc]
    code = np.zeros(n, dtype=np.int64)
    stride = 1
    for j, values in zip(disc, levels, strict=True):
        code += np.searchsorted(values, f[:, j]) * stride
        stride *= values.size
    cells, inverse, sizes = np.unique(code, return_inverse=True, return_counts=True)
    kept = sizes >= min_cell_rows
    mean = f[:, cont].mean(0)
    std = f[:, cont].std(0)
    std = np.where(std > 0, std, 1.0)
    z = torch.as_tensor((f[:, cont] - mean) / std, dtype=torch.float32)

    max_rows = max(1, max_bytes // (4 * max(len(cont), 1)))
    per_cell = max(1, min(n_reference, max_rows // max(int(kept.sum()), 1)))
    rng = np.random.default_rng(seed)
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    references, thresholds, offsets = [], [], [0]
    flagged_share = float(sizes[~kept].sum()) / n  # rows of dropped cells: always flagged
    calibration_rows = 0
    for c in np.flatnonzero(kept):  # a loop over the few cells
        rows = rng.permutation(order[bounds[c] : bounds[c + 1]])
        n_ref = min(per_cell, rows.size // 2)
        ref, held = rows[:n_ref], rows[n_ref : n_ref + n_calibration]
        d = knn_distance(z[held], z[ref], k).double().numpy()
        inside = ~outside[held]
        # a cell whose held-out rows all lie outside the box (a rare combination of extreme
        # values) is calibrated on all of them: its rows are flagged by the box anyway, and
        # an infinite threshold would make the stored weights non-finite (unloadable)
        calibrate = d[inside] if inside.any() else d
        t = float(np.quantile(calibrate, quantile, method="higher"))
        references.append(z[ref])
        thresholds.append(t)
        offsets.append(offsets[-1] + n_ref)
        calibration_rows += held.size
        rate = float(np.mean(outside[held] | (d > t)))
        flagged_share += rate * sizes[c] / n
    width = max((v.size for v in levels), default=0)
    padded = np.zeros((len(disc), width))
    for j, values in enumerate(levels):
        padded[j, : values.size] = values
    tensors = {
        "low": torch.as_tensor(low, dtype=torch.float32),
        "high": torch.as_tensor(high, dtype=torch.float32),
        "mean": torch.as_tensor(mean, dtype=torch.float32),
        "std": torch.as_tensor(std, dtype=torch.float32),
        "levels": torch.as_tensor(padded, dtype=torch.float32),
        "level_counts": torch.as_tensor([v.size for v in levels], dtype=torch.int64),
        "cell_codes": torch.as_tensor(cells[kept], dtype=torch.int64),
        "offsets": torch.as_tensor(offsets, dtype=torch.int64),
        "reference": (
            torch.cat(references) if references else torch.zeros((0, len(cont)))
        ).contiguous(),
        "threshold": torch.as_tensor(thresholds, dtype=torch.float32),
    }
    config = {
        "format": SUPPORT_FORMAT,
        "method": "per-cell kNN distance + per-feature box",
        "feature_names": names,
        "discrete": [names[j] for j in disc],
        "k": int(k),
        "quantile": float(quantile),
        "box": [float(box[0]), float(box[1])],
        "seed": int(seed),
        "calibration": {
            "training_rows": int(n),
            "cells_seen": int(kept.sum()),
            "cells_dropped": int((~kept).sum()),
            "reference_rows": int(offsets[-1]),
            "calibration_rows": int(calibration_rows),
            "box_rate": float(outside.mean()),
            "expected_flag_rate": float(flagged_share),
        },
    }
    return Support(config, tensors)


# -- what the Bayesian spread does beyond the support ----------------------------------------
def beyond_support_probes(
    features: np.ndarray,
    feature_names: Sequence[str],
    column: str,
    edge: float,
    factors: Sequence[float] = (1.5, 2.0, 3.0),
) -> dict[str, np.ndarray]:
    """Copies of ``features`` with ``column`` set to multiples of a support edge.

    Args:
        features: Objects inside the support [M, F] (e.g. contained top jets).
        feature_names: Column names.
        column: The feature moved (e.g. ``jet_pt``, GeV).
        edge: The upper support edge of ``column`` (card ``features[i].support[1]``).
        factors: Multiples of ``edge``.

    Returns:
        ``{"<column> x<factor>": [M, F]}`` in the order of ``factors``.
    """
    j = list(feature_names).index(column)
    out = {}
    for factor in factors:
        moved = np.array(features, dtype=np.float64, copy=True)
        moved[:, j] = factor * edge
        out[f"{column} x{factor:g}"] = moved
    return out


def probe_spreads(
    surrogate: Surrogate,
    inside: np.ndarray,
    probes: Mapping[str, np.ndarray],
    thresholds: Sequence[float],
    *,
    quantiles: Sequence[float] = (0.16, 0.5, 0.84),
    draws: int = 20,
) -> dict[str, Any]:
    """Absolute Bayesian spreads of P(score > w) and of the score quantiles, inside vs probes.

    For every set of objects (``inside`` and each probe), per object the mean and standard
    deviation over K weight draws of the exact tag probability at each threshold and of each
    score quantile (:meth:`ScoreDistribution.quantile`), then medians over objects. No
    ratios: a relative spread (std / mean) grows as the mean falls to zero even while the
    absolute spread, the one that enters the yields, shrinks.

    Args:
        surrogate: The model.
        inside: Objects inside the support [M, F].
        probes: Named probe objects [M_i, F] (e.g. :func:`beyond_support_probes`).
        thresholds: Thresholds in the modelled score space (``Card.model_threshold``).
        quantiles: Score quantile levels in (0, 1).
        draws: Weight draws K (>= 2).

    Returns:
        JSON-able ``{"draws", "thresholds", "quantile_levels", "points": {name: {...}}}``,
        each point with ``n``, ``flag_rate``, ``p_mean`` and ``p_spread`` [per threshold],
        ``quantile_median`` and ``quantile_spread`` [per level] (score units).
    """
    k = max(int(draws), 2)
    points = {}
    for name, x in {"inside": inside, **probes}.items():  # a handful of probe sets
        dist = surrogate(torch.as_tensor(np.asarray(x), dtype=torch.float32), draws=k)
        p = dist.prob_above(list(thresholds)).double()  # [K, M, W]
        q = dist.quantile(list(quantiles)).double()  # [K, M, Q]
        points[name] = {
            "n": int(p.shape[1]),
            "flag_rate": float(dist.ood.double().mean()) if p.shape[1] else 0.0,
            "p_mean": p.mean(0).median(0).values.tolist(),
            "p_spread": p.std(0, correction=1).median(0).values.tolist(),
            "quantile_median": q.mean(0).median(0).values.tolist(),
            "quantile_spread": q.std(0, correction=1).median(0).values.tolist(),
        }
    return {
        "draws": k,
        "thresholds": [float(t) for t in thresholds],
        "quantile_levels": [float(v) for v in quantiles],
        "points": points,
    }
