"""Each region's binned observable (mjj, m_tt, MET, ...): stacked backgrounds, the recast
signal, (pseudo-)data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from surrotag.errors import MissingDependencyError
from surrotag.io.atomic import atomic_output

if TYPE_CHECKING:
    from surrotag.recast.report import RecastReport

__all__ = ["PLOT_HINT", "check_plot_dependencies", "plot_regions"]

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


def plot_regions(report: RecastReport, workspace: Any, path: str | os.PathLike[str]) -> Path:
    """Draw each region's background samples stacked, the signal on top and the data.

    Args:
        report: the recast report (signal yields per region).
        workspace: the background-only workspace (:func:`surrotag.stats.load_workspace`).
        path: image file (PNG, PDF, ...), written atomically.

    Raises:
        MissingDependencyError: matplotlib or mplhep missing (``pip install surrotag[plot]``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import mplhep
    except ImportError:
        raise MissingDependencyError(PLOT_HINT) from None
    from surrotag.stats.workspace import load_workspace

    ws = load_workspace(workspace)
    spec = ws.spec
    observed = {o["name"]: np.asarray(o["data"], dtype=float) for o in spec["observations"]}
    plt.style.use(mplhep.style.ATLAS)
    fig, axes = plt.subplots(1, len(report.regions), figsize=(7 * len(report.regions), 6))
    axes = np.atleast_1d(axes)
    for ax, region in zip(axes, report.regions, strict=True):
        channel = next(ch for ch in spec["channels"] if ch["name"] == region.channel)
        edges = region.yields.bin_edges / 1000.0
        stack = [np.asarray(s["data"], dtype=float) for s in channel["samples"]]
        labels = [s["name"] for s in channel["samples"]]
        mplhep.histplot(stack, edges, stack=True, histtype="fill", label=labels, ax=ax)
        background = np.sum(stack, axis=0)
        mplhep.histplot(
            background + region.yields.nominal,
            edges,
            histtype="step",
            color="red",
            label=f"+ signal (mu = 1), {report.tagger['kind']}",
            ax=ax,
        )
        data = observed.get(region.channel)
        if data is not None:
            mplhep.histplot(
                data, edges, histtype="errorbar", color="black", label="pseudo-data", ax=ax
            )
        ax.set_yscale("log")
        ax.set_xlabel(f"{_LABELS.get(region.observable, region.observable)} [TeV]")
        ax.set_ylabel("events / bin")
        ax.set_title(f"{report.analysis}: {region.name}")
        ax.legend(fontsize="small")
    target = Path(path)
    try:
        with atomic_output(target) as temporary:  # its name ends in .tmp: say the format
            fig.savefig(temporary, dpi=120, bbox_inches="tight", format=target.suffix[1:] or "png")
    finally:
        plt.close(fig)
    return target
