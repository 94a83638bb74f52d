"""The validation report of a surrogate against the internal tagger on a held-out split.

:func:`validate_surrogate` evaluates the surrogate once on the rows of the reference table
(:mod:`surrotag.validation.evaluate`), computes every figure and checks the goals
(:mod:`surrotag.validation.goals`):

* efficiency per working point and truth class (contained top, partially contained top,
  QCD or unmatched: :mod:`surrotag.validation.cells`) in 1-D pt and soft-drop-mass cells and
  in 2-D pt x mass cells, with the corrected pull (no binomial term for the surrogate's
  exact mean, :func:`surrotag.validation.metrics.efficiency_cells`); the pulls of the
  counted cells as a distribution (mean, RMS, fraction within 2) next to the sharpness
  (median relative Bayesian spread), and the relative agreement in well-populated cells;
* the Jensen-Shannon distance under the fixed protocol (natural log, 50 bins on [0, 1],
  N = min(1e5, available)), its split-half noise floor and its spread over weight draws,
  and the like-for-like JS of sampled scores per truth class;
* a classifier two-sample test per truth class (features + internal logit vs features +
  surrogate sample), 5-fold cross-validated AUC;
* the out-of-distribution scan (:mod:`surrotag.validation.ood`).

It returns a :class:`ValidationReport` and writes ``report.json`` (atomically) and the PNG
figures into the output folder; :func:`record` writes the report as ``validation.json``
next to the surrogate's card (and its headline numbers into the card), so that every
validation figure quoted for a shipped surrogate comes from a committed file.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import numpy as np

from surrotag.io.atomic import strict_json, write_json_atomic
from surrotag.reference.ship import EFFICIENCY_PT_EDGES
from surrotag.validation import metrics
from surrotag.validation.cells import (
    MATCHED,
    STANDARD_CLASSES,
    EfficiencyView,
    TruthClass,
    ViewSummary,
    default_grids,
    efficiency_views,
)
from surrotag.validation.data import ReferenceRows, load_reference, table_spec
from surrotag.validation.evaluate import Evaluation, evaluate
from surrotag.validation.goals import GOAL_FRACTION_WITHIN, PULL_WITHIN, Goal, goal, ship_goals
from surrotag.validation.ood import OodScan, ood_scan

__all__ = [
    "PAPER_JS",
    "REPORT_FILE",
    "STEPS",
    "VALIDATION_FILE",
    "C2STResult",
    "ValidationReport",
    "card_figures",
    "js_figures",
    "record",
    "record_in_card",
    "validate_surrogate",
    "write_json",
]

#: File name of the report in the output folder.
REPORT_FILE: Final = "report.json"
#: File name of the recorded report, next to the surrogate's card.
VALIDATION_FILE: Final = "validation.json"
#: arXiv:2402.15558 JS distance of its best surrogate (VI, truth label + kinematics + tau).
PAPER_JS: Final = 0.080
#: Progress steps reported by :func:`validate_surrogate`.
STEPS: Final = ("load", "evaluate", "cells", "js", "c2st", "ood", "plots")
#: Grid of the shipping goals.
GOAL_GRID: Final = "pt_mass"
_C2ST_MAX_ROWS: Final = 20_000
_OOD_JETS: Final = 1000


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass(frozen=True)
class C2STResult:
    """Classifier two-sample test of one truth class.

    Attributes:
        truth: truth class name.
        auc: mean cross-validated ROC AUC (None: fewer than 10 jets).
        spread: its standard deviation over folds.
        n: jets per sample.
    """

    truth: str
    auc: float | None
    spread: float | None
    n: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {"auc": self.auc, "spread": self.spread, "n": self.n}


@dataclass(frozen=True)
class ValidationReport:
    """Everything a validation produced.

    Attributes:
        surrogate: name, version, Bayesian method and weight-file sha256 of the surrogate.
        table: the reference table (file name, sha256, split) and its row counts.
        settings: draws, subsampling, seed, weighting, working points (logit thresholds).
        classes: the truth classes shown.
        tested_classes: names of the classes the shipping goals are evaluated on.
        efficiency: per grid (``pt``, ``mass``, ``pt_mass``) the efficiency cells.
        summaries: per grid, the pull distribution over the tested classes.
        agreement: relative efficiency agreement in well-populated 1-D cells.
        relative_spread_per_jet_median: per working point, the median relative spread of
            the per-jet probabilities (jets inside the support).
        ood_fraction: fraction of jets flagged out of distribution.
        exact_jets_per_second_per_draw: jets x draws / wall time of the exact probabilities
            (every working point in one solve), on the validating machine as it was loaded.
        js: Jensen-Shannon figures (:func:`js_figures`).
        c2st: per class name, the two-sample test.
        ood: the out-of-distribution scan (:meth:`surrotag.validation.ood.OodScan.to_dict`
            of :func:`~surrotag.validation.ood.ood_scan`).
        goals: every goal, shipping and diagnostic.
        figures: file names of the figures written.
        timings: seconds per step.
        seconds: total seconds.
        folder: the surrogate's folder (not serialised: the report stays portable).
    """

    surrogate: Mapping[str, Any]
    table: Mapping[str, Any]
    settings: Mapping[str, Any]
    classes: tuple[TruthClass, ...]
    tested_classes: tuple[str, ...]
    efficiency: Mapping[str, EfficiencyView]
    summaries: Mapping[str, ViewSummary]
    agreement: Mapping[str, Any]
    relative_spread_per_jet_median: Mapping[str, float | None]
    ood_fraction: float
    exact_jets_per_second_per_draw: float
    js: Mapping[str, Any]
    c2st: Mapping[str, C2STResult]
    ood: Mapping[str, Any]
    goals: tuple[Goal, ...]
    figures: tuple[str, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    folder: Path | None = field(default=None, compare=False, repr=False)

    def goal(self, name: str) -> Goal:
        """The goal called ``name``.

        Raises:
            KeyError: no such goal.
        """
        for item in self.goals:
            if item.name == name:
                return item
        raise KeyError(f"no goal {name!r}; have: {', '.join(g.name for g in self.goals)}")

    @property
    def failed(self) -> tuple[Goal, ...]:
        """The goals missed (``met is False``)."""
        return tuple(g for g in self.goals if g.met is False)

    @property
    def ship_goals_met(self) -> bool | None:
        """Whether every shipping goal is met (None when one could not be tested)."""
        ship = [g.met for g in self.goals if g.ship]
        if any(m is False for m in ship):
            return False
        return None if any(m is None for m in ship) else True

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-able dict (NaN and infinity as null)."""
        document = {
            "kind": "surrogate-validation",
            "surrogate": dict(self.surrogate),
            "table": dict(self.table),
            "settings": dict(self.settings),
            "classes": {
                c.name: {"codes": list(c.codes), "description": c.description} for c in self.classes
            },
            "tested_classes": list(self.tested_classes),
            "efficiency": {name: view.to_dict() for name, view in self.efficiency.items()},
            "summaries": {name: s.to_dict() for name, s in self.summaries.items()},
            "agreement": dict(self.agreement),
            "relative_spread_per_jet_median": dict(self.relative_spread_per_jet_median),
            "ood_fraction": self.ood_fraction,
            "exact_jets_per_second_per_draw": self.exact_jets_per_second_per_draw,
            "js": dict(self.js),
            "c2st": {name: r.to_dict() for name, r in self.c2st.items()},
            "ood": dict(self.ood),
            "goals": [g.to_dict() for g in self.goals],
            "ship_goals_met": self.ship_goals_met,
            "figures": list(self.figures),
            "timings": dict(self.timings),
            "seconds": self.seconds,
        }
        return strict_json(document)


