"""Feature table on real files: the Delphes ttH sample and the Pythia 6 ttbar LHE file."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from surrotag.errors import FeatureError
from surrotag.features import (
    FEATURES,
    build_features,
    describe_features,
    features_for_level,
    last_top_copies,
    top_decays,
)

FATJETS_PER_EVENT = [0, 0, 0, 1, 2, 2, 1, 0, 0, 0]  # from the data README


def _read(path, level):
    import surrotag.io

    return surrotag.io.read_events([path], level=level)


@pytest.fixture(scope="module")
def delphes_events(delphes_file):
    return _read(delphes_file, "delphes")


@pytest.fixture(scope="module")
def delphes_raw(delphes_file):
    import uproot

    tree = uproot.open(delphes_file)["Delphes"]
    return tree.arrays(["FatJet.Tau[5]", "FatJet.PT", "Particle.PID", "Particle.M1"])


@pytest.fixture(scope="module")
def ttbar_events(lhe_ttbar_file):
    return _read(lhe_ttbar_file, "parton")


@pytest.fixture(scope="module")
def delphes_table(delphes_events):
    return build_features(delphes_events)


# -- registry ---------------------------------------------------------------------------


def test_registry_is_consistent():
    for name, feature in FEATURES.items():
        assert feature.name == name
        assert feature.unit in {"GeV", "rad", ""}
        assert np.dtype(feature.dtype)
        assert set(feature.levels) <= {"delphes", "particle", "parton"} and feature.levels
        # particle-level events hold fat jets and the generator record, nothing else
        if "particle" in feature.levels:
            assert set(feature.requires) <= {"weight", "fatjets", "particles"}
        assert feature.kind in {"fatjet", "top", "event"}
        for flag in feature.flags:
            assert FEATURES[flag].is_flag and FEATURES[flag].dtype == "bool"
            assert set(feature.levels) <= set(FEATURES[flag].levels)
    assert "jet_tau32" in features_for_level("delphes")
    assert "top_dr_max" in features_for_level("parton")
    assert "jet_tau32" in features_for_level("particle")
    assert "event_met" not in features_for_level("particle")
    assert "jet_tau32" not in features_for_level("parton")
    rows = describe_features("parton")
    assert {row["name"] for row in rows} == set(features_for_level("parton"))


# -- detector level ---------------------------------------------------------------------


def test_one_row_per_fat_jet(delphes_table):
    assert len(delphes_table) == sum(FATJETS_PER_EVENT) == 6
    expected = np.repeat(np.arange(10), FATJETS_PER_EVENT)
    np.testing.assert_array_equal(delphes_table.event_index.to_numpy(), expected)
    assert delphes_table.event_index.to_numpy().dtype == np.int64
    for name in delphes_table.fields[1:]:
        assert delphes_table[name].to_numpy().dtype == np.dtype(FEATURES[name].dtype), name


def test_tau_ratios_match_the_raw_branch(delphes_table, delphes_raw):
    tau = ak.flatten(delphes_raw["FatJet.Tau[5]"], axis=1).to_numpy()
    np.testing.assert_allclose(delphes_table.jet_tau32.to_numpy(), tau[:, 2] / tau[:, 1], rtol=1e-6)
    np.testing.assert_allclose(delphes_table.jet_tau21.to_numpy(), tau[:, 1] / tau[:, 0], rtol=1e-6)
    np.testing.assert_allclose(
        delphes_table.jet_pt.to_numpy(), ak.flatten(delphes_raw["FatJet.PT"]).to_numpy()
    )


def test_two_last_top_copies_per_ttH_event(delphes_events, delphes_raw):
    tops = last_top_copies(delphes_events.particles)
    assert ak.num(tops).tolist() == [2] * 10
    assert ak.all(abs(tops.pid) == 6)
    assert sorted(set(ak.flatten(tops.pid).tolist())) == [-6, 6]  # one t and one tbar each
    assert ak.all(tops.status == 62)  # Pythia 8: the copy that decays
    # no particle of the raw record has one of these tops as its mother and is a top
    pid, mother = delphes_raw["Particle.PID"], delphes_raw["Particle.M1"]
    for event in range(3):  # spot-check against the raw branch, event by event (test only)
        for index in tops.index[event].tolist():
            children = ak.to_numpy(pid[event][mother[event] == index])
            assert sorted(np.abs(children).tolist()) == [5, 24]


def test_truth_matching_columns(delphes_table):
    matched = delphes_table.truth_top_matched.to_numpy()
    dr = delphes_table.truth_top_dr.to_numpy()
    assert matched.any()
    assert np.all(dr[matched] < 0.8)
    assert np.all(np.isnan(dr[~matched]))
    np.testing.assert_array_equal(delphes_table.flag_no_top_match.to_numpy(), ~matched)
    chain_missing = delphes_table.flag_no_decay_chain.to_numpy()
    leptonic = delphes_table.flag_leptonic_top.to_numpy()
    assert not np.any(leptonic & matched)
    known = matched & ~chain_missing
    for name in (
        "truth_top_contained",
        "truth_top_n_contained",
        "truth_top_dr_max",
        "truth_top_hadronic",
    ):
        values = delphes_table[name].to_numpy()
        assert np.all(np.isfinite(values[known])), name
        unknown = ~known & ~leptonic if name == "truth_top_hadronic" else ~known
        assert np.all(np.isnan(values[unknown])), name
    hadronic = delphes_table.truth_top_hadronic.to_numpy()
    assert np.all(hadronic[known] == 1) and np.all(hadronic[leptonic] == 0)
    contained = delphes_table.truth_top_contained.to_numpy()[known]
    n_in = delphes_table.truth_top_n_contained.to_numpy()[known]
    assert set(np.unique(contained)) <= {0.0, 1.0}
    assert set(np.unique(n_in)) <= {0.0, 1.0, 2.0, 3.0}
    np.testing.assert_array_equal(contained == 1, n_in == 3)
    dr_max = delphes_table.truth_top_dr_max.to_numpy()[known]
    np.testing.assert_array_equal(contained == 1, dr_max < 0.8)


def test_radius_is_a_parameter(delphes_events, delphes_table):
    n_matched = delphes_table.truth_top_matched.to_numpy().sum()
    wide = build_features(delphes_events, features=["truth_top_matched"], radius=10.0)
    narrow = build_features(delphes_events, features=["truth_top_matched"], radius=0.05)
    # every event has two tops: with R = 10 a jet is matched iff one of them is hadronic
    has_hadronic = ak.to_numpy(ak.any(top_decays(delphes_events.particles).hadronic == 1, axis=1))
    expected = has_hadronic[wide.event_index.to_numpy()]
    assert (~expected).any()  # the dileptonic event
    np.testing.assert_array_equal(wide.truth_top_matched.to_numpy(), expected)
    assert narrow.truth_top_matched.to_numpy().sum() < n_matched
    with pytest.raises(FeatureError, match="radius must be positive"):
        build_features(delphes_events, radius=0.0)


def test_event_columns(delphes_table, delphes_events):
    n_lep = delphes_table.event_n_leptons.to_numpy()
    np.testing.assert_array_equal(
        n_lep, delphes_table.event_n_electrons.to_numpy() + delphes_table.event_n_muons.to_numpy()
    )
    no_lep = delphes_table.flag_no_lepton.to_numpy()
    np.testing.assert_array_equal(no_lep, n_lep == 0)
    assert np.all(np.isnan(delphes_table.event_lep1_pt.to_numpy()[no_lep]))
    assert np.all(delphes_table.event_lep1_pt.to_numpy()[~no_lep] > 0)
    index = delphes_table.event_index.to_numpy()
    ht = ak.to_numpy(ak.sum(delphes_events.jets.pt, axis=1))[index]
    np.testing.assert_allclose(delphes_table.event_ht.to_numpy(), ht, rtol=1e-6)


def test_requested_subset_adds_its_flags(delphes_events):
    table = build_features(delphes_events, features=["jet_pt", "truth_top_contained"])
    assert table.fields == [
        "event_index",
        "jet_pt",
        "truth_top_contained",
        "flag_no_top_match",
        "flag_leptonic_top",
        "flag_no_decay_chain",
    ]


def test_feature_of_the_wrong_level_is_an_error(delphes_events, ttbar_events):
    with pytest.raises(FeatureError, match=r"'jet_tau32' needs input level delphes"):
        build_features(ttbar_events, features=["jet_tau32"])
    with pytest.raises(FeatureError, match=r"'top_dr_max' needs input level parton"):
        build_features(delphes_events, features=["top_dr_max"])
    with pytest.raises(FeatureError, match=r"unknown feature 'jet_tau99'"):
        build_features(delphes_events, features=["jet_tau99"])


def test_missing_collection_is_an_error(delphes_events):
    without_jets = delphes_events[[f for f in delphes_events.fields if f != "jets"]]
    with pytest.raises(FeatureError, match=r"'event_ht' needs the jets collection"):
        build_features(without_jets, features=["event_ht"])
    # with features=None the table keeps what the collections provide
    assert "event_ht" not in build_features(without_jets).fields


# -- parton level -----------------------------------------------------------------------


def test_two_tops_per_ttbar_event(ttbar_events):
    table = build_features(ttbar_events, level="parton")
    assert len(table) == 200
    np.testing.assert_array_equal(table.event_index.to_numpy(), np.repeat(np.arange(100), 2))
    assert sorted(np.unique(table.top_pid.to_numpy()).tolist()) == [-6, 6]
    assert not table.flag_top_no_decay_chain.to_numpy().any()
    for name in ("top_dr_b_w", "top_dr_q_q", "top_dr_max", "top_hadronic"):
        assert np.all(np.isfinite(table[name].to_numpy())), name


def test_hadronic_classification_counts_w_daughters(ttbar_events):
    table = build_features(ttbar_events, level="parton", features=["top_pid", "top_hadronic"])
    particles = ttbar_events.particles
    # independent count: a W's daughters are the particles whose mother is that W
    is_w = abs(particles.pid) == 24
    w_index = ak.local_index(particles)[is_w]
    w_charge_sign = np.sign(particles.pid[is_w])
    pairs = ak.cartesian([w_index, particles], nested=True)
    daughter = pairs["1"].mother1 == pairs["0"]
    quark_daughters = ak.sum(daughter & (abs(pairs["1"].pid) <= 5), axis=2)
    w_hadronic = ak.values_astype(quark_daughters == 2, np.float32)
    # the top with pid sign s has the W with the same sign (t -> W+ b)
    order = ak.argsort(w_charge_sign, axis=1, ascending=False)
    expected = ak.flatten(w_hadronic[order]).to_numpy()
    top_order = np.argsort(-table.top_pid.to_numpy().reshape(-1, 2), axis=1, kind="stable")
    got = np.take_along_axis(table.top_hadronic.to_numpy().reshape(-1, 2), top_order, axis=1)
    np.testing.assert_array_equal(got.ravel(), expected)
    assert 0 < expected.sum() < len(expected)  # both decay modes occur


def test_undecayed_tops_give_nan_and_flag(ttbar_events):
    particles = ttbar_events.particles
    # real kinematics, decay products removed: keep the beams and the two tops (the first
    # four entries, whose mother indices stay valid)
    undecayed = ak.zip(
        {"weight": ttbar_events.weight, "particles": particles[ak.local_index(particles) < 4]},
        depth_limit=1,
    )
    table = build_features(undecayed, level="parton")
    assert len(table) == 200
    assert table.flag_top_no_decay_chain.to_numpy().all()
    for name in ("top_hadronic", "top_dr_b_w", "top_dr_q_q", "top_dr_max"):
        assert np.all(np.isnan(table[name].to_numpy())), name
    full = build_features(ttbar_events, level="parton")
    np.testing.assert_array_equal(table.top_pt.to_numpy(), full.top_pt.to_numpy())
    # drop only the last two entries (the W- daughters): the tbar's chain is absent
    partial = ak.zip(
        {
            "weight": ttbar_events.weight,
            "particles": particles[ak.local_index(particles) < ak.num(particles) - 2],
        },
        depth_limit=1,
    )
    table = build_features(partial, level="parton")
    flag = table.flag_top_no_decay_chain.to_numpy()
    # the removed pair's mother is a W whose mother is the top that lost its chain
    last_mother = particles.mother1[:, -1]
    stripped_top = particles.mother1[ak.singletons(last_mother)][:, 0].to_numpy()
    top_index = ak.flatten(top_decays(partial.particles).index).to_numpy()
    np.testing.assert_array_equal(flag, top_index == np.repeat(stripped_top, 2))
    assert flag.sum() == 100
    assert np.all(np.isnan(table.top_dr_q_q.to_numpy()[flag]))
    assert np.all(np.isfinite(table.top_dr_q_q.to_numpy()[~flag]))


def test_top_decays_of_delphes_and_lhe_share_one_logic(delphes_events, ttbar_events):
    for particles in (delphes_events.particles, ttbar_events.particles):
        decays = top_decays(particles)
        assert ak.all(ak.num(decays) == 2)
        assert ak.flatten(decays.has_chain).to_numpy().all()
        assert np.all(ak.flatten(decays.top_pt).to_numpy() > 0)
        # the decay products of each top are distinct particles with finite directions
        for name in ("b_eta", "w_eta", "f1_eta", "f2_eta"):
            assert np.all(np.isfinite(ak.flatten(decays[name]).to_numpy())), name
        assert ak.all(decays.f1_eta != decays.f2_eta)
