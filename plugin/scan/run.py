"""Run the points of a scan as Dask tasks, write each result atomically, resume after a kill.

Each grid point is one task of :mod:`dask.distributed`. By default the scan starts a
``LocalCluster`` of N worker *processes* with one thread each (the recast is numpy/torch
work that holds the GIL in places, and one thread per process keeps torch at one core);
with ``scheduler="tcp://host:8786"`` it connects to an existing scheduler instead, so the
same command runs on a real cluster. On a batch system start the cluster with dask-jobqueue
and pass its scheduler address (or call :func:`run_scan` with ``client=``)::

    from dask_jobqueue import SLURMCluster    # also PBSCluster, HTCondorCluster, LSFCluster
    cluster = SLURMCluster(cores=1, processes=1, memory="4GB", walltime="02:00:00")
    cluster.scale(jobs=50)
    print(cluster.scheduler_address)          # surrotag scan ... --scheduler <this>

Workers must see the event files at the paths the grid resolves to (a shared file system)
and have surrotag installed; results travel back to this process, which alone writes the
output folder, so the folder need not be shared.

Output, per point, in ``DIR/points/<name>/``:

- ``report.json``: the recast report; ``patch.json``: the signal's pyhf JSON patch;
- ``point.json``: the grid point, analysis and options; written *last*, it marks the point
  finished (a commit record): a rerun skips a point whose ``point.json`` matches the grid
  and options and whose report passes :func:`~surrotag.scan.adapter.check_report`;
- ``error.json`` instead when the point failed: ``{"name", "error", "type"}`` with the
  one-line error; the other points go on, and a rerun retries it.

Every file is written to a temporary file in the same folder and renamed into place
(``os.replace``, atomic on POSIX), so a scan killed at any instant leaves whole files only;
temporaries of a killed run (``.<file>.<random>.tmp``) are removed when the next run starts.
A lock file ``DIR/.scan.lock`` (the owner's pid) refuses a second scan of the same folder
while the first is alive.

Dask moves the task arguments (grid point, options, the point function by reference) and
results (JSON documents) with its own serialisation; surrotag stores nothing pickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from surrotag.errors import ScanError
from surrotag.io.atomic import write_json_atomic
from surrotag.scan.adapter import PointFunction, ScanOptions, check_report, run_point
from surrotag.scan.grid import GridPoint

__all__ = [
    "ERROR_FILE",
    "PATCH_FILE",
    "POINT_FILE",
    "REPORT_FILE",
    "PointOutcome",
    "ScanResult",
    "dask_client",
    "finished_points",
    "point_folder",
    "read_json",
    "run_scan",
    "write_json",
]

REPORT_FILE = "report.json"
PATCH_FILE = "patch.json"
POINT_FILE = "point.json"
ERROR_FILE = "error.json"
_LOCK_FILE = ".scan.lock"


class PointOutcome(NamedTuple):
    """What happened to one point in this run.

    Attributes:
        name: point name.
        status: ``done`` (recast now), ``skipped`` (finished by an earlier run) or ``failed``.
        error: the one-line error of a failed point, else None.
        seconds: wall time of the task on its worker (0 when skipped).
    """

    name: str
    status: str
    error: str | None = None
    seconds: float = 0.0


class ScanResult(NamedTuple):
    """The points of one :func:`run_scan` call, in grid order.

    Attributes:
        directory: the output folder.
        outcomes: one :class:`PointOutcome` per grid point.
        wall_seconds: wall time of the run, cluster start included.
        workers: number of workers (threads in total) the run used.
    """

    directory: Path
    outcomes: tuple[PointOutcome, ...]
    wall_seconds: float
    workers: int

    def count(self, status: str) -> int:
        """Number of points with this status."""
        return sum(outcome.status == status for outcome in self.outcomes)

    @property
    def failed(self) -> tuple[PointOutcome, ...]:
        """The failed points."""
        return tuple(o for o in self.outcomes if o.status == "failed")

    def raise_for_failures(self) -> None:
        """Raise :class:`~surrotag.errors.ScanError` naming the failed points, if any.

        The message names them all, the first one's error and where their ``error.json``
        lie, and says that a rerun retries them.
        """
        if not self.failed:
            return
        names = ", ".join(o.name for o in self.failed)
        first = self.failed[0]
        raise ScanError(
            f"{len(self.failed)} of {len(self.outcomes)} point(s) failed ({names}); "
            f"first: {first.name}: {first.error}; see {self.directory}/points/<name>/error.json "
            "and rerun to retry them"
        )


def point_folder(directory: str | os.PathLike[str], name: str) -> Path:
    """``DIR/points/<name>``."""
    return Path(directory) / "points" / name


def write_json(path: str | os.PathLike[str], document: Any) -> Path:
    """Write JSON atomically (temporary file in the same folder, then ``os.replace``).

    (:func:`surrotag.io.atomic.write_json_atomic`; imports neither pyhf nor torch.)
    """
    return write_json_atomic(path, document)


def read_json(path: Path) -> Any:
    """A JSON file's content, or None when it is missing or not whole JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _record(point: GridPoint, analysis: str, options: ScanOptions) -> dict[str, Any]:
    return {**point.to_json(), "analysis": analysis, "options": options.to_json()}


