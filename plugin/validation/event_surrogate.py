"""Validation of an event-level surrogate against the event classifier it replaces.

The surrogate of an internal event classifier (a stop-pair dilepton search, score space
``identity``: the classifier's logit) is tested on the rows of one split of its training
table (:mod:`surrotag.reference.event_table`): one row per event, the card's features, the
classifier's logit ``classifier_logit``, the event weight ``event_weight`` (the event's
cross-section, pb) and the stop masses (NaN for t tbar).

:func:`validate_event_surrogate` computes

* per working point and truth class (``ttbar``: ``m_stop`` NaN; ``stop``: ``m_stop``
  finite), in each m_T2(ll) x MET cell (GeV), the classifier's observed pass fraction, the
  surrogate's exact predicted fraction and their pull, every sum weighted by the event
  weight (:func:`surrotag.validation.metrics.efficiency_cells`); the pulls of the counted
  cells as distributions (:func:`~surrotag.validation.metrics.pull_summary`) overall and per
  truth class; cells that do not count are listed with the reason;
* a classifier two-sample test (:func:`~surrotag.validation.metrics.c2st_auc`) between
  [features, classifier logit] and [features, one sampled surrogate score] on the same rows;
* the fraction of rows outside the surrogate's training support.

The result, :class:`EventValidation`, says whether the goals are met
(:meth:`EventValidation.goals`: at least 90 % of the counted cells with ``|pull| <= 2``
overall and per truth class, two-sample AUC at most 0.55; the constants of
:mod:`surrotag.validation.goals`) and serialises to strict JSON (:meth:`EventValidation.
to_dict`, :func:`write_event_validation`).

Weights. Every efficiency and its error is event-weighted: ``eps = sum w t / sum w`` with
``w`` the event cross-section, and the classifier's Bernoulli noise is
``sum w^2 p (1 - p) / (sum w)^2``, which for a constant ``p`` in a cell is the binomial
variance ``p (1 - p) / n_eff`` of the Kish effective count ``n_eff = (sum w)^2 / sum w^2``.
A cell counts when its *effective* count reaches ``min_events`` (the raw count of equally
weighted events): within the stop class the signal points differ in cross-section by orders
of magnitude, and a cell of many heavy-stop events and few light-stop ones holds few
effective events. The two-sample test is unweighted (a uniform, seeded subsample of rows):
it tests the conditional distribution of the score given the features, which the event
weights do not change, and a weighted subsample would be made of a few light-stop samples.

Pull sign, as in the jet report (:class:`~surrotag.validation.metrics.CellEfficiencies`):
``pull = (eps_pred - eps_obs) / sigma`` is negative where the classifier passes more
(weighted) events than the surrogate predicts.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558; L. Kish, "Survey
    Sampling" (1965), effective sample size of weighted observations; Lopez-Paz & Oquab,
    arXiv:1610.06545 (classifier two-sample test).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from surrotag.errors import CardError, EmptyInputError, InputValueError
from surrotag.io.atomic import strict_json, write_json_atomic
from surrotag.reference.event_table import LOGIT_COLUMN
from surrotag.validation import metrics
from surrotag.validation.cells import MIN_EXPECTED, CellGrid, TruthClass, efficiency_views
from surrotag.validation.goals import (
    GOAL_C2ST_AUC,
    GOAL_FRACTION_WITHIN,
    PULL_WITHIN,
    Goal,
    goal,
)

if TYPE_CHECKING:
    from surrotag.surrogates.card import Card
    from surrotag.surrogates.flow import Surrogate

__all__ = [
    "EVENT_CLASSES",
    "MET_COLUMN",
    "MET_EDGES",
    "MT2_COLUMN",
    "MT2_EDGES",
    "EventCellTable",
    "EventValidation",
    "kish_effective_count",
    "validate_event_surrogate",
    "weighted_fraction",
    "write_event_validation",
]

#: Table column of the m_T2(ll) axis of the cells (GeV).
MT2_COLUMN: Final = "event_mt2_ll"
#: Table column of the MET axis of the cells (GeV).
MET_COLUMN: Final = "event_met"
#: Table column of the event weight (the event's cross-section, pb).
WEIGHT_COLUMN: Final = "event_weight"
#: Table column of the stop mass (GeV; NaN for t tbar): the truth class.
STOP_MASS_COLUMN: Final = "m_stop"
#: Default m_T2(ll) cell edges (GeV).
MT2_EDGES: Final = (0.0, 40.0, 80.0, 120.0, math.inf)
#: Default MET cell edges (GeV).
MET_EDGES: Final = (0.0, 80.0, 150.0, 250.0, math.inf)
#: Truth classes of the event table: code 0 t tbar (``m_stop`` NaN), 1 stop pairs.
EVENT_CLASSES: Final = (
    TruthClass("ttbar", (0,), "t tbar events (m_stop NaN)"),
    TruthClass("stop", (1,), "stop-pair events (m_stop finite)"),
)
#: Fewest rows of the two-sample test (two per fold of its 5-fold cross-validation).
_C2ST_MIN_ROWS: Final = 10
_PULL_NOTE: Final = (
    "(eps_pred - eps_obs) / sqrt(sigma_obs^2 + sigma_Bayes^2); eps = sum w t / sum w with "
    "w = event_weight (pb); sigma_obs^2 = sum w^2 pbar (1 - pbar) / (sum w)^2 (the weighted "
    "binomial variance of the classifier's pass fraction under the surrogate's probabilities "
    "pbar, = pbar (1 - pbar) / n_eff with the Kish count n_eff for constant pbar); "
    "sigma_Bayes: standard deviation of eps_pred over weight draws. pull_binomial: the same "
    "with sigma_obs^2 = eps_obs (1 - eps_obs) / n_eff (comparison)"
)


def kish_effective_count(weights: np.ndarray) -> float:
    """Kish effective number of weighted entries ``(sum w)^2 / sum w^2``.

    Args:
        weights: [N] non-negative weights (any unit; the count is dimensionless).

    Returns:
        The effective count (N for equal weights; 0 for no or zero weights).

    Example:
        >>> kish_effective_count(np.array([1.0, 1.0, 1.0, 1.0]))
        4.0
        >>> kish_effective_count(np.array([3.0, 1.0]))
        1.6
    """
    w = np.asarray(weights, dtype=np.float64)
    sum_w2 = float(np.sum(w * w))
    return float(np.sum(w) ** 2 / sum_w2) if sum_w2 > 0 else 0.0


def weighted_fraction(flags: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Weighted fraction of true ``flags`` and its binomial error on the Kish count.

    Args:
        flags: [N] bool.
        weights: [N] non-negative weights (e.g. event cross-sections, pb); None: all 1.

    Returns:
        ``(f, sigma_f)``: ``f = sum w flag / sum w`` and ``sqrt(f (1 - f) / n_eff)``
        (:func:`surrotag.validation.metrics.binomial_error` on
        :func:`kish_effective_count`); ``(nan, nan)`` when the weights sum to zero.

    Example:
        >>> f, err = weighted_fraction(np.array([True, False, False, True]),
        ...                            np.array([1.0, 1.0, 2.0, 0.0]))
        >>> f, round(err, 4)  # n_eff = 16 / 6
        (0.25, 0.2652)
        >>> weighted_fraction(np.array([True, False]))
        (0.5, 0.3535533905932738)
    """
    flags = np.asarray(flags, dtype=bool)
    w = np.ones(flags.size) if weights is None else np.asarray(weights, dtype=np.float64)
    total = float(np.sum(w))
    if not total > 0:
        return math.nan, math.nan
    fraction = float(np.sum(w * flags) / total)
    error = metrics.binomial_error(np.array([fraction]), np.array([kish_effective_count(w)]))
    return fraction, float(error[0])


