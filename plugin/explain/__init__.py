"""Explain surrogates and taggers: contour maps, gradient ascent, feature importance, simple
cuts, and the internal tagger's artificial jets, mutual information and activation patterns.

Every surrogate-level method takes a probability function ``prob(x [N, F]) -> p [N] or
[K, N]`` (:mod:`surrotag.explain.probability`), so closed-form functions and surrogates
(:class:`SurrogateProbability`) are explained alike.

References:
    Roxlo, Reece, arXiv:1804.09278; Khot, Neubauer, Roy, arXiv:2210.04371.
"""

from __future__ import annotations

from surrotag.explain.ascent import AscentResult, gradient_ascent
from surrotag.explain.contours import ContourMap, contour_map, feature_grid
from surrotag.explain.importance import (
    Importance,
    feature_importance,
    integrated_gradients,
    permutation_importance,
)
from surrotag.explain.probability import SurrogateProbability, evaluate, gradient
from surrotag.explain.simple_cut import RectangularCut, apply_cut, best_rectangular_cut

__all__ = [
    "AscentResult",
    "ContourMap",
    "Importance",
    "RectangularCut",
    "SurrogateProbability",
    "apply_cut",
    "best_rectangular_cut",
    "contour_map",
    "evaluate",
    "feature_grid",
    "feature_importance",
    "gradient",
    "gradient_ascent",
    "integrated_gradients",
    "permutation_importance",
]
