"""Evaluate a surrogate once on the validation rows: exact probabilities and samples.

One evaluation by the tag stage (:func:`surrotag.tagging.evaluate_surrogate`, one score
distribution) serves every metric: the exact tag probabilities ``P(score > w | c)`` at every
working point and at the 0.5-probability threshold (logit 0) for K weight draws (one batched
backward ODE solve), and one sampled score per jet and draw (forward solve).

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from surrotag.tagging import evaluate_surrogate

if TYPE_CHECKING:
    from surrotag.surrogates.card import Card
    from surrotag.surrogates.flow import Surrogate

__all__ = ["Evaluation", "evaluate", "half_threshold"]


@dataclass(frozen=True)
class Evaluation:
    """The surrogate on N jets under K weight draws.

    Attributes:
        working_points: the W working-point names.
        thresholds: [W] cuts in the modelled (logit) space.
        prob: [K, N, W] exact P(score > threshold) per draw.
        prob_half: [K, N] exact P(score > 0.5-probability threshold) per draw.
        samples: [K, N] one sampled score (modelled space) per draw and jet.
        ood: [N] bool, outside the training support.
        exact_seconds: wall time of the exact probabilities (all K draws and W + 1 cuts in
            one solve per chunk), s.
    """

    working_points: tuple[str, ...]
    thresholds: np.ndarray
    prob: np.ndarray
    prob_half: np.ndarray
    samples: np.ndarray
    ood: np.ndarray
    exact_seconds: float = math.nan

    @property
    def predictive_sample(self) -> np.ndarray:
        """[N] one score per jet from the posterior predictive: jet i uses draw i mod K."""
        k, n = self.samples.shape
        return self.samples[np.arange(n) % k, np.arange(n)]


def half_threshold(card: Card) -> float:
    """The 0.5-probability cut in the modelled space (a logit: 0)."""
    return card.model_threshold(0.5) if card.score["space"] == "logit" else 0.0


def evaluate(
    surrogate: Surrogate, card: Card, features: np.ndarray, draws: int, seed: int = 0
) -> Evaluation:
    """Exact probabilities at all working points and logit 0, and samples, for K draws.

    Args:
        surrogate, card: from :func:`surrotag.surrogates.storage.load_surrogate`.
        features: [N, F] in the card's feature order (units of the card, GeV for momenta).
        draws: weight draws K.
        seed: seed of the sampled scores (the weight draws use the surrogate's own seed).
    """
    import torch

    names = tuple(point["name"] for point in card.working_points)
    thresholds = np.array([card.model_threshold(name) for name in names], dtype=np.float64)
    result = evaluate_surrogate(
        surrogate,
        features,
        thresholds=np.append(thresholds, half_threshold(card)),
        draws=draws,
        sample=True,
        generator=torch.Generator().manual_seed(seed),
    )
    prob = result.probabilities
    assert prob is not None and result.samples is not None  # asked for both
    return Evaluation(
        names,
        thresholds,
        prob[..., :-1],
        prob[..., -1],
        result.samples,
        result.ood,
        result.exact_seconds,
    )
