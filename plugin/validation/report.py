"""The validation report of a surrogate against the internal tagger on a held-out split.

:func:`validate_surrogate` evaluates the surrogate once on the rows of the reference table
(:mod:`surrotag.validation.evaluate`), computes every figure of issue 5 and checks its goals:

* efficiency (top, label 1) and mistag rate (QCD, label 0) per working point in pt and
  jet-mass cells, pulls, coverage (fraction of cells with ``|pull| <= 2``) next to sharpness
  (median relative Bayesian spread of the cell efficiencies), relative agreement in the
  well-populated cells;
* the Jensen-Shannon distance under the fixed protocol (natural log, 50 bins on [0, 1],
  N = min(1e5, available)), its split-half noise floor and its spread over weight draws;
* a classifier two-sample test per class (features + internal logit vs features +
  surrogate sample), 5-fold cross-validated AUC;
* the out-of-distribution scan (:mod:`surrotag.validation.ood`).

It writes ``report.json`` (atomically) and the PNG figures into the output folder.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np

from surrotag.io.atomic import write_json_atomic
from surrotag.reference.ship import EFFICIENCY_PT_EDGES
from surrotag.validation import metrics
from surrotag.validation.data import load_reference, table_spec
from surrotag.validation.evaluate import Evaluation, evaluate
from surrotag.validation.ood import ood_scan

__all__ = [
    "MASS_EDGES",
    "MIN_CELL_JETS",
    "PAPER_JS",
    "STEPS",
    "card_figures",
    "cell_table",
    "js_figures",
    "record_in_card",
    "validate_surrogate",
    "write_json",
]

#: Soft-drop mass cell edges (GeV).
MASS_EDGES: Final = (0.0, 30.0, 60.0, 100.0, 140.0, 180.0, 220.0, 300.0, 450.0, 1000.0)
#: Cells with fewer jets are shown but left out of the coverage and sharpness goals.
MIN_CELL_JETS: Final = 20
#: arXiv:2402.15558 JS distance of its best surrogate (VI, truth label + kinematics + tau).
PAPER_JS: Final = 0.080
CLASSES: Final = {"top": 1, "qcd": 0}
#: Progress steps reported by :func:`validate_surrogate`.
STEPS: Final = ("load", "evaluate", "cells", "js", "c2st", "ood", "plots")
_C2ST_MAX_ROWS: Final = 20_000
_OOD_JETS: Final = 1000


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def cell_table(
    logit: np.ndarray, evaluation: Evaluation, label: np.ndarray, axis: np.ndarray, edges
) -> dict[str, Any]:
    """Per working point and class, the :func:`metrics.efficiency_cells` of one axis."""
    edges = np.asarray(edges, dtype=np.float64)
    cell = np.digitize(axis, edges) - 1
    cell[(cell >= edges.size - 1) | ~np.isfinite(axis)] = -1
    out: dict[str, Any] = {"edges": edges.tolist(), "cells": {}}
    for w, name in enumerate(evaluation.working_points):
        passed = logit > evaluation.thresholds[w]
        per_class = {}
        for cls, value in CLASSES.items():
            rows = label == value
            c = metrics.efficiency_cells(
                passed[rows], evaluation.prob[:, rows, w], cell[rows], edges.size - 1
            )
            per_class[cls] = {
                "n": c.n.tolist(),
                "n_passed": c.n_passed.tolist(),
                "eps_true": c.eps_true.tolist(),
                "err_true": c.err_true.tolist(),
                "eps_sur": c.eps_sur.tolist(),
                "sigma_bayes": c.sigma_bayes.tolist(),
                "err_sur": c.err_sur.tolist(),
                "sigma": c.sigma.tolist(),
                "pull": c.pull.tolist(),
                "eps_draw_min": np.nanmin(c.eps_draws, 0).tolist() if c.n.any() else [],
                "eps_draw_max": np.nanmax(c.eps_draws, 0).tolist() if c.n.any() else [],
            }
        out["cells"][name] = per_class
    return out


def _cell_arrays(tables: dict[str, Any], cls: str) -> dict[str, np.ndarray]:
    """Every (axis, working point) cell of one class, flattened."""
    keys = ("n", "n_passed", "eps_true", "eps_sur", "sigma_bayes", "pull")
    out = {key: [] for key in keys}
    for table in tables.values():
        for per_class in table["cells"].values():
            for key in keys:
                out[key].extend(per_class[cls][key])
    return {key: np.asarray(v, dtype=np.float64) for key, v in out.items()}


def _coverage(tables: dict[str, Any]) -> dict[str, Any]:
    pulls, relative, out = [], [], {}
    for cls in CLASSES:
        a = _cell_arrays(tables, cls)
        use = (a["n"] >= MIN_CELL_JETS) & np.isfinite(a["pull"])
        pulls.append(a["pull"][use])
        rel = np.divide(
            a["sigma_bayes"],
            a["eps_sur"],
            out=np.full_like(a["eps_sur"], np.nan),
            where=a["eps_sur"] > 0,
        )
        relative.append(rel[use & np.isfinite(rel)])
        out[cls] = {
            "n_cells": int(use.sum()),
            "fraction_within_2": float(np.mean(np.abs(pulls[-1]) <= 2)) if use.any() else None,
        }
    every, rel = np.concatenate(pulls), np.concatenate(relative)
    out["n_cells"] = int(every.size)
    out["fraction_within_2"] = float(np.mean(np.abs(every) <= 2)) if every.size else None
    out["median_abs_pull"] = float(np.median(np.abs(every))) if every.size else None
    out["median_relative_spread"] = float(np.median(rel)) if rel.size else None
    out["min_cell_jets"] = MIN_CELL_JETS
    return out


def _agreement(tables: dict[str, Any]) -> dict[str, Any]:
    top, qcd = _cell_arrays(tables, "top"), _cell_arrays(tables, "qcd")
    out = {}
    for key, a, use, limit in (
        ("top", top, top["n"] >= 1e4, 0.05),
        ("qcd", qcd, qcd["n_passed"] >= 100, 0.10),
    ):
        dev = np.abs(a["eps_sur"][use] / a["eps_true"][use] - 1.0)
        out[key] = {
            "n_cells": int(use.sum()),
            "limit": limit,
            "max_relative_deviation": float(dev.max()) if dev.size else None,
            "median_relative_deviation": float(np.median(dev)) if dev.size else None,
            "cells_within": int(np.sum(dev <= limit)),
        }
    out["top"]["selection"] = "cells with >= 1e4 top jets"
    out["qcd"]["selection"] = "cells with >= 100 QCD jets tagged by the internal tagger"
    return out


def js_figures(
    logit: np.ndarray,
    label: np.ndarray,
    evaluation: Evaluation,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Jensen-Shannon distance under the fixed protocol, its noise floor and draw spread.

    Jets: top (label 1) and QCD (label 0), at most 1e5 (random). Internal: the correct-class
    probability ``sigmoid(+-logit)``. Surrogate (issue protocol): the exact per-jet probability
    of the score lying on the correct side of the 0.5-probability threshold, one histogram
    per weight draw. ``sampled``: the same statistic on the surrogate's sampled correct-class
    probability ``sigmoid(+-sample)`` (the like-for-like comparison of score distributions,
    whose ideal value is the noise floor).
    """
    rows = np.flatnonzero((label == 0) | (label == 1))
    if rows.size > metrics.JS_MAX_JETS:
        rows = np.sort(rng.choice(rows, metrics.JS_MAX_JETS, replace=False))
    sign = np.where(label[rows] == 1, 1.0, -1.0)
    internal = _sigmoid(sign * logit[rows])
    correct = np.where(sign > 0, evaluation.prob_half[:, rows], 1.0 - evaluation.prob_half[:, rows])
    sampled = _sigmoid(sign * evaluation.samples[:, rows])
    per_draw = np.array([metrics.js_distance_values(c, internal) for c in correct])
    per_draw_sampled = np.array([metrics.js_distance_values(s, internal) for s in sampled])
    floor, floor_std = metrics.split_half_js(internal, rng)
    k = per_draw.size

    def summary(values: np.ndarray) -> dict[str, float]:
        return {
            "value": float(values.mean()),
            "spread": float(values.std(ddof=1)) if k > 1 else 0.0,
        }

    return {
        "protocol": {
            "log": "natural",
            "bins": metrics.JS_BINS,
            "range": list(metrics.JS_RANGE),
            "n_jets": int(rows.size),
            "max_jets": metrics.JS_MAX_JETS,
            "jets": "top (label 1) and QCD (label 0)",
        },
        **summary(per_draw),
        "nominal": metrics.js_distance_values(correct.mean(0), internal),
        "noise_floor": floor,
        "noise_floor_spread": floor_std,
        "noise_floor_n_per_half": int(rows.size // 2),
        "sampled": summary(per_draw_sampled),
        "paper": {"vi": [0.080, 0.009], "mcmc": [0.097, 0.007], "kinematics_only": [0.134, 0.174]},
    }


def _c2st(features, logit, label, evaluation, seed) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    sample = evaluation.predictive_sample
    out = {}
    for cls, value in CLASSES.items():
        rows = np.flatnonzero(label == value)
        if rows.size > _C2ST_MAX_ROWS:
            rows = np.sort(rng.choice(rows, _C2ST_MAX_ROWS, replace=False))
        if rows.size < 10:
            out[cls] = {"auc": None, "spread": None, "n": int(rows.size)}
            continue
        a = np.column_stack([features[rows], logit[rows]])
        b = np.column_stack([features[rows], sample[rows]])
        auc, spread = metrics.c2st_auc(a, b, paired=True, seed=seed)
        out[cls] = {"auc": auc, "spread": spread, "n": int(rows.size)}
    out["classifier"] = (
        "sklearn HistGradientBoostingClassifier, 5-fold CV ROC AUC, folds over jets (a jet's "
        "internal and surrogate rows share a fold); surrogate sample from the posterior "
        "predictive (jet i uses weight draw i mod K)"
    )
    return out


def _goal(name, value, goal, met, note="") -> dict[str, Any]:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        met = None
    return {"name": name, "value": value, "goal": goal, "met": met, "note": note}


def _goals(report: dict[str, Any]) -> list[dict[str, Any]]:
    cov, agr, js = report["coverage"], report["agreement"], report["js"]
    c2st, ood = report["c2st"], report["ood"]
    frac, rel = cov["fraction_within_2"], cov["median_relative_spread"]
    goals = [
        _goal(
            "cells with |pull| <= 2",
            frac,
            ">= 0.90",
            frac is not None and frac >= 0.9,
            f"{cov['n_cells']} (pt or mass bin, WP, class) cells with >= {MIN_CELL_JETS} jets",
        ),
        _goal(
            "median relative Bayesian spread of cell efficiencies",
            rel,
            "<= 0.05",
            rel is not None and rel <= 0.05,
            "sharpness next to coverage",
        ),
    ]
    for cls, limit in (("top", "5%"), ("qcd", "10%")):
        a = agr[cls]
        dev = a["max_relative_deviation"]
        goals.append(
            _goal(
                f"max relative efficiency deviation, {cls}",
                dev,
                f"<= {limit}",
                dev is not None and dev <= a["limit"],
                f"{a['n_cells']} {a['selection']}"
                + ("; none in this sample: not testable" if not a["n_cells"] else ""),
            )
        )
    floor = js["noise_floor"]
    goals += [
        _goal(
            "JS distance / noise floor",
            js["value"] / floor if floor > 0 else None,
            "<= 2",
            floor > 0 and js["value"] <= 2 * floor,
            f"JS {js['value']:.4f} +- {js['spread']:.4f} (draws), floor {floor:.4f}",
        ),
        _goal(
            "JS distance",
            js["value"],
            f"< {PAPER_JS}",
            js["value"] < PAPER_JS,
            "issue-5 protocol (exact P(correct side of 0.5) vs internal correct-class prob.)",
        ),
        _goal(
            "JS distance (sampled) / noise floor",
            js["sampled"]["value"] / floor if floor > 0 else None,
            "<= 2 (diagnostic)",
            floor > 0 and js["sampled"]["value"] <= 2 * floor,
            f"sampled sigmoid(score) vs internal; JS {js['sampled']['value']:.4f}",
        ),
    ]
    for cls in CLASSES:
        auc = c2st[cls]["auc"]
        goals.append(
            _goal(
                f"two-sample AUC, {cls}",
                auc,
                "<= 0.55",
                auc is not None and auc <= 0.55,
                f"{c2st[cls]['n']} jets per sample",
            )
        )
    ratio = ood["ratio"]
    goals.append(
        _goal(
            "Bayesian spread far outside / inside",
            ratio,
            ">= 3",
            bool(ratio >= 3) if math.isfinite(ratio) else None,
            f"{ood['feature']} = {ood['pt'][-1]:.0f} GeV vs inside points; "
            f"OOD flag rate far: {ood['ood_flag_rate'][-1]:.2f}",
        )
    )
    return goals


def _finite(value: Any) -> Any:
    """NaN/inf -> None, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


def write_json(document: dict[str, Any], path: Path) -> None:
    """Write strict JSON atomically: a temporary file beside ``path``, then os.replace."""
    write_json_atomic(path, _finite(document))


def validate_surrogate(
    surrogate_name: str | os.PathLike[str],
    table: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    split: str = "test",
    n_max: int | None = None,
    draws: int = 20,
    seed: int = 0,
    plots: bool = True,
    threads: int | None = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Validate a surrogate against the internal tagger; write report.json and figures.

    Args:
        surrogate_name: registry name or surrogate folder.
        table: reference table (``surrotag reference build-table``).
        output: folder of ``report.json`` and the PNG figures (created).
        split: rows of the table used (never seen in training: ``test``).
        n_max: at most this many rows (random, seeded); None: all.
        draws: Bayesian weight draws K.
        seed: seed of subsampling, sampled scores, noise-floor splits and the C2ST folds.
        plots: write the figures.
        threads: torch intra-op threads during the call (restored after; None: leave as
            is). One by default: the ODE solve runs in L2-sized chunks that gain little from
            threads, and on a shared machine oversubscribed threads spin (3000 jets, K=20:
            8.7 s on one thread, 81 s on two, measured under load).
        progress: called with each step name of :data:`STEPS` as it starts.

    Returns:
        The report (JSON-able dict) with ``goals``: name, value, goal, met (None: not
        testable on this sample).
    """
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _validate(
            surrogate_name,
            table,
            output,
            split=split,
            n_max=n_max,
            draws=draws,
            seed=seed,
            plots=plots,
            progress=progress,
        )
    finally:
        torch.set_num_threads(previous)


def _validate(surrogate_name, table, output, *, split, n_max, draws, seed, plots, progress):
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import load_surrogate

    tick = progress or (lambda _step: None)
    timings: dict[str, float] = {}
    clock = [time.perf_counter(), ""]

    def step(name: str) -> None:
        now = time.perf_counter()
        if clock[1]:
            timings[clock[1]] = round(now - clock[0], 2)
        clock[0], clock[1] = now, name
        tick(name)

    start = time.perf_counter()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    step("load")
    folder = resolve_surrogate(surrogate_name)
    surrogate, card = load_surrogate(folder)
    surrogate.eval()
    rows = load_reference(table, card, split=split, n_max=n_max, seed=seed)
    top_definition = "contained top jets (label 1)"
    if table_spec(card).matched_only:
        # A parton-level surrogate sees every matched top, contained or not: its "top" cells
        # are all of them (containment is not among its inputs).
        rows = dataclasses.replace(rows, label=np.where(rows.label == -1, 1, rows.label))
        top_definition = "jets matched to a hadronic top (labels 1 and -1)"
    step("evaluate")
    ev = evaluate(surrogate, card, rows.features, draws=draws, seed=seed)
    step("cells")
    tables = {
        "pt": cell_table(rows.logit, ev, rows.label, rows.pt, EFFICIENCY_PT_EDGES),
        "mass": cell_table(rows.logit, ev, rows.label, np.clip(rows.mass, 0.0, None), MASS_EDGES),
    }
    step("js")
    rng = np.random.default_rng(seed)
    js = js_figures(rows.logit, rows.label, ev, rng)
    step("c2st")
    c2st = _c2st(rows.features, rows.logit, rows.label, ev, seed)
    step("ood")
    inside = np.flatnonzero(~ev.ood & (rows.label == 1))
    if inside.size == 0:
        inside = np.flatnonzero(~ev.ood)
    inside = (
        inside[:_OOD_JETS]
        if inside.size <= _OOD_JETS
        else np.sort(rng.choice(inside, _OOD_JETS, replace=False))
    )
    ood = ood_scan(surrogate, card, rows.features[inside], rows.pt_feature, draws=draws)
    nominal = ev.prob.mean(0)
    spread = ev.prob.std(0, ddof=1) if ev.prob.shape[0] > 1 else np.zeros_like(nominal)
    rel_jet = np.divide(spread, nominal, out=np.full_like(nominal, np.nan), where=nominal > 0)
    report: dict[str, Any] = {
        "surrogate": {
            "name": card.name,
            "version": card.version,
            "folder": str(folder),
            "bayes": card.bayes["method"],
            "files": card.files,
        },
        "table": {
            "path": str(Path(table)),
            "split": split,
            "rows_in_split": rows.n_split,
            "rows_used": int(rows.logit.size),
            "rows_dropped_nonfinite": rows.n_dropped,
            "n_top": int(np.sum(rows.label == 1)),
            "n_qcd": int(np.sum(rows.label == 0)),
            "n_other": int(np.sum(rows.label == -1)),
            "top": top_definition,
        },
        "settings": {
            "draws": draws,
            "n_max": n_max,
            "seed": seed,
            "working_points": dict(zip(ev.working_points, ev.thresholds.tolist(), strict=True)),
        },
        "ood_fraction": float(ev.ood.mean()),
        "efficiency": tables,
        "coverage": _coverage(tables),
        "agreement": _agreement(tables),
        "relative_spread_per_jet_median": {
            wp: float(np.nanmedian(rel_jet[~ev.ood, w])) if (~ev.ood).any() else None
            for w, wp in enumerate(ev.working_points)
        },
        "js": js,
        "c2st": c2st,
        "ood": ood,
    }
    report["goals"] = _goals(report)
    if plots:
        step("plots")
        from surrotag.validation.plots import write_figures

        report["figures"] = write_figures(report, rows, ev, out)
    step("")
    report["timings"] = timings
    report["seconds"] = round(time.perf_counter() - start, 2)
    write_json(report, out / "report.json")
    return _finite(report)


def card_figures(report: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a validation report, for a card's ``validation`` block.

    Only finite numbers are kept (a goal that could not be tested is left out).
    """
    js, c2st, coverage = report["js"], report["c2st"], report["coverage"]
    ood = report["ood"]
    pairs = list(zip(ood["relative_spread_median"], ood["inside"], strict=True))
    inside = [spread for spread, within in pairs if within]
    outside = [spread for spread, within in pairs if not within]
    figures = {
        "n_jets": report["js"]["protocol"]["n_jets"],
        "cells_within_2_sigma": coverage["fraction_within_2"],
        "median_relative_bayesian_spread": coverage["median_relative_spread"],
        "js_distance": js["value"],
        "js_distance_draw_spread": js["spread"],
        "js_noise_floor": js["noise_floor"],
        "js_distance_sampled": js["sampled"]["value"],
        "c2st_auc_top": (c2st.get("top") or {}).get("auc"),
        "c2st_auc_qcd": (c2st.get("qcd") or {}).get("auc"),
        "ood_relative_spread_ratio": (max(outside) / float(np.median(inside)))
        if inside and outside
        else None,
        "ood_fraction": report["ood_fraction"],
    }
    return {
        key: float(value)
        for key, value in figures.items()
        if isinstance(value, (int, float)) and np.isfinite(value)
    }


def record_in_card(report: dict[str, Any], folder: str | os.PathLike[str]) -> Path:
    """Write :func:`card_figures` into ``folder/card.json`` (key ``validation.test_split``).

    The card is checked against its schema before it is replaced atomically; the weight
    files (and so their sha256) are untouched.
    """
    from surrotag.surrogates.card import validate_card

    path = Path(folder) / "card.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    split = report.get("table", {}).get("split", "test")
    document.setdefault("validation", {})[f"{split}_split"] = card_figures(report)
    validate_card(document, str(path))
    return write_json_atomic(path, document)
