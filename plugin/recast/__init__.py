"""Recast an analysis on signal events, end to end (``surrotag run``).

:func:`recast` reads events (files, globs, MadGraph run folders, or canonical events in
memory), applies the analysis's selection, tags the two selected objects with the analysis's
classifier surrogate (arXiv:2402.15558) or the efficiency-map baseline, fills the signal
yields per region and bin, patches the background-only pyhf workspace and computes CLs and
upper limits. The result is a typed :class:`RecastReport` whose JSON document follows the
shipped ``report.schema.json``; :func:`write_report` writes it atomically after validation.
:class:`ChunkRecast` runs the same steps up to the region yields on one chunk of events at a
time, for workflows that read the events themselves (a coffea processor);
:func:`recast_many` runs several analyses on one pass over the events, tagging each object
once for the analyses that share a tagger.
"""

from __future__ import annotations

from surrotag.recast.chunks import ChunkRecast
from surrotag.recast.pipeline import (
    EXAMPLE_SIGNAL,
    OOD_POLICIES,
    OOD_WARNING,
    STAGES,
    recast,
    recast_many,
)
from surrotag.recast.report import (
    RecastReport,
    RegionResult,
    report_schema,
    validate_report,
    write_report,
)
from surrotag.tagging import FED_FEATURES, TAGGERS, check_surrogate

__all__ = [
    "EXAMPLE_SIGNAL",
    "FED_FEATURES",
    "OOD_POLICIES",
    "OOD_WARNING",
    "STAGES",
    "TAGGERS",
    "ChunkRecast",
    "RecastReport",
    "RegionResult",
    "check_surrogate",
    "recast",
    "recast_many",
    "report_schema",
    "validate_report",
    "write_report",
]
