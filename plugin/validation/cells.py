"""Efficiency cells of a validation: truth classes, 1-D and 2-D grids, pulls per cell.

A *cell* is a bin of one grid (jet pt, soft-drop mass, or pt x soft-drop mass, GeV), for
one working point and one truth class. In each cell :func:`surrotag.validation.metrics.
efficiency_cells` compares the internal tagger's observed efficiency with the surrogate's
exact one; :class:`ViewSummary` summarises the pulls of the cells that count.

Truth classes (:data:`TRUTH_CLASSES`, from the reference table's ``label`` and
``truth_top_matched``):

* ``top`` (code 1): contained top jets, matched to a hadronic top whose b, q, q' all lie
  inside the jet (``label == 1``);
* ``partial`` (code -1): jets matched to a hadronic top with not all of b, q, q' inside
  (``label == -1`` and matched);
* ``qcd`` (code 0): QCD jets and top-sample jets matched to no hadronic top.

Counting rule (:data:`MIN_CELL_ENTRIES`, :data:`MIN_EXPECTED`): a cell enters the pull
summaries when it has at least 20 effective jets and the surrogate expects at least 5
effective jets both passing and failing the cut, so that the pull is close to normal; empty
and sparse cells are shown but never counted (:meth:`.CellEfficiencies.counted`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from surrotag.validation.metrics import (
    CellEfficiencies,
    PullSummary,
    efficiency_cells,
    pull_summary,
)

__all__ = [
    "MASS_EDGES",
    "MATCHED",
    "MIN_CELL_ENTRIES",
    "MIN_EXPECTED",
    "STANDARD_CLASSES",
    "TRUTH_CLASSES",
    "CellGrid",
    "CellTable",
    "EfficiencyView",
    "TruthClass",
    "ViewSummary",
    "default_grids",
    "efficiency_views",
    "truth_class",
]

#: Truth class codes: contained top, partially contained top, QCD or unmatched.
TRUTH_CLASSES: Final = {"top": 1, "partial": -1, "qcd": 0}
#: Soft-drop mass cell edges (GeV).
MASS_EDGES: Final = (0.0, 30.0, 60.0, 100.0, 140.0, 180.0, 220.0, 300.0, 450.0, 1000.0)
#: Fewest effective jets ``(sum w)^2 / sum w^2`` of a counted cell.
MIN_CELL_ENTRIES: Final = 20.0
#: Fewest effective jets the surrogate expects on either side of the cut in a counted cell.
MIN_EXPECTED: Final = 5.0


@dataclass(frozen=True)
class TruthClass:
    """A set of truth class codes shown (and possibly tested) together.

    Attributes:
        name: ``top``, ``partial``, ``qcd`` or ``matched``.
        codes: the :data:`TRUTH_CLASSES` codes it holds.
        description: one line for the report.
    """

    name: str
    codes: tuple[int, ...]
    description: str

    def rows(self, truth: np.ndarray) -> np.ndarray:
        """[N] bool: the jets of this class, given their truth codes [N]."""
        return np.isin(truth, self.codes)


#: The three truth classes, each its own class in every figure.
STANDARD_CLASSES: Final = (
    TruthClass("top", (1,), "contained top jets (matched, b q q' inside; label 1)"),
    TruthClass("partial", (-1,), "jets matched to a hadronic top, not all of b q q' inside"),
    TruthClass("qcd", (0,), "QCD jets and top-sample jets matched to no hadronic top"),
)
#: Every jet matched to a hadronic top: the domain of a parton-level surrogate, which
#: cannot know the containment.
MATCHED: Final = TruthClass("matched", (1, -1), "every jet matched to a hadronic top")


def truth_class(label: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """Truth class code per jet: 1 contained top, -1 partially contained, 0 QCD or unmatched.

    Args:
        label: [N] reference-table label (1 contained top, 0 QCD jet, -1 other top-sample jet).
        matched: [N] ``truth_top_matched`` (1 for a jet matched to a hadronic top).
    """
    label = np.asarray(label)
    matched = np.asarray(matched) == 1
    return np.where(label == 1, 1, np.where((label == -1) & matched, -1, 0)).astype(np.int8)


@dataclass(frozen=True)
class CellGrid:
    """Bins of one or two jet quantities; cells are numbered in C order.

    Attributes:
        name: ``pt``, ``mass`` or ``pt_mass``.
        axes: the quantities binned (keys of the ``values`` mapping of :meth:`index`).
        labels: axis labels for figures.
        edges: bin edges per axis (GeV).
    """

    name: str
    axes: tuple[str, ...]
    labels: tuple[str, ...]
    edges: tuple[tuple[float, ...], ...]

    @property
    def shape(self) -> tuple[int, ...]:
        """Bins per axis."""
        return tuple(len(e) - 1 for e in self.edges)

    @property
    def n_cells(self) -> int:
        """Number of cells (product of :attr:`shape`)."""
        return int(np.prod(self.shape))

    def index(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """[N] flat cell index of each jet; -1 outside the edges or for non-finite values."""
        flat: np.ndarray | None = None
        outside: np.ndarray | None = None
        for axis, edges in zip(self.axes, self.edges, strict=True):
            x = np.asarray(values[axis], dtype=np.float64)
            e = np.asarray(edges, dtype=np.float64)
            i = np.digitize(x, e) - 1
            bad = (i < 0) | (i >= e.size - 1) | ~np.isfinite(x)
            i = np.where(bad, 0, i)
            flat = i if flat is None else flat * (e.size - 1) + i
            outside = bad if outside is None else outside | bad
        assert flat is not None and outside is not None
        return np.where(outside, -1, flat)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (edges in GeV)."""
        return {
            "name": self.name,
            "axes": list(self.axes),
            "labels": list(self.labels),
            "edges": [list(e) for e in self.edges],
            "shape": list(self.shape),
        }


