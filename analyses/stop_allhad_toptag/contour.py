"""The stop exclusion contour from the surrogate and from the internal tagger, side by side.

``python -m surrotag.analyses.stop_allhad_toptag.contour`` (after :mod:`.build`):

1. scans the build's (m_stop, m_neutralino) grid with ``surrotag scan`` semantics
   (:func:`surrotag.scan.scan`: one recast per point with the ``top-tagger-delphes``
   surrogate, Dask, resumable) on the very samples the official yields came from, into
   ``$SURROTAG_DATA/scans/stop-allhad-toptag``;
2. reads the internal tagger's CLs at mu = 1 per point from ``official_yields.json``;
3. per point, says whether the surrogate's median expected exclusion agrees with the
   internal tagger's expected +-1 sigma band: where both band edges exclude (CLs < 0.05)
   the surrogate must exclude, where neither does it must not, inside the band it may do
   either;
4. writes ``contour.json`` (both CLs sets and the per-point verdicts, every input's sha256)
   and ``contour.png`` (the two expected contours with the internal band, linear in
   log10 CLs between the points, :func:`surrotag.scan.contour.interpolate_cls`) into this
   package.

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

__all__ = ["CONTOUR_JSON", "CONTOUR_PNG", "agreement", "main", "official_rows", "plot"]

HERE: Final = Path(__file__).resolve().parent
ANALYSIS: Final = "stop-allhad-toptag"
CONTOUR_JSON: Final = "contour.json"
CONTOUR_PNG: Final = "contour.png"
PARAMETERS: Final = ("m_stop_gev", "m_lsp_gev")
#: Weight draws of the surrogate in the scan.
DRAWS: Final = 20
CLS_LEVEL: Final = 0.05


def official_rows(official: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The internal tagger's CLs per grid point, as rows like a scan's summary rows."""
    rows = []
    for signal in official["signals"]:
        cls = signal.get("cls_mu1")
        if cls is None:
            continue
        expected = cls["expected"]
        rows.append(
            {
                "name": signal["name"],
                **{p: float(signal[p]) for p in PARAMETERS},
                "status": "done",
                "cls_obs": cls["observed"],
                "cls_exp_m1": expected[1],
                "cls_exp": expected[2],
                "cls_exp_p1": expected[3],
            }
        )
    return rows


def agreement(
    official: Sequence[Mapping[str, Any]], surrogate: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per grid point: the surrogate's expected exclusion against the internal band.

    Returns:
        One dict per point of ``official``: parameters, the internal CLs (median, -1 and +1
        sigma), the surrogate's median expected CLs, ``band`` (``excluded``, ``allowed``
        or ``straddles``) and ``agrees`` (None where the surrogate point is missing).
    """
    by_name = {row["name"]: row for row in surrogate if row.get("status") == "done"}
    out = []
    for row in official:
        edges = (row["cls_exp_m1"], row["cls_exp_p1"])
        if max(edges) < CLS_LEVEL:
            band = "excluded"
        elif min(edges) >= CLS_LEVEL:
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
            agrees = (surrogate_cls < CLS_LEVEL) == (band == "excluded")
        out.append(
            {
                "name": row["name"],
                **{p: row[p] for p in PARAMETERS},
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
    official: Sequence[Mapping[str, Any]],
    surrogate: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
) -> Path:
    """Both expected contours (CLs = 0.05) with the internal tagger's +-1 sigma band."""
    import matplotlib

    from surrotag.io.figures import figure_style, save_figure
    from surrotag.scan.contour import band_field, interpolate_cls

    def column(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
        return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows])

    done = [r for r in surrogate if r.get("status") == "done" and r.get("cls_exp") is not None]
    x, y = column(official, PARAMETERS[0]), column(official, PARAMETERS[1])
    mesh = np.meshgrid(np.linspace(x.min(), x.max(), 200), np.linspace(y.min(), y.max(), 200))
    lo = interpolate_cls(x, y, column(official, "cls_exp_m1"), mesh)
    hi = interpolate_cls(x, y, column(official, "cls_exp_p1"), mesh)
    band = band_field(lo, hi, CLS_LEVEL)  # continuous: the band's edges are the CLs contours
    internal = interpolate_cls(x, y, column(official, "cls_exp"), mesh)
    recast = np.full_like(internal, np.nan)  # no contour from fewer than three points
    if len(done) >= 3:
        xs, ys = column(done, PARAMETERS[0]), column(done, PARAMETERS[1])
        recast = interpolate_cls(xs, ys, column(done, "cls_exp"), mesh)
    target = Path(path)
    with figure_style() as plt:
        fig, ax = plt.subplots(figsize=(8, 7))
        try:
            if np.nanmin(band, initial=np.inf) < 0:
                ax.contourf(*mesh, band, levels=[-1.0, 0.0], colors=["#ffdd33"])
            handles = [
                matplotlib.patches.Patch(color="#ffdd33", label=r"internal tagger $\pm 1\sigma$")
            ]
            for field, colour, style, label in (
                (internal, "k", "--", "internal tagger, expected"),
                (recast, "tab:blue", "-", "surrogate recast, expected"),
            ):
                if np.isfinite(field).any() and np.nanmin(field) < CLS_LEVEL < np.nanmax(field):
                    ax.contour(*mesh, field, levels=[CLS_LEVEL], colors=colour, linestyles=style)
                handles.append(matplotlib.lines.Line2D([], [], color=colour, ls=style, label=label))
            ax.plot(x, y, "o", color="0.4", ms=5, clip_on=False, zorder=5)
            ax.set_xlabel(r"$m_{\tilde{t}}$ [GeV]")
            ax.set_ylabel(r"$m_{\tilde{\chi}^0_1}$ [GeV]")
            ax.set_title(
                "stop-allhad-toptag, expected 95% CL exclusion (LO)", fontsize="small", loc="left"
            )
            ax.legend(handles=handles, loc="upper right", fontsize="small")
            fig.tight_layout()
        except BaseException:
            plt.close(fig)
            raise
        return save_figure(fig, target, dpi=110)


