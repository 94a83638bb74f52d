"""Tag counts of several objects (surrotag.tagging.counts) against brute-force enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from surrotag.errors import InputValueError
from surrotag.tagging import event_probabilities
from surrotag.tagging.combinatorics import REQUIREMENT_COUNTS
from surrotag.tagging.counts import count_bounds, count_distribution, count_probability


def _enumerated(p: np.ndarray) -> np.ndarray:
    """P(count = c) by summing over all 2^m tag patterns, ``[..., m + 1]``."""
    m = p.shape[-1]
    dist = np.zeros((*p.shape[:-1], m + 1))
    for pattern in itertools.product((0, 1), repeat=m):
        tagged = np.array(pattern, dtype=bool)
        prob = np.prod(np.where(tagged, p, 1.0 - p), axis=-1)
        dist[..., tagged.sum()] += prob
    return dist


@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_count_distribution_equals_enumeration(m):
    p = np.random.default_rng(m).random((3, 50, m))
    np.testing.assert_allclose(count_distribution(p), _enumerated(p), rtol=0, atol=1e-14)


def test_two_object_requirements_are_count_bounds():
    """both / exactly one / at least one / none / any of two objects, as tag counts."""
    rng = np.random.default_rng(1)
    a, b = rng.random((4, 30)), rng.random((4, 30))
    dist = count_distribution(np.stack([a, b], axis=-1))
    two = event_probabilities(a, b)
    for requirement, bounds in REQUIREMENT_COUNTS.items():
        np.testing.assert_allclose(count_probability(dist, *bounds), two.of(requirement),
                                   rtol=0, atol=1e-14)  # fmt: skip


def test_count_bounds_are_the_extremes_over_every_flagged_probability():
    """low/high equal the min/max over a 0..1 grid of every flagged object's probability."""
    rng = np.random.default_rng(2)
    k, n, m = 2, 60, 3
    p = rng.random((k, n, m))
    flags = rng.random((n, m)) < 0.4
    grid = np.linspace(0.0, 1.0, 5)
    for at_least, at_most in [(1, None), (2, 2), (0, 1), (1, 2), (3, 3), (0, 0)]:
        got = count_bounds(p, flags, at_least, at_most)
        scans = []
        for values in itertools.product(grid, repeat=m):
            q = np.where(flags, np.array(values), p)  # a flagged object takes the grid value
            scans.append(count_probability(count_distribution(q), at_least, at_most))
        scans = np.stack(scans)
        np.testing.assert_allclose(got.nominal, count_probability(count_distribution(p),
                                                                  at_least, at_most))  # fmt: skip
        np.testing.assert_allclose(got.low, scans.min(0), atol=1e-14)
        np.testing.assert_allclose(got.high, scans.max(0), atol=1e-14)
        clean = ~flags.any(1)
        np.testing.assert_array_equal(got.low[:, clean], got.nominal[:, clean])


def test_count_inputs_are_refused_with_one_line():
    with pytest.raises(InputValueError, match=r"\[0, 1\]"):
        count_distribution(np.array([0.5, np.nan]))
    with pytest.raises(InputValueError, match="at_least"):
        count_probability(count_distribution(np.array([0.5])), 2, 1)
    with pytest.raises(InputValueError, match=r"\[K, N, m\]"):
        count_bounds(np.zeros((2, 3)), np.zeros((2, 3), bool))