def default_grids(
    pt_edges: Sequence[float], pt_label: str = "jet_pt", mass_edges: Sequence[float] = MASS_EDGES
) -> tuple[CellGrid, ...]:
    """The grids of the report: pt, soft-drop mass, and pt x soft-drop mass (GeV)."""
    pt, mass = tuple(float(e) for e in pt_edges), tuple(float(e) for e in mass_edges)
    return (
        CellGrid("pt", ("pt",), (pt_label,), (pt,)),
        CellGrid("mass", ("mass",), ("m_SD",), (mass,)),
        CellGrid("pt_mass", ("pt", "mass"), (pt_label, "m_SD"), (pt, mass)),
    )


@dataclass(frozen=True)
class CellTable:
    """The cells of one grid, working point and truth class.

    Attributes:
        grid: grid name.
        working_point: working point name.
        truth: truth class name.
        cells: the efficiencies and pulls.
        counted: [B] bool, the cells that enter the summaries (see the module docstring).
    """

    grid: str
    working_point: str
    truth: str
    cells: CellEfficiencies
    counted: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: one flat list per quantity (C order of the grid's cells)."""
        c = self.cells
        has = c.n > 0
        out: dict[str, Any] = {
            key: getattr(c, key).tolist()
            for key in (
                "n",
                "n_eff",
                "n_passed",
                "eps_true",
                "err_true",
                "eps_sur",
                "sigma_bayes",
                "err_null",
                "sigma",
                "pull",
                "pull_binomial",
            )
        }
        out["counted"] = self.counted.tolist()
        with np.errstate(invalid="ignore"):
            out["eps_draw_min"] = np.where(has, c.eps_draws.min(0), np.nan).tolist()
            out["eps_draw_max"] = np.where(has, c.eps_draws.max(0), np.nan).tolist()
        return out


@dataclass(frozen=True)
class ViewSummary:
    """Pulls of the counted cells of one grid, over working points and the given classes.

    Attributes:
        grid: grid name.
        classes: truth classes included.
        n_cells: cells with at least one jet.
        n_counted: cells counted (the counting rule).
        pulls: the pull distribution of the counted cells.
        pulls_binomial: the same cells with the binomial tagger error (comparison).
        median_relative_spread: median of ``sigma_Bayes / eps_sur`` over the counted cells.
        per_class: the pull distribution per class.
        min_entries: the counting rule's fewest effective jets.
        min_expected: the counting rule's fewest expected passing and failing jets.
    """

    grid: str
    classes: tuple[str, ...]
    n_cells: int
    n_counted: int
    pulls: PullSummary
    pulls_binomial: PullSummary
    median_relative_spread: float
    per_class: Mapping[str, PullSummary]
    min_entries: float = MIN_CELL_ENTRIES
    min_expected: float = MIN_EXPECTED

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {
            "grid": self.grid,
            "classes": list(self.classes),
            "n_cells": self.n_cells,
            "n_counted": self.n_counted,
            "pulls": self.pulls.to_dict(),
            "pulls_binomial": self.pulls_binomial.to_dict(),
            "median_relative_spread": self.median_relative_spread,
            "per_class": {name: s.to_dict() for name, s in self.per_class.items()},
            "counting_rule": {
                "min_effective_jets": self.min_entries,
                "min_expected_passing_and_failing": self.min_expected,
            },
        }


@dataclass(frozen=True)
class EfficiencyView:
    """Every cell table of one grid (working points x truth classes)."""

    grid: CellGrid
    tables: tuple[CellTable, ...]

    def table(self, working_point: str, truth: str) -> CellTable:
        """The table of one working point and truth class.

        Raises:
            KeyError: no such table.
        """
        for table in self.tables:
            if table.working_point == working_point and table.truth == truth:
                return table
        raise KeyError(f"grid {self.grid.name}: no table for {working_point}, {truth}")

    @property
    def working_points(self) -> tuple[str, ...]:
        """Working point names, in order."""
        return tuple(dict.fromkeys(t.working_point for t in self.tables))

    @property
    def truths(self) -> tuple[str, ...]:
        """Truth class names, in order."""
        return tuple(dict.fromkeys(t.truth for t in self.tables))

    def summary(self, classes: Sequence[str], within: float = 2.0) -> ViewSummary:
        """Pull distribution of the counted cells of ``classes`` over all working points."""
        chosen = [t for t in self.tables if t.truth in classes]

        def gather(key: str, tables: Sequence[CellTable]) -> np.ndarray:
            parts = [getattr(t.cells, key)[t.counted] for t in tables]
            return np.concatenate(parts) if parts else np.zeros(0)

        spread = gather("relative_spread", chosen)
        spread = spread[np.isfinite(spread)]
        return ViewSummary(
            grid=self.grid.name,
            classes=tuple(classes),
            n_cells=int(sum(int(np.sum(t.cells.n > 0)) for t in chosen)),
            n_counted=int(sum(int(t.counted.sum()) for t in chosen)),
            pulls=pull_summary(gather("pull", chosen), within),
            pulls_binomial=pull_summary(gather("pull_binomial", chosen), within),
            median_relative_spread=float(np.median(spread)) if spread.size else float("nan"),
            per_class={
                name: pull_summary(gather("pull", [t for t in chosen if t.truth == name]), within)
                for name in classes
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: the grid and, per working point and class, the cells."""
        cells: dict[str, dict[str, Any]] = {}
        for table in self.tables:
            cells.setdefault(table.working_point, {})[table.truth] = table.to_dict()
        return {**self.grid.to_dict(), "cells": cells}


def efficiency_views(
    logit: np.ndarray,
    prob: np.ndarray,
    thresholds: Sequence[float],
    working_points: Sequence[str],
    truth: np.ndarray,
    classes: Sequence[TruthClass],
    grids: Sequence[CellGrid],
    axes: Mapping[str, np.ndarray],
    weights: np.ndarray | None = None,
) -> dict[str, EfficiencyView]:
    """Efficiency cells of every grid, working point and truth class.

    Args:
        logit: [N] the internal tagger's score (modelled space); it passes ``w`` when
            ``logit > thresholds[w]``.
        prob: [K, N, W] the surrogate's exact ``P(score > thresholds[w])`` per draw.
        thresholds: [W] cuts (modelled space).
        working_points: [W] their names.
        truth: [N] truth class codes (:func:`truth_class`).
        classes: the classes shown (a class without jets is left out).
        grids: the cell grids.
        axes: [N] values per axis name of the grids (GeV).
        weights: [N] jet weights; None: unweighted.

    Returns:
        Per grid name, its :class:`EfficiencyView`.
    """
    logit = np.asarray(logit, dtype=np.float64)
    prob = np.asarray(prob, dtype=np.float64)
    if prob.ndim != 3 or prob.shape[1] != logit.size or prob.shape[2] != len(thresholds):
        raise ValueError(
            f"probabilities of shape {prob.shape}; expected [K, {logit.size}, {len(thresholds)}]"
        )
    present = [c for c in classes if c.rows(truth).any()]
    views = {}
    for grid in grids:
        cell = grid.index(axes)
        tables = []
        for w, name in enumerate(working_points):
            passed = logit > thresholds[w]
            for cls in present:
                rows = cls.rows(truth)
                cells = efficiency_cells(
                    passed[rows],
                    prob[:, rows, w],
                    cell[rows],
                    grid.n_cells,
                    None if weights is None else np.asarray(weights)[rows],
                )
                counted = cells.counted(MIN_CELL_ENTRIES, MIN_EXPECTED)
                tables.append(CellTable(grid.name, name, cls.name, cells, counted))
        views[grid.name] = EfficiencyView(grid, tuple(tables))
    return views
