"""Tag probabilities as plain callables: the common input of every explanation method.

Every method of :mod:`surrotag.explain` takes a *probability function* ``prob(x)``: ``x`` is
an ``[N, F]`` feature matrix (numpy, or a torch tensor when gradients are wanted) and the
result is ``[N]`` (one probability per object) or ``[K, N]`` (K Bayesian weight draws). A
closed-form function therefore needs no trained surrogate, and :class:`SurrogateProbability`
adapts a surrogate + card + working point to the same protocol.

Gradients: :func:`gradient` uses autograd when ``prob`` returns a torch tensor that carries a
graph to its torch input, and central finite differences otherwise.
:class:`SurrogateProbability` takes the exact probability ``P(score > w | c) = 1 - Phi(z_w)``
from the tag stage in its gradient mode (:func:`surrotag.tagging.exact_probabilities`, the
surrogate's own backward solve,
:meth:`~surrotag.surrogates.flow.ScoreDistribution.prob_above` with ``grad=True``): it is
differentiable with respect to the conditioning features, and its autograd gradient matches
central finite differences to 1e-4 (relative, float64) on the shipped surrogate.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558 (exact tag probability).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from surrotag.errors import CardError, InputValueError

if TYPE_CHECKING:
    from surrotag.surrogates.card import Card
    from surrotag.surrogates.flow import Surrogate

__all__ = ["ProbFn", "SurrogateProbability", "differentiable", "evaluate", "gradient"]

#: ``prob(x [N, F]) -> p [N] or [K, N]``, numpy or torch.
ProbFn = Callable[[Any], Any]

#: Rows evaluated together by :func:`evaluate` (bounds memory of K-draw surrogates).
CHUNK = 4096


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _as_draws(p: np.ndarray, n: int) -> np.ndarray:
    """Probabilities ``[N]`` or ``[K, N]`` -> ``[K, N]`` (checked)."""
    p = p.reshape(1, -1) if p.ndim == 1 else p
    if p.ndim != 2 or p.shape[1] != n:
        raise InputValueError(
            f"probability function returned shape {p.shape} for {n} objects: it must return "
            f"[N] or [K, N] (K weight draws)"
        )
    return p


def evaluate(prob: ProbFn, x: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """Probabilities per draw, ``[K, N]`` float64, evaluated in chunks of ``chunk`` rows.

    Args:
        prob: probability function (see :data:`ProbFn`).
        x: features ``[N, F]`` (units of the function, e.g. GeV).
        chunk: rows per call.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise InputValueError(f"features of shape {x.shape}: expected [N, F]")
    parts = [
        _as_draws(_to_numpy(prob(x[start : start + chunk])), len(x[start : start + chunk]))
        for start in range(0, max(len(x), 1), chunk)
        if len(x[start : start + chunk])
    ]
    return np.concatenate(parts, axis=1) if parts else np.zeros((1, 0))


def _autograd(prob: ProbFn, x: np.ndarray) -> np.ndarray | None:
    """Gradient of the draw-mean probability by autograd, or None if prob has no graph."""
    import torch

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    try:
        out = prob(xt)
    except Exception:  # a numpy-only function: fall back to finite differences
        return None
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return None
    p = out if out.dim() == 1 else out.mean(0)
    (grad,) = torch.autograd.grad(p.sum(), xt)
    return grad.detach().cpu().numpy().astype(np.float64)


def _finite(prob: ProbFn, x: np.ndarray, step: np.ndarray, chunk: int) -> np.ndarray:
    """Central finite differences, all 2F shifted copies in one batched evaluation."""
    n, f = x.shape
    shift = np.eye(f)[:, None, :] * step[None, None, :]  # [F, 1, F]
    stacked = np.concatenate([(x[None] + shift).reshape(-1, f), (x[None] - shift).reshape(-1, f)])
    p = evaluate(prob, stacked, chunk).mean(0)
    up, down = p[: n * f].reshape(f, n), p[n * f :].reshape(f, n)
    return ((up - down) / (2.0 * step[:, None])).T


