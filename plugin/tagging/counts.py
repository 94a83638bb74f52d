"""Tag counts of any number of objects: their distribution, a count requirement, and its range
when some objects lie out of the tagger's support.

The objects of an event are tagged independently given their features (per Bayesian weight
draw), so the number of tagged objects among m follows a Poisson-binomial distribution: the
recursion ``P_j(c) = P_{j-1}(c) (1 - p_j) + P_{j-1}(c - 1) p_j`` over the m objects (a loop
over objects, never over events; m is a handful) gives it for every draw and event at once
(:func:`count_distribution`). A count requirement "at least a and at most b tagged" is the
sum of the distribution over ``[a, b]`` (:func:`count_probability`): "at least one" is
``a = 1``, "exactly n" is ``a = b = n``, "none" is ``a = b = 0``.

An object out of the tagger's support may have any tag probability in [0, 1]. The
requirement's probability is multilinear in the objects' probabilities, so its least and
largest values over that box lie at corners, where every flagged object is tagged (1) or not
(0); the requirement depends only on *how many* of them are tagged, so the corners reduce to
``j = 0 .. f`` flagged objects tagged (:func:`count_bounds`). For two objects this includes
the mixed corner that "exactly one of two, both flagged" reaches (probability 1).

Shapes: K weight draws, N events, m objects per event. Arrays are numpy float64.

Examples:
    >>> dist = count_distribution(np.array([[[0.5, 0.5]]]))
    >>> dist.tolist()
    [[[0.25, 0.5, 0.25]]]
    >>> count_probability(dist, 1).tolist()
    [[0.75]]
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from surrotag.errors import InputValueError
from surrotag.tagging.combinatorics import check_probabilities

__all__ = ["CountBounds", "count_bounds", "count_distribution", "count_probability", "pair_bounds"]


def count_distribution(p: np.ndarray) -> np.ndarray:
    """Distribution of the number of tagged objects, ``[..., m + 1]``.

    Args:
        p: tag probabilities ``[..., m]`` (e.g. ``[K, N, m]``), each in [0, 1]; an absent
            object has probability 0.

    Returns:
        ``dist[..., c]``: the probability that exactly c of the m objects are tagged (sums to
        one over the last axis).

    Raises:
        InputValueError: a probability outside [0, 1] or NaN.
    """
    p = np.asarray(p, dtype=np.float64)
    check_probabilities(p, "tag probabilities")
    m = p.shape[-1]
    dist = np.zeros((*p.shape[:-1], m + 1))
    dist[..., 0] = 1.0
    for j in range(m):  # objects, not events
        q = p[..., j, None]
        shifted = np.zeros_like(dist)
        shifted[..., 1:] = dist[..., :-1]
        dist = dist * (1.0 - q) + shifted * q
    return dist


def _check_bounds(at_least: int, at_most: int | None) -> None:
    if at_least < 0 or (at_most is not None and at_most < at_least):
        raise InputValueError(
            f"tag count bounds at_least {at_least}, at_most {at_most}: need 0 <= at_least "
            "<= at_most"
        )


def count_probability(
    dist: np.ndarray, at_least: int = 0, at_most: int | None = None
) -> np.ndarray:
    """Probability that the tag count lies in ``[at_least, at_most]``.

    Args:
        dist: a :func:`count_distribution` ``[..., m + 1]``.
        at_least: least number of tagged objects (inclusive).
        at_most: most number of tagged objects (inclusive; None: no bound).

    Returns:
        ``[...]``: the summed probability (0 when ``at_least`` exceeds m).

    Raises:
        InputValueError: ``at_least < 0`` or ``at_most < at_least``.

    Example:
        >>> dist = count_distribution(np.array([0.5, 0.5, 1.0]))
        >>> float(count_probability(dist, 2, 2))
        0.5
    """
    _check_bounds(at_least, at_most)
    stop = dist.shape[-1] if at_most is None else min(at_most + 1, dist.shape[-1])
    return dist[..., at_least:stop].sum(axis=-1)


class CountBounds(NamedTuple):
    """A count requirement's probability and its range over the flagged objects' [0, 1].

    Attributes:
        nominal: with the objects' own probabilities ``[...]``.
        low: least over every flagged object's probability in [0, 1] ``[...]``.
        high: largest over the same ``[...]``; equal to ``nominal`` where nothing is flagged.
    """

    nominal: np.ndarray
    low: np.ndarray
    high: np.ndarray


def count_bounds(
    p: np.ndarray, flagged: np.ndarray, at_least: int = 0, at_most: int | None = None
) -> CountBounds:
    """A count requirement with the flagged objects' probabilities free in [0, 1].

    Args:
        p: tag probabilities ``[K, N, m]``.
        flagged: bool ``[N, m]``, the object lies out of the tagger's support.
        at_least: least number of tagged objects (inclusive).
        at_most: most number of tagged objects (inclusive; None: no bound).

    Returns:
        :class:`CountBounds`, each ``[K, N]``.

    Raises:
        InputValueError: bad bounds, probabilities or shapes.

    Example:
        >>> both_flagged = count_bounds(np.full((1, 1, 2), 0.5), np.ones((1, 2), bool), 1, 1)
        >>> [b.tolist() for b in both_flagged]
        [[[0.5]], [[0.0]], [[1.0]]]
    """
    p = np.asarray(p, dtype=np.float64)
    flags = np.asarray(flagged, dtype=bool)
    if p.ndim != 3 or flags.shape != p.shape[1:]:
        raise InputValueError(
            f"count_bounds: probabilities {p.shape} must be [K, N, m] and flags {flags.shape} "
            "[N, m]"
        )
    _check_bounds(at_least, at_most)
    nominal = count_probability(count_distribution(p), at_least, at_most)
    n_flagged = flags.sum(axis=1)  # [N]
    if not n_flagged.any():
        return CountBounds(nominal, nominal.copy(), nominal.copy())
    free = count_distribution(np.where(flags, 0.0, p))  # the others' count [K, N, m + 1]
    m = p.shape[-1]
    low, high = nominal.copy(), nominal.copy()
    rows = n_flagged > 0
    low[:, rows], high[:, rows] = np.inf, -np.inf
    for j in range(int(n_flagged.max()) + 1):  # j flagged objects tagged, the rest not
        first = max(at_least - j, 0)
        last = m - j if at_most is None else at_most - j
        corner = free[..., first : last + 1].sum(axis=-1) if last >= 0 else np.zeros_like(low)
        reach = rows & (n_flagged >= j)
        low[:, reach] = np.minimum(low[:, reach], corner[:, reach])
        high[:, reach] = np.maximum(high[:, reach], corner[:, reach])
    return CountBounds(nominal, low, high)


def pair_bounds(
    p1: np.ndarray, p2: np.ndarray, flagged: np.ndarray, requirement: str, nominal: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The least and largest probability of a two-candidate requirement over the flagged
    candidates' [0, 1] (:func:`count_bounds` on the events with a flagged candidate).

    Args:
        p1, p2: the candidates' tag probabilities ``[K, N]``.
        flagged: bool ``[N, 2]``, the candidate lies out of the tagger's support.
        requirement: ``both``, ``exactly_one``, ``at_least_one``, ``none`` or ``any``
            (:data:`surrotag.tagging.combinatorics.REQUIREMENT_COUNTS`).
        nominal: the requirement's probability ``[K, N]``, kept where nothing is flagged.

    Returns:
        ``(low, high)``, each ``[K, N]``.
    """
    from surrotag.tagging.combinatorics import REQUIREMENT_COUNTS

    low, high = nominal.copy(), nominal.copy()
    rows = np.flatnonzero(np.asarray(flagged, dtype=bool).any(axis=1))
    if rows.size:
        pair = np.stack([p1[:, rows], p2[:, rows]], axis=-1)  # [K, n, 2]
        bounds = count_bounds(pair, flagged[rows], *REQUIREMENT_COUNTS[requirement])
        low[:, rows], high[:, rows] = bounds.low, bounds.high
    return low, high
