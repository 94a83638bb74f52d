"""PNG figures of the explanations (matplotlib Agg backend, the style of
:mod:`surrotag.io.figures`).

One function per figure; each takes result objects of :mod:`surrotag.explain` and a path,
writes the PNG and closes the figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from surrotag.io.figures import pyplot, save_figure, style

__all__ = [
    "plot_activation_patterns",
    "plot_ascent",
    "plot_contours",
    "plot_importance",
    "plot_jet_population",
    "plot_mutual_information",
    "plot_simple_cut",
]


def _pyplot() -> Any:
    plt = pyplot()
    plt.style.use(style())
    return plt


def _save(fig: Any, path: str | Path) -> Path:
    return save_figure(fig, path, dpi=72)


def plot_contours(maps: Sequence[Any], titles: Sequence[str], path: str | Path) -> Path:
    """Probability (top row) and Bayesian spread (bottom row) of contour maps side by side."""
    plt = _pyplot()
    n = len(maps)
    fig, axes = plt.subplots(2, n, figsize=(7.5 * n, 11), squeeze=False)
    for col, (cmap, title) in enumerate(zip(maps, titles, strict=True)):
        for row, (values, label) in enumerate(((cmap.mean, "P(tag)"), (cmap.spread, "spread"))):
            ax = axes[row, col]
            mesh = ax.pcolormesh(cmap.x, cmap.y, values, shading="nearest", cmap="viridis")
            if row == 0 and np.ptp(values) > 0:
                ax.contour(cmap.x, cmap.y, values, levels=[0.1, 0.3, 0.5, 0.7, 0.9], colors="w")
            fig.colorbar(mesh, ax=ax, label=label)
            ax.set_xlabel(cmap.features[0], fontsize=14)
            ax.set_ylabel(cmap.features[1], fontsize=14)
            ax.set_title(title, fontsize=13)
    return _save(fig, path)


def plot_ascent(result: Any, names: Sequence[str], free: np.ndarray, path: str | Path) -> Path:
    """Distributions of the free features at the seeds and after gradient ascent."""
    plt = _pyplot()
    idx = np.flatnonzero(free)
    cols = min(4, len(idx))
    rows = int(np.ceil(len(idx) / cols)) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4 * rows), squeeze=False)
    for k, j in enumerate(idx):
        ax = axes[k // cols, k % cols]
        lo = min(result.start[:, j].min(), result.final[:, j].min())
        hi = max(result.start[:, j].max(), result.final[:, j].max())
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 30)
        ax.hist(result.start[:, j], bins=bins, histtype="step", label="seeds")
        ax.hist(result.final[:, j], bins=bins, histtype="step", label="ascended")
        ax.set_xlabel(names[j], fontsize=13)
        ax.legend(fontsize=10)
    ax = axes[-1, 0]
    ax.plot(result.history)
    ax.set_xlabel("step", fontsize=13)
    ax.set_ylabel("mean P(tag)", fontsize=13)
    for k in range(len(idx), (rows - 1) * cols):
        axes[k // cols, k % cols].axis("off")
    for k in range(1, cols):
        axes[-1, k].axis("off")
    return _save(fig, path)


def plot_importance(importance: Any, path: str | Path) -> Path:
    """Permutation importance and integrated gradients (shares), and the correlations."""
    plt = _pyplot()
    names = list(importance.names)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(16, 6))
    y = np.arange(len(names))
    perm = importance.permutation / max(importance.permutation.sum(), 1e-300)
    ig = importance.integrated_gradients / max(importance.integrated_gradients.sum(), 1e-300)
    ax.barh(y - 0.2, perm, 0.4, label="permutation")
    ax.barh(y + 0.2, ig, 0.4, label="integrated gradients")
    ax.set_yticks(y, names, fontsize=11)
    ax.set_xlabel("share of importance", fontsize=13)
    ax.invert_yaxis()
    ax.legend(fontsize=11)
    mesh = bx.imshow(importance.pearson, vmin=-1, vmax=1, cmap="RdBu_r")
    bx.set_xticks(y, names, rotation=90, fontsize=9)
    bx.set_yticks(y, names, fontsize=9)
    fig.colorbar(mesh, ax=bx, label="Pearson correlation")
    return _save(fig, path)


def plot_simple_cut(
    x: np.ndarray, decision: np.ndarray, cut: Any, path: str | Path, n_max: int = 5000
) -> Path:
    """The first two cut features, tagged and untagged jets, and the box of the cut."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 7))
    x, decision = x[:n_max], decision[:n_max]
    ax.scatter(x[~decision, 0], x[~decision, 1], s=3, alpha=0.4, label="surrogate: not tagged")
    ax.scatter(x[decision, 0], x[decision, 1], s=3, alpha=0.6, label="surrogate: tagged")
    lo = [v if np.isfinite(v) else m for v, m in zip(cut.low[:2], x[:, :2].min(0), strict=True)]
    hi = [v if np.isfinite(v) else m for v, m in zip(cut.high[:2], x[:, :2].max(0), strict=True)]
    ax.add_patch(
        plt.Rectangle((lo[0], lo[1]), hi[0] - lo[0], hi[1] - lo[1], fill=False, color="k", lw=2)
    )
    ax.set_xlabel(cut.names[0], fontsize=13)
    ax.set_ylabel(cut.names[1], fontsize=13)
    ax.set_title(f"agreement {cut.agreement:.3f}", fontsize=13)
    ax.legend(fontsize=10, markerscale=4)
    return _save(fig, path)


