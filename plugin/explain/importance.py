"""Feature importance of a tag probability, and where correlations make methods disagree.

Two attributions of ``p(x)`` (arXiv:2210.04371 compares such methods on top taggers):

* **Permutation importance**: the mean absolute change of ``p`` when one feature column is
  shuffled across the sample (breaking its link to ``p`` and to the other features).
* **Integrated gradients** (arXiv:1703.01365): ``IG_f(x) = (x_f - b_f) int_0^1
  dp/dx_f(b + a (x - b)) da`` along the straight path from a baseline ``b`` (the sample
  median), by the midpoint rule; the attributions of a row sum to ``p(x) - p(b)``
  (completeness, reported as a check). Importance is the mean ``|IG_f|``.

Both are in units of probability, so they compare directly. They disagree most where
features are correlated: shuffling one of two correlated features creates rows far from the
data (off the joint distribution), while IG moves along a path where both change; and the
function may lean on either member of a correlated pair. :func:`disagreements` names the
features whose ranks differ and the features each is correlated with.

References:
    Breiman, "Random forests", Mach. Learn. 45 (2001) (permutation importance).
    Sundararajan, Taly, Yan, "Axiomatic attribution for deep networks", arXiv:1703.01365.
    Khot, Neubauer, Roy, "A detailed study of interpretability of deep neural network based
    top taggers", arXiv:2210.04371.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from surrotag.errors import InputValueError
from surrotag.explain.probability import ProbFn, evaluate, gradient

__all__ = [
    "Importance",
    "correlations",
    "disagreements",
    "feature_importance",
    "integrated_gradients",
    "permutation_importance",
]


@dataclass(frozen=True)
class Importance:
    """Importance of each feature by two methods.

    Attributes:
        names: feature names.
        permutation: ``[F]`` mean |delta p| when the feature is shuffled.
        permutation_error: ``[F]`` standard error over the repeats.
        integrated_gradients: ``[F]`` mean |IG attribution|.
        completeness: max over rows of |sum_f IG_f - (p(x) - p(b))| (integration error).
        pearson, spearman: ``[F, F]`` feature correlations of the sample.
        notes: one sentence per disagreement between the methods.
        gradient_method: ``"autograd"`` or ``"finite"``.
    """

    names: tuple[str, ...]
    permutation: np.ndarray
    permutation_error: np.ndarray
    integrated_gradients: np.ndarray
    completeness: float
    pearson: np.ndarray
    spearman: np.ndarray
    notes: tuple[str, ...]
    gradient_method: str

    def ranking(self, method: str = "permutation") -> list[str]:
        """Feature names from most to least important by ``method``."""
        values = self.permutation if method == "permutation" else self.integrated_gradients
        return [self.names[i] for i in np.argsort(-values, kind="stable")]

    def to_dict(self) -> dict:
        """JSON-able summary."""
        return {
            "names": list(self.names),
            "permutation": dict(
                zip(self.names, np.round(self.permutation, 6).tolist(), strict=True)
            ),
            "permutation_error": dict(
                zip(self.names, np.round(self.permutation_error, 6).tolist(), strict=True)
            ),
            "integrated_gradients": dict(
                zip(self.names, np.round(self.integrated_gradients, 6).tolist(), strict=True)
            ),
            "ranking_permutation": self.ranking("permutation"),
            "ranking_integrated_gradients": self.ranking("integrated_gradients"),
            "ig_completeness_error": self.completeness,
            "gradient_method": self.gradient_method,
            "pearson": np.round(self.pearson, 4).tolist(),
            "spearman": np.round(self.spearman, 4).tolist(),
            "notes": list(self.notes),
        }


def permutation_importance(
    prob: ProbFn,
    x: np.ndarray,
    *,
    n_repeats: int = 3,
    seed: int = 0,
    chunk: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean |p(x) - p(x with column f shuffled)| per feature, all shuffles in one batch.

    Returns:
        ``(importance [F], standard error [F])`` in units of probability.
    """
    x = np.asarray(x, dtype=np.float64)
    n, f = x.shape
    rng = np.random.default_rng(seed)
    base = evaluate(prob, x, chunk).mean(0)
    order = rng.permuted(np.broadcast_to(np.arange(n), (n_repeats, f, n)), axis=-1)
    shuffled = np.broadcast_to(x, (n_repeats, f, n, f)).copy()  # [R, F_shuffled, N, F]
    cols = np.arange(f)
    shuffled[:, cols, :, cols] = x[order, cols[None, :, None]].transpose(1, 0, 2)
    p = evaluate(prob, shuffled.reshape(-1, f), chunk).mean(0).reshape(n_repeats, f, n)
    per_repeat = np.abs(p - base).mean(-1)  # [R, F]
    error = per_repeat.std(0, ddof=1) / np.sqrt(n_repeats) if n_repeats > 1 else np.zeros(f)
    return per_repeat.mean(0), error


