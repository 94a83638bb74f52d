"""Vectorised dijet selection on real generator output and on real Delphes events."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from surrotag.analysis import SelectionSpec, get_analysis
from surrotag.errors import AnalysisError
from surrotag.io import read_events
from surrotag.selection import CUTS, select

ANALYSIS = "zprime-ttbar-allhad"


@pytest.fixture(scope="module")
def zprime_events(tmp_path_factory) -> ak.Array:
    """60 Pythia events pp -> Z'(2 TeV) -> t tbar through the reference detector (~3 s)."""
    from surrotag.reference.generate import generate

    out = tmp_path_factory.mktemp("zprime") / "zprime_m2000.parquet"
    path = generate("zprime-ttbar", 60, seed=31, jobs=1, mass=2000.0, out=out)
    return read_events(path)


def _numpy_cutflow(events: ak.Array, spec: SelectionSpec) -> tuple[dict, np.ndarray]:
    """The same selection written out plainly, per event, from the stored jet lists."""
    counts = dict.fromkeys(CUTS, 0)
    mjj = np.full(len(events), np.nan)
    for i, jets in enumerate(ak.to_list(events.fatjets)):
        counts["all"] += 1
        if len(jets) < 2:
            continue
        counts["two_objects"] += 1
        pts = np.array([jet["pt"] for jet in jets])
        first, second = (jets[k] for k in np.argsort(-pts, kind="stable")[:2])
        four = []
        for jet in (first, second):
            px, py = jet["pt"] * np.cos(jet["phi"]), jet["pt"] * np.sin(jet["phi"])
            pz = jet["pt"] * np.sinh(jet["eta"])
            energy = np.sqrt(px**2 + py**2 + pz**2 + jet["mass"] ** 2)
            four.append(np.array([energy, px, py, pz]))
        total = four[0] + four[1]
        mjj[i] = np.sqrt(max(total[0] ** 2 - np.sum(total[1:] ** 2), 0.0))
        rapidity = [0.5 * np.log((p[0] + p[3]) / (p[0] - p[3])) for p in four]
        if not first["pt"] > spec.leading_pt_min_gev:
            continue
        counts["leading_pt"] += 1
        if not second["pt"] > spec.subleading_pt_min_gev:
            continue
        counts["subleading_pt"] += 1
        if not (abs(first["eta"]) < spec.abs_eta_max and abs(second["eta"]) < spec.abs_eta_max):
            continue
        counts["abs_eta"] += 1
        if not abs(rapidity[0] - rapidity[1]) < spec.abs_delta_y_max:
            continue
        counts["abs_delta_y"] += 1
    return counts, mjj


def test_zprime_selection_matches_plain_recomputation(zprime_events):
    card = get_analysis(ANALYSIS).card
    selection = select(zprime_events, card)
    counts, mjj = _numpy_cutflow(zprime_events, card.selection)
    assert dict(selection.cutflow) == counts
    assert selection.n_selected == counts["abs_delta_y"] == int(selection.mask.sum())
    assert counts["abs_delta_y"] >= 20  # a 2 TeV Z' passes this selection mostly
    np.testing.assert_allclose(selection.mjj, mjj, rtol=1e-6, equal_nan=True)
    # the weighted cutflow counts each event by its generator weight
    weight = ak.to_numpy(zprime_events.weight)
    assert selection.cutflow_weighted["abs_delta_y"] == pytest.approx(weight[selection.mask].sum())


def test_zprime_mjj_peaks_near_the_resonance_mass(zprime_events):
    analysis = get_analysis(ANALYSIS)
    selection = select(zprime_events, analysis)
    selected = selection.mjj[selection.mask]
    edges = np.asarray(analysis.card.region("SR").observable.bin_edges_gev)
    counts, _ = np.histogram(selected, bins=edges)
    peak = edges[np.argmax(counts)]
    assert 1600.0 <= peak < 2250.0, (peak, counts)
    assert 1600.0 < np.median(selected) < 2100.0
    assert np.all(selected > 900.0)  # pT > 500 and 400 GeV imply mjj well above 800 GeV


