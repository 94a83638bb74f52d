"""Figures of the validation report (matplotlib Agg, the style of :mod:`surrotag.io.figures`,
PNG).

Every figure shows each truth class of the report (contained top, partially contained top,
QCD or unmatched; and every matched top for a parton-level surrogate):

* ``scores_pt.png`` / ``scores_mass.png``: the internal tagger's logit vs the surrogate's
  sampled logit per class in pt and mass bins; the band is the spread (+-1 sd) of the
  per-draw histograms (Bayesian weights).
* ``efficiency_{pt,mass}_{class}.png``: efficiency per working point, internal (points
  with binomial errors) vs surrogate exact probability (line with the Bayesian band and the
  band of the pull's error), pull panel below.
* ``pulls_pt_mass_{class}.png``: the pull of every 2-D (pt x soft-drop mass) cell per
  working point; cells with jets that do not count (counting rule) are grey, empty ones
  blank.
* ``pulls.png``: the distribution of the counted 2-D pulls against N(0, 1), with the
  binomial-error pulls for comparison.
* ``ood.png``: median relative Bayesian spread and OOD-flag rate versus the pt feature.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from surrotag.io.figures import figure_style, save_figure

if TYPE_CHECKING:
    from surrotag.validation.cells import EfficiencyView, TruthClass
    from surrotag.validation.data import ReferenceRows
    from surrotag.validation.evaluate import Evaluation
    from surrotag.validation.report import ValidationReport

__all__ = ["write_figures"]

_PT_BINS: Final = (200.0, 500.0, 1000.0, 1700.0, 7000.0)
_MASS_BINS: Final = (0.0, 60.0, 140.0, 220.0, 1000.0)
_COLOURS: Final = ("tab:blue", "tab:orange", "tab:green", "tab:purple")


#: The error when matplotlib or mplhep is missing.
_HINT: Final = (
    "validation figures need matplotlib and mplhep ({error}); install them with "
    "pip install 'surrotag[plot]'"
)


def _draw_histograms(samples: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """[K, B] normalised histograms of samples [K, N], one per draw (bincount, no loop)."""
    k = samples.shape[0]
    b = edges.size - 1
    index = np.clip(np.digitize(samples, edges) - 1, 0, b - 1)
    counts = np.bincount((np.arange(k)[:, None] * b + index).ravel(), minlength=k * b)
    counts = counts.reshape(k, b).astype(np.float64)
    return counts / np.maximum(counts.sum(1, keepdims=True), 1) / np.diff(edges)


def _scores(
    plt,
    rows: ReferenceRows,
    ev: Evaluation,
    classes: tuple[TruthClass, ...],
    axis: np.ndarray,
    bins,
    name: str,
    path: Path,
) -> None:
    edges = np.linspace(*np.nanpercentile(rows.logit, [0.2, 99.8]), 41)
    centres = 0.5 * (edges[1:] + edges[:-1])
    n_rows, n_cols = len(bins) - 1, len(classes)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(6.5 * n_cols, 4 * n_rows), squeeze=False)
    for i in range(n_rows):
        in_bin = (axis >= bins[i]) & (axis < bins[i + 1])
        for j, cls in enumerate(classes):
            ax = axes[i, j]
            jets = in_bin & cls.rows(rows.truth)
            ax.set_title(
                f"{cls.name}, {bins[i]:g} <= {name} < {bins[i + 1]:g} GeV ({int(jets.sum())} jets)",
                fontsize=12,
            )
            if jets.sum() < 5:
                continue
            true = np.histogram(
                np.clip(rows.logit[jets], edges[0], edges[-1]), edges, density=True
            )[0]
            per_draw = _draw_histograms(np.clip(ev.samples[:, jets], edges[0], edges[-1]), edges)
            mean = per_draw.mean(0)
            sd = per_draw.std(0, ddof=1) if per_draw.shape[0] > 1 else np.zeros_like(mean)
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
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.05, top=0.97, hspace=0.35, wspace=0.22)
    save_figure(fig, path, dpi=80, tight=False)


def _shown_edges(edges: np.ndarray) -> np.ndarray:
    shown = np.asarray(edges, dtype=np.float64).copy()
    if shown[-1] >= 5000:  # an open-ended last bin: draw it 30 % wide
        shown[-1] = shown[-2] * 1.3
    return shown


def _efficiency(plt, view: EfficiencyView, cls: str, xlabel: str, path: Path) -> None:
    shown = _shown_edges(np.asarray(view.grid.edges[0]))
    centres = 0.5 * (shown[1:] + shown[:-1])
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 9), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for wp, colour in zip(view.working_points, _COLOURS, strict=False):
        table = view.table(wp, cls)
        c = table.cells
        use = c.n > 0
        if not use.any():
            continue
        top.errorbar(
            centres[use], c.eps_true[use], yerr=c.err_true[use], fmt="o", color=colour,
            label=f"{wp} internal",
        )  # fmt: skip
        eps = np.where(use, c.eps_sur, np.nan)
        sb, sig = np.where(use, c.sigma_bayes, np.nan), np.where(use, c.sigma, np.nan)
        top.stairs(eps, shown, color=colour, label=f"{wp} surrogate")
        top.stairs(eps + sig, shown, baseline=eps - sig, fill=True, color=colour, alpha=0.12)
        top.stairs(eps + sb, shown, baseline=eps - sb, fill=True, color=colour, alpha=0.35)
        counted = table.counted
        bottom.plot(centres[counted], c.pull[counted], "o", color=colour)
        bottom.plot(centres[use & ~counted], c.pull[use & ~counted], "o", mfc="none", color=colour)
    top.set_ylabel("mistag rate" if cls == "qcd" else "tag efficiency")
    if cls == "qcd":
        top.set_yscale("log")
    top.legend(
        fontsize=9, ncol=2, title="band: Bayesian (dark), pull error (light)", title_fontsize=9
    )
    for y in (-2, 0, 2):
        bottom.axhline(y, color="grey", ls="--" if y else "-", lw=1)
    bottom.set_ylabel("pull")
    bottom.set_xlabel(xlabel)
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.09, top=0.97, hspace=0.05)
    save_figure(fig, path, dpi=80, tight=False)


def _pull_maps(plt, view: EfficiencyView, cls: str, path: Path) -> None:
    """Pull per 2-D cell and working point, cells drawn equal-sized and labelled by edges;
    grey: cells with jets that do not count (counting rule)."""
    pt_edges, mass_edges = view.grid.edges
    n_pt, n_mass = view.grid.shape
    wps = view.working_points
    fig, axes = plt.subplots(
        1, len(wps), figsize=(6.5 * len(wps) + 1.5, 6.5), squeeze=False, layout="constrained"
    )
    mesh = None
    for ax, wp in zip(axes[0], wps, strict=True):
        table = view.table(wp, cls)
        pull = table.cells.pull.reshape(view.grid.shape)
        counted = table.counted.reshape(view.grid.shape)
        sparse = (table.cells.n.reshape(view.grid.shape) > 0) & ~counted
        ax.pcolormesh(np.where(sparse, 1.0, np.nan).T, cmap="Greys", vmin=0, vmax=4)
        mesh = ax.pcolormesh(np.where(counted, pull, np.nan).T, cmap="RdBu_r", vmin=-4, vmax=4)
        i, j = np.nonzero(counted)
        for a, b in zip(i, j, strict=True):  # at most one label per cell
            ax.text(a + 0.5, b + 0.5, f"{pull[a, b]:.1f}", ha="center", va="center", fontsize=8)
        ax.set_xticks(np.arange(n_pt + 1), [f"{e:g}" for e in pt_edges], rotation=90, fontsize=10)
        ax.set_yticks(np.arange(n_mass + 1), [f"{e:g}" for e in mass_edges], fontsize=10)
        ax.set_title(f"{cls}, {wp}", fontsize=14)
        ax.set_xlabel(f"{view.grid.labels[0]} [GeV]", fontsize=14)
        ax.set_ylabel("m_SD [GeV]", fontsize=14)
    if mesh is not None:
        fig.colorbar(mesh, ax=axes[0].tolist(), label="pull")
    save_figure(fig, path, dpi=80, tight=False)


def _pull_distribution(plt, report: ValidationReport, path: Path) -> None:
    from scipy.stats import norm

    view = report.efficiency["pt_mass"]
    pulls, binomial = [], []
    for table in view.tables:
        if table.truth in report.tested_classes:
            pulls.append(table.cells.pull[table.counted])
            binomial.append(table.cells.pull_binomial[table.counted])
    values = np.concatenate(pulls) if pulls else np.zeros(0)
    values_b = np.concatenate(binomial) if binomial else np.zeros(0)
    summary = report.summaries["pt_mass"].pulls
    edges = np.linspace(-5, 5, 41)
    fig, ax = plt.subplots(figsize=(10, 7))
    ax.hist(np.clip(values, -5, 5), edges, density=True, histtype="step", color="black", lw=2,
            label=f"pull: mean {summary.mean:+.2f}, RMS {summary.rms:.2f}, "
            f"{summary.fraction_within:.0%} within 2")  # fmt: skip
    ax.hist(np.clip(values_b, -5, 5), edges, density=True, histtype="step", color="tab:grey",
            ls="--", label="binomial tagger error (comparison)")  # fmt: skip
    x = np.linspace(-5, 5, 201)
    ax.plot(x, norm.pdf(x), color="tab:red", label="N(0, 1)")
    ax.set_xlabel("pull of counted pt x m_SD cells")
    ax.set_ylabel("density")
    ax.set_title(f"{values.size} cells; classes {', '.join(report.tested_classes)}", fontsize=13)
    ax.legend(fontsize=10)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.1, top=0.93)
    save_figure(fig, path, dpi=80, tight=False)


def _ood(plt, ood: dict[str, Any], path: Path) -> None:
    pt = np.asarray(ood["pt"])
    fig, (a, b) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    a.plot(pt, ood["absolute_spread_median"], "s-", label=f"sd of P(tag), {ood['working_point']}")
    a.plot(pt, ood["median_score_spread_median"], "o--", label="sd of the median score")
    a.axvline(ood["support"][1], color="grey", ls=":", label="training support edge")
    a.set_yscale("symlog", linthresh=1e-4)
    a.set_ylabel("median absolute Bayesian spread")
    a.legend(fontsize=10)
    b.plot(pt, ood["ood_flag_rate"], "o-", color="tab:red")
    b.set_ylabel("OOD flag rate")
    b.set_xlabel(f"{ood['feature']} [GeV]")
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.09, top=0.97, hspace=0.05)
    save_figure(fig, path, dpi=80, tight=False)


def write_figures(
    report: ValidationReport, rows: ReferenceRows, ev: Evaluation, output: Path
) -> list[str]:
    """Write every figure of the report into ``output``; returns the file names."""
    names = []
    with figure_style(_HINT) as plt:
        for axis, values, bins, label in (
            ("pt", rows.pt, _PT_BINS, rows.pt_feature),
            ("mass", rows.mass, _MASS_BINS, "m_SD"),
        ):
            name = f"scores_{axis}.png"
            _scores(plt, rows, ev, report.classes, values, bins, label, output / name)
            names.append(name)
            view = report.efficiency[axis]
            for cls in view.truths:
                name = f"efficiency_{axis}_{cls}.png"
                _efficiency(plt, view, cls, f"{label} [GeV]", output / name)
                names.append(name)
        view = report.efficiency["pt_mass"]
        for cls in view.truths:
            name = f"pulls_pt_mass_{cls}.png"
            _pull_maps(plt, view, cls, output / name)
            names.append(name)
        _pull_distribution(plt, report, output / "pulls.png")
        names.append("pulls.png")
        _ood(plt, dict(report.ood), output / "ood.png")
        names.append("ood.png")
    return names
