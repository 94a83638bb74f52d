"""Peak memory of ``surrotag run`` against the size of the event file (goal: flat, < 2 GB).

Run: ``python tests/benchmarks/bench_memory.py [--quick] [-o OUT] [--sizes N ...]`` (or
``pytest tests/benchmarks/bench_memory.py --benchmark -s``).

Each input is the shipped example signal of ``zprime-ttbar-allhad`` (2000 generated Z' ->
t tbar events) replicated into one surrotag Parquet file written row group by row group
(:func:`_common.replicate_example`: the writer never holds more than one 20k-event row
group, so a 1e6-event file costs no more memory to make than a 1e5 one). Each size is
recast by the real command, ``python -m surrotag.cli run zprime-ttbar-allhad FILE --draws
2``, in its own subprocess; its peak resident memory is ``ru_maxrss`` of that child from
``os.wait4``. **Two draws** (not the card's 20) keep these runs short: the draw count
scales only the per-selected-event tag probabilities ``[K, n, W]`` kept for the yields
(K x 8 bytes x 3 per event) and the ODE batches (chunked by the surrogate), not the
reading. Sizes: 1e5, 3e5, 1e6 events (``--quick``: 1e4, 3e4).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ANALYSIS,
    load_average,
    machine,
    main_parser,
    replicate_example,
    run_subprocess_rss,
    write_results,
)

__all__ = ["FLAT_GROWTH", "GOAL_MIB", "run_benchmark"]

#: Issue 7's goal: peak memory below 2 GB at >= 1e6 events.
GOAL_MIB = 2000 * 1e6 / 2**20
#: "Flat": the peak at the largest size is below this multiple of the peak at the smallest.
FLAT_GROWTH = 1.25
FULL_SIZES = (100_000, 300_000, 1_000_000)
QUICK_SIZES = (10_000, 30_000)


def run_benchmark(sizes: tuple[int, ...] = FULL_SIZES, draws: int = 2) -> dict[str, Any]:
    """Peak RSS (MiB) and wall seconds of ``surrotag run`` per input size."""
    rows = []
    for n in sizes:
        start = time.perf_counter()
        path = replicate_example(n)
        made = time.perf_counter() - start
        load = load_average()
        command = [sys.executable, "-m", "surrotag.cli", "run", ANALYSIS, str(path)]
        command += ["--draws", str(draws)]
        run = run_subprocess_rss(command, env=os.environ)
        if run["returncode"] != 0:
            raise RuntimeError(f"{run['command']} failed:\n{run['output_tail']}")
        rows.append(
            {
                "events": n,
                "file_mib": path.stat().st_size / 2**20,
                "file_write_seconds": round(made, 2),
                "peak_rss_mib": round(run["peak_rss_mib"], 1),
                "seconds": round(run["seconds"], 2),
                "load_average_before": load,
            }
        )
        print(
            f"{n:>10,} events  file {rows[-1]['file_mib']:7.1f} MiB  peak RSS "
            f"{rows[-1]['peak_rss_mib']:7.1f} MiB  {rows[-1]['seconds']:7.1f} s  load {load}"
        )
    peaks = [row["peak_rss_mib"] for row in rows]
    return {
        "draws": draws,
        "draws_note": (
            "the card's default" if draws == 20 else f"{draws} draws (the card's default is 20)"
        ),
        "command": f"python -m surrotag.cli run {ANALYSIS} FILE --draws {draws}",
        "sizes": rows,
        "peak_rss_mib_max": max(peaks),
        "peak_growth_largest_over_smallest": peaks[-1] / peaks[0],
        "goal_mib": GOAL_MIB,
        "flat_growth_limit": FLAT_GROWTH,
        "meets_goal": bool(
            max(peaks) < GOAL_MIB and peaks[-1] / peaks[0] < FLAT_GROWTH and max(sizes) >= 1_000_000
        ),
    }


@pytest.mark.benchmark
def test_bench_memory() -> None:
    results = run_benchmark(QUICK_SIZES)
    assert results["peak_rss_mib_max"] > 0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = main_parser("memory", __doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="event counts")
    parser.add_argument("--draws", type=int, default=2, help="draws K (default 2)")
    args = parser.parse_args(argv)
    sizes = tuple(args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES))
    info = machine()
    results = run_benchmark(sizes, args.draws)
    write_results("memory", {"machine": info, "quick": args.quick, "results": results}, args.output)
    return results


if __name__ == "__main__":
    main()
