"""Performance of the internal tagger against the BDT baseline and the jet mass alone.

On the table's test split, jets with ``pt_min < jet_pt < pt_max`` (GeV, default 500-1000)
and ``label`` 0 (QCD) or 1 (contained top) are scored by: the internal tagger
(``tagger_logit``), the BDT (:mod:`surrotag.reference.baseline`, trained on the train split)
and the jet mass alone (the mass-window discriminant -|m_SD - 172.5 GeV|). QCD jets are
reweighted to the top pT spectrum with histogram-ratio weights (20 bins in the window), so
that pT itself cannot separate the classes; every jet also carries its event weight (the
table's ``event_weight``: Pythia's pTHat-bias compensation), in the spectra and the ROC.
Figures: ROC AUC and background rejection 1/eps_B at signal efficiencies eps_S = 0.3 and
0.5.

The published figures of arXiv:2210.04371 (Table 1, top-tagging reference data set of
arXiv:1902.09914: 14 TeV, 550 < pT < 650 GeV, 1.2 M training jets) are stored next to ours
for orientation; the samples differ (13 TeV, this detector, far fewer jets), so they are a
scale, not a target.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from surrotag.errors import SurrotagError
from surrotag.io.atomic import write_text_atomic
from surrotag.reference.baseline import bdt_matrix, train_bdt

__all__ = ["PUBLISHED", "TOP_MASS", "PerformanceReport", "evaluate_table", "roc_figures"]

#: Mass-window centre of the mass-only discriminant (GeV).
TOP_MASS: Final = 172.5
#: arXiv:2210.04371, Table 1: AUC and rejection 1/eps_B at eps_S = 0.3.
PUBLISHED: Final = {
    "TopoDNN": {"auc": 0.971, "rejection_0.3": 278},
    "PFN": {"auc": 0.980, "rejection_0.3": 699},
    "PFIN": {"auc": 0.984, "rejection_0.3": 1041},
}
_EFFICIENCIES: Final = (0.3, 0.5)


@dataclass(frozen=True)
class PerformanceReport:
    """Figures of merit on the test split.

    Attributes:
        taggers: name -> {"auc", "rejection_0.3", "rejection_0.5", "n_bkg_pass_0.3", ...}.
        n_signal, n_background: test jets in the window; n_background_eff: Kish effective
            number of reweighted QCD jets.
        pt_range: the jet pT window (GeV).
        published: :data:`PUBLISHED`.
        json_path, png_path: files written (None when no folder was given).
    """

    taggers: dict[str, dict[str, float | None]]
    n_signal: int
    n_background: int
    n_background_eff: float
    pt_range: tuple[float, float]
    published: dict[str, dict[str, float]]
    json_path: str | None = None
    png_path: str | None = None

    def summary_lines(self) -> list[str]:
        """Per tagger its AUC and rejections at 30% and 50% signal efficiency, then the files.

        Example:
            >>> report = PerformanceReport(
            ...     {"pfn": {"auc": 0.98, "rejection_0.3": 800.0, "rejection_0.5": None}},
            ...     1, 1, 1.0, (500.0, 550.0), {}, "p.json", "roc.png")
            >>> print("\\n".join(report.summary_lines()))
              pfn: AUC 0.9800, 1/eps_B(0.3) 800.0, 1/eps_B(0.5) inf
              p.json, roc.png
        """
        lines = [
            f"  {name}: AUC {figures['auc']:.4f}, 1/eps_B(0.3) "
            f"{figures['rejection_0.3'] or float('inf'):.1f}, 1/eps_B(0.5) "
            f"{figures['rejection_0.5'] or float('inf'):.1f}"
            for name, figures in self.taggers.items()
        ]
        return [*lines, f"  {self.json_path}, {self.png_path}"]


def roc_figures(
    labels: np.ndarray, scores: np.ndarray, weights: np.ndarray
) -> tuple[dict[str, float | None], np.ndarray, np.ndarray]:
    """AUC, rejections at eps_S = 0.3, 0.5, and the ROC (eps_S, eps_B) of one discriminant."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(labels, scores, sample_weight=weights)
    figures: dict[str, float | None] = {
        "auc": float(roc_auc_score(labels, scores, sample_weight=weights))
    }
    total_bkg = float(np.sum(weights[labels == 0]))
    for eff in _EFFICIENCIES:
        eps_b = float(np.interp(eff, tpr, fpr))
        figures[f"eps_b_{eff}"] = eps_b
        figures[f"rejection_{eff}"] = 1.0 / eps_b if eps_b > 0 else None
        figures[f"n_bkg_pass_{eff}"] = eps_b * total_bkg
    return figures, tpr, fpr


