"""Event-level taggers: an analysis whose candidate is the event, tagged by a surrogate of event
features (one row per event), as an event classifier of a dilepton stop search is.

Events: 400 Pythia stop-pair-dilepton events (m_stop = 400 GeV, m_lsp = 100 GeV, seed 21),
generated here. Tagger: a tiny surrogate really trained on noisy copies of their dilepton
events with a closed-form score (as tests/plugin/tagging_surrogate.py does for jets). The
recast's yields must equal the probabilities of the same surrogate on the event table of the
selected events, summed by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from surrotag.errors import CardError, InputValueError

FEATURES = ["event_met", "event_mt2_ll", "event_dphi_met_lep1", "truth_invisible_pt"]
TAGGER_SHA256 = "e" * 64
DRAWS = 4
EDGES = [50.0, 150.0, 300.0, 3000.0]


@pytest.fixture(scope="module")
def stop_events(tmp_path_factory) -> Path:
    pytest.importorskip("pythia8mc")
    from surrotag.reference.generate import generate

    root = tmp_path_factory.mktemp("dilepton")
    return generate("stop-pair-dilepton", 400, seed=21, jobs=1, mass=400.0, lsp_mass=100.0,
                    out=root / "stop.parquet")  # fmt: skip


def _event_rows(path: Path) -> np.ndarray:
    from surrotag.features import build_event_table
    from surrotag.io.parquet import read_parquet
    from surrotag.reference.event_classifier import has_two_leptons

    events = read_parquet(path, events=False)
    table = build_event_table(events[has_two_leptons(events)], level="delphes", features=FEATURES)
    return np.column_stack([table[name].to_numpy().astype(np.float64) for name in FEATURES])


@pytest.fixture(scope="module")
def event_surrogate(stop_events, tmp_path_factory) -> Path:
    """A tiny surrogate of a closed-form event score: logit ~ N((MET - 150 GeV) / 60 GeV, 1)."""
    from surrotag.surrogates.storage import save_surrogate
    from surrotag.surrogates.train import TrainConfig, train_surrogate

    real = _event_rows(stop_events)
    rng = np.random.default_rng(5)
    x = np.repeat(real, 60, axis=0)
    x[:, [0, 1, 3]] *= np.exp(rng.normal(0.0, 0.2, (len(x), 3)))
    x[:, 2] = np.clip(x[:, 2] + rng.normal(0.0, 0.2, len(x)), 0.0, np.pi)
    logit = rng.normal((x[:, 0] - 150.0) / 60.0, 1.0)
    config = TrainConfig(hidden=16, depth=2, cond_hidden=16, cond_depth=1, epochs=4,
                         batch_size=64, draws=DRAWS, steps=8)  # fmt: skip
    model, _ = train_surrogate(x, logit, feature_names=FEATURES, bayes="vi", config=config)
    fields = {
        "name": "tiny-event",
        "version": "0.0.1",
        "description": "closed-form event score on noisy copies of Pythia stop dilepton events",
        "tagger": {
            "name": "closed-form-event",
            "score": "sigmoid of N((MET - 150)/60, 1)",
            "weights_sha256": TAGGER_SHA256,
        },
        "features": [{"name": n, "unit": "rad" if "dphi" in n else "GeV"} for n in FEATURES],
        "score": {"space": "logit", "clip": 1e-6, "column": "score"},
        "working_points": [
            {"name": "tight", "threshold": 0.7, "efficiency": 0.0, "definition": "score > 0.7"}
        ],
        "training": {
            "description": "stop dilepton events x 60 noisy copies",
            "sha256": None,
            "rows": {"total": len(x), "used": len(x)},
        },
        "references": ["arXiv:2402.15558"],
    }
    folder = tmp_path_factory.mktemp("surrogate") / "tiny-event"
    save_surrogate(model, fields, folder)
    return folder


def _card(**changes) -> dict:
    card = {
        "schema_version": 2,
        "name": "stop-dilepton-test",
        "description": "A dilepton stop search tagged by an event-level classifier (test).",
        "references": ["arXiv:1804.09278"],
        "sqrt_s_gev": 13000.0,
        "luminosity_ifb": 139.0,
        "input_levels": ["delphes"],
        "objects": {"electrons": {"description": "isolated"}, "muons": {"description": "isolated"}},
        "selection": {"collection": "event", "candidates": 1, "cuts": [
            {"name": "two_leptons", "observable": "n_leptons", "at_least": 2},
            {"name": "met", "observable": "met", "above": 50.0}]},
        "regions": [
            {"name": "SR", "tag": {"requirement": "at_least_one", "working_point": "tight"},
             "observable": {"name": "met", "bin_edges": EDGES}},
            {"name": "CR", "tag": {"requirement": "none", "working_point": "tight"},
             "observable": {"name": "met", "bin_edges": EDGES}}],
        "surrogate": {"names": {"delphes": "tiny-event"},
                      "working_points": [{"name": "tight", "signal_efficiency": 0.5}],
                      "tagger_sha256": TAGGER_SHA256},
        "statistics": {"workspace": "workspace.json", "signal_sample": "signal",
                       "channels": {"SR": "SR_met", "CR": "CR_met"}, "poi": "mu_sig"},
    }  # fmt: skip
    card.update(changes)
    return card


def _analysis(folder: Path, card: dict) -> Path:
    """The card in ``folder`` with a background workspace, sealed."""
    from surrotag.analysis_card import load_analysis_card, seal_analysis_card
    from surrotag.reference.publish import background_workspace
    from surrotag.yields import Yields

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "card.json").write_text(json.dumps(card), "utf-8")
    typed = load_analysis_card(card, name="test card")
    nominal = [40.0, 12.0, 2.0]
    background = {r: Yields.from_nominal(nominal, np.sqrt(nominal), EDGES) for r in ("SR", "CR")}
    workspace = background_workspace(typed, {"ttbar": background}, {"ttbar": 0.1},
                                     lumi_sigma=0.017, pseudo_data_seed=1)  # fmt: skip
    (folder / "workspace.json").write_text(json.dumps(workspace), "utf-8")
    seal_analysis_card(folder)
    return folder


def test_event_tagged_yields_are_the_event_probabilities(stop_events, event_surrogate, tmp_path):
    import awkward as ak

    from surrotag.analysis import get_analysis
    from surrotag.features import build_event_table
    from surrotag.io.parquet import read_parquet
    from surrotag.recast import recast, validate_report
    from surrotag.recast.pipeline import load_tagger
    from surrotag.selection import select

    folder = _analysis(tmp_path / "stop-dilepton-test", _card())
    report = recast(folder, [stop_events], surrogate=event_surrogate, draws=DRAWS, seed=3)
    validate_report(report.to_dict())
    assert report.cutflow["two_leptons"] > 30 and report.n_objects == report.cutflow["met"]

    analysis = get_analysis(folder)
    tagger = load_tagger(analysis, "delphes", "surrogate", event_surrogate, DRAWS, False, 3, "cpu")
    events = read_parquet(stop_events, events=False)
    selection = select(events, analysis.card)
    passed = np.flatnonzero(selection.mask)
    table = build_event_table(events[passed], level="delphes", features=tagger.features)
    p = tagger.probabilities(table, "delphes").probabilities[..., 0]  # [K, n]
    weight = np.asarray(ak.to_numpy(events.weight))[passed] * report.normalisation
    met = selection.values["met"][passed]
    bins = np.digitize(met, EDGES) - 1
    for name, prob in (("SR", p), ("CR", 1.0 - p)):
        expected = np.stack([np.bincount(bins, weight * prob[k], minlength=3)[:3]
                             for k in range(DRAWS)])  # fmt: skip
        np.testing.assert_allclose(report.region(name).yields.per_draw, expected, rtol=1e-9)
    assert 0 < report.region("SR").total < report.region("SR").total + report.region("CR").total
    from surrotag.recast.pipeline import collections_to_read

    read = collections_to_read("delphes", tagger.features, analysis)
    assert "fatjets" not in read and {"electrons", "muons", "met", "particles"} <= set(read)


def test_what_an_event_tagger_cannot_be_is_one_line(stop_events, event_surrogate, tmp_path):
    from surrotag.recast import recast

    folder = _analysis(tmp_path / "stop-dilepton-test", _card())
    with pytest.raises(InputValueError, match="no event-level map"):
        recast(folder, [stop_events], surrogate=event_surrogate, tagger="efficiency-map")
    top_sha256 = "5d3398f07bb92c7ce97c38f0c4771e2a2644d8e9158010d505c4302a10cc607b"
    card = _card()
    card["surrogate"]["tagger_sha256"] = top_sha256  # the shipped top tagger's own
    top = _analysis(tmp_path / "top-on-events", card | {"name": "top-on-events"})
    with pytest.raises(CardError, match=r"takes per-object features .* tags whole events"):
        recast(top, [stop_events], surrogate="top-tagger-delphes")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["selection"].update(candidates=2), r"one candidate: the event"),
        (lambda c: c["selection"]["cuts"].append(
            {"name": "jets", "observable": "count", "at_least": 2}),
         r"cuts\[2\]\.collection: 'count' reads objects"),
        (lambda c: c["selection"]["cuts"].append(
            {"name": "pt", "observable": "pt", "object": 0, "above": 20.0}),
         r"cuts\[2\]\.collection: 'pt' reads objects"),
        (lambda c: c["regions"][0]["observable"].update(name="ht"),
         r"regions\[0\]\.observable\.name: 'ht' reads the candidates' objects"),
    ],
)  # fmt: skip
def test_event_cards_refuse_object_observables_on_the_event(edit, message):
    from surrotag.analysis_card import load_analysis_card

    card = _card()
    edit(card)
    with pytest.raises(CardError, match=message):
        load_analysis_card(card, name="test card")


def test_regions_bin_observables_of_any_unit(stop_events, event_surrogate, tmp_path):
    """A region binned in an angle (rad): the report carries the unit and the edges, and no
    bin_edges_gev."""
    from surrotag.recast import recast, validate_report

    card = _card()
    for region in card["regions"]:
        region["observable"] = {"name": "min_delta_phi_jets_met", "bin_edges": [0.0, 1.0, 2.0, 3.2]}
    folder = _analysis(tmp_path / "stop-dilepton-test", card)
    document = recast(folder, [stop_events], surrogate=event_surrogate, draws=DRAWS).to_dict()
    validate_report(document)
    region = document["regions"][0]
    assert region["unit"] == "rad" and region["bin_edges"] == [0.0, 1.0, 2.0, 3.2]
    assert "bin_edges_gev" not in region and sum(region["nominal"]) > 0


def test_an_event_tagger_as_a_further_tagger(stop_events, event_surrogate, tmp_path, monkeypatch):
    """The event classifier as a further tagger ('event', objects [0]): a region counting
    it once equals the same surrogate tagging the event as the candidate."""
    from surrotag.recast import recast

    monkeypatch.chdir(event_surrogate.parent)  # the card names the surrogate folder
    plain = _analysis(tmp_path / "plain", _card())
    card = _card(name="counted")
    card["taggers"] = {"classifier": {"collection": "event", "objects": [0],
                                      "surrogate": card["surrogate"]}}  # fmt: skip
    for region, count in (("SR", {"exactly": 1}), ("CR", {"exactly": 0})):
        entry = next(r for r in card["regions"] if r["name"] == region)
        entry["tag"] = {"requirement": "any"}
        entry["tag_counts"] = [{"tagger": "classifier", "working_point": "tight", **count}]
    counted = _analysis(tmp_path / "counted", card)
    a = recast(plain, [stop_events], draws=DRAWS)
    b = recast(counted, [stop_events], draws=DRAWS)
    for region in ("SR", "CR"):
        np.testing.assert_allclose(b.region(region).yields.per_draw,
                                   a.region(region).yields.per_draw, rtol=1e-12)  # fmt: skip
    assert b.to_dict()["tagger"]["further"][0]["collection"] == "event"
    card["taggers"]["classifier"]["objects"] = [0, 1]
    with pytest.raises(CardError, match=r"tags the one event: \[0\]"):
        _analysis(tmp_path / "bad", card | {"name": "bad"})
