"""Pre-registered closure of the recast against official yields of ``anomaly-dijet``.

The plan (:data:`PLAN`) fixes before any run the two signal models at two masses each,
W' -> W Z at 1.5 and 2.5 TeV and Y -> X X' at (M_Y, M_X, M_X') = (2000, 150, 250) and
(3000, 200, 300) GeV, 5000 events each with *fresh* seeds 8401-8404 (used by no other
sample: not this analysis's build, 8301-8314, nor the taggers' or surrogates' samples,
8001-8022 and 8201-8216), 40 weight draws and the tolerances of the issue: yields within
``max(2 sigma, 10 %)`` in both regions and the expected mu_up within 15 %. The committed
history (:data:`HISTORY_FILE`) opens with the plan's sha256. One run
(:func:`surrotag.validation.recast_closure.run_closure`) recasts each sample with the
``anomaly-oe-delphes`` surrogate and compares it with the internal OE-VAE's decisions on
the same events. Neither signal model trained any tagger or surrogate.

Run (about 10 minutes of generation on two cores the first time)::

    SURROTAG_DATA=... python -m surrotag.analyses.anomaly_dijet.closure
    python -m surrotag.analyses.anomaly_dijet.closure --table   # README table

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from surrotag.analyses.anomaly_dijet.build import wprime, y_xx
from surrotag.validation.recast_closure import ClosurePlan, closure_command

__all__ = ["COMMAND", "HISTORY_FILE", "PLAN", "main"]

HERE: Final = Path(__file__).resolve().parent
COMMAND: Final = "python -m surrotag.analyses.anomaly_dijet.closure"
HISTORY_FILE: Final = HERE / "closure_history.jsonl"
#: The pre-registered plan: both signal models at two masses each, on fresh seeds.
PLAN: Final = ClosurePlan(
    analysis="anomaly-dijet",
    samples=(
        wprime(1500.0, 8401),
        wprime(2500.0, 8402),
        y_xx(2000.0, (150.0, 250.0), 8403),
        y_xx(3000.0, (200.0, 300.0), 8404),
    ),
    jobs=2,
    draws=40,
    yield_tolerance=0.10,
    mu_up_tolerance=0.15,
    paths={"delphes": "surrogate"},
)


def main(argv: list[str] | None = None) -> int:
    """Command line: run the pre-registered closure (``--table``: print the last run)."""
    return closure_command(PLAN, HISTORY_FILE, COMMAND, argv)


if __name__ == "__main__":
    raise SystemExit(main())
