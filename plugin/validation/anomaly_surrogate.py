"""Validation of the anomaly-score surrogates against the internal anomaly taggers.

:func:`validate_anomaly_surrogate` measures a surrogate of
:mod:`surrotag.reference.anomaly_surrogates` on the ``test`` split of the anomaly table
(samples that trained neither tagger nor surrogate, fixed in
:data:`~surrotag.reference.anomaly_surrogates.ANOMALY_SURROGATE_PLAN`), as the top-tagger
surrogates are measured (arXiv:2402.15558):

* **cells**: per truth class (the number of hard prongs in the jet: 0, 1, 2, 3) in jet pT x
  soft-drop mass cells, the tagger's event-weighted pass fraction at the working point
  against the surrogate's exact one, with the pull of :func:`~.metrics.efficiency_cells`
  (the tagger's Bernoulli noise given the jets and the surrogate's Bayesian spread); cells
  count when the normal approximation holds (:meth:`~.metrics.CellEfficiencies.counted`);
  goal: >= 90 % of counted cells within |pull| <= 2;
* **two-sample AUC** per class: a classifier telling (features, tagger log score) from
  (features, surrogate sample) on paired rows (:func:`~.metrics.c2st_auc`); goal <= 0.55;
* **out-of-distribution probes**: jets the training never saw the like of must be flagged by
  the joint support (:mod:`surrotag.surrogates.support`) and their Bayesian spread reported
  (:func:`~surrotag.surrogates.support.probe_spreads`, absolute, never as a ratio): the
  three-prong jets of the test split given a fourth prong (a jet with four hard prongs;
  training saw at most three), the test split's real jets with four or more prongs (a top
  and a quark of the other top, rare in t tbar), and the two-prong jets with their prong
  mass moved to 1.5 and 2 times the training support's upper edge. Jets with four or more
  prongs enter no cell.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558; Cheng et al.,
    arXiv:2007.01850; Hao et al., arXiv:2212.07347.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np

from surrotag.validation import metrics
from surrotag.validation.goals import goal

__all__ = ["PT_EDGES", "SD_MASS_EDGES", "VALIDATION_SETTINGS", "validate_anomaly_surrogate"]

#: Jet pT cell edges (GeV).
PT_EDGES: Final = (300.0, 400.0, 500.0, 600.0, 800.0, 1000.0, 1300.0, 2000.0, 6500.0)
#: Soft-drop mass cell edges (GeV).
SD_MASS_EDGES: Final = (0.0, 30.0, 60.0, 90.0, 120.0, 160.0, 200.0, 260.0, 350.0, 1000.0)
#: Fixed with the plan, before any surrogate was validated (session 15).
VALIDATION_SETTINGS: Final = {
    "split": "test",
    "draws": 40,
    "min_entries": 25.0,
    "min_expected": 5.0,
    "c2st_rows": 20_000,
    "c2st_min_rows": 500,
    "probe_rows": 2_000,
    "seed": 8251,
    "goals": {"fraction_within_2": 0.90, "c2st_auc": 0.55, "probe_flag_rate": 0.99},
}


def _cells(pt: np.ndarray, sd_mass: np.ndarray) -> tuple[np.ndarray, int]:
    """Cell index of each jet in the pT x soft-drop mass grid (-1 outside)."""
    i = np.searchsorted(PT_EDGES, pt, side="right") - 1
    j = np.searchsorted(SD_MASS_EDGES, sd_mass, side="right") - 1
    n_pt, n_mass = len(PT_EDGES) - 1, len(SD_MASS_EDGES) - 1
    inside = (i >= 0) & (i < n_pt) & (j >= 0) & (j < n_mass)
    return np.where(inside, i * n_mass + j, -1), n_pt * n_mass


def validate_anomaly_surrogate(
    folder: str | Path, table: str | Path, settings: Mapping[str, Any] = VALIDATION_SETTINGS
) -> dict[str, Any]:
    """Validate an anomaly surrogate on the table's test split (module docstring).

    Args:
        folder: the surrogate folder (``card.json`` + weights).
        table: the anomaly table (``build_anomaly_table`` of
            :mod:`surrotag.reference.anomaly_surrogates`), scored by the card's tagger.
        settings: :data:`VALIDATION_SETTINGS`.

    Returns:
        The report (JSON-able): cells and their summaries per class, two-sample AUCs, the
        probes, the goals.

    Raises:
        IntegrityError: the table scores another tagger than the card's.
    """
    from surrotag.errors import IntegrityError
    from surrotag.reference.anomaly_surrogates import FEATURES, SCORE_COLUMNS, split_rows
    from surrotag.surrogates.storage import load_surrogate
    from surrotag.surrogates.support import probe_spreads
    from surrotag.tagging import evaluate_surrogate

    start = time.monotonic()
    surrogate, card = load_surrogate(folder)
    column = card.score["column"]
    key = {v: k for k, v in SCORE_COLUMNS.items()}[column]
    x, score, columns, meta = split_rows(table, key, settings["split"])
    tagger_sha = meta["taggers"][key]["sha256"]
    if tagger_sha != card.tagger.get("weights_sha256"):
        raise IntegrityError(
            f"{table}: scores tagger {tagger_sha[:12]}..., but {card.name} replaces "
            f"{str(card.tagger.get('weights_sha256'))[:12]}..."
        )
    point = card.working_points[0]
    cut = card.model_threshold(point["name"])
    weight = columns["event_weight"]
    evaluation = evaluate_surrogate(surrogate, x, thresholds=[cut], draws=settings["draws"])
    assert evaluation.probabilities is not None  # asked for
    probabilities = evaluation.probabilities[:, :, 0]
    passed = score > cut
    prongs = columns["truth_n_prongs"].astype(np.int64)
    cell, n_cells = _cells(columns["jet_pt"], columns["jet_sd_mass"])
    classes, pulls, c2st = {}, [], {}
    for n in range(4):
        rows = prongs == n
        found = metrics.efficiency_cells(
            passed[rows], probabilities[:, rows], cell[rows], n_cells, weight[rows]
        )
        counted = found.counted(settings["min_entries"], settings["min_expected"])
        summary = metrics.pull_summary(found.pull[counted])
        pulls.append(found.pull[counted])
        classes[f"{n}_prongs"] = {
            "jets": int(rows.sum()),
            "tag_rate_tagger": float(np.sum(weight[rows] * passed[rows]) / np.sum(weight[rows]))
            if rows.any() else None,
            "tag_rate_surrogate": float(np.sum(weight[rows] * probabilities[:, rows].mean(0))
            / np.sum(weight[rows])) if rows.any() else None,
            "cells_counted": int(counted.sum()),
            "pulls": summary.to_dict(),
            "cells": {
                "index": np.flatnonzero(counted).tolist(),
                "eps_tagger": found.eps_true[counted].tolist(),
                "eps_surrogate": found.eps_sur[counted].tolist(),
                "sigma_bayes": found.sigma_bayes[counted].tolist(),
                "pull": found.pull[counted].tolist(),
            },
        }  # fmt: skip
        c2st[f"{n}_prongs"] = metrics.surrogate_c2st(
            surrogate, x[rows], score[rows], draws=settings["draws"],
            rows=settings["c2st_rows"], seed=settings["seed"] + n,
            min_rows=settings["c2st_min_rows"],
        )  # fmt: skip
    overall = metrics.pull_summary(np.concatenate(pulls))
    rng = np.random.default_rng(settings["seed"])

    def pick(rows: np.ndarray) -> np.ndarray:
        index = np.flatnonzero(rows)
        if index.size > settings["probe_rows"]:
            index = np.sort(rng.choice(index, settings["probe_rows"], replace=False))
        return x[index]

    names = list(FEATURES)
    j_prongs, j_mass = names.index("truth_n_prongs"), names.index("truth_prong_mass")
    three, two = pick(prongs == 3), pick(prongs == 2)
    four = three.copy()
    four[:, j_prongs] = 4.0
    edge = float(card.features[j_mass]["support"][1])
    probes = {"four prongs": four}
    if np.any(prongs >= 4):
        probes["four or more prongs, real test jets"] = pick(prongs >= 4)
    for factor in (1.5, 2.0):
        moved = two.copy()
        moved[:, j_mass] = factor * edge
        probes[f"prong mass x{factor:g} support edge"] = moved
    spreads = probe_spreads(surrogate, two, probes, [cut], draws=settings["draws"])
    targets = settings["goals"]
    goals = [
        goal("cells with |pull| <= 2, all prong classes", overall.fraction_within,
             f">= {targets['fraction_within_2']:.2f}",
             overall.fraction_within >= targets["fraction_within_2"],
             f"{overall.n_cells} counted pT x soft-drop-mass cells; pull mean "
             f"{overall.mean:+.2f}, RMS {overall.rms:.2f}", ship=True),
    ]  # fmt: skip
    for name, result in classes.items():
        pull = result["pulls"]
        goals.append(goal(
            f"cells with |pull| <= 2, {name}", pull["fraction_within"],
            f">= {targets['fraction_within_2']:.2f}",
            (pull["fraction_within"] or 0.0) >= targets["fraction_within_2"],
            f"{pull['n_cells']} counted cells", ship=False,
        ))  # fmt: skip
    for name, result in c2st.items():
        auc = result["auc"]
        goals.append(goal(
            f"two-sample AUC, {name}", auc, f"<= {targets['c2st_auc']:.2f}",
            auc is not None and auc <= targets["c2st_auc"],
            f"{result['n_rows']} rows per sample, paired folds", ship=True,
        ))  # fmt: skip
    for name in probes:
        rate = spreads["points"][name]["flag_rate"]
        goals.append(goal(
            f"OOD probe flagged: {name}", rate, f">= {targets['probe_flag_rate']:.2f}",
            rate >= targets["probe_flag_rate"], "joint support flag rate",
            ship="real" not in name,  # real jets: diagnostic (training may hold a few)
        ))  # fmt: skip
    ood = evaluation.ood
    return {
        "kind": "anomaly-surrogate-validation",
        "surrogate": {"name": card.name, "card_sha256": card.card_sha256},
        "table": {"file": Path(table).name, "split": settings["split"], "rows": int(score.size)},
        "settings": dict(settings),
        "working_point": dict(point),
        "grid": {"pt_edges": list(PT_EDGES), "sd_mass_edges": list(SD_MASS_EDGES)},
        "classes": classes,
        "summary": overall.to_dict(),
        "c2st": c2st,
        "probes": spreads,
        "ood_fraction": float(ood.mean()),
        "ood_fraction_weighted": float(np.sum(weight * ood) / np.sum(weight)),
        "goals": [g.to_dict() for g in goals],
        "goals_met": all(g.met for g in goals if g.ship),
        "seconds": round(time.monotonic() - start, 1),
    }