def _agreement(views: Mapping[str, EfficiencyView], classes: Sequence[str]) -> dict[str, Any]:
    """Largest and median relative deviation in the well-populated 1-D cells per class.

    Signal-like classes: cells with >= 1e4 jets, goal 5 %; ``qcd``: cells with >= 100
    tagged jets, goal 10 %. Both 1-D grids and every working point are pooled.
    """
    out: dict[str, Any] = {}
    for cls in classes:
        qcd = cls == "qcd"
        eps_sur, eps_true = [], []
        for grid in ("pt", "mass"):
            view = views[grid]
            for table in view.tables:
                if table.truth != cls:
                    continue
                c = table.cells
                use = (c.n_passed >= 100) if qcd else (c.n >= 1e4)
                eps_sur.append(c.eps_sur[use])
                eps_true.append(c.eps_true[use])
        sur = np.concatenate(eps_sur) if eps_sur else np.zeros(0)
        true = np.concatenate(eps_true) if eps_true else np.zeros(0)
        dev = np.abs(sur / true - 1.0) if sur.size else np.zeros(0)
        limit = 0.10 if qcd else 0.05
        out[cls] = {
            "n_cells": int(dev.size),
            "limit": limit,
            "max_relative_deviation": float(dev.max()) if dev.size else None,
            "median_relative_deviation": float(np.median(dev)) if dev.size else None,
            "cells_within": int(np.sum(dev <= limit)),
            "selection": (
                f"cells with >= 100 {cls} jets tagged by the internal tagger"
                if qcd
                else f"cells with >= 1e4 {cls} jets"
            ),
        }
    return out