def integrated_gradients(
    prob: ProbFn,
    x: np.ndarray,
    baseline: np.ndarray | None = None,
    *,
    steps: int = 32,
    method: str = "auto",
    scale: np.ndarray | None = None,
    chunk: int = 4096,
) -> tuple[np.ndarray, float]:
    """Integrated-gradients attributions ``[N, F]`` and the completeness error.

    Args:
        prob: probability function.
        x: rows ``[N, F]``.
        baseline: ``[F]`` (default: the median of ``x``).
        steps: midpoint-rule points on the path.
        method: gradient method (``auto``, ``autograd``, ``finite``).
        scale: finite-difference scale per feature (default: std of ``x``).
        chunk: rows per evaluation.

    Returns:
        ``(attributions [N, F], max_n |sum_f IG - (p(x) - p(b))|)``.
    """
    x = np.asarray(x, dtype=np.float64)
    n, f = x.shape
    b = np.median(x, axis=0) if baseline is None else np.asarray(baseline, dtype=np.float64)
    scale = x.std(0) if scale is None else scale
    alphas = (np.arange(steps) + 0.5) / steps
    path = b + alphas[:, None, None] * (x - b)[None]  # [S, N, F]
    grads = gradient(prob, path.reshape(-1, f), method=method, scale=scale, chunk=chunk)
    attributions = (x - b) * grads.reshape(steps, n, f).mean(0)
    p = evaluate(prob, np.vstack([x, b[None]]), chunk).mean(0)
    gap = np.abs(attributions.sum(1) - (p[:n] - p[n]))
    return attributions, float(gap.max(initial=0.0))


def correlations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson and Spearman correlation matrices ``[F, F]`` (constant columns give 0)."""
    x = np.asarray(x, dtype=np.float64)

    def corr(a: np.ndarray) -> np.ndarray:
        a = a - a.mean(0)
        norm = np.sqrt((a**2).sum(0))
        norm = np.where(norm > 0, norm, np.inf)
        return (a.T @ a) / np.outer(norm, norm)

    ranks = np.argsort(np.argsort(x, axis=0, kind="stable"), axis=0).astype(np.float64)
    return corr(x), corr(ranks)


def disagreements(
    names: Sequence[str],
    permutation: np.ndarray,
    integrated: np.ndarray,
    pearson: np.ndarray,
    *,
    rank_shift: int = 2,
    ratio: float = 2.0,
    min_corr: float = 0.5,
) -> list[str]:
    """Sentences naming features ranked differently by the two methods, with correlations.

    A feature is flagged when its rank moves by ``rank_shift`` or more, or its share of the
    total importance differs by a factor ``ratio`` or more (among features carrying at
    least 5 % by either method); the note lists its features with |Pearson| >= ``min_corr``.
    """
    f = len(names)
    share_p = permutation / max(permutation.sum(), 1e-300)
    share_g = integrated / max(integrated.sum(), 1e-300)
    rank_p = np.argsort(np.argsort(-permutation, kind="stable"))
    rank_g = np.argsort(np.argsort(-integrated, kind="stable"))
    notes = []
    for k in range(f):  # F features, not a hot path
        relevant = max(share_p[k], share_g[k]) >= 0.05
        big_ratio = max(share_p[k], share_g[k]) >= ratio * max(min(share_p[k], share_g[k]), 1e-9)
        if not relevant or (abs(rank_p[k] - rank_g[k]) < rank_shift and not big_ratio):
            continue
        partners = [
            f"{names[o]} ({pearson[k, o]:+.2f})"
            for o in np.argsort(-np.abs(pearson[k]))
            if o != k and abs(pearson[k, o]) >= min_corr
        ]
        why = (
            f"correlated with {', '.join(partners)}: shuffling it alone builds jets off the "
            "joint distribution, and the credit can move between correlated features"
            if partners
            else "no strong linear correlation: the difference is non-linear (interactions)"
        )
        notes.append(
            f"{names[k]}: permutation rank {rank_p[k] + 1} ({share_p[k]:.0%} of total), "
            f"integrated-gradients rank {rank_g[k] + 1} ({share_g[k]:.0%}); {why}"
        )
    return notes


def feature_importance(
    prob: ProbFn,
    x: np.ndarray,
    names: Sequence[str] | None = None,
    *,
    n_repeats: int = 3,
    steps: int = 32,
    method: str = "auto",
    seed: int = 0,
    chunk: int = 4096,
) -> Importance:
    """Permutation importance, integrated gradients, correlations and disagreement notes.

    Args:
        prob: probability function ``prob(x [N, F]) -> [N] or [K, N]``.
        x: sample rows ``[N, F]`` (e.g. jets of a table).
        names: feature names (default ``"0"``, ``"1"``, ...).
        n_repeats: shuffles per feature.
        steps: integrated-gradients path points.
        method: gradient method.
        seed: seed of the shuffles.
        chunk: rows per evaluation.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise InputValueError(f"importance sample of shape {x.shape}: need [N>=2, F] rows")
    names = tuple(names) if names is not None else tuple(str(i) for i in range(x.shape[1]))
    perm, perm_err = permutation_importance(prob, x, n_repeats=n_repeats, seed=seed, chunk=chunk)
    used = method
    if method == "auto":
        from surrotag.explain.probability import differentiable

        used = "autograd" if differentiable(prob, x.shape[1]) else "finite"
    attributions, gap = integrated_gradients(prob, x, steps=steps, method=used, chunk=chunk)
    ig = np.abs(attributions).mean(0)
    pearson, spearman = correlations(x)
    notes = disagreements(names, perm, ig, pearson)
    return Importance(names, perm, perm_err, ig, gap, pearson, spearman, tuple(notes), used)
