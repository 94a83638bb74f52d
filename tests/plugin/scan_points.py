"""A real point function for scan tests that does not need the analysis's workspace.

:func:`count_point` reads a point's event files with surrotag's readers (real Delphes or
Parquet files), counts events and fat jets, and builds a real pyhf patch with
:func:`surrotag.stats.patch.build_patch` on the published ATLAS-SUSY-2018-31 background
workspace in ``../shared/data``: the signal yield per bin of ``SR_meff`` is 0.1 x the number
of fat jets read. The scan machinery (scheduler, files, skipping, error records) is what the
tests check; this function stands in for the recast only where the analysis's own
workspace is not built yet. The parameter ``repeat`` (default 1) reads the files that many
times, to make a point slow with real work (100 times more for the point names listed in
``SURROTAG_TEST_SLOW``, comma-separated, so that only one run of a test is slow). Every
call appends the point name to the file named by ``SURROTAG_TEST_CALLS`` (when set), so
tests count calls across worker processes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ATLAS_WORKSPACE = (
    Path(__file__).resolve().parents[2].parent
    / "shared/data/pyhf/ATLAS-SUSY-2018-31_sbottom_multib_RegionA/BkgOnly.json"
)

__all__ = ["ATLAS_WORKSPACE", "count_point"]


def count_point(point: Any, analysis: str, options: Any) -> tuple[dict[str, Any], list[Any]]:
    import awkward as ak
    import numpy as np

    from surrotag.io import read_events
    from surrotag.stats.patch import build_patch
    from surrotag.yields import Yields

    calls = os.environ.get("SURROTAG_TEST_CALLS")
    if calls:
        with open(calls, "a", encoding="utf-8") as stream:
            stream.write(f"{point.name}\n")
    slow = point.name in os.environ.get("SURROTAG_TEST_SLOW", "").split(",")
    for _ in range(int(point.parameters.get("repeat", 1)) * (100 if slow else 1)):
        events = read_events([str(p) for p in point.events], collections=["fatjets"])
    n_events = len(events)
    n_fatjets = int(ak.sum(ak.num(events.fatjets)))
    nominal = np.full(3, 0.1 * n_fatjets)
    patch = build_patch(
        ATLAS_WORKSPACE,
        {"SR_meff": Yields.from_nominal(nominal, mc_stat_error=np.sqrt(nominal))},
        signal="signal",
    )
    report = {"n_events": n_events, "n_fatjets": n_fatjets, "analysis": analysis}
    return report, list(patch.ops)
