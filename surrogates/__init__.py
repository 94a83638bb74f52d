"""surrotag.surrogates: the ML library of classifier surrogates (arXiv:2402.15558).

Conditional flow matching for a 1-D tagger score, exact tag probabilities by the inverse
flow, Bayesian weights (mean-field VI, Metropolis-Hastings posterior samples), cards,
validation, explanation, export.
This package knows tensors and tables, never events: it imports nothing from
``surrotag`` outside ``surrotag.surrogates``.

Example:
    >>> from surrotag.surrogates import Surrogate
    >>> dist = Surrogate(["pt", "mass"], hidden=8, depth=2)(torch.zeros(4, 2))  # doctest: +SKIP
    >>> dist.prob_above([0.0, 1.0]).shape  # [K draws, N objects, M thresholds]  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> submodule. Imported on first use (PEP 562), so that reading a card or
#: listing surrogates does not import torch.
_LAZY = {
    "MeanFieldWeights": "bayes",
    "PointWeights": "bayes",
    "SampleStack": "bayes",
    "WeightPosterior": "bayes",
    "SurrogateError": "errors",
    "SurrogateInputError": "errors",
    "ScoreDistribution": "flow",
    "Surrogate": "flow",
    "dopri5": "ode",
    "rk4": "ode",
    "TrainConfig": "train",
    "TrainReport": "train",
    "cfm_loss": "train",
    "train_surrogate": "train",
    "logit_clip": "transforms",
    "VelocityField": "velocity",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
