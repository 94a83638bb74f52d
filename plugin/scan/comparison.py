"""A surrogate scan's exclusion against the internal tagger's official CLs, point by point.

An analysis whose build (:func:`surrotag.reference.publish.build_analysis`) wrote
``official_yields.json`` with the internal tagger's CLs at mu = 1 per signal point can be
checked against the surrogate with :func:`compare_contours`, which:

1. scans the build's grid with ``surrotag scan`` semantics (:func:`surrotag.scan.scan`:
   one recast per point, Dask, resumable) on the very samples the official yields came
   from, into ``$SURROTAG_DATA/scans/ANALYSIS``;
2. reads the internal tagger's observed and expected CLs per point
   (:func:`official_rows`);
3. per point, says whether the surrogate's median expected exclusion agrees with the
   internal tagger's expected +-1 sigma band (:func:`agreement`): where both band edges
   exclude (CLs < 0.05) the surrogate must exclude, where neither does it must not, inside
   the band it may do either;
4. writes ``contour.json`` (both CLs sets, the per-point verdicts, every input's sha256)
   and ``contour.png`` (:func:`plot`: the two expected contours with the internal band,
   linear in log10 CLs between the points, :func:`surrotag.scan.contour.interpolate_cls`)
   into the analysis package.

CLs are dimensionless probabilities in (0, 1]; the grid parameters keep the units their
names say (``m_stop_gev``: GeV).

References:
    Read, J. Phys. G 28 (2002) 2693 (CLs); classifier surrogates, arXiv:2402.15558.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from surrotag.scan.contour import BAND_COLOUR, CLS_LEVEL

__all__ = [
    "COMPARISON_KIND",
    "CONTOUR_JSON",
    "CONTOUR_PNG",
    "OFFICIAL_YIELDS",
    "STOP_PARAMETERS",
    "agreement",
    "compare_contours",
    "official_rows",
    "plot",
]

#: The record's file name, in the analysis package.
CONTOUR_JSON: Final = "contour.json"
#: The figure's file name, in the analysis package.
CONTOUR_PNG: Final = "contour.png"
#: The build's official yields (with CLs at mu = 1), in the analysis package.
OFFICIAL_YIELDS: Final = "official_yields.json"
#: ``kind`` of the record (kept from the first analysis that wrote one).
COMPARISON_KIND: Final = "stop-contour-comparison"
#: Default grid parameters: top squark and neutralino masses [GeV].
STOP_PARAMETERS: Final = ("m_stop_gev", "m_lsp_gev")


def official_rows(official: Mapping[str, Any], parameters: Sequence[str]) -> list[dict[str, Any]]:
    """The internal tagger's CLs per grid point, as rows like a scan's summary rows.

    Args:
        official: the contents of ``official_yields.json``; each entry of ``signals``
            holds its ``name``, the grid ``parameters`` and ``cls_mu1`` (``observed`` and
            the five ``expected`` CLs at -2, -1, 0, +1, +2 sigma; None without limits).
        parameters: names of the grid parameters (units as their names say).

    Returns:
        One row per signal with CLs (signals without are left out): ``name``, the
        parameters (float), ``status`` ``"done"``, ``cls_obs``, ``cls_exp_m1``,
        ``cls_exp``, ``cls_exp_p1``.
    """
    rows = []
    for signal in official["signals"]:
        cls = signal.get("cls_mu1")
        if cls is None:
            continue
        expected = cls["expected"]
        rows.append(
            {
                "name": signal["name"],
                **{p: float(signal[p]) for p in parameters},
                "status": "done",
                "cls_obs": cls["observed"],
                "cls_exp_m1": expected[1],
                "cls_exp": expected[2],
                "cls_exp_p1": expected[3],
            }
        )
    return rows


def agreement(
    official_rows: Sequence[Mapping[str, Any]],
    surrogate_rows: Sequence[Mapping[str, Any]],
    parameters: Sequence[str],
    level: float = CLS_LEVEL,
) -> list[dict[str, Any]]:
    """Per grid point: the surrogate's expected exclusion against the internal band.

    Args:
        official_rows: the internal tagger's rows (:func:`official_rows`).
        surrogate_rows: the scan's summary rows (``name``, ``status``, ``cls_exp``); only
            rows with ``status`` ``"done"`` count.
        parameters: names of the grid parameters copied into the verdicts.
        level: CLs below which a point is excluded (0.05: 95% CL).

    Returns:
        One dict per point of ``official_rows``: parameters, the internal CLs (median, -1
        and +1 sigma), the surrogate's median expected CLs, ``band`` (``excluded``,
        ``allowed`` or ``straddles``) and ``agrees`` (None where the surrogate point is
        missing).
    """
    by_name = {row["name"]: row for row in surrogate_rows if row.get("status") == "done"}
    out = []
    for row in official_rows:
        edges = (row["cls_exp_m1"], row["cls_exp_p1"])
        if max(edges) < level:
            band = "excluded"
        elif min(edges) >= level:
            band = "allowed"
        else:
            band = "straddles"
        other = by_name.get(row["name"])
        surrogate_cls = None if other is None else other.get("cls_exp")
        if surrogate_cls is None:
            agrees = None
        elif band == "straddles":
            agrees = True
        else:
            agrees = (surrogate_cls < level) == (band == "excluded")
        out.append(
            {
                "name": row["name"],
                **{p: row[p] for p in parameters},
                "internal_cls_exp": row["cls_exp"],
                "internal_cls_exp_m1": row["cls_exp_m1"],
                "internal_cls_exp_p1": row["cls_exp_p1"],
                "surrogate_cls_exp": surrogate_cls,
                "band": band,
                "agrees": agrees,
            }
        )
    return out


def plot(
    official_rows: Sequence[Mapping[str, Any]],
    surrogate_rows: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    parameters: Sequence[str],
    title: str,
    axis_labels: Sequence[str],
) -> Path:
    """Both expected contours (CLs = 0.05) with the internal tagger's +-1 sigma band.

    Args:
        official_rows: the internal tagger's rows (:func:`official_rows`), at least three
            points spanning an area.
        surrogate_rows: the scan's summary rows; its contour is drawn from three finished
            points on.
        path: the PNG to write (atomically).
        parameters: the two grid parameters, x then y.
        title: the figure's title.
        axis_labels: x and y axis labels (with units).

    Returns:
        The written path.
    """
    import matplotlib

    from surrotag.io.figures import figure_style, save_figure
    from surrotag.scan.contour import band_field, interpolate_cls

    def column(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
        return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows])

    x_name, y_name = parameters
    x_label, y_label = axis_labels
    done = [r for r in surrogate_rows if r.get("status") == "done" and r.get("cls_exp") is not None]
    x, y = column(official_rows, x_name), column(official_rows, y_name)
    mesh = np.meshgrid(np.linspace(x.min(), x.max(), 200), np.linspace(y.min(), y.max(), 200))
    lo = interpolate_cls(x, y, column(official_rows, "cls_exp_m1"), mesh)
    hi = interpolate_cls(x, y, column(official_rows, "cls_exp_p1"), mesh)
    band = band_field(lo, hi, CLS_LEVEL)  # continuous: the band's edges are the CLs contours
    internal = interpolate_cls(x, y, column(official_rows, "cls_exp"), mesh)
    recast = np.full_like(internal, np.nan)  # no contour from fewer than three points
    if len(done) >= 3:
        xs, ys = column(done, x_name), column(done, y_name)
        recast = interpolate_cls(xs, ys, column(done, "cls_exp"), mesh)
    target = Path(path)
    with figure_style() as plt:
        fig, ax = plt.subplots(figsize=(8, 7))
        try:
            if np.nanmin(band, initial=np.inf) < 0:
                ax.contourf(*mesh, band, levels=[-1.0, 0.0], colors=[BAND_COLOUR])
            handles = [
                matplotlib.patches.Patch(color=BAND_COLOUR, label=r"internal tagger $\pm 1\sigma$")
            ]
            for field, colour, style, label in (
                (internal, "k", "--", "internal tagger, expected"),
                (recast, "tab:blue", "-", "surrogate recast, expected"),
            ):
                if np.isfinite(field).any() and np.nanmin(field) < CLS_LEVEL < np.nanmax(field):
                    ax.contour(*mesh, field, levels=[CLS_LEVEL], colors=colour, linestyles=style)
                handles.append(matplotlib.lines.Line2D([], [], color=colour, ls=style, label=label))
            ax.plot(x, y, "o", color="0.4", ms=5, clip_on=False, zorder=5)
            ax.set_xlabel(x_label)
            ax.set_ylabel(y_label)
            ax.set_title(title, fontsize="small", loc="left")
            ax.legend(handles=handles, loc="upper right", fontsize="small")
            fig.tight_layout()
        except BaseException:
            plt.close(fig)
            raise
        return save_figure(fig, target, dpi=110)


def compare_contours(
    analysis: str,
    plan: Any,
    package_dir: str | os.PathLike[str],
    *,
    draws: int,
    level: str = "delphes",
    workers: int = 1,
    parameters: Sequence[str] = STOP_PARAMETERS,
    title: str,
    axis_labels: Sequence[str],
) -> int:
    """Scan with the surrogate, compare with the official CLs, write the figure and record.

    Args:
        analysis: installed analysis name (also the scan's folder under
            ``$SURROTAG_DATA/scans``).
        plan: the analysis's :class:`~surrotag.reference.publish.BuildPlan` (its
            ``signals``, ``jobs`` and ``command``).
        package_dir: the analysis package: reads ``official_yields.json``, writes
            ``contour.json`` and ``contour.png``.
        draws: weight draws of the surrogate per point.
        level: the surrogate's level (:class:`~surrotag.scan.ScanOptions`).
        workers: Dask workers.
        parameters: the two grid parameters, x then y (units as their names say).
        title: the figure's title.
        axis_labels: the figure's x and y axis labels.

    Returns:
        0 when every point agrees, 2 when one does not, 1 on an error (one line
        ``error: ...`` printed).
    """
    from surrotag.errors import AnalysisError, SurrotagError
    from surrotag.io.atomic import write_json_atomic
    from surrotag.io.parquet import sha256_file
    from surrotag.reference.cache import data_dir
    from surrotag.scan import ScanOptions, parse_grid, scan

    here = Path(package_dir)
    official_file = here / OFFICIAL_YIELDS
    try:
        if not official_file.is_file():
            raise AnalysisError(f"{official_file} absent: run {plan.command}")
        official = json.loads(official_file.read_text("utf-8"))
        internal = official_rows(official, parameters)
        if len(internal) != len(plan.signals):
            raise AnalysisError(f"{OFFICIAL_YIELDS} lacks CLs: rebuild without --no-limits")
        points = [
            {
                "name": spec.name,
                "parameters": dict(spec.parameters),
                "events": [str(spec.generate(plan.jobs))],
            }
            for spec in plan.signals
        ]
        grid = parse_grid({"description": f"{analysis} grid of the build", "points": points})
        directory = data_dir() / "scans" / analysis
        outputs = scan(
            analysis,
            grid,
            directory,
            options=ScanOptions(draws=draws, level=level),
            workers=workers,
        )
    except SurrotagError as error:
        print(f"error: {error}")
        return 1
    verdicts = agreement(internal, outputs.rows, parameters)
    record = {
        "kind": COMPARISON_KIND,
        "analysis": analysis,
        "official_yields_sha256": sha256_file(official_file),
        "official_inputs": official["inputs"],
        "surrogate_draws": draws,
        "rule": "where the internal tagger's expected +-1 sigma CLs both lie below "
        f"{CLS_LEVEL:g} the surrogate's median expected CLs must too, where both lie above "
        "it must not",
        "points": verdicts,
        "agree": sum(1 for v in verdicts if v["agrees"]),
        "n_points": len(verdicts),
    }
    write_json_atomic(here / CONTOUR_JSON, record, indent=1)
    plot(
        internal,
        outputs.rows,
        here / CONTOUR_PNG,
        parameters=parameters,
        title=title,
        axis_labels=axis_labels,
    )
    for v in verdicts:
        print(
            f"{v['name']:18s} internal {v['internal_cls_exp']:.3g} "
            f"[{v['internal_cls_exp_m1']:.3g}, {v['internal_cls_exp_p1']:.3g}] ({v['band']}), "
            f"surrogate {v['surrogate_cls_exp']}: agrees {v['agrees']}"
        )
    print(f"{record['agree']} of {record['n_points']} points agree; {here / CONTOUR_PNG}")
    return 0 if record["agree"] == record["n_points"] else 2
