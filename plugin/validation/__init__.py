"""Validation of classifier surrogates against the tagger they replace (issue 5).

:func:`validate_surrogate` is the library behind ``surrotag surrogate validate``: pulls of
efficiencies in pt and mass cells, the Jensen-Shannon distance with its noise floor, a
classifier two-sample test, the out-of-distribution scan, goals and figures.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

from surrotag.validation.metrics import (
    c2st_auc,
    efficiency_cells,
    js_distance,
    js_distance_values,
    split_half_js,
)
from surrotag.validation.report import validate_surrogate

__all__ = [
    "c2st_auc",
    "efficiency_cells",
    "js_distance",
    "js_distance_values",
    "split_half_js",
    "validate_surrogate",
]
