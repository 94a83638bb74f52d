"""Yields add across chunks and convert to ``hist``: on the real Delphes ttH file.

The yields of the two chunks of the 10-event Delphes 3.4.2 sample (6 + 4 events, read by
``iter_events``) must add to the yields of the whole file read at once, in every weight
draw, in the MC statistical error and in the out-of-support yields. The tag probabilities
are a fixed function of each jet (its mass and b-tag, shifted per draw), a stand-in for a
surrogate's draws that depends on the event only, as a surrogate's does.
"""

from __future__ import annotations

import dataclasses

import awkward as ak
import numpy as np
import pytest

from surrotag.errors import InputValueError, SurrotagError
from surrotag.io import iter_events, read_events
from surrotag.tagging import event_probabilities
from surrotag.yields import DRAW_AXIS, Yields, normalisation, ood_region_yields, region_yields

EDGES_GEV = [0.0, 100.0, 250.0, 500.0, 2000.0]
"""m_jj bins of the two leading jets (GeV)."""
DRAW_SHIFTS = np.linspace(-1.0, 1.0, 5)[:, None]
"""Per-draw logit shifts ``[K = 5, 1]``: the stand-in for the surrogate's weight draws."""
OOD_PT_GEV = 120.0
"""Jets above this pT (GeV) count as out of the stand-in tagger's support."""
NORM = normalisation(0.5, 139.0, 10 * 0.5737980008125305)
"""sigma L / sum w of the 10-event file (0.5 pb, 139 fb^-1; equal generator weights)."""


def _tag_probability(jets: ak.Array) -> np.ndarray:
    """Stand-in per-draw tag probability ``[K, n]`` of one jet per event."""
    mass = ak.to_numpy(jets.mass).astype(np.float64)
    btag = ak.to_numpy(jets.btag).astype(np.float64)
    return 1.0 / (1.0 + np.exp(-((mass - 15.0) / 10.0 + btag + DRAW_SHIFTS)))


def _yields(events: ak.Array, requirement: str = "at_least_one") -> Yields:
    """Yields of ``requirement`` on the two leading jets of ``events``, OOD tracked."""
    assert ak.all(ak.num(events.jets) >= 2)
    j1, j2 = events.jets[:, 0], events.jets[:, 1]
    mjj = ak.to_numpy((j1 + j2).mass).astype(np.float64)
    weight = ak.to_numpy(events.weight).astype(np.float64) * NORM
    p1, p2 = _tag_probability(j1), _tag_probability(j2)
    f1, f2 = ak.to_numpy(j1.pt) > OOD_PT_GEV, ak.to_numpy(j2.pt) > OOD_PT_GEV
    prob = event_probabilities(p1, p2).of(requirement)
    nominal = region_yields(weight, prob, mjj, EDGES_GEV, name="mjj")
    ood = ood_region_yields(weight, p1, p2, f1, f2, requirement, mjj, EDGES_GEV)
    return dataclasses.replace(nominal, ood=ood)


@pytest.fixture(scope="module")
def whole(delphes_file) -> Yields:
    return _yields(read_events(delphes_file, level="delphes", collections=["weight", "jets"]))


@pytest.fixture(scope="module")
def chunks(delphes_file) -> list[Yields]:
    parts = list(
        iter_events(delphes_file, level="delphes", collections=["weight", "jets"], step_size=6)
    )
    assert [len(part) for part in parts] == [6, 4]
    return [_yields(part) for part in parts]


def _assert_same(a: Yields, b: Yields) -> None:
    np.testing.assert_array_equal(a.bin_edges, b.bin_edges)
    for field in ("nominal", "per_draw", "mc_stat_error", "covariance", "ood_down", "ood_up"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-12, atol=1e-12)


