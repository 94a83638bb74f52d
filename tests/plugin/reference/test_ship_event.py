"""The shipped event surrogate's build (working points, card, degraded control) and the
official side of event-level analyses (the internal event classifier's decisions), on small
Pythia samples (the shared ``dilepton_samples`` of conftest: stop (400, 100) GeV and t tbar)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from surrotag.errors import (
    AnalysisError,
    FormatError,
    InputFileError,
    InputValueError,
    IntegrityError,
)


def test_working_points_cut_the_weighted_ttbar_efficiency():
    """Known answer: t tbar logits 0..99 with weight 1 (0..49) and 3 (50..99); stop rows, any
    logit, are ignored. eps_B = 0.3 passes 30% of the weight: the top 20 rows (weight 60 of
    200), so the cut lies between logits 79 and 80."""
    from surrotag.reference.ship_event import event_working_points

    n = 100
    table = {
        "split": np.array(["train"] * (n + 5) + ["test"] * 3),
        "m_stop": np.concatenate([np.full(n, np.nan), np.full(5, 700.0), np.full(3, np.nan)]),
        "classifier_logit": np.concatenate([np.arange(n, dtype=float), np.full(5, 1e3),
                                            np.full(3, 2e3)]),
        "event_weight": np.concatenate([np.where(np.arange(n) < 50, 1.0, 3.0), np.ones(8)]),
    }  # fmt: skip
    (point,) = event_working_points(table, {"eB30": 0.3}, min_events=10)
    assert point["threshold"] == pytest.approx(79.5)
    assert point["efficiency"] == pytest.approx(0.3)
    assert point["unweighted_efficiency"] == pytest.approx(0.2)
    assert "100 events" in point["definition"]
    with pytest.raises(InputValueError, match="only 100 t tbar events"):
        event_working_points(table, {"eB30": 0.3}, min_events=101)


@pytest.fixture(scope="module")
def samples(dilepton_samples) -> dict[str, Path]:
    """The shared dilepton samples (conftest)."""
    return dilepton_samples


@pytest.fixture(scope="module")
def classifier(dilepton_classifier) -> Path:
    """The shared tiny event classifier (conftest)."""
    return dilepton_classifier


@pytest.fixture(scope="module")
def table(samples, classifier, tmp_path_factory) -> Path:
    from surrotag.reference.event_table import build_event_training_table

    splits = {"train": [samples["stop"], samples["ttbar_a"]], "test": [samples["ttbar_b"]]}
    return build_event_training_table(
        splits, classifier, tmp_path_factory.mktemp("table") / "table.parquet"
    )


def _tiny_config(**changes):
    from surrotag.surrogates.train import TrainConfig

    settings = dict(hidden=8, depth=1, cond_hidden=8, cond_depth=1, epochs=2, batch_size=64,
                    draws=2, steps=4)  # fmt: skip
    return TrainConfig(**(settings | changes))


def test_ship_writes_the_card_of_the_classifier_it_replaces(table, classifier, tmp_path):
    from surrotag.io.parquet import read_parquet_metadata
    from surrotag.reference.event_table import EVENT_FEATURES, LOGIT_COLUMN
    from surrotag.reference.ship_event import (
        EVENT_SURROGATE,
        event_training_rows,
        read_event_table,
        ship_event_surrogate,
    )
    from surrotag.surrogates.storage import load_surrogate

    card = ship_event_surrogate(table, tmp_path / "s", bayes="vi", config=_tiny_config(),
                                min_events=50)  # fmt: skip
    _, loaded = load_surrogate(tmp_path / "s")
    document = json.loads((tmp_path / "s" / "card.json").read_text("utf-8"))
    sha = json.loads((classifier / "event_classifier.json").read_text("utf-8"))["sha256"]
    assert loaded.name == card.name == EVENT_SURROGATE
    assert document["tagger"]["weights_sha256"] == sha
    assert read_parquet_metadata(table)["classifier"]["sha256"] == sha
    assert document["score"] == {"space": "identity", "clip": 0.0, "column": LOGIT_COLUMN}
    assert [f["name"] for f in document["features"]] == list(EVENT_FEATURES)
    assert {f["name"]: f.get("fill") for f in document["features"]}["event_jet1_pt"] == 0.0
    assert [p["name"] for p in document["working_points"]] == ["eB1e-2", "eB1e-3"]
    columns = read_event_table(table, [*EVENT_FEATURES, LOGIT_COLUMN, "split"])
    features, logit, dropped = event_training_rows(columns)
    assert document["training"]["rows"]["used"] == logit.size == features.shape[0]
    assert document["training"]["rows"]["dropped_nan"] == dropped
    assert "DEGRADED" not in document["description"]

    control = ship_event_surrogate(table, tmp_path / "c", bayes="vi", fraction=0.1,
                                   config=_tiny_config(), min_events=50)  # fmt: skip
    assert control.description.startswith(f"DEGRADED positive control of {EVENT_SURROGATE}")
    assert control.training["rows"]["used"] == max(50, round(0.1 * logit.size))


def test_ship_refuses_other_tables_and_shares(table, tmp_path):
    import awkward as ak

    from surrotag.io.parquet import write_parquet
    from surrotag.reference.ship_event import ship_event_surrogate

    other = write_parquet(ak.Array({"x": [1.0]}), tmp_path / "jets.parquet", {"kind": "x"})
    with pytest.raises(FormatError, match="not an event surrogate table"):
        ship_event_surrogate(other, tmp_path / "s")
    with pytest.raises(InputValueError, match="fraction"):
        ship_event_surrogate(table, tmp_path / "s", fraction=1.5)
    with pytest.raises(InputValueError, match="t tbar events in split 'train'"):
        ship_event_surrogate(table, tmp_path / "s", config=_tiny_config(), min_events=10**6)
    assert not (tmp_path / "s").exists()


def _event_card(sha: str) -> dict:
    edges = [0.0, 80.0, 3000.0]
    return {
        "schema_version": 2,
        "name": "stop-dilepton-test",
        "description": "A dilepton stop search tagged by the internal event classifier (test).",
        "references": ["arXiv:1804.09278"],
        "sqrt_s_gev": 13000.0,
        "luminosity_ifb": 139.0,
        "input_levels": ["delphes"],
        "objects": {"electrons": {"description": "isolated"}, "muons": {"description": "isolated"}},
        "selection": {"collection": "event", "candidates": 1, "cuts": [
            {"name": "two_leptons", "observable": "n_leptons", "at_least": 2}]},
        "regions": [
            {"name": "SR", "tag": {"requirement": "at_least_one", "working_point": "eB1e-2"},
             "observable": {"name": "mt2_ll", "bin_edges": edges}},
            {"name": "CR", "tag": {"requirement": "none", "working_point": "eB1e-2"},
             "observable": {"name": "mt2_ll", "bin_edges": edges}}],
        "surrogate": {"names": {"delphes": "stop-classifier-delphes"},
                      "working_points": [{"name": "eB1e-2", "background_efficiency": 0.01}],
                      "tagger_sha256": sha},
        "statistics": {"workspace": "workspace.json", "signal_sample": "signal",
                       "channels": {"SR": "SR_mt2ll", "CR": "CR_mt2ll"}, "poi": "mu_sig"},
    }  # fmt: skip


def test_official_event_decisions_are_the_classifier_logits(samples, classifier, table):
    """The official side of an event card: the classifier's logit on each event with two
    leptons and a finite MET (NaN otherwise), the working point from the event table, and
    region yields that split the selected events between SR and CR."""
    import awkward as ak

    from surrotag.analysis_card import load_analysis_card
    from surrotag.io.parquet import read_parquet
    from surrotag.reference.event_classifier import (
        classifier_scores,
        has_two_leptons,
        load_event_classifier,
    )
    from surrotag.reference.official import internal_decisions, load_official_sample
    from surrotag.reference.ship_event import event_working_point

    model, document = load_event_classifier(classifier)
    card = load_analysis_card(_event_card(document["sha256"]), name="test card")
    internal = internal_decisions(card, "eB1e-2", folder=classifier, table=table)
    assert internal.point == event_working_point(table, "eB1e-2")
    assert internal.inputs()["tagger"]["sha256"] == document["sha256"]

    sample = load_official_sample(samples["ttbar_b"], card, internal.tagger)
    events = read_parquet(samples["ttbar_b"], events=True)
    scored = has_two_leptons(events) & np.isfinite(ak.to_numpy(events.met.met))
    assert 0 < scored.sum() < len(events)
    assert sample.logits.shape == (len(events), 1)
    assert np.all(np.isnan(sample.logits[~scored, 0]))
    np.testing.assert_allclose(sample.logits[scored, 0], classifier_scores(model, events[scored]))
    assert np.array_equal(sample.selected, has_two_leptons(events))

    yields = sample.yields(card, internal.threshold)
    total = sum(y.nominal.sum() for y in yields.values())
    selected = sample.weight[sample.selected].sum() * sample.sigma_pb * 139.0e3
    assert total == pytest.approx(selected / sample.sum_weights, rel=1e-9)
    passed = np.nan_to_num(sample.logits[:, 0], nan=-np.inf) > internal.threshold
    sr = (sample.weight * (passed & sample.selected)).sum() * sample.sigma_pb * 139.0e3
    assert yields["SR"].nominal.sum() == pytest.approx(sr / sample.sum_weights, rel=1e-9)


def test_official_side_refuses_the_wrong_decider(samples, classifier, table, tmp_path):
    from surrotag.analysis_card import load_analysis_card
    from surrotag.reference.official import (
        InternalEventClassifier,
        internal_decisions,
        load_official_sample,
    )

    card = load_analysis_card(_event_card("a" * 64), name="test card")
    with pytest.raises(IntegrityError, match="differs from the card's tagger_sha256"):
        internal_decisions(card, "eB1e-2", folder=classifier, table=table)
    with pytest.raises(InputFileError, match="train-event-classifier"):
        internal_decisions(card, "eB1e-2", folder=tmp_path / "none", table=table)
    jet_card = load_analysis_card(
        json.loads(
            (Path(__file__).parents[3] / "analyses" / "stop_allhad_toptag" / "card.json").read_text(
                "utf-8"
            )
        ),
        name="stop-allhad-toptag",
    )
    with pytest.raises(AnalysisError, match="internal jet tagger"):
        load_official_sample(samples["stop"], jet_card, InternalEventClassifier.load(classifier))


def test_surrogate_met_orientation_matches_the_classifier_side(table, tmp_path):
    """The classifier's column of the explanation is the direct weighted share; the
    surrogate's lies in [0, 1] and its selected share is the mean tag probability."""
    import awkward as ak

    from surrotag.explain.event_surrogate import surrogate_met_orientation
    from surrotag.reference.ship_event import ship_event_surrogate

    card = ship_event_surrogate(table, tmp_path / "s", bayes="vi", config=_tiny_config(),
                                min_events=50)  # fmt: skip
    cut = card.working_points[0]["threshold"]
    out = surrogate_met_orientation(tmp_path / "s", table, working_point="eB1e-2", split="train",
                                    draws=2)  # fmt: skip
    rows = ak.from_parquet(table)
    rows = rows[rows.split == "train"]
    ttbar = np.isnan(ak.to_numpy(rows.m_stop))
    w = ak.to_numpy(rows.event_weight)[ttbar]
    d1, d2 = (
        ak.to_numpy(rows.event_dphi_met_lep1)[ttbar],
        ak.to_numpy(rows.event_dphi_met_lep2)[ttbar],
    )
    away = (d1 > np.pi / 2) & (d2 > np.pi / 2)
    assert out["ttbar"]["all"] == pytest.approx(w[away].sum() / w.sum())
    chosen = ak.to_numpy(rows.classifier_logit)[ttbar] > cut
    assert out["ttbar"]["classifier_selected_share"] == pytest.approx(w[chosen].sum() / w.sum())
    for name in ("balanced", "stop", "ttbar"):
        assert 0.0 <= out[name]["surrogate"] <= 1.0
        assert 0.0 < out[name]["surrogate_selected_share"] < 1.0
    same = surrogate_met_orientation(tmp_path / "s", table, working_point="eB1e-2",
                                     split="train", draws=2, m_stop=400.0)  # fmt: skip
    assert same["stop"] == out["stop"] and same["rows"] == out["rows"]
    with pytest.raises(InputValueError, match="needs stop and t tbar rows"):
        surrogate_met_orientation(tmp_path / "s", table, working_point="eB1e-2", split="train",
                                  m_stop=700.0)  # fmt: skip
    with pytest.raises(InputValueError, match="no working point 'wp50'"):
        surrogate_met_orientation(tmp_path / "s", table, working_point="wp50")