def main(argv: list[str] | None = None) -> int:
    """Scan with the surrogate, compare with the official CLs, write the figure and record.

    Returns:
        0 when every point agrees, 2 when one does not, 1 on an error (one line).
    """
    import argparse

    from surrotag.analyses.stop_allhad_toptag.build import PLAN
    from surrotag.errors import AnalysisError, SurrotagError
    from surrotag.io.atomic import write_json_atomic
    from surrotag.io.parquet import sha256_file
    from surrotag.reference.cache import data_dir
    from surrotag.scan import ScanOptions, parse_grid, scan

    parser = argparse.ArgumentParser(
        prog="python -m surrotag.analyses.stop_allhad_toptag.contour", description=__doc__
    )
    parser.add_argument("--workers", type=int, default=1, help="Dask workers (default 1)")
    args = parser.parse_args(argv)
    try:
        official_file = HERE / "official_yields.json"
        if not official_file.is_file():
            raise AnalysisError(f"{official_file} absent: run {PLAN.command}")
        official = json.loads(official_file.read_text("utf-8"))
        internal = official_rows(official)
        if len(internal) != len(PLAN.signals):
            raise AnalysisError("official_yields.json lacks CLs: rebuild without --no-limits")
        points = [
            {
                "name": spec.name,
                "parameters": dict(spec.parameters),
                "events": [str(spec.generate(PLAN.jobs))],
            }
            for spec in PLAN.signals
        ]
        grid = parse_grid({"description": "stop grid of the build", "points": points})
        directory = data_dir() / "scans" / ANALYSIS
        outputs = scan(
            ANALYSIS,
            grid,
            directory,
            options=ScanOptions(draws=DRAWS, level="delphes"),
            workers=args.workers,
        )
    except SurrotagError as error:
        print(f"error: {error}")
        return 1
    verdicts = agreement(internal, outputs.rows)
    record = {
        "kind": "stop-contour-comparison",
        "analysis": ANALYSIS,
        "official_yields_sha256": sha256_file(official_file),
        "official_inputs": official["inputs"],
        "surrogate_draws": DRAWS,
        "rule": "where the internal tagger's expected +-1 sigma CLs both lie below 0.05 the "
        "surrogate's median expected CLs must too, where both lie above it must not",
        "points": verdicts,
        "agree": sum(1 for v in verdicts if v["agrees"]),
        "n_points": len(verdicts),
    }
    write_json_atomic(HERE / CONTOUR_JSON, record, indent=1)
    plot(internal, outputs.rows, HERE / CONTOUR_PNG)
    for v in verdicts:
        print(
            f"{v['name']:18s} internal {v['internal_cls_exp']:.3g} "
            f"[{v['internal_cls_exp_m1']:.3g}, {v['internal_cls_exp_p1']:.3g}] ({v['band']}), "
            f"surrogate {v['surrogate_cls_exp']}: agrees {v['agrees']}"
        )
    print(f"{record['agree']} of {record['n_points']} points agree; {HERE / CONTOUR_PNG}")
    return 0 if record["agree"] == record["n_points"] else 2


if __name__ == "__main__":
    raise SystemExit(main())
