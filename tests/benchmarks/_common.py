"""Shared helpers of the benchmark scripts: machine record, options, JSON output, input files.

Not a benchmark itself (the name starts with ``_``, so neither pytest nor ``run_all.py``
collects it). Every ``bench_*.py`` script takes ``--quick`` (smaller sizes, a smoke run)
and ``-o OUT`` (JSON results; default ``$SURROTAG_BENCH_DIR/bench_<name>.json``, else
``$SURROTAG_DATA/bench/``, else ``~/.cache/surrotag/bench/``: never the repository).

:func:`replicate_example` writes the large inputs of ``bench_run.py`` and ``bench_memory.py``:
the shipped example signal of ``zprime-ttbar-allhad`` (2000 generated Z' -> t tbar events,
real Pythia 8 + detector output) repeated into one surrotag Parquet file, one row group per
copy block, so that even a 1e6-event file is written without holding it in memory. The
provenance of the example is kept (the reader takes the level from it, the recast the
cross-section ``sigma_pb``), with ``n_events`` and ``sum_weights`` scaled and a
``replicated`` note.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

__all__ = [
    "ANALYSIS",
    "EXAMPLE_EVENTS",
    "ONE_PASS_GOAL_RATIO",
    "bench_dir",
    "example_signal",
    "load_average",
    "machine",
    "main_parser",
    "one_pass_against_one",
    "replicate_example",
    "replicate_file",
    "run_subprocess_rss",
    "timed",
    "warm_up_recasts",
    "write_results",
]

#: The analysis whose shipped example signal and workspace the benchmarks use.
ANALYSIS: Final = "zprime-ttbar-allhad"
#: Events in the shipped example signal.
EXAMPLE_EVENTS: Final = 2000


def bench_dir() -> Path:
    """Folder of benchmark outputs and generated inputs (outside the repository)."""
    if "SURROTAG_BENCH_DIR" in os.environ:
        folder = Path(os.environ["SURROTAG_BENCH_DIR"])
    elif "SURROTAG_DATA" in os.environ:
        folder = Path(os.environ["SURROTAG_DATA"]) / "bench"
    else:
        folder = Path.home() / ".cache" / "surrotag" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def portable_path(path: str | os.PathLike[str]) -> str:
    """A path as results record it: relative to the repository, or ``<bench>/...`` under
    :func:`bench_dir`, never this machine's absolute path (results get committed)."""
    path = Path(path).resolve()
    repository = Path(__file__).resolve().parents[2]
    for base, prefix in ((repository, ""), (bench_dir().resolve(), "<bench>/")):
        if path.is_relative_to(base):
            return prefix + path.relative_to(base).as_posix()
    return path.name


def load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu() -> dict[str, Any] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return {
        "name": props.name,
        "capability": f"{props.major}.{props.minor}",
        "multiprocessors": props.multi_processor_count,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "cuda": torch.version.cuda,
    }


