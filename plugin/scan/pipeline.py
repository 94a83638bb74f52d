"""``surrotag scan`` as one function: check the grid, run the points, write the tables.

:func:`scan` checks everything that can be checked before a point runs (the grid and its
files, the analysis, its background workspace), runs the unfinished points on Dask
(:func:`surrotag.scan.run.run_scan`), then rebuilds ``summary.csv``/``summary.json``, the
pyhf ``patchset.json`` and, for a two-parameter grid, ``contour.png`` from the folder.
:func:`scan_analyses` scans one grid for several analyses, each in ``DIR/<analysis>/``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from surrotag.scan.adapter import PointFunction, ScanOptions, check_report, run_point
from surrotag.scan.contour import CONTOUR_FILE, plot_contour
from surrotag.scan.grid import Grid, load_grid
from surrotag.scan.run import ScanResult, run_scan
from surrotag.scan.summary import NO_HEPDATA, scan_patchset, summary_rows, write_summary

__all__ = ["ScanOutputs", "scan", "scan_analyses"]


class ScanOutputs(NamedTuple):
    """What :func:`scan` did and wrote.

    Attributes:
        result: the run (per-point outcomes, wall time, workers).
        rows: the summary rows (every grid point, from the folder).
        summary: ``DIR/summary.csv`` (``summary.json`` beside it).
        patchset: ``DIR/patchset.json``, or None when no point finished.
        contour: ``DIR/contour.png``, or None (not two parameters, too few points).
    """

    result: ScanResult
    rows: list[dict[str, Any]]
    summary: Path
    patchset: Path | None
    contour: Path | None


def scan(
    analysis: str | os.PathLike[str],
    grid: Grid | str | os.PathLike[str],
    directory: str | os.PathLike[str],
    *,
    options: ScanOptions | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    client: Any | None = None,
    point_function: PointFunction = run_point,
    report_check: Callable[[Mapping[str, Any]], None] | None = check_report,
    workspace: Any | None = None,
    hepdata: str = NO_HEPDATA,
    progress: bool = True,
) -> ScanOutputs:
    """Recast every point of a grid and write the scan's tables.

    Args:
        analysis: installed analysis name or analysis folder.
        grid: a grid file (YAML, CSV, JSON) or a loaded :class:`~surrotag.scan.grid.Grid`.
        directory: output folder DIR.
        options, workers, scheduler, client, point_function, report_check, progress: as in
            :func:`surrotag.scan.run.run_scan`.
        workspace: background-only workspace of the patchset (default: the analysis's).
        hepdata: INSPIRE id of the patchset metadata.

    Returns:
        :class:`ScanOutputs`.

    Raises:
        GridError, InputFileError: the grid is invalid or names a missing file.
        AnalysisError: unknown analysis, or its workspace is not built.
        ScanError: the folder is locked or the scheduler unreachable.
    """
    from surrotag.analysis import get_analysis
    from surrotag.stats.workspace import load_workspace

    options = options or ScanOptions()
    grid = grid if isinstance(grid, Grid) else load_grid(grid)
    ana = get_analysis(analysis)
    background = load_workspace(workspace) if workspace is not None else ana.workspace()
    name = str(analysis)
    result = run_scan(
        name,
        grid.points,
        directory,
        options=options,
        workers=workers,
        scheduler=scheduler,
        client=client,
        point_function=point_function,
        report_check=report_check,
        progress=progress,
    )
    rows = summary_rows(directory, grid, name, options, report_check)
    summary = write_summary(directory, rows)
    spec = scan_patchset(directory, grid, rows, background, analysis=ana.name, hepdata=hepdata)
    contour = plot_contour(
        rows, grid.parameter_names, Path(directory) / CONTOUR_FILE, title=ana.name
    )
    patchset_path = Path(directory) / "patchset.json" if spec is not None else None
    return ScanOutputs(result, rows, summary, patchset_path, contour)


def scan_analyses(
    analyses: list[str | os.PathLike[str]],
    grid: Grid | str | os.PathLike[str],
    directory: str | os.PathLike[str],
    **kwargs: Any,
) -> list[ScanOutputs]:
    """Scan the same grid for several analyses, each into ``DIR/<analysis name>/`` (one
    analysis: into ``DIR`` itself, as :func:`scan`).

    Everything that can be refused is refused before the first point runs: the grid, every
    analysis and its workspace, and an analysis named twice. The analyses run one after
    the other, each as :func:`scan` (its own points, summary, patchset and contour), so a
    rerun resumes each where it stopped.

    Args:
        analyses: installed analysis names or analysis folders.
        grid, directory: as :func:`scan`.
        kwargs: the other arguments of :func:`scan` (``workspace`` is refused: each
            analysis has its own).

    Returns:
        One :class:`ScanOutputs` per analysis, in order.

    Raises:
        AnalysisError: unknown analysis, one named twice, its workspace not built.
        As :func:`scan` otherwise.
    """
    from surrotag.analysis import get_analysis
    from surrotag.errors import AnalysisError

    if "workspace" in kwargs:
        raise AnalysisError("a scan of several analyses uses each analysis's own workspace")
    grid = grid if isinstance(grid, Grid) else load_grid(grid)
    loaded = [get_analysis(analysis) for analysis in analyses]
    names = [analysis.name for analysis in loaded]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise AnalysisError(f"analysis {', '.join(twice)} named more than once")
    for analysis in loaded:
        analysis.workspace()  # refuses an unbuilt workspace before any point runs
    if len(analyses) == 1:
        return [scan(analyses[0], grid, directory, **kwargs)]
    return [
        scan(analysis, grid, Path(directory) / name, **kwargs)
        for analysis, name in zip(analyses, names, strict=True)
    ]
