"""The scan's tables: ``DIR/summary.csv``, ``DIR/summary.json`` and ``DIR/patchset.json``.

Both are rebuilt from the per-point files on disk (not from one run's memory), so they
describe every point a scan folder holds, however many runs it took.

Summary columns: ``name``, one column per model parameter, ``status`` (``done``,
``failed``, ``pending``), ``yield_<region>`` (expected signal events at mu = 1, summed over
bins), ``cls_obs``, ``cls_exp`` (median expected), ``cls_exp_m1``/``cls_exp_p1`` (-1/+1
sigma), ``mu_up_obs``, ``mu_up_exp`` (95% CL upper limits on mu; empty when none was found),
``ood_fraction``, ``xsec_pb``, ``error``.

The patchset is pyhf's (HEPData's) ``patchset.json`` of the finished points, labelled by
the grid's parameter names, with the sha256 of the background-only workspace; it works with
``pyhf patchset extract|apply|verify`` and :class:`pyhf.PatchSet`.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from surrotag.io.atomic import write_text_atomic
from surrotag.scan.adapter import ScanOptions, check_report, report_summary
from surrotag.scan.grid import Grid
from surrotag.scan.run import (
    ERROR_FILE,
    PATCH_FILE,
    REPORT_FILE,
    finished_points,
    point_folder,
    read_json,
    write_json,
)

__all__ = [
    "NO_HEPDATA",
    "PATCHSET_FILE",
    "SUMMARY_CSV",
    "SUMMARY_JSON",
    "scan_patchset",
    "summary_rows",
    "write_summary",
]

SUMMARY_CSV = "summary.csv"
SUMMARY_JSON = "summary.json"
PATCHSET_FILE = "patchset.json"
#: HEPData id written when the analysis has none (a modelled search has no HEPData record).
NO_HEPDATA = "ins0000000"


def summary_rows(
    directory: str | os.PathLike[str],
    grid: Grid,
    analysis: str,
    options: ScanOptions,
    report_check: Any = check_report,
) -> list[dict[str, Any]]:
    """One row per grid point, read from ``DIR/points/<name>/``.

    Args:
        directory: the scan folder.
        grid: the grid (row order, parameters).
        analysis, options: as given to :func:`~surrotag.scan.run.run_scan` (a stored result
            of other options counts as pending).
        report_check: as in :func:`~surrotag.scan.run.run_scan`.
    """
    finished = set(finished_points(directory, grid.points, analysis, options, report_check))
    rows = []
    for point in grid.points:
        folder = point_folder(directory, point.name)
        row: dict[str, Any] = {"name": point.name, **point.parameters}
        if point.name in finished:
            row["status"] = "done"
            row.update(report_summary(read_json(folder / REPORT_FILE)))
            row["error"] = None
        else:
            error = read_json(folder / ERROR_FILE)
            row["status"] = "failed" if isinstance(error, dict) else "pending"
            row["error"] = error.get("error") if isinstance(error, dict) else None
        rows.append(row)
    return rows


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    columns = dict.fromkeys(key for row in rows for key in row)
    columns.pop("error", None)
    return [*columns, "error"]


def write_summary(directory: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``summary.csv`` and ``summary.json`` atomically; returns the CSV path."""
    directory = Path(directory)
    columns = _columns(rows)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    target = write_text_atomic(directory / SUMMARY_CSV, text.getvalue())
    write_json(directory / SUMMARY_JSON, {"columns": columns, "rows": [dict(r) for r in rows]})
    return target


def scan_patchset(
    directory: str | os.PathLike[str],
    grid: Grid,
    rows: Sequence[Mapping[str, Any]],
    workspace: Any,
    *,
    analysis: str,
    hepdata: str = NO_HEPDATA,
    write: bool = True,
) -> dict[str, Any] | None:
    """Bundle the finished points' patches into a pyhf patchset (None when none finished).

    When no point finished, a ``patchset.json`` left by an earlier run is removed (with
    ``write``): it described results this run no longer has.

    Args:
        directory: the scan folder (``patchset.json`` is written there).
        grid: the grid (labels: its parameter names; values: each point's parameters).
        rows: :func:`summary_rows` (which points are done).
        workspace: the background-only workspace the patches apply to (path, dict or
            :class:`~surrotag.stats.workspace.BackgroundWorkspace`).
        analysis: analysis name, for the description.
        hepdata: INSPIRE id ``insNNNNNNN`` (default :data:`NO_HEPDATA`).
        write: write ``DIR/patchset.json`` atomically.

    Raises:
        StatisticsError: the patchset fails pyhf's schema.
    """
    from surrotag.stats.patch import PatchPoint, patchset

    done = {row["name"] for row in rows if row["status"] == "done"}
    points = [
        PatchPoint(
            p.name,
            tuple(p.parameters[k] for k in grid.parameter_names),
            read_json(point_folder(directory, p.name) / PATCH_FILE),
        )
        for p in grid.points
        if p.name in done
    ]
    if not points:
        if write:
            (Path(directory) / PATCHSET_FILE).unlink(missing_ok=True)
        return None
    spec = patchset(
        points,
        workspace=workspace,
        labels=grid.parameter_names,
        hepdata=hepdata,
        description=f"{analysis}: surrotag recast of {len(points)} signal point(s) of "
        f"{Path(grid.source).name}",
    )
    if write:
        write_json(Path(directory) / PATCHSET_FILE, spec)
    return spec