def gradient(
    prob: ProbFn,
    x: np.ndarray,
    *,
    method: str = "auto",
    scale: np.ndarray | None = None,
    rel_step: float = 1e-3,
    chunk: int = CHUNK,
) -> np.ndarray:
    """Gradient of the (draw-averaged) probability with respect to the features, ``[N, F]``.

    Args:
        prob: probability function.
        x: features ``[N, F]``.
        method: ``"autograd"``, ``"finite"`` (central differences) or ``"auto"`` (autograd
            when ``prob`` builds a torch graph, else finite differences).
        scale: per-feature scale of the finite-difference step (default: the std of ``x``).
        rel_step: finite-difference step in units of ``scale``.
        chunk: rows per evaluation.

    Returns:
        ``dp/dx`` in units of 1 / feature unit.
    """
    x = np.asarray(x, dtype=np.float64)
    if method not in ("auto", "autograd", "finite"):
        raise InputValueError(f"gradient method {method!r}: choose auto, autograd or finite")
    if method != "finite":
        grads = [_autograd(prob, x[s : s + chunk]) for s in range(0, len(x), chunk)]
        if all(g is not None for g in grads):
            return np.concatenate(grads) if grads else np.zeros_like(x)
        if method == "autograd":
            raise InputValueError(
                "autograd gradient requested, but the probability function does not return a "
                "torch tensor with a graph to its input; use method='finite'"
            )
    if scale is None:
        scale = x.std(0) if len(x) > 1 else np.ones(x.shape[1])
    step = rel_step * np.where(np.asarray(scale) > 0, scale, 1.0)
    return _finite(prob, x, step, chunk)


def differentiable(prob: ProbFn, n_features: int) -> bool:
    """True if ``prob`` gives autograd gradients (tried on one zero row)."""
    return _autograd(prob, np.zeros((1, n_features))) is not None


class SurrogateProbability:
    """A surrogate's tag probability at one working point, as a probability function.

    ``prob(x)`` returns ``P(score > w | x)`` per weight draw, ``[K, N]``: numpy in, numpy out
    (no graph); torch in, torch out, differentiable with respect to ``x``
    (:func:`surrotag.tagging.exact_probabilities`). The K weight draws are the surrogate's
    own seeded draws, so the values equal those of :func:`surrotag.tagging.tag_objects` on
    the same rows.

    Args:
        surrogate: the model (:func:`surrotag.surrogates.storage.load_surrogate`).
        card: its card (features, working points, score transform).
        working_point: a working-point name of the card.
        draws: weight draws K (default: the card's).

    Attributes:
        feature_names: the F features, in column order.
        loc, scale: the surrogate's feature standardisation (mean, std), ``[F]``.
        low, high: the training support (0.1 % and 99.9 % quantiles), ``[F]``.
        threshold: the working point's cut in the modelled score space.
    """

    def __init__(
        self,
        surrogate: Surrogate,
        card: Card,
        working_point: str,
        *,
        draws: int | None = None,
    ) -> None:
        if list(card.feature_names) != list(surrogate.feature_names):
            raise CardError(
                f"{card.source}: card features {card.feature_names} differ from the model's "
                f"{surrogate.feature_names}; load both with load_surrogate"
            )
        self.surrogate, self.card, self.working_point = surrogate, card, working_point
        self.threshold = float(card.model_threshold(working_point))
        self.feature_names = list(card.feature_names)
        k = surrogate.default_draws if draws is None else int(draws)
        if k < 1:
            raise InputValueError(f"draws={k}: need at least one weight draw")
        self.k = k
        stats = {
            name: getattr(surrogate, f"feature_{name}").detach().cpu().double().numpy()
            for name in ("mean", "std", "low", "high")
        }
        self.loc, self.scale = stats["mean"], stats["std"]
        self.low, self.high = stats["low"], stats["high"]

    def _torch(self, x: Any) -> Any:
        """``[K, N]`` probabilities of a torch ``[N, F]``, with its graph, in ``x``'s dtype."""
        from surrotag.tagging import exact_probabilities

        p = exact_probabilities(self.surrogate, x, [self.threshold], draws=self.k, grad=True)
        return p[..., 0].to(x.dtype)

    def __call__(self, x: Any) -> Any:
        import torch

        if isinstance(x, torch.Tensor):
            return self._torch(x)
        with torch.no_grad():
            return self._torch(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()

    def at(self, working_point: str) -> SurrogateProbability:
        """The same surrogate and draws at another working point."""
        return SurrogateProbability(self.surrogate, self.card, working_point, draws=self.k)

    def public(self, prefixes: Sequence[str] = ("truth_",)) -> np.ndarray:
        """Bool ``[F]``: True for features that are not truth information (name prefix)."""
        return np.array([not n.startswith(tuple(prefixes)) for n in self.feature_names])
