"""Run every benchmark (issues 7, 21) and print one table: ``python tests/benchmarks/run_all.py``.

Usage::

    python tests/benchmarks/run_all.py [--quick] [-o results.json] [--markdown table.md]
                                       [--only NAME ...]

Each benchmark script (``bench_readers``, ``bench_surrogate``, ``bench_threads``,
``bench_run``, ``bench_run_load``, ``bench_many``, ``bench_catalogue``, ``bench_memory``,
``bench_scan``) runs in its own subprocess
(its own torch threads and memory; a failing one is recorded and the others go on) and
writes its JSON into a fresh folder under the benchmark directory
(:func:`_common.bench_dir`, never the repository).
The machine (CPU model, cores, torch threads, load average at start, GPU if any) is
recorded once here and each benchmark records its own load average. ``--quick`` passes
``--quick`` to every script (smaller sizes: a smoke run of a few minutes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import bench_dir, load_average, machine, main_parser, write_results

__all__ = ["BENCHMARKS", "main", "summary_rows"]

HERE = Path(__file__).resolve().parent
#: Benchmark names in running order (the scripts are ``bench_<name>.py``).
BENCHMARKS = (
    "readers",
    "surrogate",
    "threads",
    "run",
    "run_load",
    "many",
    "catalogue",
    "memory",
    "scan",
)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}g}" if abs(value) < 1e3 else f"{value:,.0f}"
    return str(value)


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "NO")


def summary_rows(documents: dict[str, Any]) -> list[dict[str, str]]:
    """The table: one row per figure of issue 7 (figure, value, goal, met, note)."""
    rows: list[dict[str, str]] = []

    def add(figure: str, value: Any, goal: str = "", ok: bool | None = None, note: str = ""):
        rows.append(
            {"figure": figure, "value": _fmt(value), "goal": goal, "met": _met(ok), "note": note}
        )

    for name in BENCHMARKS:
        doc = documents.get(name)
        if doc is None:
            continue
        if "error" in doc:
            add(f"{name}: FAILED", None, note=doc["error"][-200:].replace("\n", " "))
            continue
        r = doc["results"]
        load = (doc.get("machine") or {}).get("load_average_at_start")
        if name == "readers":
            ratio = r["ratio_read_plus_features_over_uproot"]
            add(
                "reader + features events/s (Delphes)",
                r["read_plus_features_ev_per_s"],
                note=f"raw uproot arrays() {_fmt(r['uproot_arrays_ev_per_s'])} ev/s; load {load}",
            )
            add("reader + features / raw uproot (rate ratio)", ratio, ">= 0.5", ratio >= 0.5)
        elif name == "surrogate":
            cpu = r["cpu"]
            add(
                "exact tag probabilities/s per draw, CPU",
                cpu["exact_probs_per_s_per_draw"],
                note=f"shipped {cpu['surrogate']}, {cpu['objects']} jets x "
                f"{cpu['thresholds']} WPs, RK4 {cpu['rk4_steps']} steps, "
                f"{cpu['torch_threads']} threads, {_fmt(cpu['achieved_tflops'] * 1e3)} "
                f"GFLOP/s; load {load}",
            )
            k20 = cpu["batched_K20_over_20x_single"]
            add("K=20 batched / 20 x one draw, CPU", k20, "<= 1.1", k20 <= 1.1)
            roof = cpu.get("trunk_roofline")
            if roof is not None:
                fraction = roof["fraction_of_matmul_roofline"]
                add(
                    "trunk evaluation / its hidden-layer matmuls alone (1 thread)",
                    fraction,
                    ">= 0.70",
                    fraction >= 0.70,
                    f"{roof['rows']} rows, matmuls at {_fmt(roof['matmul_gflops'])} GFLOP/s",
                )
            gpu = r["cuda"]
            if gpu.get("status") != "measured":
                add("exact tag probabilities/s per draw, GPU", None, note=gpu.get("status", ""))
                add("GPU fraction of fp32 peak", None, ">= 0.30", None, gpu.get("status", ""))
            else:
                add(
                    "exact tag probabilities/s per draw, GPU",
                    gpu["exact_probs_per_s_per_draw"],
                    note=f"{gpu['gpu']}, {gpu['objects']} jets, chunk {gpu['chunk_rows']} rows",
                )
                for label, part in (("shipped chunking", gpu), ("one chunk", gpu["large_chunk"])):
                    frac = part.get("fraction_of_fp32_peak")
                    add(
                        f"GPU TFLOP/s and fraction of fp32 peak ({label})",
                        frac,
                        ">= 0.30",
                        None if frac is None else frac >= 0.3,
                        f"{_fmt(part['achieved_tflops'])} TFLOP/s of "
                        f"{_fmt(gpu['fp32_peak_tflops'])} ({gpu['fp32_peak_source']}); "
                        f"{_fmt(part['exact_probs_per_s_per_draw'])} probs/s/draw",
                    )
                add(
                    "K=20 batched / 20 x one draw, GPU",
                    gpu["batched_K20_over_20x_single"],
                    "<= 1.1",
                    gpu["batched_K20_over_20x_single"] <= 1.1,
                )
        elif name == "threads":
            ratios, goals = r["ratios"], r["goals"]
            note = (
                f"{r['objects']} jets x {r['draws']} draws x {r['thresholds']} WPs, "
                f"{r['busy_processes']} busy processes; quiet load "
                f"{r['quiet']['load_average_before']}, default "
                f"{r['quiet']['default']['median_s']:.2f} s, loaded "
                f"{r['loaded']['default']['median_s']:.2f} s"
            )
            add(
                "loaded: default policy / 1 thread (time ratio)",
                ratios["loaded_default_over_loaded_1thread"],
                "<= 1 (10% noise)",
                goals["loaded_default_no_slower_than_1thread"],
                note,
            )
            add(
                "loaded / quiet, default policy (time ratio)",
                ratios["loaded_default_over_quiet_default"],
                "<= 3",
                goals["loaded_default_within_3x_quiet"],
                f"loaded: default / torch's 2 intra-op threads: "
                f"{_fmt(ratios['loaded_default_over_loaded_omp2'])}",
            )
        elif name == "run":
            stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stage_seconds"].items())
            goal = r.get("goal_seconds")
            add(
                f"surrotag run: {r['events']:,} events, {r['draws']} draws, "
                f"{r['torch_threads']} threads (s)",
                r["total_seconds"],
                "<= 60 s (1e5 ev, 20 draws)",
                None if goal is None else r["total_seconds"] <= goal,
                f"stages (s): {stages}; tag {_fmt(r.get('tag_object_wp_draw_per_s'))} "
                f"(jet, WP, draw) probabilities/s; load {r['load_average_before_recast']}",
            )
            if goal is not None:
                add(
                    "surrotag run, quiet machine, 1e5 events x 20 draws (s)",
                    r["total_seconds"],
                    "<= 10 s (issue 21)",
                    r["total_seconds"] <= 10.0,
                    f"warm-up {r.get('warm_up_seconds', '-')} s before the timed runs",
                )
            if "surrogate_over_efficiency_map_run" in r:
                ratio = r["surrogate_over_efficiency_map_run"]
                add(
                    "surrotag run: surrogate / efficiency map (time ratio)",
                    ratio,
                    "<= 5",
                    ratio <= 5,
                    f"efficiency-map run {r['efficiency_map_run']['total_seconds']:.1f} s",
                )
        elif name == "run_load":
            note = (
                f"{r['events']:,} events, {r['draws']} draws, {r['busy_processes']} busy "
                f"processes; quiet {r['quiet_default_seconds']:.1f} s, loaded default "
                f"{r['loaded_default_seconds']:.1f} s, 1 worker "
                f"{r['loaded_one_worker_seconds']:.1f} s; yields identical: "
                f"{_fmt(r['yields_identical_in_every_run'])}"
            )
            add(
                "surrotag run loaded: default policy / 1 worker (time ratio)",
                r["loaded_default_over_loaded_one_worker"],
                "<= 1 (10% noise)",
                r["goal_default_no_slower_than_one_worker"],
                note,
            )
            add(
                "surrotag run loaded / quiet, default policy (time ratio)",
                r["loaded_default_over_quiet_default"],
                "<= 3",
                r["goal_loaded_within_3x_quiet"],
            )
        elif name in ("many", "catalogue"):
            which = "the three shipped analyses" if name == "catalogue" else "three analyses"
            add(
                f"{which} in one pass / one analysis ({r['events']:,} events, {r['draws']} draws)",
                r["ratio"],
                f"<= {r['goal_ratio']}",
                r["meets_goal"],
                f"{r['three_analyses_seconds']:.1f} s against {r['one_analysis_seconds']:.1f} s; "
                f"load {r['load_average_before']}",
            )
        elif name == "memory":
            sizes = "; ".join(
                f"{s['events']:,} ev: {s['peak_rss_mib']:.0f} MiB in {s['seconds']:.0f} s"
                for s in r["sizes"]
            )
            biggest = max(s["events"] for s in r["sizes"])
            flat = r["peak_growth_largest_over_smallest"] < r.get("flat_growth_limit", 1.25)
            ok = bool(r["peak_rss_mib_max"] < r["goal_mib"] and flat)
            add(
                f"peak RSS of surrotag run, up to {biggest:,} events (MiB)",
                r["peak_rss_mib_max"],
                "< 2 GB, flat",
                None if biggest < 1_000_000 else ok,
                f"{sizes}; growth {_fmt(r['peak_growth_largest_over_smallest'])}x (flat: < 1.25x); "
                f"--draws {r['draws']}",
            )
        elif name == "scan":
            n = r["n_workers"]["workers"]
            add(
                f"scan throughput, {n} workers / 1 worker",
                r["speedup"],
                f">= {r['goal_speedup']:.2f}",
                r["meets_goal"],
                f"{r['points']} points, --draws {r['draws']}; 1 worker "
                f"{r['one_worker']['scan_seconds']:.1f} s (load "
                f"{r['one_worker']['load_average_before']}), {n} workers "
                f"{r['n_workers']['scan_seconds']:.1f} s (load "
                f"{r['n_workers']['load_average_before']})",
            )
    return rows


def _markdown(rows: list[dict[str, str]], info: dict[str, Any], quick: bool) -> str:
    gpu = info.get("gpu")
    lines = [
        f"Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']} "
        f"({info['torch_threads']} threads), load average at start "
        f"{info['load_average_at_start']}, GPU: {gpu['name'] if gpu else 'none'}; "
        f"{info['time']}{' (--quick sizes)' if quick else ''}.",
        "",
        "| figure | value | goal | met | note |",
        "|---|---:|---|---|---|",
    ]
    for row in rows:
        cells = [row[k].replace("|", "/") for k in ("figure", "value", "goal", "met", "note")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _print(rows: list[dict[str, str]], info: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"surrotag benchmarks: {info['cpu']}, {info['cores']} cores, load "
        f"{info['load_average_at_start']}, GPU {(info.get('gpu') or {}).get('name', 'none')}"
    )
    for column in ("figure", "value", "goal", "met", "note"):
        table.add_column(column, overflow="fold", justify="right" if column == "value" else "left")
    for row in rows:
        table.add_row(*(row[k] for k in ("figure", "value", "goal", "met", "note")))
    Console(width=200).print(table)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = main_parser("all", __doc__.splitlines()[0])
    parser.prog = "run_all.py"
    parser.add_argument("--markdown", type=Path, default=None, help="write the table here")
    parser.add_argument(
        "--only", nargs="+", choices=BENCHMARKS, default=None, help="run only these"
    )
    args = parser.parse_args(argv)
    info = machine()
    folder = bench_dir() / time.strftime("run_all-%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    documents: dict[str, Any] = {}
    for name in args.only or BENCHMARKS:
        out = folder / f"bench_{name}.json"
        command = [sys.executable, str(HERE / f"bench_{name}.py"), "-o", str(out)]
        command += ["--quick"] if args.quick else []
        print(f"== {name}: {' '.join(command)} (load {load_average()})", flush=True)
        start = time.perf_counter()
        process = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        if process.returncode != 0 or not out.is_file():
            tail = (process.stdout + process.stderr)[-3000:]
            print(tail)
            documents[name] = {"error": tail, "returncode": process.returncode}
        else:
            documents[name] = json.loads(out.read_text())
        documents[name]["wall_seconds"] = seconds
        print(f"   {seconds:.0f} s", flush=True)
    rows = summary_rows(documents)
    _print(rows, info)
    markdown = _markdown(rows, info, args.quick)
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown)
        print(f"written {args.markdown}")
    document = {"machine": info, "quick": args.quick, "benchmarks": documents, "table": rows}
    write_results("all", document, args.output or folder / "results.json")
    return document


if __name__ == "__main__":
    main()