@dataclass(frozen=True)
class EventCellTable:
    """The m_T2(ll) x MET cells of one working point and truth class.

    Attributes:
        working_point: working point name.
        threshold: its cut on the classifier logit (the card's score units).
        truth: truth class name (``ttbar`` or ``stop``).
        cells: weighted efficiencies per cell (:func:`~surrotag.validation.metrics.
            efficiency_cells`).
        counted: [B] bool, cells whose pull enters the summaries.
        skip_reasons: [B] why a cell is not counted (None for counted cells).
    """

    working_point: str
    threshold: float
    truth: str
    cells: metrics.CellEfficiencies
    counted: np.ndarray
    skip_reasons: tuple[str | None, ...]

    @property
    def pull(self) -> np.ndarray:
        """[B] ``(eps_pred - eps_obs) / sigma`` (NaN in empty cells), the jet report's sign."""
        return self.cells.pull

    @property
    def pull_binomial(self) -> np.ndarray:
        """[B] the same difference over the binomial error of the observed fraction."""
        return self.cells.pull_binomial

    def to_dict(self, grid: CellGrid) -> dict[str, Any]:
        """JSON-able dict: one entry per cell (C order of ``grid``), edges in GeV."""
        c = self.cells
        shape = grid.shape
        rows = []
        for b in range(c.n_cells):  # a loop over cells (16 by default), not over events
            i, j = np.unravel_index(b, shape)
            rows.append(
                {
                    "mt2_ll": [grid.edges[0][i], grid.edges[0][i + 1]],
                    "met": [grid.edges[1][j], grid.edges[1][j + 1]],
                    "n": int(c.n[b]),
                    "sum_w_pb": float(c.sum_w[b]),
                    "n_eff": float(c.n_eff[b]),
                    "eps_obs": float(c.eps_true[b]),
                    "eps_pred": float(c.eps_sur[b]),
                    "sigma_obs": float(c.err_null[b]),
                    "sigma_obs_binomial": float(c.err_true[b]),
                    "sigma_bayes": float(c.sigma_bayes[b]),
                    "pull": float(self.pull[b]),
                    "pull_binomial": float(self.pull_binomial[b]),
                    "counted": bool(self.counted[b]),
                    "skipped": self.skip_reasons[b],
                }
            )
        return {
            "working_point": self.working_point,
            "threshold": self.threshold,
            "truth": self.truth,
            "cells": rows,
        }


