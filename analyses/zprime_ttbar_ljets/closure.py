"""Pre-registered closure of the recast against official Z' yields of ``zprime-ttbar-ljets``.

The plan (:data:`PLAN`) fixes before any run the Z' masses, the events per mass, *fresh*
generation seeds 4201-4204 (used by no other sample of the project: not this analysis's
official samples, 2201-2204, or backgrounds, 3101-3102, nor any sample of
zprime-ttbar-allhad or the training set), the weight draws and the tolerances; the
committed history (:data:`HISTORY_FILE`) opens with the plan's sha256. One run
(:func:`surrotag.validation.recast_closure.run_closure`) recasts each fresh sample with the
``top-tagger-delphes`` surrogate (the verdict) and its efficiency map, and compares both
with the internal tagger's decisions on the same events: yields within
``max(2 sigma, 10 %)`` per region, expected mu_up within 10 %.

Run (about 10 minutes of generation on two cores the first time, then a few minutes)::

    SURROTAG_DATA=... python -m surrotag.analyses.zprime_ttbar_ljets.closure
    python -m surrotag.analyses.zprime_ttbar_ljets.closure --table   # README table

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from surrotag.reference.publish import Sample
from surrotag.validation.recast_closure import ClosurePlan, closure_command

__all__ = ["COMMAND", "HISTORY_FILE", "PLAN", "main"]

HERE: Final = Path(__file__).resolve().parent
COMMAND: Final = "python -m surrotag.analyses.zprime_ttbar_ljets.closure"
#: The committed record of every closure run: a header line, then one JSON line per run.
HISTORY_FILE: Final = HERE / "closure_history.jsonl"
#: The pre-registered plan (masses and sizes as the official samples of :mod:`.build`).
PLAN: Final = ClosurePlan(
    analysis="zprime-ttbar-ljets",
    samples=tuple(
        Sample(f"zprime_{m:g}", "zprime-ttbar-inclusive", n, seed, m, parameters={"mass_gev": m})
        for m, n, seed in (
            (1000.0, 20_000, 4201),
            (1500.0, 10_000, 4202),
            (2000.0, 10_000, 4203),
            (3000.0, 10_000, 4204),
        )
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
