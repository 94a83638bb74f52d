"""Gradient ascent of a tag probability from many seed points.

Each seed moves uphill in a standardised feature space ``u = (x - loc) / scale`` (the
surrogate's own standardisation), with Adam steps on ``log p`` (so seeds deep in the
tail, where ``p`` is tiny, still move), projected after every step onto the box
``[low, high]`` (the training support: the surrogate never extrapolates) and only along the
free features (others, e.g. truth information, stay at the seed's values). The ascended
points show where the probability is maximal; their feature distributions summarise it.

References:
    Roxlo, Reece, "Opening the black box of neural nets: case studies in stop/top
    discrimination", arXiv:1804.09278 (opening a classifier by the inputs it prefers).
    Kingma, Ba, "Adam", arXiv:1412.6980.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from surrotag.errors import InputValueError
from surrotag.explain.probability import ProbFn, differentiable, evaluate, gradient

__all__ = ["AscentResult", "gradient_ascent"]

_TINY = 1e-12


@dataclass(frozen=True)
class AscentResult:
    """Seeds and where gradient ascent took them.

    Attributes:
        start, final: ``[N, F]`` features before and after (feature units).
        p_start, p_final: ``[N]`` draw-mean probabilities before and after.
        history: ``[steps + 1]`` mean probability over the seeds after each step.
        method: ``"autograd"`` or ``"finite"`` (how the gradients were computed).
    """

    start: np.ndarray
    final: np.ndarray
    p_start: np.ndarray
    p_final: np.ndarray
    history: np.ndarray
    method: str


def gradient_ascent(
    prob: ProbFn,
    seeds: np.ndarray,
    *,
    loc: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
    free: np.ndarray | None = None,
    steps: int = 100,
    learning_rate: float = 0.05,
    method: str = "auto",
    chunk: int = 4096,
) -> AscentResult:
    """Move every seed uphill in the probability, within the support box.

    Args:
        prob: probability function ``prob(x [N, F]) -> [N] or [K, N]`` (the draw mean is
            ascended).
        seeds: starting points ``[N, F]``.
        loc, scale: standardisation ``[F]`` (default: the seeds' mean and std).
        low, high: support box ``[F]`` (default: unbounded).
        free: bool ``[F]``, the features that move (default: all).
        steps: Adam steps.
        learning_rate: Adam step size in standardised units.
        method: gradient method of :func:`~surrotag.explain.probability.gradient`.
        chunk: rows per evaluation.

    Returns:
        :class:`AscentResult`.
    """
    x0 = np.asarray(seeds, dtype=np.float64)
    if x0.ndim != 2 or len(x0) == 0:
        raise InputValueError(f"ascent seeds of shape {x0.shape}: expected [N>0, F]")
    f = x0.shape[1]
    loc = x0.mean(0) if loc is None else np.asarray(loc, dtype=np.float64)
    scale = x0.std(0) if scale is None else np.asarray(scale, dtype=np.float64)
    scale = np.where(scale > 0, scale, 1.0)
    low = np.full(f, -np.inf) if low is None else np.asarray(low, dtype=np.float64)
    high = np.full(f, np.inf) if high is None else np.asarray(high, dtype=np.float64)
    free = np.ones(f, bool) if free is None else np.asarray(free, bool)
    u_low, u_high = (low - loc) / scale, (high - loc) / scale
    u = np.clip((x0 - loc) / scale, u_low, u_high)

    def prob_u(v: Any) -> Any:  # the probability as a function of the standardised features
        if hasattr(v, "detach"):
            return prob(v * _t(scale, v) + _t(loc, v))
        return prob(v * scale + loc)

    used = "finite" if method == "finite" else "autograd"
    if method == "auto" and not differentiable(prob_u, f):
        used = "finite"
    m, v2 = np.zeros_like(u), np.zeros_like(u)
    beta1, beta2 = 0.9, 0.999
    p = evaluate(prob_u, u, chunk).mean(0)
    history = [float(p.mean())]
    for step in range(1, steps + 1):
        g = gradient(prob_u, u, method=used, scale=np.ones(f), chunk=chunk)
        g = g / np.maximum(p, _TINY)[:, None] * free  # d log p / du on the free features
        m = beta1 * m + (1 - beta1) * g
        v2 = beta2 * v2 + (1 - beta2) * g**2
        m_hat, v_hat = m / (1 - beta1**step), v2 / (1 - beta2**step)
        u = np.clip(u + learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8), u_low, u_high)
        p = evaluate(prob_u, u, chunk).mean(0)
        history.append(float(p.mean()))
    final = u * scale + loc
    final[:, ~free] = np.clip(x0, low, high)[:, ~free]  # exact: no round trip through u
    return AscentResult(
        start=x0,
        final=final,
        p_start=evaluate(prob, x0, chunk).mean(0),
        p_final=p,
        history=np.asarray(history),
        method=used,
    )


def _t(array: np.ndarray, like: Any) -> Any:
    import torch

    return torch.as_tensor(array, dtype=like.dtype, device=like.device)
