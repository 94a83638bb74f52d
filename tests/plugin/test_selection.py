"""Vectorised card selections on real generator output and on real Delphes events."""

from __future__ import annotations

from dataclasses import replace

import awkward as ak
import numpy as np
import pytest

from surrotag.analysis import SelectionSpec, get_analysis
from surrotag.analysis_card import Cut, load_analysis_card, upgrade_card
from surrotag.errors import AnalysisError
from surrotag.io import read_events
from surrotag.selection import cut_names, select

ANALYSIS = "zprime-ttbar-allhad"


@pytest.fixture(scope="module")
def zprime_events(tmp_path_factory) -> ak.Array:
    """60 Pythia events pp -> Z'(2 TeV) -> t tbar through the reference detector (~3 s)."""
    from surrotag.reference.generate import generate

    out = tmp_path_factory.mktemp("zprime") / "zprime_m2000.parquet"
    path = generate("zprime-ttbar", 60, seed=31, jobs=1, mass=2000.0, out=out)
    return read_events(path)


def _bound(spec: SelectionSpec, name: str) -> float:
    cut = next(cut for cut in spec.cuts if cut.name == name)
    return cut.above if cut.above is not None else cut.below


def _numpy_cutflow(events: ak.Array, spec: SelectionSpec) -> tuple[dict, np.ndarray]:
    """The card's selection written out plainly, per event, from the stored jet lists."""
    assert cut_names(spec) == (
        "all", "two_objects", "leading_pt", "subleading_pt", "abs_eta", "abs_delta_y"
    )  # fmt: skip
    lead, sub = _bound(spec, "leading_pt"), _bound(spec, "subleading_pt")
    eta_max, delta_y_max = _bound(spec, "abs_eta"), _bound(spec, "abs_delta_y")
    counts = dict.fromkeys(cut_names(spec), 0)
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
        if not first["pt"] > lead:
            continue
        counts["leading_pt"] += 1
        if not second["pt"] > sub:
            continue
        counts["subleading_pt"] += 1
        if not (abs(first["eta"]) < eta_max and abs(second["eta"]) < eta_max):
            continue
        counts["abs_eta"] += 1
        if not abs(rapidity[0] - rapidity[1]) < delta_y_max:
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
    np.testing.assert_allclose(selection.values["mjj"], mjj, rtol=1e-6, equal_nan=True)
    # the weighted cutflow counts each event by its generator weight
    weight = ak.to_numpy(zprime_events.weight)
    assert selection.cutflow_weighted["abs_delta_y"] == pytest.approx(weight[selection.mask].sum())


def test_zprime_mjj_peaks_near_the_resonance_mass(zprime_events):
    analysis = get_analysis(ANALYSIS)
    selection = select(zprime_events, analysis)
    selected = selection.values["mjj"][selection.mask]
    edges = np.asarray(analysis.card.region("SR").observable.bin_edges)
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
    assert np.all(np.isnan(selection.values["mjj"][~two]))


def test_tighter_cut_changes_only_its_own_and_later_counts(zprime_events):
    base = get_analysis(ANALYSIS).card.selection
    loose = select(zprime_events, base)
    cuts = tuple(replace(c, above=800.0) if c.name == "leading_pt" else c for c in base.cuts)
    tight = select(zprime_events, replace(base, cuts=cuts))
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
    assert selection.values["mjj"].shape == selection.mask.shape == (0,)
    assert dict(selection.cutflow) == dict.fromkeys(cut_names(selection_spec()), 0)


def selection_spec() -> SelectionSpec:
    return get_analysis(ANALYSIS).card.selection


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
    card = get_analysis(ANALYSIS).card
    selection = select(events, card)
    pt, eta, mass = np.array([600.0, 500.0]), np.array([1.0, -0.95]), 300.0
    y = np.arcsinh(pt * np.sinh(eta) / np.hypot(pt, mass))
    delta_y = select(events, _with_region_observable(card, "abs_delta_y")).values["abs_delta_y"]
    assert delta_y[0] == pytest.approx(abs(y[0] - y[1]), rel=1e-12)
    assert delta_y[0] < 1.8 < abs(eta[0] - eta[1])
    assert selection.values["mjj"][1] == pytest.approx(2000.0, rel=1e-12)
    assert selection.mask.tolist() == [True, True]


def _with_region_observable(card, name):
    region = replace(card.regions[0], observable=replace(card.regions[0].observable, name=name))
    return replace(card, regions=(region,))


def _spec(*cuts: Cut, candidates: int = 2) -> SelectionSpec:
    return SelectionSpec("fatjets", candidates, cuts)


def test_bounds_strict_and_inclusive_and_missing_objects_fail():
    """pT exactly at the bound: ``above`` fails it, ``at_least`` passes; one-jet events fail
    any cut on the second jet (NaN), and ``each`` needs every candidate to pass."""
    events = _jets(
        pt=[[500.0, 400.0], [700.0], [600.0, 450.0]],
        eta=[[0.0, 2.5], [0.0], [0.1, -0.2]],
        phi=[[0.0, 3.0], [0.0], [0.0, 3.0]],
        mass=[[10.0, 10.0], [10.0], [10.0, 10.0]],
    )
    strict = select(events, _spec(Cut("lead", "pt", object=0, above=500.0), candidates=1))
    inclusive = select(events, _spec(Cut("lead", "pt", object=0, at_least=500.0), candidates=1))
    assert strict.mask.tolist() == [False, True, True]
    assert inclusive.mask.tolist() == [True, True, True]
    second = select(events, _spec(Cut("sub", "pt", object=1, at_most=1e9)))
    assert second.mask.tolist() == [True, False, True]
    each = select(events, _spec(Cut("central", "abs_eta", object="each", below=2.0)))
    assert each.mask.tolist() == [False, False, True]
    window = select(events, _spec(Cut("w", "mjj", above=100.0, below=1000.0)))
    assert window.cutflow["w"] == int(window.mask.sum())


