"""Throughput of ``read_events`` + ``build_features`` against raw ``uproot`` ``arrays()``.

Run: ``pytest tests/benchmarks/bench_readers.py --benchmark -s`` or ``python
tests/benchmarks/bench_readers.py [--quick] [-o OUT]`` (``--quick``: 10k events, 20 reads,
1k truth events). Prints a table and writes JSON to OUT (default ``$SURROTAG_BENCH_JSON``,
else ``bench_readers.json`` in the benchmark folder of ``_common.bench_dir``).

How the >= 100k events are made (the only real Delphes file has 10 events):

* reading: the real file is read ``READ_CALLS`` times by both contenders, with the same
  branches; per-call overheads (opening the file, interpretation) dominate a 10-event file
  and are included for both alike, so the ratio is the meaningful number (reading it 10k
  times to reach 100k events took over 10 minutes on the shared 2-core machine);
* features: the canonical events of the real file are replicated in memory to 100k events
  (``ak.concatenate``, real kinematics) and ``build_features`` runs on them in one call.
  Detector features run on 100k events; truth matching needs the ~1,600 truth particles
  per event, so it runs on ``TRUTH_EVENTS`` replicated events to keep memory modest on a
  shared 2-core machine, and its rate is reported per event.

A replicated ROOT file was tried first (``uproot.recreate``), but uproot cannot write the
split ``FatJet`` branch whose presence the Delphes reader checks, so in-memory replication
is used instead.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, main_parser, write_results

__all__ = ["run_benchmark"]

N_EVENTS = 100_000
TRUTH_EVENTS = 5_000
READ_CALLS = 100
DELPHES = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "delphes"
    / ("delphes342_cms_ttH_10ev.root")
)
DETECTOR = ["fatjets", "jets", "electrons", "muons", "met", "weight"]
BRANCHES = [
    "FatJet.PT",
    "FatJet.Eta",
    "FatJet.Phi",
    "FatJet.Mass",
    "FatJet.Tau[5]",
    "FatJet.SoftDroppedP4[5]",
    "FatJet.TrimmedP4[5]",
    "FatJet.NCharged",
    "FatJet.NNeutrals",
    "Jet.PT",
    "Jet.Eta",
    "Jet.Phi",
    "Jet.Mass",
    "Jet.BTag",
    "Electron.PT",
    "Electron.Eta",
    "Electron.Phi",
    "Electron.Charge",
    "Muon.PT",
    "Muon.Eta",
    "Muon.Phi",
    "Muon.Charge",
    "MissingET.MET",
    "MissingET.Phi",
    "Event.Weight",
]


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def run_benchmark(
    path: Path = DELPHES,
    n_events: int = N_EVENTS,
    read_calls: int = READ_CALLS,
    truth_events: int = TRUTH_EVENTS,
) -> dict[str, float]:
    """Measure events/s of the contenders; return the results as a dict."""
    import awkward as ak
    import uproot

    from surrotag.features import build_features
    from surrotag.io import read_events

    per_file = uproot.open(path)["Delphes"].num_entries
    repeats = -(-n_events // per_file)
    available = set(uproot.open(path)["Delphes"].keys())
    branches = [b for b in BRANCHES if b in available]

    start = time.perf_counter()
    for _ in range(read_calls):
        uproot.open(path)["Delphes"].arrays(branches)
    t_uproot = time.perf_counter() - start

    start = time.perf_counter()
    for _ in range(read_calls):
        events = read_events([path], level="delphes", collections=DETECTOR)
    t_read = time.perf_counter() - start

    big = ak.concatenate([events] * repeats)
    start = time.perf_counter()
    table = build_features(big)
    t_features = time.perf_counter() - start

    with_truth = read_events([path], level="delphes")
    big_truth = ak.concatenate([with_truth] * -(-truth_events // per_file))
    start = time.perf_counter()
    truth_table = build_features(big_truth)
    t_truth = time.perf_counter() - start

    n = repeats * per_file
    n_read = read_calls * per_file
    r_uproot, r_read = _rate(n_read, t_uproot), _rate(n_read, t_read)
    r_features = _rate(n, t_features)
    results = {
        "events": n,
        "read_events_read": n_read,
        "uproot_arrays_ev_per_s": r_uproot,
        "read_events_ev_per_s": r_read,
        "read_time_over_uproot": r_uproot / r_read,
        "build_features_detector_ev_per_s": r_features,
        "detector_rows": len(table),
        "read_plus_features_ev_per_s": 1.0 / (1.0 / r_read + 1.0 / r_features),
        "read_plus_features_time_over_uproot": r_uproot * (1.0 / r_read + 1.0 / r_features),
        # the figure of merit: events/s of surrotag over raw uproot (goal >= 0.5)
        "ratio_read_plus_features_over_uproot": 1.0
        / (r_uproot * (1.0 / r_read + 1.0 / r_features)),
        "truth_events": len(big_truth),
        "build_features_with_truth_ev_per_s": _rate(len(big_truth), t_truth),
        "truth_rows": len(truth_table),
    }
    return results


def _report(
    results: dict[str, float],
    output: Path | None = None,
    quick: bool = False,
    info: dict | None = None,
) -> Path:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="surrotag reading + features vs raw uproot (Delphes, events/s)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in results.items():
        table.add_row(key, f"{value:,.3g}" if isinstance(value, float) else f"{value:,}")
    Console().print(table)
    if output is None and "SURROTAG_BENCH_JSON" in os.environ:
        output = Path(os.environ["SURROTAG_BENCH_JSON"])
    document = {"machine": info or machine(), "quick": quick, "results": results}
    return write_results("readers", document, output)


@pytest.mark.benchmark
def test_bench_readers() -> None:
    if not DELPHES.exists():
        pytest.skip("real Delphes file not found: needs ../shared/data beside the repo")
    results = run_benchmark()
    _report(results)
    assert results["events"] >= N_EVENTS
    assert results["detector_rows"] == 6 * (results["events"] // 10)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = main_parser("readers", __doc__.splitlines()[0])
    args = parser.parse_args(argv)
    if not DELPHES.exists():
        raise SystemExit(f"{DELPHES}: real Delphes file not found (needs ../shared/data)")
    info = machine()
    if args.quick:
        results = run_benchmark(n_events=10_000, read_calls=20, truth_events=1_000)
    else:
        results = run_benchmark()
    _report(results, args.output, args.quick, info)
    return results


if __name__ == "__main__":
    main()