def _qcd_weights(
    pt: np.ndarray,
    labels: np.ndarray,
    pt_range: tuple[float, float],
    event_weight: np.ndarray | None = None,
    bins: int = 20,
) -> np.ndarray:
    """Per-jet weights: the event weight, times the QCD-to-top pT spectrum ratio for QCD."""
    w = np.ones(pt.size) if event_weight is None else np.asarray(event_weight, np.float64)
    edges = np.linspace(*pt_range, bins + 1)
    top, _ = np.histogram(pt[labels == 1], edges, weights=w[labels == 1])
    qcd, _ = np.histogram(pt[labels == 0], edges, weights=w[labels == 0])
    total = top.sum()
    ratio = np.divide(top, qcd, out=np.zeros(bins), where=qcd > 0) * qcd.sum() / (total or 1.0)
    index = np.clip(np.digitize(pt, edges) - 1, 0, bins - 1)
    return w * np.where(labels == 1, 1.0, ratio[index])


def evaluate_table(
    table: Any,
    *,
    pt_range: tuple[float, float] = (500.0, 1000.0),
    seed: int = 0,
    out_dir: str | Path | None = None,
) -> PerformanceReport:
    """Evaluate tagger, BDT and mass alone on the test split of a training table.

    Args:
        table: the table of :func:`surrotag.reference.table.build_table`.
        pt_range: jet pT window (GeV).
        seed: BDT seed.
        out_dir: folder for ``performance.json`` and ``roc.png`` (None: write nothing).

    Raises:
        SurrotagError: no top or no QCD jets in the train or test split (within the window).
    """
    split, label = np.asarray(table.split), np.asarray(table.label)
    pt = np.asarray(table.jet_pt, np.float64)
    train = (split == "train") & (label >= 0)
    test = (split == "test") & (label >= 0) & (pt > pt_range[0]) & (pt < pt_range[1])
    for name, rows in (("train", train), ("test", test)):
        if len(np.unique(label[rows])) != 2:
            raise SurrotagError(
                f"the {name} split has no top or no QCD jets"
                f"{' in the pT window' if name == 'test' else ''}; build the "
                "table from larger samples"
            )
    x = bdt_matrix(table)
    y_train = label[train]
    balance = np.where(y_train == 1, np.sum(y_train == 0) / np.sum(y_train == 1), 1.0)
    bdt = train_bdt(x[train], y_train, seed=seed, sample_weight=balance)
    y = label[test]
    event_weight = (
        np.asarray(table.event_weight, np.float64)[test] if "event_weight" in table.fields else None
    )
    weights = _qcd_weights(pt[test], y, pt_range, event_weight)
    sd_mass = np.nan_to_num(np.asarray(table.jet_sd_mass, np.float64)[test], nan=-1e6)
    scores = {
        "internal tagger (PFN)": np.asarray(table.tagger_logit, np.float64)[test],
        "BDT (m_SD, tau21, tau32, pT)": bdt.decision_function(x[test]),
        "jet mass alone (-|m_SD - 172.5 GeV|)": -np.abs(sd_mass - TOP_MASS),
    }
    taggers, curves = {}, {}
    for name, score in scores.items():
        taggers[name], tpr, fpr = roc_figures(y, score, weights)
        curves[f"{name}, AUC {taggers[name]['auc']:.3f}"] = (tpr, fpr)
    w_bkg = weights[y == 0]
    report = PerformanceReport(
        taggers,
        int(np.sum(y == 1)),
        int(np.sum(y == 0)),
        float(w_bkg.sum() ** 2 / np.sum(w_bkg**2)),
        tuple(pt_range),
        dict(PUBLISHED),
    )
    if out_dir is None:
        return report
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = out / "roc.png"
    _plot(curves, png, pt_range)
    report = PerformanceReport(
        **{**asdict(report), "json_path": str(out / "performance.json"), "png_path": str(png)}
    )
    write_text_atomic(out / "performance.json", json.dumps(asdict(report), indent=2) + "\n")
    return report


def _plot(
    curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, pt_range: tuple[float, float]
) -> None:
    from surrotag.io.figures import figure_style, save_figure

    with figure_style() as plt:
        fig, ax = plt.subplots(figsize=(8, 7))
        for name, (tpr, fpr) in curves.items():
            keep = fpr > 0
            ax.plot(tpr[keep], 1.0 / fpr[keep], label=name)
        for (name, figures), marker in zip(PUBLISHED.items(), "os^", strict=True):
            ax.plot(
                [0.3],
                [figures["rejection_0.3"]],
                marker,
                color="black",
                fillstyle="none",
                label=f"{name}, arXiv:2210.04371 (AUC {figures['auc']})",
            )
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_xlabel(r"Signal efficiency $\varepsilon_S$ (contained tops)")
        ax.set_ylabel(r"Background rejection $1/\varepsilon_B$ (QCD)")
        ax.set_title(f"test split, {pt_range[0]:g} < $p_T$ < {pt_range[1]:g} GeV", fontsize=16)
        ax.legend(fontsize=11)
        save_figure(fig, path, dpi=120)