def test_event_observables_read_other_collections(delphes_file):
    """count, ht and met on the real Delphes file, against plain awkward sums."""
    events = read_events(delphes_file)
    spec = _spec(
        Cut("four_jets", "count", collection="jets", at_least=4),
        Cut("ht", "ht", collection="jets", above=300.0),
        Cut("met", "met", above=20.0),
    )
    selection = select(events, spec)
    n_jets = ak.to_numpy(ak.num(events.jets))
    ht = ak.to_numpy(ak.sum(events.jets.pt, axis=1))
    met = ak.to_numpy(events.met.met)
    assert selection.cutflow["four_jets"] == int(np.sum(n_jets >= 4))
    assert selection.cutflow["ht"] == int(np.sum((n_jets >= 4) & (ht > 300.0)))
    expected = (n_jets >= 4) & (ht > 300.0) & (met > 20.0)
    assert np.array_equal(selection.mask, expected)
    assert 0 < selection.n_selected < len(events)


def test_a_version_1_card_selects_the_same_events(zprime_events):
    """The fixed dijet selection of schema version 1, upgraded, is the card's selection."""
    import json
    from importlib.resources import files

    document = json.loads(
        (files("surrotag.analyses.zprime_ttbar_allhad") / "card.json").read_text("utf-8")
    )
    cuts = {cut["name"]: cut for cut in document["selection"]["cuts"]}
    old = {
        **document,
        "schema_version": 1,
        "selection": {
            "collection": "fatjets",
            "leading_pt_min_gev": cuts["leading_pt"]["above"],
            "subleading_pt_min_gev": cuts["subleading_pt"]["above"],
            "abs_eta_max": cuts["abs_eta"]["below"],
            "abs_delta_y_max": cuts["abs_delta_y"]["below"],
        },
        "regions": [
            {**r, "observable": {"name": "mjj", "bin_edges_gev": r["observable"]["bin_edges"]}}
            for r in document["regions"]
        ],
    }
    upgraded = load_analysis_card(old)
    assert upgrade_card(old)["selection"] == document["selection"]
    current = get_analysis(ANALYSIS).card
    a, b = select(zprime_events, upgraded), select(zprime_events, current)
    assert np.array_equal(a.mask, b.mask) and dict(a.cutflow) == dict(b.cutflow)
    assert upgraded.regions == current.regions


def test_object_cuts_on_other_collections(delphes_file):
    """The leading jet's pT and the second muon's |eta| of the real Delphes file."""
    events = read_events(delphes_file)
    spec = _spec(
        Cut("hard_jet", "pt", object=0, collection="jets", above=100.0),
        Cut("one_muon", "pt", object=0, collection="muons", at_least=0.0),
    )
    selection = select(events, spec)
    lead_jet = ak.to_numpy(ak.fill_none(ak.max(events.jets.pt, axis=1), 0.0))
    has_muon = ak.to_numpy(ak.num(events.muons) >= 1)
    assert selection.cutflow["hard_jet"] == int(np.sum(lead_jet > 100.0)) > 0
    assert np.array_equal(selection.mask, (lead_jet > 100.0) & has_muon)
    assert 0 < selection.n_selected < len(events)


@pytest.mark.parametrize(
    ("cuts", "valid"),
    [
        ([{"name": "n", "observable": "count", "at_least": 2}], True),
        ([{"name": "n", "observable": "count", "above": 1}], True),
        ([{"name": "n", "observable": "count", "at_least": 1}], False),
        ([{"name": "n", "observable": "count", "collection": "jets", "at_least": 4}], False),
        ([{"name": "sub", "observable": "pt", "object": 1, "above": 400.0}], True),
        ([{"name": "lead", "observable": "pt", "object": 0, "above": 400.0}], False),
        ([{"name": "eta", "observable": "abs_eta", "object": "each", "below": 2.0}], True),
        ([{"name": "m", "observable": "mjj", "above": 1000.0}], True),
        ([{"name": "met", "observable": "met", "above": 250.0}], False),
    ],
)
def test_a_card_must_require_the_candidates_its_regions_tag(cuts, valid):
    """Two candidates: a cut must fail every event without both (a count of at least 2, a
    bound on the second or on each, or on their system); else the card is refused."""
    from surrotag.errors import CardError

    document = get_analysis("zprime-ttbar-allhad").card.to_dict()
    document["selection"]["cuts"] = cuts
    document.pop("card_sha256", None)
    if valid:
        assert load_analysis_card(document).selection.candidates == 2
    else:
        with pytest.raises(CardError, match=r"\$\.selection\.cuts: no cut requires the 2"):
            load_analysis_card(document)
