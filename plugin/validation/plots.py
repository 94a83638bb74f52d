"""Figures of the validation report (matplotlib Agg, mplhep CMS style, PNG).

* ``scores_pt.png`` / ``scores_mass.png``: the internal tagger's logit vs the surrogate's
  sampled logit for top and QCD jets in pt and mass bins; the band is the spread (+-1 sd)
  of the per-draw histograms (Bayesian weights).
* ``efficiency_{pt,mass}_{top,qcd}.png``: efficiency (top) or mistag rate (QCD) per working
  point, internal (points with binomial errors) vs surrogate exact probability (line with
  the Bayesian band and the combined band), pull panel below.
* ``ood.png``: median relative Bayesian spread and OOD-flag rate versus the pt feature.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from surrotag.errors import MissingDependencyError

if TYPE_CHECKING:
    from surrotag.validation.data import ReferenceRows
    from surrotag.validation.evaluate import Evaluation

__all__ = ["write_figures"]

_PT_BINS: Final = (200.0, 500.0, 1000.0, 1700.0, 7000.0)
_MASS_BINS: Final = (0.0, 60.0, 140.0, 220.0, 1000.0)
_CLASSES: Final = (("top", 1), ("qcd", 0))


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import mplhep
    except ImportError as error:
        raise MissingDependencyError(
            f"validation figures need matplotlib and mplhep ({error}); install them with "
            "pip install 'surrotag[plot]'"
        ) from None
    return plt, mplhep


def _draw_histograms(samples: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """[K, B] normalised histograms of samples [K, N], one per draw (bincount, no loop)."""
    k = samples.shape[0]
    b = edges.size - 1
    index = np.clip(np.digitize(samples, edges) - 1, 0, b - 1)
    counts = np.bincount((np.arange(k)[:, None] * b + index).ravel(), minlength=k * b)
    counts = counts.reshape(k, b).astype(np.float64)
    return counts / np.maximum(counts.sum(1, keepdims=True), 1) / np.diff(edges)


def _scores(plt, rows: ReferenceRows, ev: Evaluation, axis: np.ndarray, bins, name, unit, path):
    edges = np.linspace(*np.nanpercentile(rows.logit, [0.2, 99.8]), 41)
    centres = 0.5 * (edges[1:] + edges[:-1])
    fig, axes = plt.subplots(len(bins) - 1, 2, figsize=(13, 4 * (len(bins) - 1)), squeeze=False)
    for i in range(len(bins) - 1):
        in_bin = (axis >= bins[i]) & (axis < bins[i + 1])
        for j, (cls, value) in enumerate(_CLASSES):
            ax = axes[i, j]
            rows_ = in_bin & (rows.label == value)
            ax.set_title(
                f"{cls}, {bins[i]:g} <= {name} < {bins[i + 1]:g} {unit} ({int(rows_.sum())} jets)",
                fontsize=12,
            )
            if rows_.sum() < 5:
                continue
            true = np.histogram(
                np.clip(rows.logit[rows_], edges[0], edges[-1]), edges, density=True
            )[0]
            per_draw = _draw_histograms(np.clip(ev.samples[:, rows_], edges[0], edges[-1]), edges)
            mean, sd = (
                per_draw.mean(0),
                per_draw.std(0, ddof=1) if per_draw.shape[0] > 1 else np.zeros(edges.size - 1),
            )
            ax.stairs(true, edges, color="black", label="internal tagger")
            ax.stairs(mean, edges, color="tab:red", label="surrogate (samples)")
            ax.fill_between(
                centres,
                mean - sd,
                mean + sd,
                step="mid",
                color="tab:red",
                alpha=0.3,
                label="Bayesian +-1 sd",
            )
            for t in ev.thresholds:
                ax.axvline(t, color="grey", ls=":", lw=1)
            ax.set_xlabel("internal logit")
            ax.set_ylabel("density")
            ax.legend(fontsize=10)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.05, top=0.97, hspace=0.35, wspace=0.22)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _has_jets(table: dict[str, Any], cls: str) -> bool:
    return any(np.sum(per_class[cls]["n"]) > 0 for per_class in table["cells"].values())


def _efficiency(plt, table: dict[str, Any], cls: str, xlabel: str, path: Path) -> None:
    edges = np.asarray(table["edges"])
    finite_hi = edges[-1] if edges[-1] < 5000 else edges[-2] * 1.3
    shown = edges.copy()
    shown[-1] = finite_hi
    centres = 0.5 * (shown[1:] + shown[:-1])
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 9), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    colours = ("tab:blue", "tab:orange", "tab:green", "tab:purple")
    for (wp, per_class), colour in zip(table["cells"].items(), colours, strict=False):
        c = {k: np.asarray(v, dtype=np.float64) for k, v in per_class[cls].items()}
        use = c["n"] > 0
        if not use.any():
            continue
        top.errorbar(
            centres[use],
            c["eps_true"][use],
            yerr=c["err_true"][use],
            fmt="o",
            color=colour,
            label=f"{wp} internal",
        )
        eps, sb, sig = (np.where(use, c[k], np.nan) for k in ("eps_sur", "sigma_bayes", "sigma"))
        top.stairs(eps, shown, color=colour, label=f"{wp} surrogate")
        top.stairs(eps + sig, shown, baseline=eps - sig, fill=True, color=colour, alpha=0.12)
        top.stairs(eps + sb, shown, baseline=eps - sb, fill=True, color=colour, alpha=0.35)
        bottom.plot(centres[use], c["pull"][use], "o", color=colour)
    top.set_ylabel("tag efficiency" if cls == "top" else "mistag rate")
    if cls == "qcd":
        top.set_yscale("log")
    top.legend(fontsize=9, ncol=2, title="band: Bayesian (dark), + stat. (light)", title_fontsize=9)
    for y in (-2, 0, 2):
        bottom.axhline(y, color="grey", ls="--" if y else "-", lw=1)
    bottom.set_ylabel("pull")
    bottom.set_xlabel(xlabel)
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.09, top=0.97, hspace=0.05)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _ood(plt, ood: dict[str, Any], path: Path) -> None:
    pt = np.asarray(ood["pt"])
    fig, (a, b) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    a.plot(pt, ood["relative_spread_median"], "o-", label="median relative spread")
    a.plot(pt, ood["absolute_spread_median"], "s--", label="median absolute spread")
    a.axvline(ood["support"][1], color="grey", ls=":", label="training support edge")
    a.set_yscale("log")
    a.set_ylabel(f"spread of P(tag), {ood['working_point']}")
    a.legend(fontsize=10)
    b.plot(pt, ood["ood_flag_rate"], "o-", color="tab:red")
    b.set_ylabel("OOD flag rate")
    b.set_xlabel(f"{ood['feature']} [GeV]")
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.09, top=0.97, hspace=0.05)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_figures(
    report: dict[str, Any], rows: ReferenceRows, ev: Evaluation, output: Path
) -> list[str]:
    """Write every figure of the report into ``output``; returns the file names."""
    plt, mplhep = _pyplot()
    names = []
    with plt.style.context(mplhep.style.CMS):
        for axis, values, bins, label in (
            ("pt", rows.pt, _PT_BINS, rows.pt_feature),
            ("mass", rows.mass, _MASS_BINS, "m_SD"),
        ):
            name = f"scores_{axis}.png"
            _scores(plt, rows, ev, values, bins, label, "GeV", output / name)
            names.append(name)
            for cls, _ in _CLASSES:
                if not _has_jets(report["efficiency"][axis], cls):
                    continue  # e.g. no QCD jets for a parton-level surrogate
                name = f"efficiency_{axis}_{cls}.png"
                xlabel = f"{label} [GeV]"
                _efficiency(plt, report["efficiency"][axis], cls, xlabel, output / name)
                names.append(name)
        _ood(plt, report["ood"], output / "ood.png")
        names.append("ood.png")
    return names
