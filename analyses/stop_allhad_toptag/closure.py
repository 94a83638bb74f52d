"""Pre-registered closure of the recast against official stop yields of ``stop-allhad-toptag``.

The plan (:data:`PLAN`) fixes before any run three grid points, a heavy stop with a light
neutralino (boosted tops), a medium one and a compressed one, 5000 events each with *fresh*
seeds 4301-4303 (used by no other sample: not this analysis's grid, 2301-2311, or
backgrounds, 3101-3103, nor any other analysis's or the training set's), 20 weight draws
and the tolerances; the committed history (:data:`HISTORY_FILE`) opens with the plan's
sha256. One run (:func:`surrotag.validation.recast_closure.run_closure`) recasts each
sample with the ``top-tagger-delphes`` surrogate (the verdict) and its efficiency map and
compares both with the internal tagger's decisions on the same events: yields within
``max(2 sigma, 10 %)`` in each of the three regions, expected mu_up within 10 %.

Run (about 5 minutes of generation on two cores the first time)::

    SURROTAG_DATA=... python -m surrotag.analyses.stop_allhad_toptag.closure
    python -m surrotag.analyses.stop_allhad_toptag.closure --table   # README table

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from surrotag.analyses.stop_allhad_toptag.build import grid_point
from surrotag.validation.recast_closure import ClosurePlan, closure_command

__all__ = ["COMMAND", "HISTORY_FILE", "PLAN", "main"]

HERE: Final = Path(__file__).resolve().parent
COMMAND: Final = "python -m surrotag.analyses.stop_allhad_toptag.closure"
HISTORY_FILE: Final = HERE / "closure_history.jsonl"
#: The pre-registered plan: three grid points of the build's grid, on fresh seeds.
PLAN: Final = ClosurePlan(
    analysis="stop-allhad-toptag",
    samples=(
        grid_point(1100.0, 50.0, 4301),
        grid_point(900.0, 400.0, 4302),
        grid_point(1300.0, 800.0, 4303),
    ),
    jobs=2,
    draws=20,
    yield_tolerance=0.10,
    mu_up_tolerance=0.10,
)


def main(argv: list[str] | None = None) -> int:
    """Command line: run the pre-registered closure (``--table``: print the last run)."""
    return closure_command(PLAN, HISTORY_FILE, COMMAND, argv)


if __name__ == "__main__":
    raise SystemExit(main())
