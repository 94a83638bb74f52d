"""surrotag.surrogates: the ML library of classifier surrogates (arXiv:2402.15558).

Conditional flow matching for a 1-D tagger score, exact tag probabilities by the inverse
flow, Bayesian weights (mean-field VI, AdamMCMC), cards, validation, explanation, export.
This package knows tensors and tables, never events: it imports nothing from
``surrotag`` outside ``surrotag.surrogates``.
"""

from __future__ import annotations

__all__: list[str] = []