def _is_finished(
    folder: Path,
    record: Mapping[str, Any],
    report_check: Callable[[Mapping[str, Any]], None] | None,
) -> bool:
    """Whether a point's files hold a finished result for exactly this point and options,
    computed from the events files as they are now (their sha256 as the report records)."""
    stored = read_json(folder / POINT_FILE)
    if not isinstance(stored, dict) or {k: stored.get(k) for k in record} != dict(record):
        return False
    report, patch = read_json(folder / REPORT_FILE), read_json(folder / PATCH_FILE)
    if not isinstance(report, dict) or not isinstance(patch, list):
        return False
    if report_check is not None:
        try:
            report_check(report)
        except Exception:
            return False
    return _inputs_unchanged(report)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _inputs_unchanged(report: Mapping[str, Any]) -> bool:
    """Whether every input file the report records still has the recorded sha256.

    An events file replaced under the same path makes the stored result stale: the point
    is run again instead of being reported "already finished" with the old yields.
    """
    for entry in report.get("inputs") or []:
        if not isinstance(entry, Mapping) or not entry.get("sha256"):
            continue  # events given in memory: nothing to compare
        path = Path(str(entry.get("path", "")))
        try:
            if _sha256(path) != entry["sha256"]:
                return False
        except OSError:
            return False  # gone or unreadable: the result cannot be vouched for
    return True


def finished_points(
    directory: str | os.PathLike[str],
    points: Sequence[GridPoint],
    analysis: str,
    options: ScanOptions,
    report_check: Callable[[Mapping[str, Any]], None] | None = check_report,
) -> list[str]:
    """Names of the points whose results in ``directory`` are finished and still valid."""
    return [
        p.name
        for p in points
        if _is_finished(
            point_folder(directory, p.name), _record(p, analysis, options), report_check
        )
    ]


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _evaluate(
    function: PointFunction, point: GridPoint, analysis: str, options: ScanOptions
) -> tuple[str, Any, Any, float]:
    """The Dask task: ``("ok", report, patch, s)`` or ``("error", line, type, s)``.

    Errors are caught on the worker and returned as text, so an exception that cannot
    travel (unpicklable state) still becomes a clean record.
    """
    start = time.perf_counter()
    try:
        report, patch = function(point, analysis, options)
        # the documents must be JSON: check on the worker, where the traceback makes sense
        report = json.loads(json.dumps(report, allow_nan=False))
        patch = json.loads(json.dumps(patch, allow_nan=False))
        if not isinstance(report, dict) or not isinstance(patch, list):
            raise TypeError(
                f"point function returned a {type(report).__name__} report and a "
                f"{type(patch).__name__} patch; expected a dict and a list of patch operations"
            )
    except Exception as error:
        return "error", _one_line(error), type(error).__name__, time.perf_counter() - start
    return "ok", report, patch, time.perf_counter() - start