def machine() -> dict[str, Any]:
    """What the benchmark ran on: CPU model, cores, torch threads, load average, GPU."""
    import torch

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": load_average(),
        "thread_env": {
            name: os.environ.get(name)
            for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        },
        "gpu": _gpu(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def main_parser(name: str, description: str) -> argparse.ArgumentParser:
    """The common options of a benchmark script (``--quick``, ``-o``)."""
    parser = argparse.ArgumentParser(prog=f"bench_{name}.py", description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help=f"JSON results (default: {bench_dir() / f'bench_{name}.json'})",
    )
    return parser


def events_draws_main(
    name: str,
    description: str,
    run: Callable[[int, int, int], dict[str, Any]],
    show: Callable[[dict[str, Any]], None],
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """``main`` of a benchmark sized by events and draws (``--events``, ``--draws``,
    ``--threads``; quick: 1e4 events and 4 draws, else 1e5 and 20): run, print, write."""
    parser = main_parser(name, description)
    parser.add_argument("--events", type=int, default=None, help="events (default 1e5; quick 1e4)")
    parser.add_argument("--draws", type=int, default=None, help="draws K (default 20; quick 4)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args(argv)
    n = args.events or (10_000 if args.quick else 100_000)
    k = args.draws or (4 if args.quick else 20)
    info = machine()
    results = run(n, k, args.threads)
    show(results)
    write_results(name, {"machine": info, "quick": args.quick, "results": results}, args.output)
    return results


def write_results(name: str, results: Mapping[str, Any], output: Path | None) -> Path:
    """Write ``{"benchmark", "machine", "results"}`` as JSON atomically; return the path."""
    path = Path(output) if output is not None else bench_dir() / f"bench_{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"benchmark": name, **dict(results)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as stream:
        json.dump(document, stream, indent=1, default=str)
        stream.write("\n")
    os.replace(tmp, path)
    print(f"written {path}")
    return path


def example_signal() -> Path:
    """Path of the shipped example signal (an installed package resource)."""
    from surrotag.analysis import get_analysis

    resource = get_analysis(ANALYSIS).resource("example_signal.parquet")
    path = Path(str(resource))
    if not path.is_file():  # pragma: no cover - zipped install
        raise FileNotFoundError(f"{resource}: the example signal is not a plain file")
    return path


#: Issue 17's goal: several analyses in one pass within this factor of one analysis's run.
ONE_PASS_GOAL_RATIO: Final = 1.3


def one_pass_against_one(analyses: list[Any], path: Path, draws: int) -> dict[str, Any]:
    """Seconds of ``recast`` of ``analyses[0]`` alone, then of ``recast_many`` of all of
    them, on the events of ``path`` (one after the other in this process, same threads)."""
    import torch

    from surrotag.recast import recast, recast_many

    load_before = load_average()
    start = time.perf_counter()
    one = recast(analyses[0], [path], draws=draws)
    t_one = time.perf_counter() - start
    start = time.perf_counter()
    many = recast_many(analyses, [path], draws=draws)
    t_many = time.perf_counter() - start
    ratio = t_many / t_one
    return {
        "events": one.n_events,
        "draws": draws,
        "torch_threads": torch.get_num_threads(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "one_analysis_seconds": round(t_one, 3),
        "one_analysis_stages": {k: round(v, 3) for k, v in one.timings.items()},
        "three_analyses_seconds": round(t_many, 3),
        "three_analyses_stages": {k: round(v, 3) for k, v in many[0].timings.items()},
        "selected_objects": {r.analysis: r.n_objects for r in many},
        "ratio": round(ratio, 3),
        "goal_ratio": ONE_PASS_GOAL_RATIO,
        "meets_goal": bool(ratio <= ONE_PASS_GOAL_RATIO),
    }


def replicate_example(n_events: int, path: Path | None = None, copies_per_group: int = 10) -> Path:
    """Write ``n_events`` events (the example signal repeated) into one Parquet file.

    See :func:`replicate_file`; the default destination is
    ``bench_dir()/zprime_example_x<copies>.parquet``.
    """
    copies = math.ceil(n_events / EXAMPLE_EVENTS)
    path = Path(path) if path is not None else bench_dir() / f"zprime_example_x{copies}.parquet"
    return replicate_file(example_signal(), n_events, path, copies_per_group)


def replicate_file(
    source: Path,
    n_events: int,
    path: Path,
    copies_per_group: int = 10,
    columns: list[str] | None = None,
) -> Path:
    """Write ``n_events`` events (``source`` repeated) into one Parquet file.

    The file is written row group by row group (``copies_per_group`` copies of the source
    each) with ``pyarrow``'s ``ParquetWriter``: memory holds one row group, whatever
    ``n_events``. An existing file with the same number of rows is reused. The provenance
    says the file is a benchmark input, with the event count and sum of weights scaled.

    Args:
        source: a surrotag Parquet file.
        n_events: events in the file (rounded up to a multiple of the source's).
        path: destination.
        copies_per_group: source copies per row group.
        columns: the top-level columns to keep (default: all).

    Returns:
        The file path.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from surrotag.io.parquet import METADATA_KEY, read_parquet_metadata

    table = pq.read_table(source, columns=columns)
    copies = math.ceil(n_events / table.num_rows)
    if path.is_file():
        try:
            if pq.ParquetFile(path).metadata.num_rows == copies * table.num_rows:
                return path
        except (pa.ArrowInvalid, OSError):
            pass
    metadata = read_parquet_metadata(source)
    metadata.update(
        n_events=int(metadata.get("n_events", table.num_rows)) * copies,
        sum_weights=float(metadata.get("sum_weights", table.num_rows)) * copies,
        replicated=(
            f"tests/benchmarks: {source.name} repeated {copies} times "
            "(benchmark input, not a physics sample)"
        ),
    )
    schema = table.schema.with_metadata(
        {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(metadata, sort_keys=True)}
    )
    table = table.replace_schema_metadata(schema.metadata)
    block = pa.concat_tables([table] * copies_per_group)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with pq.ParquetWriter(tmp, schema, compression="zstd", write_page_checksum=True) as writer:
        left = copies
        while left > 0:
            take = min(left, copies_per_group)
            part = block if take == copies_per_group else block.slice(0, take * table.num_rows)
            writer.write_table(part)
            left -= take
    os.replace(tmp, path)
    return path


def run_subprocess_rss(command: list[str], env: Mapping[str, str] | None = None) -> dict:
    """Run a command; return its wall seconds, exit code and peak RSS (``wait4`` rusage).

    ``os.wait4`` gives the resource usage of exactly that child (``RUSAGE_CHILDREN`` would
    accumulate the maximum over every child this process has waited for).
    """
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=None if env is None else dict(env),
    )
    output = b""
    assert process.stdout is not None
    for chunk in iter(lambda: process.stdout.read(65536), b""):
        output += chunk
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    factor = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return {
        "command": " ".join(command),
        "returncode": process.returncode,
        "seconds": time.perf_counter() - start,
        "peak_rss_mib": usage.ru_maxrss * factor / 2**20,
        "output_tail": output.decode(errors="replace")[-2000:],
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(fn(), seconds)``."""
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def warm_up_recasts() -> float:
    """One recast of each tagging path on the shipped example (2 draws); seconds taken.

    Pays the once-per-process costs (imports, the first read, the compilation of the CLs
    fits, whose shape depends on the tagger's patch) before timed recasts, so that the
    first of them does not pay them alone.
    """
    from surrotag.recast import recast

    start = time.perf_counter()
    for tagger in ("surrogate", "efficiency-map"):
        recast(ANALYSIS, [example_signal()], draws=2, tagger=tagger)
    return time.perf_counter() - start
