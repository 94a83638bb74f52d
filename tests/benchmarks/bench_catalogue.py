"""The shipped catalogue in one pass: ``recast_many`` of the three shipped analyses against
``recast`` of one, on events that every one of them can read.

Run: ``python tests/benchmarks/bench_catalogue.py [--quick] [-o OUT] [--events N] [--draws K]``.
Issue 17's goal: reading events once for three analyses costs <= 1.3x one analysis's run.

The input is the reference experiment's official 1.5 TeV Z' -> t tbar sample of
zprime-ttbar-ljets (every top decay, with the Delphes CMS-card leptons, small-R jets and
MET; ``$SURROTAG_DATA/reference``, made by that analysis's build) repeated to N events,
without the columns no analysis reads. The three analyses are the shipped
``zprime-ttbar-allhad`` (two top-tag candidates), ``zprime-ttbar-ljets`` (one) and
``stop-allhad-toptag`` (two): allhad and stop share the tag stage (same surrogate, working
point and candidates), ljets tags its own candidate; each computes its own limits. The one
analysis is ``zprime-ttbar-allhad``; both runs happen in this process, one after the other.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ONE_PASS_GOAL_RATIO,
    bench_dir,
    events_draws_main,
    one_pass_against_one,
    replicate_file,
)

__all__ = ["ANALYSES", "GOAL_RATIO", "run_benchmark"]

GOAL_RATIO = ONE_PASS_GOAL_RATIO
ANALYSES = ("zprime-ttbar-allhad", "zprime-ttbar-ljets", "stop-allhad-toptag")
SOURCE_GLOB = "zprime-ttbar-inclusive_m1500_13TeV_10000ev_s2202_j2_*.parquet"
COLUMNS = ["weight", "fatjets", "particles", "electrons", "muons", "jets", "met"]


def _source() -> Path:
    from surrotag.reference.cache import reference_dir

    found = [p for p in sorted(reference_dir().glob(SOURCE_GLOB)) if ".scores-" not in p.name]
    if not found:
        pytest.skip(
            "the 1.5 TeV official sample of zprime-ttbar-ljets is not in the reference cache: "
            "python -m surrotag.analyses.zprime_ttbar_ljets.build"
        )
    return found[0]


def run_benchmark(n_events: int = 100_000, draws: int = 20, threads: int = 2) -> dict[str, Any]:
    """Seconds of one recast and of the three analyses in one pass, on ``n_events``."""
    import torch

    torch.set_num_threads(threads)
    path = replicate_file(
        _source(), n_events, bench_dir() / f"zprime_inclusive_{n_events}.parquet", 2, COLUMNS
    )
    return one_pass_against_one(list(ANALYSES), path, draws)


def _print(results: dict[str, Any]) -> None:
    print(
        f"{results['events']:,} events, {results['draws']} draws: one analysis "
        f"{results['one_analysis_seconds']:.2f} s, the three shipped in one pass "
        f"{results['three_analyses_seconds']:.2f} s, ratio {results['ratio']:.2f} "
        f"(goal <= {GOAL_RATIO}); objects tagged {results['selected_objects']}"
    )


@pytest.mark.benchmark
def test_bench_catalogue() -> None:
    results = run_benchmark()
    _print(results)
    assert results["events"] >= 100_000


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return events_draws_main("catalogue", __doc__.splitlines()[0], run_benchmark, _print, argv)


if __name__ == "__main__":
    main()
