"""Seconds of the statistics (``cls``, ``upper_limit``, ``cls_and_upper_limit``) per pyhf backend.

Run: ``python tests/benchmarks/bench_stats.py [--quick] [-o OUT] [--backends jax pytorch numpy]``
(or ``pytest tests/benchmarks/bench_stats.py --benchmark -s``).

The workspaces: the shipped zprime-ttbar-allhad with the official 2 TeV Z' signal as its
patch (37 parameters), and the published ATLAS-SUSY-2018-31 likelihood with its sbottom
1300/850/60 patch (64 parameters) when ``../shared/data`` is present (not with ``--quick``).
Each backend runs in a fresh interpreter with ``OMP_NUM_THREADS=1`` and records: the first
``cls`` of the process (``cold``: imports and first use included, what one ``surrotag run``
pays), then ``cls``, ``upper_limit`` and ``cls_and_upper_limit`` again (``warm``), the fits
each made, the process CPU seconds and their ratio to the wall seconds (above 1: more than
one busy core; well below 1: a machine loaded by other work, where CPU seconds compare
better) and, for JAX, the seconds of the one compilation of each computation (from the DEBUG
log of :mod:`surrotag.stats.infer`) and the seconds per fit without it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import load_average, machine, main_parser, write_results

__all__ = ["BACKENDS", "run_benchmark"]

#: The backends timed, the default first.
BACKENDS = ("jax", "pytorch", "numpy")
_ROOT = Path(__file__).resolve().parents[2]
_ATLAS = _ROOT.parent / "shared" / "data" / "pyhf" / "ATLAS-SUSY-2018-31_sbottom_multib_RegionA"


def _case(name: str) -> tuple[Any, Any]:
    """Background workspace and signal patch of one benchmark case."""
    if name == "atlas-sbottom":
        workspace = json.loads((_ATLAS / "BkgOnly.json").read_text(encoding="utf-8"))
        patch = json.loads((_ATLAS / "patch.sbottom_1300_850_60.json").read_text("utf-8"))
        return workspace, patch
    from surrotag.analysis import get_analysis
    from surrotag.reference.publish import official_patch
    from surrotag.yields import Yields

    folder = _ROOT / "analyses" / "zprime_ttbar_allhad"
    workspace = json.loads((folder / "workspace.json").read_text(encoding="utf-8"))
    official = json.loads((folder / "official_yields.json").read_text(encoding="utf-8"))
    signal = next(s for s in official["signals"] if s["mass_gev"] == 2000.0)
    yields = {
        region: Yields.from_nominal(r["yield"], r["mc_stat_error"], r["bin_edges_gev"])
        for region, r in signal["regions"].items()
    }
    card = get_analysis("zprime-ttbar-allhad").card
    return workspace, official_patch(workspace, card, yields).ops


class _Compiles(logging.Handler):
    """Collects the seconds of each JAX compilation logged by surrotag.stats.infer."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seconds: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "traced and compiled" in record.getMessage():
            self.seconds.append(float(record.args[-1]))  # type: ignore[index]


def _worker(backend: str, case: str) -> dict[str, Any]:
    """Time the statistics of ``case`` on ``backend`` in this (fresh) interpreter."""
    start = time.perf_counter()
    from surrotag.stats import cls, cls_and_upper_limit, upper_limit

    imports = time.perf_counter() - start
    workspace, patch = _case(case)
    compiles = _Compiles()
    log = logging.getLogger("surrotag.stats.infer")
    log.addHandler(compiles)
    log.setLevel(logging.DEBUG)

    def one(label: str, fn: Any) -> dict[str, Any]:
        compiles.seconds.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        value = fn()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        both = isinstance(value, tuple) and not hasattr(value, "_fields")  # (cls, limit)
        limit = value[1] if both else value
        n_fits = getattr(limit, "n_fits", None)
        compile_s = sum(compiles.seconds)
        row = {
            "seconds": round(wall, 3),
            "cpu_seconds": round(cpu, 3),
            "cpu_over_wall": round(cpu / wall, 2),
            "n_fits": n_fits,
            "compile_seconds": round(compile_s, 3) if compiles.seconds else None,
        }
        if compiles.seconds and n_fits:
            row["seconds_per_fit_without_compile"] = round((wall - compile_s) / n_fits, 4)
        row["observed"] = (value[0] if both else value).observed
        print(f"  {backend:8s} {case:14s} {label:22s} {wall:7.2f} s  {row}", flush=True)
        return row

    rows = {
        "cls_cold": one("cls (cold)", lambda: cls(workspace, patch, backend=backend)),
        "cls": one("cls", lambda: cls(workspace, patch, backend=backend)),
        "upper_limit": one("upper_limit", lambda: upper_limit(workspace, patch, backend=backend)),
        "cls_and_upper_limit": one(
            "cls_and_upper_limit", lambda: cls_and_upper_limit(workspace, patch, backend=backend)
        ),
    }
    return {"backend": backend, "case": case, "import_seconds": round(imports, 3), **rows}


def run_benchmark(
    backends: tuple[str, ...] = BACKENDS, cases: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """One fresh interpreter per backend and case; their timings."""
    if cases is None:
        cases = ("zprime-allhad-2tev", *(("atlas-sbottom",) if _ATLAS.is_dir() else ()))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = []
    for case in cases:
        for backend in backends:
            load = load_average()
            out = subprocess.run(
                [sys.executable, __file__, "--worker", backend, case],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            print(out.stdout.rstrip(), flush=True)
            runs.append({**json.loads(out.stdout.splitlines()[-1]), "load_average_before": load})
    return {"omp_num_threads": 1, "runs": runs}


@pytest.mark.benchmark
def test_bench_stats() -> None:
    results = run_benchmark(("jax", "numpy"), ("zprime-allhad-2tev",))
    assert all(run["cls"]["seconds"] > 0 for run in results["runs"])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    if argv is None and len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(sys.argv[2], sys.argv[3])))
        return {}
    parser = main_parser("stats", __doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    args = parser.parse_args(argv)
    info = machine()
    cases = ("zprime-allhad-2tev",) if args.quick else None
    results = run_benchmark(tuple(args.backends), cases)
    write_results("stats", {"machine": info, "quick": args.quick, "results": results}, args.output)
    return results


if __name__ == "__main__":
    main()
