"""Validation of classifier surrogates against the tagger they replace.

:func:`validate_surrogate` is the library behind ``surrotag surrogate validate``: efficiency
pulls per truth class in pt, mass and pt x mass cells (:mod:`.cells`, :mod:`.metrics`), the
Jensen-Shannon distance with its noise floor, a classifier two-sample test per truth class,
the out-of-distribution scan, the goals (:mod:`.goals`) and figures; :func:`record` writes
the report next to the surrogate's card.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

from surrotag.validation.cells import (
    CellGrid,
    EfficiencyView,
    TruthClass,
    efficiency_views,
    truth_class,
)
from surrotag.validation.goals import Goal
from surrotag.validation.metrics import (
    CellEfficiencies,
    PullSummary,
    c2st_auc,
    efficiency_cells,
    js_distance,
    js_distance_values,
    pull_summary,
    split_half_js,
)
from surrotag.validation.report import ValidationReport, record, validate_surrogate

__all__ = [
    "CellEfficiencies",
    "CellGrid",
    "EfficiencyView",
    "Goal",
    "PullSummary",
    "TruthClass",
    "ValidationReport",
    "c2st_auc",
    "efficiency_cells",
    "efficiency_views",
    "js_distance",
    "js_distance_values",
    "pull_summary",
    "record",
    "split_half_js",
    "truth_class",
    "validate_surrogate",
]
