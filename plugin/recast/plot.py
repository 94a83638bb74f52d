"""Each region's binned observable (mjj, m_tt, MET, ...): stacked backgrounds, the recast
signal with its uncertainty band, (pseudo-)data, in the one style of
:mod:`surrotag.io.figures` with the analysis's luminosity and sqrt(s)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from surrotag.errors import MissingDependencyError
from surrotag.io.figures import experiment_label, figure_style, save_figure

if TYPE_CHECKING:
    from surrotag.recast.report import RecastReport, RegionResult

__all__ = ["PLOT_HINT", "check_plot_dependencies", "plot_regions", "signal_uncertainty"]

#: What to install for plots.
PLOT_HINT = "--plot needs matplotlib and mplhep: pip install 'surrotag[plot]'"


def check_plot_dependencies() -> None:
    """Fail before the work, not after it, when :func:`plot_regions` could not draw.

    Raises:
        MissingDependencyError: matplotlib or mplhep missing (found without importing them).
    """
    import importlib.util

    if not all(importlib.util.find_spec(name) for name in ("matplotlib", "mplhep")):
        raise MissingDependencyError(PLOT_HINT)


#: Axis labels of the built-in binned observables (others show their registry name).
_LABELS = {"mjj": "$m_{jj}$", "met": "$E_T^{miss}$", "ht": "$H_T$", "pt_system": "$p_T$"}


def signal_uncertainty(region: RegionResult) -> np.ndarray:
    """Total uncertainty of the signal yield per bin: the Monte Carlo statistical error and
    the surrogate's spread over weight draws, added in quadrature (independent sources).

    Args:
        region: a region of the report (``yields.mc_stat_error``, ``surrogate_error``).

    Returns:
        Standard deviation per bin (events), shape ``[B]``.
    """
    return np.hypot(np.asarray(region.yields.mc_stat_error, dtype=float), region.surrogate_error)


def plot_regions(report: RecastReport, workspace: Any, path: str | os.PathLike[str]) -> Path:
    """Draw each region's background samples stacked, the signal on top with its uncertainty
    band (:func:`signal_uncertainty`) and the data, labelled with the analysis's luminosity
    and sqrt(s).

    Args:
        report: the recast report (signal yields per region).
        workspace: the background-only workspace (:func:`surrotag.stats.load_workspace`).
        path: image file (PNG, PDF, ...), written atomically.

    Raises:
        MissingDependencyError: matplotlib or mplhep missing (``pip install surrotag[plot]``).
    """
    from surrotag.stats.workspace import load_workspace

    with figure_style(PLOT_HINT) as plt:
        import mplhep

        ws = load_workspace(workspace)
        spec = ws.spec
        observed = {o["name"]: np.asarray(o["data"], dtype=float) for o in spec["observations"]}
        info = report.analysis_info
        fig, axes = plt.subplots(1, len(report.regions), figsize=(10 * len(report.regions), 9))
        for ax, region in zip(np.atleast_1d(axes), report.regions, strict=True):
            channel = next(ch for ch in spec["channels"] if ch["name"] == region.channel)
            tev = region.unit == "GeV"  # GeV observables are drawn in TeV
            edges = region.yields.bin_edges / 1000.0 if tev else region.yields.bin_edges
            stack = [np.asarray(s["data"], dtype=float) for s in channel["samples"]]
            labels = [s["name"] for s in channel["samples"]]
            mplhep.histplot(stack, edges, stack=True, histtype="fill", label=labels, ax=ax)
            total = np.sum(stack, axis=0) + region.yields.nominal
            mplhep.histplot(
                total,
                edges,
                histtype="step",
                color="red",
                label=f"+ signal (mu = 1), {report.tagger['kind']}",
                ax=ax,
            )
            sigma = signal_uncertainty(region)
            ax.bar(
                edges[:-1],
                2.0 * sigma,
                width=np.diff(edges),
                bottom=total - sigma,
                align="edge",
                facecolor="none",
                edgecolor="red",
                hatch="////",
                linewidth=0.0,
                label="signal uncertainty (MC stat. + surrogate)",
            )
            data = observed.get(region.channel)
            if data is not None:
                mplhep.histplot(
                    data, edges, histtype="errorbar", color="black", label="pseudo-data", ax=ax
                )
            ax.set_yscale("log")
            unit = "TeV" if tev else region.unit
            label = _LABELS.get(region.observable, region.observable)
            ax.set_xlabel(f"{label} [{unit}]" if unit else label)
            ax.set_ylabel("events / bin")
            experiment_label(
                ax, lumi_ifb=info.get("luminosity_ifb"), sqrt_s_gev=info.get("sqrt_s_gev")
            )
            title = f"{report.analysis}: {region.name}"
            ax.legend(fontsize="x-small", title=title, title_fontsize="small")
            mplhep.yscale_legend(ax, soft_fail=True)  # room above the bars for the legend
        return save_figure(fig, path, dpi=120)
