"""Scan throughput: N single-thread Dask workers against one, on the same grid of real points.

Run: ``python tests/benchmarks/bench_scan.py [--quick] [-o OUT] [--workers N] [--points P]``
(or ``pytest tests/benchmarks/bench_scan.py --benchmark -s``). Issue 7's goal: throughput
with N workers >= 0.85 N x that of one worker (N = 2 on the 2-core machine; N = 8 on a
16-core one).

The grid has P points (8; ``--quick``: 4), each the shipped example signal of
``zprime-ttbar-allhad`` (2000 generated Z' -> t tbar events) with its own ``xsec_pb``
(0.5 to 4 times the generated cross-section), so every point runs the whole recast (read,
select, features, tag, yields, patch, CLs fits) as in a real mass or coupling scan; the
parameter is the scale factor. Options: ``--draws 2`` (short points; the card's default is
20). For each worker count a ``LocalCluster`` of single-thread worker processes is started
(as ``surrotag scan --workers N`` does), warmed up (surrotag, torch, pyhf and scipy imported
on every worker, which a long scan pays once), then :func:`surrotag.scan.run_scan` runs the
grid into a fresh folder with that client. Throughput = points / seconds of ``run_scan``;
the cluster start is reported beside it, not included.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ANALYSIS,
    bench_dir,
    example_signal,
    load_average,
    machine,
    main_parser,
    write_results,
)

__all__ = ["GOAL_EFFICIENCY", "make_grid", "run_benchmark"]

#: Issue 7's goal: throughput(N) / throughput(1) >= 0.85 N.
GOAL_EFFICIENCY = 0.85


def make_grid(n_points: int) -> Any:
    """A grid of ``n_points`` points: the example signal at xsec scales 0.5 .. 4."""
    import numpy as np

    from surrotag.io.parquet import read_parquet_metadata
    from surrotag.scan import parse_grid

    path = example_signal()
    sigma = float(read_parquet_metadata(path)["sigma_pb"])
    scales = np.geomspace(0.5, 4.0, n_points)
    document = {
        "description": "benchmark: the zprime-ttbar-allhad example signal at several xsec",
        "points": [
            {
                "name": f"xsec_{i}",
                "parameters": {"xsec_scale": round(float(s), 6)},
                "events": str(path),
                "xsec_pb": float(s) * sigma,
            }
            for i, s in enumerate(scales)
        ],
    }
    return parse_grid(document, source="bench_scan")


def _warm() -> str:
    import pyhf  # noqa: F401
    import scipy.optimize  # noqa: F401
    import torch

    import surrotag.recast
    import surrotag.scan.adapter  # noqa: F401

    return f"torch threads {torch.get_num_threads()}"


def _one(grid: Any, workers: int, draws: int, scratch: Path) -> dict[str, Any]:
    from surrotag.scan import ScanOptions, run_scan
    from surrotag.scan.run import dask_client

    if __name__ != "__main__":  # imported (pytest): workers cannot import this file by name
        import cloudpickle

        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    start = time.perf_counter()
    with dask_client(workers) as client:  # the local cluster `surrotag scan` starts
        warm = client.run(_warm)
        t_cluster = time.perf_counter() - start
        folder = scratch / f"workers{workers}"
        load = load_average()
        result = run_scan(
            ANALYSIS,
            grid.points,
            folder,
            options=ScanOptions(draws=draws),
            client=client,
            progress=False,
        )
    failed = [o.error for o in result.outcomes if o.status != "done"]
    if failed:
        raise RuntimeError(f"scan with {workers} workers: {len(failed)} points failed: {failed[0]}")
    seconds = result.wall_seconds
    return {
        "workers": workers,
        "worker_threads": sorted(set(warm.values())),
        "cluster_start_seconds": round(t_cluster, 2),
        "scan_seconds": round(seconds, 2),
        "points": len(grid.points),
        "points_per_s": len(grid.points) / seconds,
        "point_seconds_mean": sum(o.seconds for o in result.outcomes) / len(result.outcomes),
        "load_average_before": load,
    }


def run_benchmark(n_points: int = 8, workers: int = 2, draws: int = 2) -> dict[str, Any]:
    """Throughput of ``run_scan`` with 1 and ``workers`` workers on the same grid."""
    grid = make_grid(n_points)
    scratch = Path(tempfile.mkdtemp(prefix="scan-", dir=bench_dir()))
    try:
        single = _one(grid, 1, draws, scratch)
        print(f"1 worker:  {single['scan_seconds']:.1f} s, load {single['load_average_before']}")
        multi = _one(grid, workers, draws, scratch)
        print(
            f"{workers} workers: {multi['scan_seconds']:.1f} s, load {multi['load_average_before']}"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    speedup = multi["points_per_s"] / single["points_per_s"]
    return {
        "draws": draws,
        "draws_note": "2 draws to keep the points short (the card's default is 20)",
        "points": n_points,
        "one_worker": single,
        "n_workers": multi,
        "speedup": speedup,
        "efficiency": speedup / workers,
        "goal_speedup": GOAL_EFFICIENCY * workers,
        "meets_goal": bool(speedup >= GOAL_EFFICIENCY * workers),
        "cores": os.cpu_count(),
    }


@pytest.mark.benchmark
def test_bench_scan() -> None:
    results = run_benchmark(n_points=4)
    print(results)
    assert results["speedup"] > 0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = main_parser("scan", __doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="N workers (default 2)")
    parser.add_argument("--points", type=int, default=None, help="grid points (8; quick 4)")
    parser.add_argument("--draws", type=int, default=2, help="draws K (default 2)")
    args = parser.parse_args(argv)
    n_points = args.points or (4 if args.quick else 8)
    info = machine()
    results = run_benchmark(n_points, args.workers, args.draws)
    print(
        f"speedup {results['speedup']:.2f} with {args.workers} workers "
        f"(goal >= {results['goal_speedup']:.2f})"
    )
    write_results("scan", {"machine": info, "quick": args.quick, "results": results}, args.output)
    return results


if __name__ == "__main__":
    main()
