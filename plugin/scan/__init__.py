"""Scans over signal points on Dask: grid, runner, tables, patchset and contour.

``surrotag scan ANALYSIS GRID -o DIR`` recasts every point of GRID
(:mod:`surrotag.scan.grid`) as one Dask task (:mod:`surrotag.scan.run`), writes each
point's report and pyhf patch atomically, resumes where a killed scan stopped, and builds
the summary table and the pyhf patchset (:mod:`surrotag.scan.summary`) and the exclusion
contour (:mod:`surrotag.scan.contour`). The single-point recast is reached only through
:mod:`surrotag.scan.adapter`.

This package imports nothing heavy; dask, pyhf and matplotlib load when a scan runs.
"""

from __future__ import annotations

from surrotag.scan.adapter import PointFunction, ScanOptions, run_point
from surrotag.scan.grid import Grid, GridPoint, load_grid, parse_grid
from surrotag.scan.pipeline import ScanOutputs, scan, scan_analyses
from surrotag.scan.run import PointOutcome, ScanResult, run_scan

__all__ = [
    "Grid",
    "GridPoint",
    "PointFunction",
    "PointOutcome",
    "ScanOptions",
    "ScanOutputs",
    "ScanResult",
    "load_grid",
    "parse_grid",
    "run_point",
    "run_scan",
    "scan",
    "scan_analyses",
]
