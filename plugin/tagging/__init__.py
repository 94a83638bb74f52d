"""The tag stage: tag probabilities per object and weight draw, and their per-event combinations.

A :class:`Tagger` (:mod:`surrotag.tagging.protocol`) turns a feature table (one row per
object, :func:`surrotag.features.build_features`) into :class:`ObjectTags`: for every object,
working point and Bayesian weight draw, the probability that the replaced tagger tags it.
Two implement it:

* the classifier surrogate (:mod:`surrotag.tagging.surrogate`): :func:`tag_objects` gives
  ``P(score > w | c)`` from the inverse flow (exact, one batched ODE solve;
  arXiv:2402.15558, Sec. 3), or, with ``stochastic=True``, a 0/1 tag from one sampled score
  per object and draw (the stochastic cut; one sample serves every working point, so the
  tags are nested); :func:`evaluate_surrogate` is the one call of the model that every user
  (recast, ``surrotag tag``, validation) goes through, and :func:`exact_probabilities` its
  differentiable mode (explanations);
* the efficiency map (:mod:`surrotag.tagging.efficiency_map`), today's recast baseline.

:mod:`surrotag.tagging.combinatorics` combines the objects of each event: at least one
tagged, and for the two leading objects both, exactly one and none tagged
(:func:`event_probabilities`, :func:`at_least_one`, :func:`tag_events`).
:mod:`surrotag.tagging.table` reads feature tables (:func:`feature_matrix`,
:func:`taggable`).

Shapes: K weight draws, N objects, E events, W working points. Arrays are numpy float64.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

from surrotag.tagging.combinatorics import (
    REQUIREMENTS,
    EventProbabilities,
    EventTags,
    at_least_one,
    event_probabilities,
    object_positions,
    tag_events,
)
from surrotag.tagging.efficiency_map import (
    EFFICIENCY_MAP_FEATURES,
    EfficiencyMapTagger,
    efficiency_map_probabilities,
)
from surrotag.tagging.protocol import TAGGERS, ObjectTags, Tagger
from surrotag.tagging.surrogate import (
    FED_FEATURES,
    SurrogateEvaluation,
    SurrogateTagger,
    check_surrogate,
    evaluate_surrogate,
    exact_probabilities,
    tag_objects,
)
from surrotag.tagging.table import TAGGABLE_FEATURES, feature_matrix, taggable

__all__ = [
    "EFFICIENCY_MAP_FEATURES",
    "FED_FEATURES",
    "REQUIREMENTS",
    "TAGGABLE_FEATURES",
    "TAGGERS",
    "EfficiencyMapTagger",
    "EventProbabilities",
    "EventTags",
    "ObjectTags",
    "SurrogateEvaluation",
    "SurrogateTagger",
    "Tagger",
    "at_least_one",
    "check_surrogate",
    "efficiency_map_probabilities",
    "evaluate_surrogate",
    "event_probabilities",
    "exact_probabilities",
    "feature_matrix",
    "object_positions",
    "tag_events",
    "tag_objects",
    "taggable",
]
