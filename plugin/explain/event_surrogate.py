"""Explain an event surrogate as its classifier is explained: the MET of selected events.

Roxlo and Reece (arXiv:1804.09278) find that a network separating a heavy stop from t tbar
selects events whose missing transverse momentum points azimuthally away from both leptons.
:func:`surrogate_met_orientation` asks whether the surrogate of that network
(:mod:`surrotag.reference.ship_event`) learnt the same: on the rows of an event table
(:mod:`surrotag.reference.event_table`) it compares the events the internal classifier
selects (logit above a working point) with those the surrogate selects, each event counted
with its surrogate tag probability (the mean over Bayesian draws of P(logit > cut |
features)). Both use the balanced weights of the classifier's explanation: within a class
the event cross-sections, the stop and the t tbar classes each summing to one half.

Example:
    >>> import numpy as np
    >>> out = orientation_fractions(np.array([3.0, 3.0, 0.1]), np.array([3.0, 0.2, 0.1]),
    ...                             np.array([1.0, 1.0, 1.0]), np.array([1.0, 0.0, 1.0]))
    >>> round(out["both_away_fraction_all"], 3), round(out["both_away_fraction_selected"], 3)
    (0.333, 0.5)

References:
    T. Roxlo, M. Reece, arXiv:1804.09278; classifier surrogates, arXiv:2402.15558.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import numpy as np

from surrotag.errors import InputValueError

__all__ = ["ANGLE_COLUMNS", "orientation_fractions", "surrogate_met_orientation"]

#: The event table's |Delta phi(MET, l1)| and |Delta phi(MET, l2)| columns (rad).
ANGLE_COLUMNS: Final = ("event_dphi_met_lep1", "event_dphi_met_lep2")


def orientation_fractions(
    dphi1: np.ndarray, dphi2: np.ndarray, weight: np.ndarray, selection: np.ndarray
) -> dict[str, float]:
    """Weighted share of events with MET away from both leptons (both |Delta phi| > pi/2).

    Args:
        dphi1, dphi2: |Delta phi(MET, l1)|, |Delta phi(MET, l2)| per event (rad).
        weight: event weights.
        selection: per event, the probability (or 0/1 decision) that it is selected.

    Returns:
        ``both_away_fraction_all`` (every event) and ``both_away_fraction_selected`` (each
        event weighted by ``weight * selection``); NaN for a zero total weight.
    """
    away = (np.asarray(dphi1) > 0.5 * np.pi) & (np.asarray(dphi2) > 0.5 * np.pi)
    out = {}
    for key, w in (("all", weight), ("selected", weight * selection)):
        total = float(np.sum(w))
        out[f"both_away_fraction_{key}"] = float(np.sum(w[away])) / total if total else np.nan
    return out


def surrogate_met_orientation(
    surrogate: str | os.PathLike[str],
    table: str | os.PathLike[str],
    *,
    working_point: str,
    split: str = "test",
    draws: int = 20,
    m_stop: float | None = None,
) -> dict[str, Any]:
    """MET orientation of the events the classifier and its surrogate select, per class.

    Args:
        surrogate: the event surrogate (registry name or folder).
        table: an event table with the surrogate's features, ``classifier_logit``,
            ``event_weight``, ``m_stop`` and the :data:`ANGLE_COLUMNS`.
        working_point: the card's working point whose cut selects.
        split: the table rows used.
        draws: Bayesian weight draws.
        m_stop: keep only the stop rows of this stop mass (GeV; e.g. the heavy benchmark
            the classifier was trained on: the cross-sections of lighter stops dominate a
            mixture); None: every stop row.

    Returns:
        ``{"working_point", "cut", "split", "rows", "balanced": {...}, "stop": {...},
        "ttbar": {...}}``: per event set (both classes with balanced weights, or one class
        with its cross-sections) the share with MET away from both leptons among all events
        (``all``), the classifier-selected ones (``classifier``) and the surrogate-selected
        ones (``surrogate``), and the selected weight share of each.

    Raises:
        InputValueError: an unknown working point or a table without both classes.
    """
    from surrotag.io.parquet import read_columns
    from surrotag.reference.event_table import LOGIT_COLUMN
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import load_surrogate
    from surrotag.tagging import evaluate_surrogate

    model, card = load_surrogate(resolve_surrogate(surrogate))
    points = {p["name"]: float(p["threshold"]) for p in card.working_points}
    if working_point not in points:
        raise InputValueError(
            f"{card.name} has no working point {working_point!r} (has: {', '.join(points)})"
        )
    cut = points[working_point]
    names = list(card.feature_names)
    needed = [*names, LOGIT_COLUMN, "event_weight", "m_stop", "split", *ANGLE_COLUMNS]
    columns = read_columns(Path(table), list(dict.fromkeys(needed)), text={"split"})
    rows = columns["split"] == split
    if m_stop is not None:
        rows &= np.isnan(columns["m_stop"]) | (columns["m_stop"] == m_stop)
    fills = card.feature_fills
    features = np.column_stack(
        [np.where(np.isnan(columns[n]), fills.get(n, np.nan), columns[n])[rows] for n in names]
    )
    keep = np.isfinite(features).all(axis=1)
    features = features[keep]
    logit = columns[LOGIT_COLUMN][rows][keep]
    weight = columns["event_weight"][rows][keep]
    stop = np.isfinite(columns["m_stop"][rows][keep])
    dphi = [columns[c][rows][keep] for c in ANGLE_COLUMNS]
    if stop.all() or not stop.any():
        raise InputValueError(f"{table}: split {split!r} needs stop and t tbar rows")
    result = evaluate_surrogate(model, features, thresholds=np.array([cut]), draws=draws)
    assert result.probabilities is not None
    probability = np.asarray(result.probabilities, dtype=np.float64)
    probability = probability.reshape(-1, len(logit)).mean(axis=0)  # mean over draws
    balanced = np.where(stop, 0.5 * weight / weight[stop].sum(),
                        0.5 * weight / weight[~stop].sum())  # fmt: skip
    out: dict[str, Any] = {"working_point": working_point, "cut": cut, "split": split,
                           "m_stop": m_stop, "rows": len(logit)}  # fmt: skip
    for name, mask, w in (("balanced", np.ones_like(stop), balanced), ("stop", stop, weight),
                          ("ttbar", ~stop, weight)):  # fmt: skip
        entry: dict[str, float] = {}
        for who, selection in (("classifier", (logit > cut).astype(float)),
                               ("surrogate", probability)):  # fmt: skip
            fractions = orientation_fractions(dphi[0][mask], dphi[1][mask], w[mask],
                                              selection[mask])  # fmt: skip
            entry["all"] = fractions["both_away_fraction_all"]
            entry[who] = fractions["both_away_fraction_selected"]
            entry[f"{who}_selected_share"] = float(
                np.sum(w[mask] * selection[mask]) / np.sum(w[mask])
            )
        out[name] = entry
    return out
