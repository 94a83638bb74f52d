"""surrotag.surrogates: the ML library of classifier surrogates (arXiv:2402.15558).

Conditional flow matching for a 1-D tagger score, exact tag probabilities by the inverse
flow, Bayesian weights (mean-field VI, AdamMCMC), cards, validation, explanation, export.
This package knows tensors and tables, never events: it imports nothing from
``surrotag`` outside ``surrotag.surrogates``.

Example:
    >>> from surrotag.surrogates import Surrogate
    >>> dist = Surrogate(["pt", "mass"], hidden=8, depth=2)(torch.zeros(4, 2))  # doctest: +SKIP
    >>> dist.prob_above([0.0, 1.0]).shape  # [K draws, N objects, M thresholds]  # doctest: +SKIP
"""

from __future__ import annotations

from .bayes import MeanFieldWeights, PointWeights, SampleStack, WeightPosterior
from .errors import SurrogateError, SurrogateInputError
from .flow import ScoreDistribution, Surrogate
from .ode import dopri5, rk4
from .train import TrainConfig, TrainReport, cfm_loss, train_surrogate
from .transforms import logit_clip
from .velocity import VelocityField

__all__ = [
    "MeanFieldWeights",
    "PointWeights",
    "SampleStack",
    "ScoreDistribution",
    "Surrogate",
    "SurrogateError",
    "SurrogateInputError",
    "TrainConfig",
    "TrainReport",
    "VelocityField",
    "WeightPosterior",
    "cfm_loss",
    "dopri5",
    "logit_clip",
    "rk4",
    "train_surrogate",
]
