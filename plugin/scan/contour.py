"""Exclusion contour of a two-parameter scan: CLs = 0.05, observed and expected +-1 sigma.

CLs is interpolated between the grid points linearly in ``log10(CLs)`` (CLs falls roughly
exponentially with the signal yield) on a regular 200 x 200 mesh over the points' convex
hull (:func:`scipy.interpolate.griddata`); no extrapolation outside the hull. Drawn:

- the observed contour (solid black) and the median expected contour (dashed),
- the expected +-1 sigma band (yellow fill) between the -1 sigma and +1 sigma expected
  CLs = 0.05 contours: the region where one of the two interpolated CLs fields is below
  0.05 and the other is not, filled from the continuous field :func:`band_field` so that
  its edges are the contour lines of those fields (not a yes/no mask of mesh cells),
- the grid points (o: finished, x: failed).

Rendered with matplotlib's Agg backend in the style of :mod:`surrotag.io.figures`, as a
PNG.

References:
    Read, "Presentation of search results: the CLs technique", J. Phys. G 28 (2002) 2693;
    Cowan, Cranmer, Gross, Vitells, arXiv:1007.1727.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from surrotag.io.figures import figure_style, save_figure

__all__ = [
    "BAND_COLOUR",
    "CLS_LEVEL",
    "CONTOUR_FILE",
    "band_field",
    "contour_figure",
    "interpolate_cls",
    "plot_contour",
]

#: 95% CL exclusion: CLs below this value.
CLS_LEVEL = 0.05
CONTOUR_FILE = "contour.png"
#: Fill colour of the expected +-1 sigma band.
BAND_COLOUR = "#ffdd33"


def interpolate_cls(
    x: np.ndarray, y: np.ndarray, cls: np.ndarray, mesh: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """CLs on a mesh, linear in ``log10`` between the points (NaN outside their hull).

    Args:
        x, y: parameter values of the points, shape ``[P]``; scaled to [0, 1] each before
            triangulating, so GeV and couplings weigh alike.
        cls: CLs per point ``[P]``, in (0, 1] (clipped at 1e-300).
        mesh: ``(X, Y)`` from :func:`numpy.meshgrid`.

    Returns:
        CLs on the mesh, shape of ``X``.
    """
    from scipy.interpolate import griddata

    def scale(v: np.ndarray, ref: np.ndarray) -> np.ndarray:
        span = float(ref.max() - ref.min()) or 1.0
        return (v - ref.min()) / span

    points = np.column_stack([scale(x, x), scale(y, y)])
    values = np.log10(np.clip(cls, 1e-300, None))
    grid = griddata(
        points, values, (scale(mesh[0], x), scale(mesh[1], y)), method="linear", rescale=False
    )
    return 10.0**grid


def band_field(lo: np.ndarray, hi: np.ndarray, level: float = CLS_LEVEL) -> np.ndarray:
    """A continuous field that is negative exactly inside the expected +-1 sigma band.

    ``max(min(lo, hi) - level, level - max(lo, hi))``: negative where one of the two CLs
    fields is below ``level`` and the other above it, zero on either field's ``level``
    contour, NaN where either is NaN. Filling it below 0 (linear interpolation on the mesh,
    as for the contour lines) gives a band whose edges are the two fields' contours.

    Args:
        lo, hi: the expected CLs at -1 sigma and +1 sigma, on the same mesh (either order).
        level: the CLs of the exclusion (0.05).

    Returns:
        The field, shape of ``lo``; larger than ``-1`` for CLs in (0, 1].

    Example:
        >>> band_field(np.array([0.01, 0.04, 0.2]), np.array([0.03, 0.3, 0.6]))
        array([ 0.02, -0.01,  0.15])
    """
    low, high = np.fmin(lo, hi), np.fmax(lo, hi)
    field = np.maximum(low - level, level - high)
    return np.where(np.isnan(lo) | np.isnan(hi), np.nan, field)


def _finite(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows], dtype=float)


def contour_figure(
    rows: Sequence[Mapping[str, Any]], parameters: Sequence[str], *, title: str = ""
) -> Any | None:
    """The figure of :func:`plot_contour`, not written (the caller closes it).

    Args:
        rows: summary rows (:func:`surrotag.scan.summary.summary_rows`): the parameters,
            ``status``, ``cls_obs``, ``cls_exp``, ``cls_exp_m1``, ``cls_exp_p1``.
        parameters: the two parameter names (x axis, y axis).
        title: plot title (e.g. the analysis name).

    Returns:
        The matplotlib figure, or None when the scan has not two parameters or fewer than
        three finished points that do not lie on one line (no area to interpolate on). The
        band is the axes' filled contour set with ``gid`` ``"expected_band"``.

    Raises:
        MissingDependencyError: matplotlib or mplhep is not installed.
    """
    if len(parameters) != 2:
        return None
    done = [r for r in rows if r.get("status") == "done" and r.get("cls_obs") is not None]
    if len(done) < 3:
        return None
    xname, yname = parameters
    x, y = _finite(done, xname), _finite(done, yname)
    centred = np.column_stack([x - x.mean(), y - y.mean()])
    if np.linalg.matrix_rank(centred / (np.abs(centred).max(axis=0) + 1e-300), tol=1e-9) < 2:
        return None

    mesh = np.meshgrid(np.linspace(x.min(), x.max(), 200), np.linspace(y.min(), y.max(), 200))
    fields = {
        key: interpolate_cls(x, y, _finite(done, key), mesh)
        for key in ("cls_obs", "cls_exp", "cls_exp_m1", "cls_exp_p1")
    }
    band = band_field(fields["cls_exp_m1"], fields["cls_exp_p1"])
    with figure_style() as plt:
        import matplotlib

        fig, ax = plt.subplots(figsize=(10, 9))
        try:
            if np.nanmin(band, initial=np.inf) < 0:  # all-NaN: no band
                filled = ax.contourf(*mesh, band, levels=[-1.0, 0.0], colors=[BAND_COLOUR])
                filled.set_gid("expected_band")
            handles = [matplotlib.patches.Patch(color=BAND_COLOUR, label=r"expected $\pm 1\sigma$")]
            for key, style, label in (("cls_exp", "--", "expected"), ("cls_obs", "-", "observed")):
                field = fields[key]
                if np.nanmin(field) < CLS_LEVEL < np.nanmax(field):
                    ax.contour(*mesh, field, levels=[CLS_LEVEL], colors="k", linestyles=style)
                handles.append(matplotlib.lines.Line2D([], [], color="k", ls=style, label=label))
            failed = [r for r in rows if r.get("status") == "failed"]
            ax.plot(x, y, "o", color="0.4", ms=4, label="recast points")
            if failed:
                ax.plot(_finite(failed, xname), _finite(failed, yname), "x", color="r", ms=6)
            ax.set_xlabel(xname)
            ax.set_ylabel(yname)
            ax.set_title(title or "CLs = 0.05 (95% CL)")
            ax.legend(handles=handles, loc="best", fontsize="small")
        except BaseException:
            plt.close(fig)
            raise
    return fig


def plot_contour(
    rows: Sequence[Mapping[str, Any]],
    parameters: Sequence[str],
    path: str | os.PathLike[str],
    *,
    title: str = "",
) -> Path | None:
    """Draw the CLs = 0.05 contours of a two-parameter scan to a PNG (atomically).

    Args:
        rows: summary rows (:func:`surrotag.scan.summary.summary_rows`): the parameters,
            ``status``, ``cls_obs``, ``cls_exp``, ``cls_exp_m1``, ``cls_exp_p1``.
        parameters: the two parameter names (x axis, y axis).
        path: PNG to write.
        title: plot title (e.g. the analysis name).

    Returns:
        The PNG path, or None when the scan has not two parameters or fewer than three
        finished points that do not lie on one line (no area to interpolate on).
    """
    fig = contour_figure(rows, parameters, title=title)
    if fig is None:
        return None
    return save_figure(fig, path, dpi=120, tight=False)
