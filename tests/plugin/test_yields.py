"""Closed-form checks of surrotag.yields: event probabilities, normalisation, binned yields."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import torch

from surrotag.errors import InputValueError, SurrotagError
from surrotag.tagging import at_least_one, event_probabilities
from surrotag.yields import Yields, normalisation, region_yields


def test_event_probabilities_closed_form_with_draw_axis():
    p1 = np.array([[0.2, 0.5, 1.0], [0.4, 0.0, 0.9]])  # [K=2, N=3]
    p2 = np.array([0.5, 0.3, 0.25])  # [N] broadcasts over draws
    probs = event_probabilities(p1, p2)
    assert probs.both.shape == (2, 3)
    np.testing.assert_allclose(probs.both[0], [0.1, 0.15, 0.25])
    np.testing.assert_allclose(probs.exactly_one[0], [0.2 * 0.5 + 0.5 * 0.8, 0.5, 0.75])
    np.testing.assert_allclose(probs.none[1], [0.3, 0.7, 0.075])
    np.testing.assert_allclose(probs.both + probs.exactly_one + probs.none, 1.0)
    np.testing.assert_allclose(probs.at_least_one, 1 - (1 - p1) * (1 - p2))


def test_event_probabilities_accepts_torch_and_rejects_bad_values():
    t = torch.tensor([0.3, 0.6], requires_grad=True)
    np.testing.assert_allclose(event_probabilities(t, t).both, [0.09, 0.36], rtol=1e-6)
    with pytest.raises(InputValueError, match="outside"):
        event_probabilities([0.5, 1.2], [0.5, 0.5])
    with pytest.raises(InputValueError, match="broadcast"):
        event_probabilities(np.ones((2, 3)) * 0.5, np.ones(4) * 0.5)


def test_at_least_one_jagged_matches_formula():
    p = ak.Array([[0.5, 0.5], [], [0.1, 0.2, 0.3], [1.0]])
    expected = [1 - 0.25, 0.0, 1 - 0.9 * 0.8 * 0.7, 1.0]
    np.testing.assert_allclose(at_least_one(p), expected)
    # draw axis in front: [K=2, N=2, var]
    pk = ak.Array([[[0.5], [0.1, 0.2]], [[0.25], []]])
    np.testing.assert_allclose(at_least_one(pk), [[0.5, 1 - 0.72], [0.25, 0.0]])
    np.testing.assert_allclose(at_least_one(np.array([[0.5, 0.5]])), [0.75])
    with pytest.raises(InputValueError):
        at_least_one(ak.Array([[0.5, -0.1]]))


def test_normalisation_units_and_errors():
    # 2 pb x 139 fb^-1 = 278000 events shared by a total weight of 1000
    assert normalisation(2.0, 139.0, 1000.0) == pytest.approx(278.0)
    assert normalisation(0.0, 139.0, 10) == 0.0
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(InputValueError, match="cross-section"):
            normalisation(bad, 139.0, 10)
    with pytest.raises(InputValueError, match="luminosity"):
        normalisation(1.0, 0.0, 10)
    with pytest.raises(InputValueError, match="sum of weights"):
        normalisation(1.0, 139.0, 0.0)
    assert issubclass(InputValueError, SurrotagError)


def test_region_yields_exact_sums_and_histogram_convention():
    w = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    x = np.array([50.0, 100.0, 150.0, 300.0, 20.0, 200.0])  # GeV; 20 is below the first edge
    edges = np.array([50.0, 100.0, 200.0, 300.0])
    p = np.array([[1.0, 0.5, 0.5, 1.0, 1.0, 0.0], [0.0, 0.5, 1.0, 1.0, 1.0, 1.0]])
    y = region_yields(w, p, x, edges)
    # bins: [50,100): event 0; [100,200): events 1, 2; [200,300]: events 3 (upper edge), 5
    np.testing.assert_allclose(y.per_draw, [[1.0, 1.0 + 1.5, 4.0], [0.0, 1.0 + 3.0, 4.0 + 6.0]])
    np.testing.assert_allclose(y.nominal, y.per_draw.mean(axis=0))
    np.testing.assert_allclose(y.covariance, np.cov(y.per_draw, rowvar=False))
    pbar = p.mean(axis=0)
    expected_err = [
        1.0 * pbar[0],
        np.hypot(2 * pbar[1], 3 * pbar[2]),
        np.hypot(4 * pbar[3], 6 * pbar[5]),
    ]
    np.testing.assert_allclose(y.mc_stat_error, expected_err)
    ref, _ = np.histogram(x, bins=edges, weights=w * p[1])
    np.testing.assert_allclose(y.per_draw[1], ref)


@pytest.mark.parametrize("one_hot_entries", [1 << 22, 64])  # one chunk / many event chunks
def test_region_yields_random_draws_match_numpy_reference(monkeypatch, one_hot_entries):
    monkeypatch.setattr("surrotag.yields._ONE_HOT_ENTRIES", one_hot_entries)
    rng = np.random.default_rng(7)
    n, k = 5000, 16
    w = rng.exponential(0.01, n)
    x = rng.uniform(0.0, 1000.0, n)
    p = rng.uniform(0.0, 1.0, (k, n))
    edges = np.array([0.0, 200.0, 450.0, 700.0, 1000.0])
    y = region_yields(w, torch.from_numpy(p), x, edges)
    ref = np.stack([np.histogram(x, bins=edges, weights=w * pk)[0] for pk in p])
    np.testing.assert_allclose(y.per_draw, ref, rtol=1e-12)
    np.testing.assert_allclose(y.covariance, np.cov(ref, rowvar=False), rtol=1e-10)
    assert y.n_draws == k and y.n_bins == 4


def test_region_yields_single_draw_and_errors():
    y = region_yields([1.0, 2.0], [0.5, 0.5], [0.5, 1.5], [0.0, 1.0, 2.0])
    np.testing.assert_allclose(y.nominal, [0.5, 1.0])
    np.testing.assert_array_equal(y.covariance, np.zeros((2, 2)))
    with pytest.raises(InputValueError, match="strictly increasing"):
        region_yields([1.0], [1.0], [0.5], [1.0, 0.0])
    with pytest.raises(InputValueError, match="expected"):
        region_yields([1.0, 1.0], np.ones((3, 5)), [0.5, 0.5], [0.0, 1.0])
    with pytest.raises(InputValueError, match="NaN"):
        region_yields([np.nan], [1.0], [0.5], [0.0, 1.0])


def test_yields_from_nominal():
    y = Yields.from_nominal([1.0, 2.0], [0.1, 0.2])
    assert y.n_draws == 1
    np.testing.assert_allclose(y.per_draw, [[1.0, 2.0]])
    with pytest.raises(InputValueError):
        Yields.from_nominal([1.0, 2.0], [0.1])


def test_event_probabilities_of_a_region_requirement():
    from surrotag.errors import InputValueError
    from surrotag.tagging import REQUIREMENTS, event_probabilities

    two = event_probabilities([0.2, 0.9], [0.5, 1.0])
    expected = {
        "both": [0.1, 0.9],
        "exactly_one": [0.5, 0.1],
        "at_least_one": [0.6, 1.0],
        "none": [0.4, 0.0],
        "any": [1.0, 1.0],
    }
    assert set(REQUIREMENTS) == set(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(two.of(name), values)
    with pytest.raises(InputValueError, match="requirement 'two'"):
        two.of("two")
