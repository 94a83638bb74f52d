"""Public features of events: the registry and the per-object feature table.

Surrogate cards name their inputs with the names of :data:`FEATURES`; :func:`build_features`
turns canonical events (:mod:`surrotag.io.canonical`) into a flat table with one row per fat
jet (detector level) or top quark (parton level).
"""

from __future__ import annotations

from surrotag.features.registry import (
    FEATURES,
    ROW_KIND,
    Feature,
    describe_features,
    features_for_level,
    get_feature,
)
from surrotag.features.table import (
    EVENT_INDEX,
    build_event_table,
    build_features,
    event_only,
    infer_level,
    resolve_features,
)
from surrotag.features.truth import last_top_copies, match_tops_to_jets, top_decays

__all__ = [
    "EVENT_INDEX",
    "FEATURES",
    "ROW_KIND",
    "Feature",
    "build_event_table",
    "build_features",
    "describe_features",
    "event_only",
    "features_for_level",
    "get_feature",
    "infer_level",
    "last_top_copies",
    "match_tops_to_jets",
    "resolve_features",
    "top_decays",
]
