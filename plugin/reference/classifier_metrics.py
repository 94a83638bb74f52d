"""Figures of merit of a binary classifier on weighted events: ROC AUC, working points, Kish.

Generator weights may be unequal (pTHat-biased samples) or negative (NLO), so every figure is
weighted: the ROC AUC is the weighted probability that a signal event scores above a
background event (ties count one half, :func:`weighted_auc`); a working point is the
loosest cut whose weighted background efficiency is at most a target
(:func:`working_point`), and its signal efficiency is given only when enough Kish-effective
background events (:func:`kish_effective`) lie above it, never from a vanishing denominator.

References:
    L. Kish, Survey Sampling (Wiley, 1965); T. Roxlo, M. Reece, arXiv:1804.09278 (signal
    efficiency at a background efficiency of 1e-3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from surrotag.errors import InputValueError

__all__ = [
    "MIN_EFFECTIVE_BACKGROUND",
    "WorkingPoint",
    "efficiency_at",
    "kish_effective",
    "positive_total",
    "weighted_auc",
    "working_point",
]

#: Fewest Kish-effective background events above a cut for its signal efficiency to count.
MIN_EFFECTIVE_BACKGROUND: Final = 10.0


def kish_effective(weights: np.ndarray) -> float:
    """Kish's effective number of events (sum w)^2 / sum w^2 (0 for no or zero weights).

    Example:
        >>> kish_effective(np.array([1.0, 1.0, 2.0]))
        2.6666666666666665
    """
    w = np.asarray(weights, dtype=np.float64)
    squares = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / squares if squares > 0.0 else 0.0


def positive_total(weights: np.ndarray, what: str) -> float:
    """The total weight of one class (``what`` names it in the error).

    Raises:
        InputValueError: the total is not a positive finite number.
    """
    total = float(np.sum(weights, dtype=np.float64))
    if not total > 0.0 or not math.isfinite(total):
        raise InputValueError(
            f"{what}: total weight {total:g} of {len(weights)} events is not positive; "
            "give events whose weights sum to a positive number"
        )
    return total


def weighted_auc(
    signal_scores: np.ndarray,
    signal_w: np.ndarray,
    background_scores: np.ndarray,
    background_w: np.ndarray,
) -> float:
    """Weighted ROC AUC: P(score_signal > score_background), ties counting one half.

    Example:
        >>> weighted_auc(np.array([0.9, 0.4]), np.array([1.0, 3.0]),
        ...              np.array([0.5, 0.4]), np.array([1.0, 1.0]))
        0.4375

    Raises:
        InputValueError: a class whose total weight is not positive.
    """
    ws = positive_total(signal_w, "signal")
    wb = positive_total(background_w, "background")
    scores = np.concatenate([signal_scores, background_scores]).astype(np.float64)
    unique, inverse = np.unique(scores, return_inverse=True)
    n_s = len(signal_scores)
    sig = np.bincount(inverse[:n_s], weights=signal_w, minlength=len(unique))
    bkg = np.bincount(inverse[n_s:], weights=background_w, minlength=len(unique))
    below = np.cumsum(bkg) - bkg
    return float(np.sum(sig * (below + 0.5 * bkg)) / (ws * wb))


@dataclass(frozen=True)
class WorkingPoint:
    """A cut ``score > threshold`` at a target background efficiency.

    Attributes:
        target: the background efficiency asked for.
        threshold: the cut on the score (events strictly above pass; -inf: all pass).
        background_efficiency: the weighted fraction of background above the cut (<= target).
        signal_efficiency: the weighted fraction of signal above the cut; None when fewer
            than ``min_effective`` Kish-effective background events lie above it.
        n_background_effective: Kish-effective background events above the cut.
    """

    target: float
    threshold: float
    background_efficiency: float
    signal_efficiency: float | None
    n_background_effective: float


def working_point(
    signal_scores: np.ndarray,
    signal_w: np.ndarray,
    background_scores: np.ndarray,
    background_w: np.ndarray,
    background_efficiency: float,
    *,
    min_effective: float = MIN_EFFECTIVE_BACKGROUND,
) -> WorkingPoint:
    """The loosest cut on the score whose weighted background efficiency is at most the target.

    Scanning the background scores from the highest down, the cut sits just above the first
    score at which the cumulative weighted background fraction exceeds
    ``background_efficiency``. Events of equal score cannot be separated by a cut, so a
    group of ties is judged by its total (with negative generator weights the cumulative
    fraction can exceed the target inside a group and fall back below it at its end).

    Args:
        signal_scores, signal_w: signal scores and weights.
        background_scores, background_w: background scores and weights.
        background_efficiency: the target, in (0, 1].
        min_effective: fewest Kish-effective background events above the cut for a signal
            efficiency to be given (else None).

    Raises:
        InputValueError: a target outside (0, 1], or a class of non-positive total weight.
    """
    if not 0.0 < background_efficiency <= 1.0:
        raise InputValueError(
            f"background efficiency must be in (0, 1], got {background_efficiency}"
        )
    ws = positive_total(signal_w, "signal")
    wb = positive_total(background_w, "background")
    b_scores = np.asarray(background_scores, dtype=np.float64)
    order = np.argsort(-b_scores, kind="stable")
    ranked = b_scores[order]
    fraction = np.cumsum(np.asarray(background_w, dtype=np.float64)[order]) / wb
    ends = np.append(ranked[1:] != ranked[:-1], True)  # last entry of each group of ties
    over = np.flatnonzero(fraction[ends] > background_efficiency)
    threshold = float(ranked[ends][over[0]]) if len(over) else -math.inf
    above = b_scores > threshold
    n_eff = kish_effective(np.asarray(background_w)[above])
    s_scores = np.asarray(signal_scores, dtype=np.float64)
    passed = float(np.sum(np.asarray(signal_w, dtype=np.float64)[s_scores > threshold]))
    return WorkingPoint(
        target=float(background_efficiency),
        threshold=threshold,
        background_efficiency=float(np.sum(np.asarray(background_w)[above])) / wb,
        signal_efficiency=passed / ws if n_eff >= min_effective else None,
        n_background_effective=n_eff,
    )


def efficiency_at(
    signal_scores: np.ndarray,
    signal_w: np.ndarray,
    background_scores: np.ndarray,
    background_w: np.ndarray,
    background_efficiency: float,
    *,
    min_effective: float = MIN_EFFECTIVE_BACKGROUND,
) -> float | None:
    """Signal efficiency at a background efficiency (:func:`working_point`), or None when
    fewer than ``min_effective`` Kish-effective background events lie above the cut.

    Example:
        >>> background = np.arange(100) / 100  # 0.00 .. 0.99
        >>> efficiency_at(np.array([0.95, 0.5, 0.3]), np.ones(3), background, np.ones(100), 0.1)
        0.3333333333333333
        >>> print(efficiency_at(np.array([0.95]), np.ones(1), background, np.ones(100), 0.05))
        None
    """
    return working_point(
        signal_scores,
        signal_w,
        background_scores,
        background_w,
        background_efficiency,
        min_effective=min_effective,
    ).signal_efficiency