def test_two_chunks_add_to_the_whole_file(whole, chunks):
    total = chunks[0] + chunks[1]
    _assert_same(total, whole)
    assert total.observable == "mjj" and total.n_draws == 5
    # the stand-in spreads over draws and flags jets: every part of the sum is exercised
    assert np.all(whole.nominal > 0) and np.any(whole.covariance > 0)
    assert whole.has_ood_variation and 0.0 < whole.ood_share < 1.0
    assert total.ood_share == pytest.approx(whole.ood_share, rel=1e-12)
    for field in ("nominal", "down", "up"):
        np.testing.assert_allclose(
            getattr(total.ood, field), getattr(whole.ood, field), rtol=1e-12, atol=1e-12
        )
    # the covariance is recomputed from the summed draws, not the sum of the covariances
    assert not np.allclose(total.covariance, chunks[0].covariance + chunks[1].covariance)


def test_sum_of_a_list_and_order_do_not_matter(whole, chunks):
    _assert_same(sum(chunks), whole)
    _assert_same(sum(reversed(chunks)), whole)
    assert sum(chunks[:1]) is chunks[0]


def test_to_hist_layout_and_round_trip(whole):
    h = whole.to_hist()
    assert tuple(h.axes.name) == ("mjj", DRAW_AXIS)
    assert h.axes[0].label == "mjj [GeV]"
    np.testing.assert_array_equal(h.axes[0].edges, EDGES_GEV)
    assert list(h.axes[1]) == list(range(5))
    np.testing.assert_array_equal(h.values(), whole.per_draw.T)
    np.testing.assert_allclose(h.variances(), np.tile(whole.mc_stat_error[:, None] ** 2, 5))
    back = Yields.from_hist(h)
    _assert_same(back, dataclasses.replace(whole, ood=None))
    assert back.observable == "mjj" and back.ood is None
    # the axes may come in either order
    _assert_same(Yields.from_hist(h.project(DRAW_AXIS, "mjj")), back)


def test_histograms_of_chunks_add_like_the_yields(whole, chunks):
    summed = chunks[0].to_hist() + chunks[1].to_hist()
    np.testing.assert_allclose(summed.values(), whole.to_hist().values(), rtol=1e-12)
    np.testing.assert_allclose(summed.variances(), whole.to_hist().variances(), rtol=1e-12)
    _assert_same(Yields.from_hist(summed), dataclasses.replace(whole, ood=None))


def test_to_hist_plots_with_mplhep(whole):
    pytest.importorskip("mplhep")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        artists = whole.to_hist().plot1d(ax=ax, overlay=DRAW_AXIS)
        assert len(artists) == whole.n_draws
    finally:
        plt.close(fig)


def test_mismatched_yields_are_refused(whole):
    other_bins = region_yields([1.0], [[0.5]] * 5, [50.0], [0.0, 100.0, 2000.0], name="mjj")
    with pytest.raises(InputValueError, match="bin edges must be the same"):
        whole + dataclasses.replace(other_bins, ood=whole.ood)
    fewer = region_yields([1.0], [[0.5]] * 3, [50.0], EDGES_GEV, name="mjj")
    with pytest.raises(InputValueError, match="5 and of 3 weight draws"):
        whole + dataclasses.replace(fewer, ood=whole.ood)
    with pytest.raises(InputValueError, match="observable 'mjj' and 'mtt'"):
        whole + dataclasses.replace(whole, observable="mtt")
    with pytest.raises(InputValueError, match="with and without out-of-support"):
        whole + dataclasses.replace(whole, ood=None)
    assert issubclass(InputValueError, SurrotagError)
    with pytest.raises(TypeError):
        whole + 1.0
    # an unnamed observable adds to a named one
    assert (whole + dataclasses.replace(whole, observable=None)).observable == "mjj"


def test_from_hist_refuses_other_layouts(whole):
    import hist

    with pytest.raises(InputValueError, match="expected an observable axis"):
        Yields.from_hist(whole.to_hist()[:, sum])
    unweighted = hist.Hist(
        hist.axis.Variable(EDGES_GEV, name="mjj"), hist.axis.Integer(0, 2, name=DRAW_AXIS)
    )
    with pytest.raises(InputValueError, match="no variances"):
        Yields.from_hist(unweighted)
    h = whole.to_hist()
    h.view().variance[:, 0] *= 2.0
    with pytest.raises(InputValueError, match="differ between weight draws"):
        Yields.from_hist(h)
