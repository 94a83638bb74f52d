"""Pre-registered closure of the recast against official stop yields of ``stop-dilepton-nn``.

The plan (:data:`PLAN`) fixes before any run three grid points, a heavy stop with a light
neutralino, a medium splitting and a three-body point below the top threshold, 10000 events
each with *fresh* seeds 5301-5303 (used by no other sample: not this analysis's grid,
5201-5232, its background 5102, the event classifier's and the event table's samples,
5101 and 5111-5116, nor any other analysis's), 20 weight draws and the tolerances; the
committed history (:data:`HISTORY_FILE`) opens with the plan's sha256. One run
(:func:`surrotag.validation.recast_closure.run_closure`) recasts each sample with the
``stop-classifier-delphes`` surrogate and compares it with the internal event classifier's
decisions on the same events: yields within ``max(2 sigma, 10 %)`` in each region, expected
mu_up within 10 %. The event surrogate has no efficiency map, so the recast is the one path.

Run (about 10 minutes of generation on one core the first time)::

    SURROTAG_DATA=... python -m surrotag.analyses.stop_dilepton_nn.closure
    python -m surrotag.analyses.stop_dilepton_nn.closure --table   # README table

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from surrotag.analyses.stop_dilepton_nn.build import grid_point
from surrotag.validation.recast_closure import ClosurePlan, closure_command

__all__ = ["COMMAND", "HISTORY_FILE", "PLAN", "main"]

HERE: Final = Path(__file__).resolve().parent
COMMAND: Final = "python -m surrotag.analyses.stop_dilepton_nn.closure"
HISTORY_FILE: Final = HERE / "closure_history.jsonl"
#: The pre-registered plan: three grid points of the build's grid, on fresh seeds.
PLAN: Final = ClosurePlan(
    analysis="stop-dilepton-nn",
    samples=(
        grid_point(600.0, 100.0, 5301, 10_000),
        grid_point(500.0, 300.0, 5302, 10_000),
        grid_point(300.0, 200.0, 5303, 10_000),
    ),
    jobs=1,
    draws=20,
    yield_tolerance=0.10,
    mu_up_tolerance=0.10,
    paths={"delphes": "surrogate"},
)


def main(argv: list[str] | None = None) -> int:
    """Command line: run the pre-registered closure (``--table``: print the last run)."""
    return closure_command(PLAN, HISTORY_FILE, COMMAND, argv)


if __name__ == "__main__":
    raise SystemExit(main())