def _clean_temporaries(directory: Path) -> None:
    """Remove ``.<name>.<random>.tmp`` files a killed run left (never finished files)."""
    for pattern in (".*.tmp", "points/*/.*.tmp"):
        for path in directory.glob(pattern):
            path.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _lock(directory: Path) -> Iterator[None]:
    """Hold ``DIR/.scan.lock`` (a stale lock of a dead process is taken over)."""
    path = directory / _LOCK_FILE
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            text = path.read_text(encoding="utf-8").strip() if path.exists() else ""
            pid = int(text) if text.isdigit() else None
            if pid is not None and pid != os.getpid() and _pid_alive(pid):
                raise ScanError(
                    f"{directory}: another scan (pid {pid}) is writing this folder; wait for "
                    f"it or remove {path} if that process is not a scan"
                ) from None
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as stream:
            stream.write(str(os.getpid()))
        break
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def dask_client(workers: int, scheduler: str | None = None) -> Iterator[Any]:
    """A client of an existing scheduler, or of a new LocalCluster of single-thread workers."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - dask is an extra
        from surrotag.errors import MissingDependencyError

        raise MissingDependencyError(
            "surrotag scan needs dask.distributed; install it with pip install 'surrotag[dask]'"
        ) from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError, TypeError) as error:
            raise ScanError(
                f"cannot reach the Dask scheduler {scheduler!r} ({_one_line(error)}); check the "
                "address (tcp://host:port) and that the scheduler runs"
            ) from None
        with client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    with cluster, Client(cluster) as client:
        yield client


def _store_success(
    folder: Path, record: dict[str, Any], report: Any, patch: Any, seconds: float
) -> None:
    (folder / POINT_FILE).unlink(missing_ok=True)  # un-commit first: the files change now
    write_json(folder / REPORT_FILE, report)
    write_json(folder / PATCH_FILE, patch)
    write_json(folder / POINT_FILE, {**record, "seconds": seconds})  # the commit record
    (folder / ERROR_FILE).unlink(missing_ok=True)


def _store_failure(folder: Path, name: str, line: str, kind: str, seconds: float) -> None:
    for stale in (POINT_FILE, REPORT_FILE, PATCH_FILE):
        (folder / stale).unlink(missing_ok=True)
    write_json(folder / ERROR_FILE, {"name": name, "error": line, "type": kind, "seconds": seconds})


def _progress(enabled: bool) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]scan[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def run_scan(
    analysis: str,
    points: Sequence[GridPoint],
    directory: str | os.PathLike[str],
    *,
    options: ScanOptions | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    client: Any | None = None,
    point_function: PointFunction = run_point,
    report_check: Callable[[Mapping[str, Any]], None] | None = check_report,
    progress: bool = True,
) -> ScanResult:
    """Recast every unfinished point on Dask and write its files atomically.

    Args:
        analysis: installed analysis name or analysis folder (passed to each task).
        points: the grid points (:attr:`surrotag.scan.grid.Grid.points`).
        directory: output folder DIR (created); results go to ``DIR/points/<name>/``.
        options: recast options of every point.
        workers: worker processes (one thread each) of the local cluster.
        scheduler: address of an existing Dask scheduler (then ``workers`` is ignored).
        client: an existing :class:`dask.distributed.Client` (e.g. of a dask-jobqueue
            cluster); it is left open.
        point_function: the per-point computation (default: the recast,
            :func:`surrotag.scan.adapter.run_point`); must be importable on the workers.
        report_check: raises when a stored report is invalid (then the point reruns);
            None accepts any JSON object.
        progress: show a rich progress bar on stderr.

    Returns:
        :class:`ScanResult`; failed points are recorded in their ``error.json``, not raised.

    Raises:
        ScanError: the folder is locked by a live scan or the scheduler is unreachable.
    """
    options = options or ScanOptions()
    directory = Path(directory)
    if workers < 1:
        raise ScanError(f"--workers must be at least 1, got {workers}")
    directory.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with _lock(directory):
        _clean_temporaries(directory)
        records = {p.name: _record(p, analysis, options) for p in points}
        done = set(finished_points(directory, points, analysis, options, report_check))
        outcomes: dict[str, PointOutcome] = {n: PointOutcome(n, "skipped") for n in done}
        todo = [p for p in points if p.name not in done]
        n_workers = workers
        if todo:
            context = (
                contextlib.nullcontext(client)
                if client is not None
                else dask_client(workers, scheduler)
            )
            with context as active, _progress(progress) as bar:
                from dask.distributed import as_completed

                n_workers = sum(active.nthreads().values()) or workers
                task = bar.add_task("scan", total=len(points), completed=len(done), last="")
                futures = {
                    active.submit(
                        _evaluate,
                        point_function,
                        point,
                        analysis,
                        options,
                        key=f"surrotag-point-{point.name}-{os.getpid()}-{time.time_ns()}",
                        pure=False,
                        priority=len(todo) - index,  # grid order: the first point first
                    ): point
                    for index, point in enumerate(todo)
                }
                for future in as_completed(futures):
                    point = futures[future]
                    folder = point_folder(directory, point.name)
                    folder.mkdir(parents=True, exist_ok=True)
                    try:
                        status, first, second, seconds = future.result()
                    except Exception as error:  # worker lost too often, cancelled, ...
                        status, first, second, seconds = (
                            "error",
                            _one_line(error),
                            type(error).__name__,
                            0.0,
                        )
                    if status == "ok":
                        _store_success(folder, records[point.name], first, second, seconds)
                        outcomes[point.name] = PointOutcome(point.name, "done", None, seconds)
                    else:
                        _store_failure(folder, point.name, first, second, seconds)
                        outcomes[point.name] = PointOutcome(point.name, "failed", first, seconds)
                    future.release()
                    bar.update(task, advance=1, last=f"{point.name} {outcomes[point.name].status}")
    ordered = tuple(outcomes[p.name] for p in points)
    return ScanResult(directory, ordered, time.perf_counter() - start, n_workers)