@dataclass(frozen=True)
class EventValidation:
    """An event surrogate against the event classifier on one split.

    Attributes:
        surrogate: name, version, Bayesian method and weight files (name -> sha256).
        table: file name, sha256, split, row counts and weight sums (pb) per class.
        settings: draws, seed, edges (GeV), counting rule, two-sample rows, working points
            (cuts on the logit), the pull definition.
        grid: the m_T2(ll) x MET cells (GeV).
        tables: one :class:`EventCellTable` per working point and truth class present.
        summaries: pulls of the counted cells, ``overall`` and per truth class.
        summaries_binomial: the same cells with :attr:`EventCellTable.pull_binomial`.
        c2st: the two-sample test: ``auc``, ``spread`` (over folds), ``n_rows`` (None AUC
            below 10 rows).
        ood_fraction: fraction of the rows outside the training support.
        ood_fraction_weighted: the same, weighted by the event weight.
        seconds: wall time of the validation, s.
    """

    surrogate: Mapping[str, Any]
    table: Mapping[str, Any]
    settings: Mapping[str, Any]
    grid: CellGrid
    tables: tuple[EventCellTable, ...]
    summaries: Mapping[str, metrics.PullSummary]
    summaries_binomial: Mapping[str, metrics.PullSummary]
    c2st: Mapping[str, Any]
    ood_fraction: float
    ood_fraction_weighted: float
    seconds: float = 0.0
    classes: tuple[str, ...] = field(default=tuple(c.name for c in EVENT_CLASSES))

    def cell_table(self, working_point: str, truth: str) -> EventCellTable:
        """The cells of one working point and truth class.

        Raises:
            KeyError: no such table (unknown name, or no event of that class).
        """
        for table in self.tables:
            if table.working_point == working_point and table.truth == truth:
                return table
        raise KeyError(f"no cells for working point {working_point!r} and class {truth!r}")

    @property
    def skipped(self) -> list[dict[str, Any]]:
        """Every cell that is not counted: working point, class, cell, counts and reason."""
        out = []
        for table in self.tables:
            for cell in table.to_dict(self.grid)["cells"]:
                if not cell["counted"]:
                    out.append({"working_point": table.working_point, "truth": table.truth, **cell})
        return out

    def goals(self) -> tuple[Goal, ...]:
        """The goals: pulls within 2 (overall, per class) and the two-sample AUC.

        A goal is met (True), missed (False) or not testable (None: no counted cell, or
        too few rows for the two-sample test).
        """
        out = []
        for name in ("overall", *self.classes):
            s = self.summaries.get(name, metrics.pull_summary(np.zeros(0)))
            out.append(
                goal(
                    f"cells with |pull| <= {PULL_WITHIN:g}, {name}",
                    s.fraction_within,
                    f">= {GOAL_FRACTION_WITHIN:.2f}",
                    s.fraction_within >= GOAL_FRACTION_WITHIN,
                    f"{s.n_cells} counted m_T2(ll) x MET cells; pull mean {s.mean:+.2f}, "
                    f"RMS {s.rms:.2f}",
                    ship=True,
                )
            )
        auc = self.c2st.get("auc")
        out.append(
            goal(
                "two-sample AUC",
                auc,
                f"<= {GOAL_C2ST_AUC}",
                auc is not None and auc <= GOAL_C2ST_AUC,
                f"{self.c2st.get('n_rows', 0)} rows per sample, paired folds",
                ship=True,
            )
        )
        return tuple(out)

    @property
    def goals_met(self) -> bool | None:
        """Every goal met (True), one missed (False), else None (one not testable)."""
        met = [g.met for g in self.goals()]
        if any(m is False for m in met):
            return False
        return None if any(m is None for m in met) else True

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-able dict (NaN and infinities as null; an infinite edge is null)."""
        document = {
            "kind": "event-surrogate-validation",
            "surrogate": dict(self.surrogate),
            "table": dict(self.table),
            "settings": dict(self.settings),
            "grid": self.grid.to_dict(),
            "classes": {c.name: c.description for c in EVENT_CLASSES if c.name in self.classes},
            "cells": [table.to_dict(self.grid) for table in self.tables],
            "summaries": {name: s.to_dict() for name, s in self.summaries.items()},
            "summaries_binomial": {
                name: s.to_dict() for name, s in self.summaries_binomial.items()
            },
            "c2st": dict(self.c2st),
            "ood_fraction": self.ood_fraction,
            "ood_fraction_weighted": self.ood_fraction_weighted,
            "goals": [g.to_dict() for g in self.goals()],
            "goals_met": self.goals_met,
            "seconds": self.seconds,
        }
        return strict_json(document)


def write_event_validation(validation: EventValidation, path: str | os.PathLike[str]) -> Path:
    """Write :meth:`EventValidation.to_dict` as strict JSON, atomically.

    Returns:
        The path written (a temporary file beside it, then renamed).
    """
    return write_json_atomic(path, validation.to_dict(), indent=1)


def _edges(values: Sequence[float], what: str) -> tuple[float, ...]:
    edges = tuple(float(e) for e in values)
    array = np.asarray(edges)
    if array.size < 2 or np.isnan(array).any() or not np.all(np.diff(array) > 0):
        raise InputValueError(f"{what} edges {list(edges)}: give at least two increasing edges")
    return edges


def _load(surrogate: Any) -> tuple[Surrogate, Card]:
    if isinstance(surrogate, tuple):
        return surrogate
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import load_surrogate

    return load_surrogate(resolve_surrogate(surrogate))


def _thresholds(
    card: Card, working_points: Sequence[str | float] | None
) -> tuple[tuple[str, ...], np.ndarray]:
    """Names and logit cuts of the working points (names of the card, or cuts)."""
    chosen = (
        [point["name"] for point in card.working_points]
        if working_points is None
        else list(working_points)
    )
    if not chosen:
        raise CardError(f"{card.source}: surrogate {card.name!r} has no working point to test")
    names = tuple(p if isinstance(p, str) else f"logit > {float(p):g}" for p in chosen)
    if len(set(names)) != len(names):
        raise InputValueError(f"working points {list(names)} are listed more than once")
    cuts = np.array([card.model_threshold(p) for p in chosen], dtype=np.float64)
    return names, cuts


def _rows(
    path: Path, card: Card, split: str, score_column: str
) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """Columns of the finite rows of ``split``, their feature matrix (NaN filled), dropped."""
    from surrotag.io.parquet import read_columns

    names = list(card.feature_names)
    needed = [*names, score_column, WEIGHT_COLUMN, "split", STOP_MASS_COLUMN]
    needed += [MT2_COLUMN, MET_COLUMN]
    table = read_columns(
        path,
        list(dict.fromkeys(needed)),
        text={"split"},
        hint="pass an event table of surrotag.reference.event_table (build_event_training_table)",
    )
    chosen = table["split"] == split
    if not chosen.any():
        present = ", ".join(sorted({str(s) for s in np.unique(table["split"])}))
        raise EmptyInputError(f"{path}: no rows with split == {split!r} (it has: {present})")
    columns = {key: value[chosen] for key, value in table.items() if key != "split"}
    fills = card.feature_fills
    features = np.column_stack(
        [
            np.where(np.isnan(columns[n]), fills[n], columns[n]) if n in fills else columns[n]
            for n in names
        ]
    )
    keep = np.isfinite(features).all(axis=1) & np.isfinite(columns[score_column])
    if not keep.any():
        raise EmptyInputError(f"{path}: no finite row of split {split!r} for {card.name!r}")
    weight = columns[WEIGHT_COLUMN][keep]
    if not (np.isfinite(weight).all() and (weight >= 0).all() and weight.sum() > 0):
        raise InputValueError(
            f"{path}: {WEIGHT_COLUMN} of split {split!r} must be finite and non-negative with a "
            "positive sum (the event cross-sections, pb)"
        )
    kept = {key: value[keep] for key, value in columns.items()}
    return kept, features[keep], int((~keep).sum())


def _c2st(
    features: np.ndarray,
    logit: np.ndarray,
    surrogate: Surrogate,
    draws: int,
    rows: int,
    seed: int,
) -> dict[str, Any]:
    """Two-sample AUC on a seeded subsample (:func:`~.metrics.surrogate_c2st`)."""
    result = metrics.surrogate_c2st(
        surrogate, features, logit, draws=draws, rows=rows, seed=seed, min_rows=_C2ST_MIN_ROWS
    )
    if result["auc"] is None:
        return result
    return {
        **result,
        "method": "sklearn HistGradientBoostingClassifier, 5-fold CV ROC AUC, folds over "
        "events (an event's classifier and surrogate rows share a fold); unweighted, uniform "
        "seeded subsample; surrogate sample of row i from weight draw i mod K",
    }


def _summaries(
    tables: Sequence[EventCellTable], classes: Sequence[str], key: str
) -> dict[str, metrics.PullSummary]:
    def gather(chosen: Sequence[EventCellTable]) -> np.ndarray:
        parts = [getattr(t, key)[t.counted] for t in chosen]
        return np.concatenate(parts) if parts else np.zeros(0)

    out = {"overall": metrics.pull_summary(gather(tables), PULL_WITHIN)}
    for name in classes:
        out[name] = metrics.pull_summary(
            gather([t for t in tables if t.truth == name]), PULL_WITHIN
        )
    return out


def _skip_reasons(
    cells: metrics.CellEfficiencies, counted: np.ndarray, min_events: float, min_expected: float
) -> tuple[str | None, ...]:
    n_eff = np.nan_to_num(cells.n_eff)
    expected = n_eff * np.nan_to_num(cells.eps_sur)
    reasons: list[str | None] = []
    for b in range(cells.n_cells):  # a loop over cells, not over events
        if counted[b]:
            reasons.append(None)
        elif cells.n[b] == 0:
            reasons.append("no events")
        elif n_eff[b] < min_events:
            reasons.append(f"{n_eff[b]:.1f} effective events < min_events {min_events:g}")
        elif min(expected[b], n_eff[b] - expected[b]) < min_expected:
            reasons.append(
                f"{min(expected[b], n_eff[b] - expected[b]):.1f} effective events expected "
                f"on one side of the cut < min_expected {min_expected:g}"
            )
        else:
            reasons.append("pull undefined (zero error)")
    return tuple(reasons)


def validate_event_surrogate(
    surrogate: str | os.PathLike[str] | tuple[Surrogate, Card],
    table: str | os.PathLike[str],
    *,
    split: str = "test",
    working_points: Sequence[str | float] | None = None,
    mt2_edges: Sequence[float] = MT2_EDGES,
    met_edges: Sequence[float] = MET_EDGES,
    draws: int = 20,
    seed: int = 0,
    min_events: float = 30,
    min_expected: float = MIN_EXPECTED,
    c2st_rows: int = 20_000,
    score_column: str = LOGIT_COLUMN,
    threads: int | None = 1,
) -> EventValidation:
    """Validate an event surrogate against the event classifier on one split of its table.

    Args:
        surrogate: surrogate folder or registry name, or a loaded ``(model, card)``
            (:func:`surrotag.surrogates.storage.load_surrogate`); its score space must be
            ``identity`` (the classifier logit).
        table: the event table (:func:`surrotag.reference.event_table.
            build_event_training_table`): the card's features, ``classifier_logit``,
            ``event_weight`` (pb), ``split``, ``m_stop`` (GeV, NaN for t tbar),
            ``event_mt2_ll`` and ``event_met`` (GeV).
        split: the rows tested (never trained on: ``test``).
        working_points: card working point names, or cuts on the logit (named
            ``logit > cut``); None: every working point of the card.
        mt2_edges: m_T2(ll) cell edges (GeV; the last may be infinite).
        met_edges: MET cell edges (GeV).
        draws: Bayesian weight draws K.
        seed: seed of the sampled scores, the two-sample subsample and its folds.
        min_events: fewest effective events ``(sum w)^2 / sum w^2`` of a counted cell.
        min_expected: fewest effective events the surrogate expects on either side of the
            cut in a counted cell (normal pulls; 0 switches the rule off).
        c2st_rows: at most this many rows (seeded, uniform) in the two-sample test.
        score_column: the classifier logit's column.
        threads: torch intra-op threads during the call (restored after; None: as is).

    Returns:
        The :class:`EventValidation`.

    Raises:
        InputFileError: the table is missing, unreadable or lacks a column.
        EmptyInputError: no (finite) row of ``split``.
        CardError: the surrogate's score space is not ``identity``, or an unknown working
            point.
        InputValueError: bad edges, or weights that are not finite and non-negative.
    """
    from surrotag.surrogates.threads import intra_op_threads

    with intra_op_threads(threads):
        return _validate(
            surrogate,
            Path(table),
            split=split,
            working_points=working_points,
            edges=(_edges(mt2_edges, "m_T2(ll)"), _edges(met_edges, "MET")),
            draws=draws,
            seed=seed,
            min_events=float(min_events),
            min_expected=float(min_expected),
            c2st_rows=int(c2st_rows),
            score_column=score_column,
        )


def _validate(
    surrogate_source: Any,
    path: Path,
    *,
    split: str,
    working_points: Sequence[str | float] | None,
    edges: tuple[tuple[float, ...], tuple[float, ...]],
    draws: int,
    seed: int,
    min_events: float,
    min_expected: float,
    c2st_rows: int,
    score_column: str,
) -> EventValidation:
    from surrotag.io.parquet import sha256_file
    from surrotag.tagging import evaluate_surrogate

    start = time.perf_counter()
    surrogate, card = _load(surrogate_source)
    surrogate.eval()
    if card.score["space"] != "identity":
        raise CardError(
            f"{card.source}: surrogate {card.name!r} models a {card.score['space']!r} score; "
            f"an event surrogate models the classifier logit ({score_column}, space identity)"
        )
    names, cuts = _thresholds(card, working_points)
    columns, features, dropped = _rows(path, card, split, score_column)
    logit, weight = columns[score_column], columns[WEIGHT_COLUMN]
    truth = np.isfinite(columns[STOP_MASS_COLUMN]).astype(np.int8)  # 1 stop, 0 t tbar
    result = evaluate_surrogate(surrogate, features, thresholds=cuts, draws=draws)
    assert result.probabilities is not None  # asked for
    grid = CellGrid("mt2_met", ("mt2", "met"), (MT2_COLUMN, MET_COLUMN), edges)
    axes = {"mt2": columns[MT2_COLUMN], "met": columns[MET_COLUMN]}
    view = efficiency_views(
        logit, result.probabilities, cuts, names, truth, EVENT_CLASSES, (grid,), axes, weight
    )[grid.name]
    tables = []
    for t in view.tables:  # working points x classes
        counted = t.cells.counted(min_events, min_expected)
        w = names.index(t.working_point)
        tables.append(
            EventCellTable(
                t.working_point,
                float(cuts[w]),
                t.truth,
                t.cells,
                counted,
                _skip_reasons(t.cells, counted, min_events, min_expected),
            )
        )
    classes = tuple(c.name for c in EVENT_CLASSES)
    c2st = _c2st(features, logit, surrogate, draws, c2st_rows, seed)
    ood = np.asarray(result.ood, dtype=bool)
    outside = int(np.sum(grid.index(axes) < 0))
    return EventValidation(
        surrogate={
            "name": card.name,
            "version": card.version,
            "bayes": card.bayes["method"],
            "files": dict(card.files),
            "score_space": card.score["space"],
        },
        table={
            "file": path.name,
            "sha256": sha256_file(path),
            "split": split,
            "score_column": score_column,
            "rows_used": int(logit.size),
            "rows_dropped_nonfinite": dropped,
            "rows_outside_grid": outside,
            **{f"n_{c.name}": int(c.rows(truth).sum()) for c in EVENT_CLASSES},
            **{
                f"sum_weight_pb_{c.name}": float(weight[c.rows(truth)].sum()) for c in EVENT_CLASSES
            },
            **{
                f"n_eff_{c.name}": kish_effective_count(weight[c.rows(truth)])
                for c in EVENT_CLASSES
            },
        },
        settings={
            "draws": draws,
            "seed": seed,
            "mt2_edges_gev": list(edges[0]),
            "met_edges_gev": list(edges[1]),
            "min_events": min_events,
            "min_expected": min_expected,
            "c2st_rows": c2st_rows,
            "working_points": dict(zip(names, cuts.tolist(), strict=True)),
            "weights": f"{WEIGHT_COLUMN} (event cross-section, pb) in every efficiency and "
            "error; counts are Kish effective counts; the two-sample test is unweighted",
            "pull": _PULL_NOTE,
        },
        grid=grid,
        tables=tuple(tables),
        summaries=_summaries(tables, classes, "pull"),
        summaries_binomial=_summaries(tables, classes, "pull_binomial"),
        c2st=c2st,
        ood_fraction=float(ood.mean()),
        ood_fraction_weighted=weighted_fraction(ood, weight)[0],
        seconds=round(time.perf_counter() - start, 2),
        classes=classes,
    )
