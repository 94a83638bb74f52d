"""``surrotag run`` quiet and under a background load: the default thread policy against 1 worker.

Run: ``python tests/benchmarks/bench_run_load.py [--quick] [-o OUT] [--events N] [--draws K]``
(or ``pytest tests/benchmarks/bench_run_load.py --benchmark -s``). Issue 21's goals for the
whole run, not only its solves (``bench_threads.py`` measures those):

* under a background load that keeps every core busy, the default ``surrotag run`` is no
  slower than a 1-worker run of the same workload (checked with ``bench_threads.NOISE``,
  a 10% allowance for timing noise), and
* within 3x of its quiet-machine time.

The workload is ``bench_run.py``'s (the shipped example signal of ``zprime-ttbar-allhad``
replicated to N events, K draws, the Python API behind ``surrotag run``), after the same
warm-up. Three timed runs, in this order: quiet with the default policy (``threads=None``:
one worker thread per usable core), then, with one bounded busy-looping process per usable
core started by the benchmark itself (:class:`bench_threads.busy_load`), the default policy
and 1 worker (``threads=1``), alternating ``--repeat`` times (default 2) so that a drifting
load weighs on both alike; the loaded figures are the medians. All three give the same
yields bit for bit (the solve chunks do not depend on the workers), which the benchmark
checks. ``--quick``: 1e4 events, 4 draws, 1 repeat.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ANALYSIS,
    load_average,
    machine,
    main_parser,
    portable_path,
    replicate_example,
    timed,
    warm_up_recasts,
    write_results,
)
from bench_threads import NOISE, busy_load

__all__ = ["run_benchmark"]


def _timed(path: Path, draws: int, threads: int | None) -> tuple[float, Any]:
    from surrotag.recast import recast

    report, seconds = timed(lambda: recast(ANALYSIS, [path], draws=draws, threads=threads))
    return seconds, report


def _yields(report: Any) -> np.ndarray:
    return np.concatenate([np.asarray(region.yields.per_draw).ravel() for region in report.regions])


def run_benchmark(
    n_events: int = 100_000, draws: int = 20, threads: int = 2, repeat: int = 2
) -> dict[str, Any]:
    """Quiet default, then loaded default and loaded 1 worker (see the module docstring)."""
    import torch

    from surrotag.surrogates.threads import usable_cores

    torch.set_num_threads(threads)
    path = replicate_example(n_events)
    warm_up_recasts()
    load_quiet = load_average()
    quiet, reference = _timed(path, draws, None)
    cores = usable_cores()
    loaded: dict[str, list[float]] = {"default": [], "one_worker": []}
    identical = True
    budget = 20 * quiet * repeat + 60  # the busy processes end by themselves after this
    with busy_load(cores, budget) as load:
        for _ in range(repeat):
            for name, setting in (("default", None), ("one_worker", 1)):
                seconds, report = _timed(path, draws, setting)
                loaded[name].append(seconds)
                identical &= bool(np.array_equal(_yields(report), _yields(reference)))
        alive, load_loaded = load.alive(), load_average()  # the 1-minute average at the end
    default, one = (statistics.median(loaded[name]) for name in ("default", "one_worker"))
    return {
        "input": portable_path(path),
        "events": reference.n_events,
        "draws": draws,
        "busy_processes": cores,
        "busy_processes_alive_at_end": alive,
        "load_average_quiet": load_quiet,
        "load_average_loaded": load_loaded,
        "quiet_default_seconds": round(quiet, 3),
        "loaded_seconds": {name: [round(s, 3) for s in times] for name, times in loaded.items()},
        "loaded_default_seconds": round(default, 3),
        "loaded_one_worker_seconds": round(one, 3),
        "loaded_default_over_loaded_one_worker": default / one,
        "loaded_default_over_quiet_default": default / quiet,
        "goal_default_no_slower_than_one_worker": bool(default <= NOISE * one),
        "goal_loaded_within_3x_quiet": bool(default <= 3 * quiet),
        "yields_identical_in_every_run": identical,
        "tagger_threads_quiet": reference.tagger.get("threads"),
    }


def _print(results: dict[str, Any]) -> None:
    print(
        f"surrotag run: {results['events']:,} events, {results['draws']} draws; quiet "
        f"{results['quiet_default_seconds']:.2f} s (load {results['load_average_quiet']})"
    )
    print(
        f"  under {results['busy_processes']} busy processes (load "
        f"{results['load_average_loaded']}): default {results['loaded_seconds']['default']} s, "
        f"1 worker {results['loaded_seconds']['one_worker']} s"
    )
    print(
        f"  loaded default / loaded 1 worker = "
        f"{results['loaded_default_over_loaded_one_worker']:.2f} (goal <= 1), loaded / quiet = "
        f"{results['loaded_default_over_quiet_default']:.2f} (goal <= 3); yields identical: "
        f"{results['yields_identical_in_every_run']}"
    )


@pytest.mark.benchmark
def test_bench_run_load() -> None:
    results = run_benchmark(10_000, 4, repeat=1)
    _print(results)
    assert results["yields_identical_in_every_run"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = main_parser("run_load", __doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None, help="events (default 1e5; quick 1e4)")
    parser.add_argument("--draws", type=int, default=None, help="draws K (default 20; quick 4)")
    parser.add_argument("--repeat", type=int, default=None, help="loaded pairs (default 2)")
    args = parser.parse_args(argv)
    info = machine()
    results = run_benchmark(
        args.events or (10_000 if args.quick else 100_000),
        args.draws or (4 if args.quick else 20),
        repeat=args.repeat or (1 if args.quick else 2),
    )
    _print(results)
    document = {"machine": info, "quick": args.quick, "results": results}
    write_results("run_load", document, args.output)
    return results


if __name__ == "__main__":
    main()