def test_indices_point_at_the_two_leading_jets(zprime_events):
    selection = select(zprime_events, get_analysis(ANALYSIS))
    jets = zprime_events.fatjets
    two = selection.indices[:, 1] >= 0
    assert np.array_equal(two, ak.to_numpy(ak.num(jets) >= 2))
    rows = np.flatnonzero(two)
    lead = ak.to_numpy(jets.pt[rows, selection.indices[rows, 0]])
    sub = ak.to_numpy(jets.pt[rows, selection.indices[rows, 1]])
    assert np.all(lead >= sub)
    assert np.allclose(lead, ak.to_numpy(ak.max(jets.pt[rows], axis=1)))
    assert np.all(np.isnan(selection.mjj[~two]))


def test_tighter_cut_changes_only_its_own_and_later_counts(zprime_events):
    base = get_analysis(ANALYSIS).card.selection
    loose = select(zprime_events, base)
    tight = select(
        zprime_events,
        SelectionSpec(base.collection, 800.0, base.subleading_pt_min_gev, 2.0, 1.8),
    )
    assert tight.cutflow["two_objects"] == loose.cutflow["two_objects"]
    assert tight.cutflow["leading_pt"] < loose.cutflow["leading_pt"]
    assert not np.any(tight.mask & ~loose.mask)


def test_real_delphes_ttH_selects_nothing(delphes_file):
    """All fat jets of this file are below 410 GeV: no event passes, and nothing breaks."""
    events = read_events(delphes_file)
    selection = select(events, get_analysis(ANALYSIS))
    assert selection.n_selected == 0
    assert selection.mask.shape == (len(events),)
    assert selection.cutflow["all"] == len(events)
    assert selection.cutflow["two_objects"] == int(np.sum(ak.to_numpy(ak.num(events.fatjets)) >= 2))
    assert selection.cutflow["leading_pt"] == 0


def test_events_without_the_collection_are_one_line(lhe_ttbar_file):
    events = read_events(lhe_ttbar_file)
    with pytest.raises(AnalysisError, match="events have no 'fatjets' collection"):
        select(events, get_analysis(ANALYSIS))


def test_zero_events(zprime_events):
    selection = select(zprime_events[:0], get_analysis(ANALYSIS))
    assert selection.indices.shape == (0, 2)
    assert selection.mjj.shape == selection.mask.shape == (0,)
    assert dict(selection.cutflow) == dict.fromkeys(CUTS, 0)


def _jets(pt, eta, phi, mass) -> ak.Array:
    fatjets = ak.zip({"pt": pt, "eta": eta, "phi": phi, "mass": mass}, with_name="Momentum4D")
    return ak.zip({"fatjets": fatjets, "weight": np.ones(len(pt))}, depth_limit=1)


def test_delta_y_is_rapidity_and_mjj_closed_form():
    """Massive jets: |delta eta| = 1.95 fails a 1.8 cut, |delta y| = 1.753 passes it.

    y = asinh(pT sinh(eta) / sqrt(pT^2 + m^2)); the second event is two back-to-back
    massless 1 TeV jets at eta = 0, so mjj = 2 TeV exactly.
    """
    events = _jets(
        pt=[[600.0, 500.0], [1000.0, 1000.0]],
        eta=[[1.0, -0.95], [0.0, 0.0]],
        phi=[[0.0, 3.0], [0.0, np.pi]],
        mass=[[300.0, 300.0], [0.0, 0.0]],
    )
    selection = select(events, get_analysis(ANALYSIS))
    pt, eta, mass = np.array([600.0, 500.0]), np.array([1.0, -0.95]), 300.0
    y = np.arcsinh(pt * np.sinh(eta) / np.hypot(pt, mass))
    assert selection.delta_y[0] == pytest.approx(abs(y[0] - y[1]), rel=1e-12)
    assert selection.delta_y[0] < 1.8 < abs(eta[0] - eta[1])
    assert selection.mjj[1] == pytest.approx(2000.0, rel=1e-12)
    assert selection.mask.tolist() == [True, True]
