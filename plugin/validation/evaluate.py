"""Evaluate a surrogate once on the validation rows: exact probabilities and samples.

One :class:`~surrotag.surrogates.flow.ScoreDistribution` per call serves every metric: the
exact tag probabilities ``P(score > w | c)`` at every working point and at the
0.5-probability threshold (logit 0) for K weight draws (one batched backward ODE solve), and
one sampled score per jet and draw (forward solve).

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

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
        features: [N, F] in the card's feature order.
        draws: weight draws K.
        seed: seed of the sampled scores (the weight draws use the surrogate's own seed).
    """
    import torch

    names = tuple(point["name"] for point in card.working_points)
    thresholds = np.array([card.model_threshold(name) for name in names], dtype=np.float64)
    dist = surrogate(torch.as_tensor(features, dtype=torch.float32), draws=draws)
    cuts = np.append(thresholds, half_threshold(card))
    start = time.perf_counter()
    prob = dist.prob_above(cuts).double().numpy()
    exact_seconds = time.perf_counter() - start
    samples = dist.sample(generator=torch.Generator().manual_seed(seed)).double().numpy()
    ood = dist.ood.numpy().astype(bool)
    return Evaluation(names, thresholds, prob[..., :-1], prob[..., -1], samples, ood, exact_seconds)