def js_figures(
    logit: np.ndarray,
    truth: np.ndarray,
    evaluation: Evaluation,
    rng: np.random.Generator,
    signal: TruthClass = STANDARD_CLASSES[0],
    background: TruthClass = STANDARD_CLASSES[2],
    classes: Sequence[TruthClass] = STANDARD_CLASSES,
) -> dict[str, Any]:
    """Jensen-Shannon distance under the fixed protocol, its noise floor and draw spread.

    Jets: ``signal`` and ``background`` classes, at most 1e5 (random). Internal: the
    correct-class probability ``sigmoid(+-logit)``. Surrogate (protocol): the exact per-jet
    probability of the score lying on the correct side of the 0.5-probability threshold, one
    histogram per weight draw. ``sampled``: the same statistic on the surrogate's sampled
    correct-class probability ``sigmoid(+-sample)`` (the like-for-like comparison of score
    distributions, whose ideal value is the noise floor). ``per_class``: per truth class,
    JS of ``sigmoid(sample)`` against ``sigmoid(logit)`` and its noise floor.
    """
    rows = np.flatnonzero(signal.rows(truth) | background.rows(truth))
    if rows.size > metrics.JS_MAX_JETS:
        rows = np.sort(rng.choice(rows, metrics.JS_MAX_JETS, replace=False))
    sign = np.where(signal.rows(truth[rows]), 1.0, -1.0)
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

    per_class = {}
    for cls in classes:
        jets = np.flatnonzero(cls.rows(truth))
        if jets.size > metrics.JS_MAX_JETS:
            jets = np.sort(rng.choice(jets, metrics.JS_MAX_JETS, replace=False))
        if jets.size < 20:
            continue
        reference = _sigmoid(logit[jets])
        values = np.array(
            [
                metrics.js_distance_values(_sigmoid(s), reference)
                for s in evaluation.samples[:, jets]
            ]
        )
        per_class[cls.name] = {
            "sampled": float(values.mean()),
            "noise_floor": metrics.split_half_js(reference, rng)[0],
            "n_jets": int(jets.size),
        }
    return {
        "protocol": {
            "log": "natural",
            "bins": metrics.JS_BINS,
            "range": list(metrics.JS_RANGE),
            "n_jets": int(rows.size),
            "max_jets": metrics.JS_MAX_JETS,
            "jets": f"{signal.name} (signal) and {background.name} (background)",
        },
        **summary(per_draw),
        "nominal": metrics.js_distance_values(correct.mean(0), internal),
        "noise_floor": floor,
        "noise_floor_spread": floor_std,
        "noise_floor_n_per_half": int(rows.size // 2),
        "sampled": summary(per_draw_sampled),
        "per_class": per_class,
        "paper": {"vi": [0.080, 0.009], "mcmc": [0.097, 0.007], "kinematics_only": [0.134, 0.174]},
    }


def _c2st(
    rows: ReferenceRows, evaluation: Evaluation, classes: Sequence[TruthClass], seed: int
) -> dict[str, C2STResult]:
    rng = np.random.default_rng(seed)
    sample = evaluation.predictive_sample
    out = {}
    for cls in classes:
        jets = np.flatnonzero(cls.rows(rows.truth))
        if jets.size > _C2ST_MAX_ROWS:
            jets = np.sort(rng.choice(jets, _C2ST_MAX_ROWS, replace=False))
        if jets.size < 10:
            out[cls.name] = C2STResult(cls.name, None, None, int(jets.size))
            continue
        a = np.column_stack([rows.features[jets], rows.logit[jets]])
        b = np.column_stack([rows.features[jets], sample[jets]])
        auc, spread = metrics.c2st_auc(a, b, paired=True, seed=seed)
        out[cls.name] = C2STResult(cls.name, auc, spread, int(jets.size))
    return out


_C2ST_NOTE: Final = (
    "sklearn HistGradientBoostingClassifier, 5-fold CV ROC AUC, folds over jets (a jet's "
    "internal and surrogate rows share a fold); surrogate sample from the posterior "
    "predictive (jet i uses weight draw i mod K)"
)


def _goals(
    summaries: Mapping[str, ViewSummary],
    agreement: Mapping[str, Any],
    js: Mapping[str, Any],
    c2st: Mapping[str, C2STResult],
    ood: OodScan,
    tested: Sequence[str],
) -> tuple[Goal, ...]:
    goals = list(
        ship_goals(summaries[GOAL_GRID], {name: (r.auc, r.n) for name, r in c2st.items()}, tested)
    )
    for grid in ("pt", "mass"):
        s = summaries[grid].pulls
        goals.append(
            goal(
                f"1-D {grid} cells with |pull| <= 2",
                s.fraction_within,
                f">= {GOAL_FRACTION_WITHIN:.2f} (diagnostic)",
                s.fraction_within >= GOAL_FRACTION_WITHIN,
                f"{s.n_cells} counted cells; RMS {s.rms:.2f}, mean {s.mean:+.2f}",
            )
        )
    for cls, a in agreement.items():
        dev = a["max_relative_deviation"]
        goals.append(
            goal(
                f"max relative efficiency deviation, {cls}",
                dev,
                f"<= {a['limit']:.0%}",
                dev is not None and dev <= a["limit"],
                f"{a['n_cells']} {a['selection']}"
                + ("; none in this sample: not testable" if not a["n_cells"] else ""),
            )
        )
    floor = js["noise_floor"]
    goals += [
        goal(
            "JS distance / noise floor",
            js["value"] / floor if floor > 0 else None,
            "<= 2",
            floor > 0 and js["value"] <= 2 * floor,
            f"JS {js['value']:.4f} +- {js['spread']:.4f} (draws), floor {floor:.4f}",
        ),
        goal(
            "JS distance",
            js["value"],
            f"< {PAPER_JS}",
            js["value"] < PAPER_JS,
            "protocol: exact P(correct side of 0.5) vs internal correct-class probability",
        ),
        goal(
            "JS distance (sampled) / noise floor",
            js["sampled"]["value"] / floor if floor > 0 else None,
            "<= 2 (diagnostic)",
            floor > 0 and js["sampled"]["value"] <= 2 * floor,
            f"sampled sigmoid(score) vs internal; JS {js['sampled']['value']:.4f}",
        ),
    ]
    far, near = ood.far_absolute_spread, ood.inside_absolute_spread
    goals += [
        goal(
            "jets beyond the pT support flagged OOD",
            ood.outside_flag_rate,
            ">= 0.95",
            bool(ood.outside_flag_rate >= 0.95),
            f"{ood.feature} moved to 1.1-3x the support edge",
        ),
        goal(
            "absolute spread of P far outside vs inside",
            far,
            ">= inside",
            bool(far >= near) if math.isfinite(far) and math.isfinite(near) else False,
            f"{ood.feature} = {ood.pt[-1]:.0f} GeV: sd(P) {far:.2g} vs {near:.2g} inside; "
            f"sd(median score) {ood.far_score_spread:.2g} vs {ood.inside_score_spread:.2g}",
        ),
    ]
    return tuple(goals)


def write_json(document: Mapping[str, Any], path: Path) -> Path:
    """Write strict JSON atomically: a temporary file beside ``path``, then os.replace."""
    return write_json_atomic(path, strict_json(dict(document)), indent=1)


def validate_surrogate(
    surrogate_name: str | os.PathLike[str],
    table: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    split: str = "test",
    n_max: int | None = None,
    draws: int = 20,
    seed: int = 0,
    weighted: bool = False,
    plots: bool = True,
    threads: int | None = 1,
    progress: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Validate a surrogate against the internal tagger; write report.json and figures.

    Args:
        surrogate_name: registry name or surrogate folder.
        table: reference table (``surrotag reference build-table``).
        output: folder of ``report.json`` and the PNG figures (created).
        split: rows of the table used (never seen in training: ``test``).
        n_max: at most this many rows (random, seeded); None: all.
        draws: Bayesian weight draws K.
        seed: seed of subsampling, sampled scores, noise-floor splits and the C2ST folds.
        weighted: weight the jets by their generator weight (effective entries in the
            errors); by default every jet counts once, which tests the same conditional
            probability with smaller errors.
        plots: write the figures.
        threads: torch intra-op threads during the call (restored after; None: leave as
            is). One by default: the ODE solve runs in L2-sized chunks that gain little from
            threads, and on a shared machine oversubscribed threads spin (3000 jets, K=20:
            8.7 s on one thread, 81 s on two, measured under load).
        progress: called with each step name of :data:`STEPS` as it starts.

    Returns:
        The :class:`ValidationReport`; its ``goals`` say met, missed or not testable.
    """
    from surrotag.surrogates.threads import intra_op_threads

    with intra_op_threads(threads):
        return _validate(
            surrogate_name,
            table,
            output,
            split=split,
            n_max=n_max,
            draws=draws,
            seed=seed,
            weighted=weighted,
            plots=plots,
            progress=progress,
        )


def _validate(
    surrogate_name, table, output, *, split, n_max, draws, seed, weighted, plots, progress
) -> ValidationReport:
    from surrotag.io.parquet import sha256_file
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import load_surrogate

    tick = progress or (lambda _step: None)
    timings: dict[str, float] = {}
    clock: list[Any] = [time.perf_counter(), ""]

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
    rows = load_reference(table, card, split=split, n_max=n_max, seed=seed, weighted=weighted)
    matched_only = table_spec(card).matched_only
    # A parton-level surrogate sees every matched top, contained or not: containment is not
    # among its inputs, so its goals are tested on the union; the truth classes are shown.
    classes = (*STANDARD_CLASSES[:2], MATCHED) if matched_only else STANDARD_CLASSES
    tested = (MATCHED.name,) if matched_only else tuple(c.name for c in STANDARD_CLASSES)
    classes = tuple(c for c in classes if c.rows(rows.truth).any())
    tested = tuple(name for name in tested if name in {c.name for c in classes})
    step("evaluate")
    ev = evaluate(surrogate, card, rows.features, draws=draws, seed=seed)
    step("cells")
    grids = default_grids(EFFICIENCY_PT_EDGES, rows.pt_feature)
    views = efficiency_views(
        rows.logit,
        ev.prob,
        ev.thresholds,
        ev.working_points,
        rows.truth,
        classes,
        grids,
        {"pt": rows.pt, "mass": np.clip(rows.mass, 0.0, None)},
        rows.weight,
    )
    summaries = {name: view.summary(tested, PULL_WITHIN) for name, view in views.items()}
    step("js")
    rng = np.random.default_rng(seed)
    by_name = {c.name: c for c in (*STANDARD_CLASSES, MATCHED)}
    js = js_figures(
        rows.logit,
        rows.truth,
        ev,
        rng,
        signal=by_name["matched" if matched_only else "top"],
        background=by_name["qcd"],
        classes=classes,
    )
    step("c2st")
    c2st = _c2st(rows, ev, classes, seed)
    step("ood")
    inside = np.flatnonzero(~ev.ood & (rows.truth == 1))
    if inside.size == 0:
        inside = np.flatnonzero(~ev.ood)
    inside = (
        inside[:_OOD_JETS]
        if inside.size <= _OOD_JETS
        else np.sort(rng.choice(inside, _OOD_JETS, replace=False))
    )
    scan = ood_scan(surrogate, card, rows.features[inside], rows.pt_feature, draws=draws)
    nominal = ev.prob.mean(0)
    spread = ev.prob.std(0, ddof=1) if ev.prob.shape[0] > 1 else np.zeros_like(nominal)
    rel_jet = np.divide(spread, nominal, out=np.full_like(nominal, np.nan), where=nominal > 0)
    agreement = _agreement(
        views, [name for name in (*tested, "qcd") if name in {c.name for c in classes}]
    )
    report = ValidationReport(
        surrogate={
            "name": card.name,
            "version": card.version,
            "bayes": card.bayes["method"],
            "files": card.files,
        },
        table={
            "file": Path(table).name,
            "sha256": sha256_file(table),
            "split": split,
            "rows_in_split": rows.n_split,
            "rows_used": int(rows.logit.size),
            "rows_dropped_nonfinite": rows.n_dropped,
            **{f"n_{c.name}": int(c.rows(rows.truth).sum()) for c in STANDARD_CLASSES},
        },
        settings={
            "draws": draws,
            "n_max": n_max,
            "seed": seed,
            "weighted": weighted,
            "working_points": dict(zip(ev.working_points, ev.thresholds.tolist(), strict=True)),
            "goal_grid": GOAL_GRID,
            "pull": "(eps_sur - eps_tag) / sqrt(sigma_tag^2 + sigma_Bayes^2), sigma_tag^2 = "
            "sum w^2 pbar (1 - pbar) / (sum w)^2 (no binomial term for the surrogate's exact "
            "mean)",
        },
        classes=classes,
        tested_classes=tested,
        efficiency=views,
        summaries=summaries,
        agreement=agreement,
        relative_spread_per_jet_median={
            wp: float(np.nanmedian(rel_jet[~ev.ood, w])) if (~ev.ood).any() else None
            for w, wp in enumerate(ev.working_points)
        },
        ood_fraction=float(ev.ood.mean()),
        exact_jets_per_second_per_draw=rows.logit.size * draws / ev.exact_seconds,
        js=js,
        c2st=c2st,
        ood=scan.to_dict(),
        goals=_goals(summaries, agreement, js, c2st, scan, tested),
        folder=Path(folder),
    )
    figures: tuple[str, ...] = ()
    if plots:
        step("plots")
        from surrotag.validation.plots import write_figures

        figures = tuple(write_figures(report, rows, ev, out))
    step("")
    report = replace(
        report,
        figures=figures,
        timings=timings,
        seconds=round(time.perf_counter() - start, 2),
    )
    write_json(report.to_dict(), out / REPORT_FILE)
    return report


def card_figures(report: ValidationReport) -> dict[str, float]:
    """The headline numbers of a validation report, for a card's ``validation`` block.

    Only finite numbers are kept (a goal that could not be tested is left out).
    """
    js, ood = report.js, report.ood
    cells = report.summaries[GOAL_GRID]
    figures: dict[str, Any] = {
        "n_jets": js["protocol"]["n_jets"],
        "cells_2d_counted": cells.n_counted,
        "cells_2d_within_2_sigma": cells.pulls.fraction_within,
        "pull_2d_mean": cells.pulls.mean,
        "pull_2d_rms": cells.pulls.rms,
        "median_relative_bayesian_spread": cells.median_relative_spread,
        "js_distance": js["value"],
        "js_distance_draw_spread": js["spread"],
        "js_noise_floor": js["noise_floor"],
        "js_distance_sampled": js["sampled"]["value"],
        **{f"c2st_auc_{name}": result.auc for name, result in report.c2st.items()},
        "ood_outside_flag_rate": ood["outside_flag_rate"],
        "ood_far_absolute_spread": ood["far_absolute_spread"],
        "ood_inside_absolute_spread": ood["inside_absolute_spread"],
        "ood_far_score_spread": ood["far_score_spread"],
        "ood_inside_score_spread": ood["inside_score_spread"],
        "ood_fraction": report.ood_fraction,
        "exact_jets_per_second_per_draw": report.exact_jets_per_second_per_draw,
    }
    return {
        key: float(value)
        for key, value in figures.items()
        if isinstance(value, int | float) and math.isfinite(value)
    }


def record_in_card(report: ValidationReport, folder: str | os.PathLike[str]) -> Path:
    """Write :func:`card_figures` into ``folder/card.json`` (key ``validation.<split>_split``).

    The card is read through :func:`~surrotag.surrogates.card.load_card` (so an edited card
    is refused, not re-sealed), checked against its schema after the edit, its own digest
    (``card_sha256``) recorded anew, and replaced atomically; the weight files (and so their
    sha256) are untouched.
    """
    from surrotag.surrogates.card import load_card, seal_card, validate_card

    path = Path(folder) / "card.json"
    document = load_card(path).to_dict()
    split = report.table.get("split", "test")
    document.setdefault("validation", {})[f"{split}_split"] = card_figures(report)
    validate_card(document, str(path))
    return write_json_atomic(path, seal_card(document))


def record(
    report: ValidationReport, folder: str | os.PathLike[str] | None = None
) -> tuple[Path, Path]:
    """Record a validation next to the surrogate's card, atomically.

    Writes the whole report as ``validation.json`` in the surrogate folder (the artefact
    every quoted validation figure comes from) and its headline numbers into ``card.json``
    (:func:`record_in_card`), whose own digest is recorded anew; ``validation.json`` changes no
    result and is covered by no hash.

    Args:
        report: the validation.
        folder: the surrogate folder (default: the one validated).

    Returns:
        (path of ``validation.json``, path of ``card.json``).

    Raises:
        ValueError: no folder given and the report does not know it.
    """
    target = Path(folder) if folder is not None else report.folder
    if target is None:
        raise ValueError("record needs the surrogate folder")
    written = write_json(report.to_dict(), target / VALIDATION_FILE)
    return written, record_in_card(report, target)