def plot_jet_population(samples: Mapping[str, Mapping[str, np.ndarray]], path: str | Path) -> Path:
    """Mass and tau32 of several jet populations (e.g. QCD seeds, ascended, real top)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(14, 6))
    for ax, key, bins, label in (
        (axes[0], "mass", np.linspace(0, 400, 41), "jet mass [GeV]"),
        (axes[1], "tau32", np.linspace(0, 1, 26), r"$\tau_{32}$ (kT axes)"),
    ):
        for name, obs in samples.items():
            values = obs[key][np.isfinite(obs[key])]
            ax.hist(values, bins=bins, histtype="step", density=True, lw=2, label=name)
        ax.set_xlabel(label, fontsize=14)
        ax.legend(fontsize=11)
    return _save(fig, path)


def plot_mutual_information(mi: Mapping[str, Mapping[str, np.ndarray]], path: str | Path) -> Path:
    """Mutual information of every unit (x) with each physics variable, one panel per layer."""
    plt = _pyplot()
    layers = list(mi)
    fig, axes = plt.subplots(len(layers), 1, figsize=(12, 3.5 * len(layers)), squeeze=False)
    for ax, layer in zip(axes[:, 0], layers, strict=True):
        for variable, values in mi[layer].items():
            ax.plot(np.arange(len(values)), values, ".", label=variable)
        ax.set_ylabel(f"{layer}\nMI [nats]", fontsize=12)
        ax.legend(fontsize=10, ncol=3)
    axes[-1, 0].set_xlabel("unit", fontsize=13)
    return _save(fig, path)


def plot_activation_patterns(patterns: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path:
    """Neural activation pattern diagram: per layer, normalised node means, top vs QCD."""
    plt = _pyplot()
    layers = list(patterns)
    fig, axes = plt.subplots(len(layers), 1, figsize=(14, 1.6 * len(layers) + 1), squeeze=False)
    for ax, layer in zip(axes[:, 0], layers, strict=True):
        image = np.vstack([patterns[layer]["top"], patterns[layer]["qcd"]])
        mesh = ax.imshow(image, aspect="auto", vmin=0, vmax=1, cmap="magma")
        ax.set_yticks([0, 1], ["top", "QCD"], fontsize=10)
        ax.set_ylabel(layer, fontsize=11)
        ax.tick_params(axis="x", labelsize=9)
        fig.colorbar(mesh, ax=ax, pad=0.01)
    axes[-1, 0].set_xlabel("node", fontsize=12)
    return _save(fig, path)
