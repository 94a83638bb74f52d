"""Explanations of the reference event classifier (arXiv:1804.09278, Roxlo and Reece).

The mutual-information estimator against the closed form of a bivariate Gaussian (tolerance
fixed before running: 0.02 nats + 5 % of the true value), its invariances (monotone
transforms, a common weight factor, zero weights, NaN rows) and its bias correction on small
independent samples; neuron information of a hand-wired network whose neurons copy chosen
inputs; permutation importance of a network trained where signal differs from background
only in MET; the MET orientation of hand-built events with known angles; the ISR response of
a network whose logit is the standardised leading-jet pT; and the whole explanation written
into a folder.

The synthetic events are built here rather than taken from
tests/plugin/reference/test_event_classifier.py: its signal differs from ttbar in MET and in
the lepton opening angle at once, and the importance test needs MET alone.
"""

from __future__ import annotations

import json
import math

import awkward as ak
import numpy as np
import pytest
import torch

from surrotag.errors import InputValueError
from surrotag.explain import event_classifier as xec
from surrotag.explain.event_classifier import (
    EXPLANATION_NAME,
    FIGURE_NAMES,
    explain_event_classifier,
    isr_response,
    met_orientation,
    neuron_information,
    permutation_importance,
)
from surrotag.explain.information import mutual_information
from surrotag.features.dilepton import dilepton_features
from surrotag.reference.event_classifier import (
    INPUT_NAMES,
    ClassifierConfig,
    EventClassifier,
    event_inputs,
    load_event_classifier,
    save_event_classifier,
    train_event_classifier,
    wrap_phi,
)

E_MASS, MU_MASS = 0.000511, 0.10566
#: Pre-registered tolerance of the Gaussian closure: |estimate - truth| <= 0.02 + 5 % truth.
MI_ATOL, MI_RTOL = 0.02, 0.05


# --------------------------------------------------------------------------- builders


def _events(
    n: int,
    rng: np.random.Generator,
    *,
    met: tuple[float, float],
    away: bool = False,
    jet_pt: np.ndarray | None = None,
    jet_dphi_to_met: np.ndarray | None = None,
) -> ak.Array:
    """Dilepton events: two leptons (open angle ~ N(0, 1.2)), 0-4 jets, MET = offset +
    exponential(scale); ``away`` points the MET against the dilepton system (+- 0.3 rad),
    else uniformly. ``jet_pt`` (NaN: no jet) and ``jet_dphi_to_met`` give one jet per event
    at that angle to the MET instead."""
    phi1 = rng.uniform(-np.pi, np.pi, n)
    phi2 = phi1 + rng.normal(0.0, 1.2, n)
    pts = np.sort(rng.exponential(40.0, (n, 2)) + 20.0, axis=1)[:, ::-1]
    if away:
        px = pts[:, 0] * np.cos(phi1) + pts[:, 1] * np.cos(phi2)
        py = pts[:, 0] * np.sin(phi1) + pts[:, 1] * np.sin(phi2)
        met_phi = wrap_phi(np.arctan2(-py, -px) + rng.normal(0.0, 0.3, n))
    else:
        met_phi = rng.uniform(-np.pi, np.pi, n)
    is_muon = rng.random((n, 2)) < 0.5
    leptons = ak.unflatten(
        ak.zip(
            {
                "pt": pts.ravel(),
                "eta": rng.normal(0.0, 1.0, 2 * n),
                "phi": wrap_phi(np.stack([phi1, phi2], axis=1).ravel()),
                "mass": np.where(is_muon.ravel(), MU_MASS, E_MASS),
                "charge": rng.choice(np.array([-1, 1], np.int32), 2 * n),
            }
        ),
        np.full(n, 2),
    )
    mu = ak.unflatten(is_muon.ravel(), np.full(n, 2))
    if jet_pt is None:
        n_jets = rng.integers(0, 5, n)
        flat_pt = rng.exponential(60.0, int(n_jets.sum())) + 20.0
        jet_phi = rng.uniform(-np.pi, np.pi, len(flat_pt))
        pt = ak.sort(ak.unflatten(flat_pt, n_jets), ascending=False)
    else:
        n_jets = (~np.isnan(jet_pt)).astype(np.int64)
        has = n_jets == 1
        jet_phi = wrap_phi(met_phi[has] + jet_dphi_to_met[has])
        pt = ak.unflatten(jet_pt[has], n_jets)
    total = int(n_jets.sum())
    jets = ak.zip(
        {
            "pt": pt,
            "eta": ak.unflatten(rng.normal(0.0, 1.5, total), n_jets),
            "phi": ak.unflatten(jet_phi, n_jets),
            "mass": ak.unflatten(rng.uniform(0.0, 20.0, total), n_jets),
            "btag": ak.unflatten((rng.random(total) < 0.3).astype(np.int32), n_jets),
        }
    )
    return ak.zip(
        {
            "electrons": leptons[~mu],
            "muons": leptons[mu],
            "jets": jets,
            "met": ak.zip({"met": rng.exponential(met[1], n) + met[0], "phi": met_phi}),
            "weight": rng.uniform(0.5, 1.5, n),
        },
        depth_limit=1,
    )


def _lepton(pt: float, phi: float) -> dict:
    return {"pt": pt, "eta": 0.0, "phi": phi, "mass": E_MASS, "charge": np.int32(-1)}


CONFIG = ClassifierConfig(hidden=(16, 8), epochs=20, batch_size=128, patience=4, learning_rate=1e-2)


@pytest.fixture(scope="module")
def met_only():
    """A network trained where signal differs only in MET, and fresh events to explain."""
    rng = np.random.default_rng(21)
    signal, background = (_events(1500, rng, met=m) for m in ((60.0, 100.0), (10.0, 30.0)))
    model, report = train_event_classifier(signal, background, config=CONFIG, seed=5)
    assert report.auc > 0.85
    fresh = tuple(_events(800, rng, met=m) for m in ((60.0, 100.0), (10.0, 30.0)))
    return model, fresh


@pytest.fixture(scope="module")
def stop_like():
    """A network trained where signal has larger MET pointing away from both leptons."""
    rng = np.random.default_rng(22)
    signal = _events(1500, rng, met=(40.0, 80.0), away=True)
    background = _events(1500, rng, met=(10.0, 40.0))
    return train_event_classifier(signal, background, config=CONFIG, seed=6)


# --------------------------------------------------------------------------- estimator


def _gaussian(rho: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x, z = np.random.default_rng(seed).standard_normal((2, n))
    return x, rho * x + math.sqrt(1.0 - rho * rho) * z


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_mutual_information_of_a_gaussian(rho):
    x, y = _gaussian(rho, 100_000, seed=1)
    truth = -0.5 * math.log(1.0 - rho * rho)
    estimate = mutual_information(x, y)
    assert abs(estimate - truth) <= MI_ATOL + MI_RTOL * truth, (estimate, truth)


def test_miller_madow_removes_the_small_sample_bias():
    # plug-in bias of independent variables: (20 - 1)^2 / (2 * 2000) = 0.09 nats
    estimates = [mutual_information(*_gaussian(0.0, 2000, seed)) for seed in range(5)]
    assert abs(np.mean(estimates)) < 0.015, estimates
    # unequal weights: the correction uses Kish's N (~2000 here), not the 4000 rows
    w = np.tile([1.0, 1e-9], 2000)
    estimates = [mutual_information(*_gaussian(0.0, 4000, seed), w) for seed in range(5)]
    assert abs(np.mean(estimates)) < 0.015, estimates


def test_mutual_information_invariances():
    x, y = _gaussian(0.7, 20_000, seed=2)
    base = mutual_information(x, y)
    assert mutual_information(np.exp(x), y**3) == pytest.approx(base, abs=1e-12)
    assert mutual_information(-x, y) == pytest.approx(base, abs=1e-3)  # ties of bins move
    assert mutual_information(x, y, np.full(len(x), 2.0)) == pytest.approx(base, abs=1e-12)
    # zero weights: the other rows alone, with Kish's N of those rows in the correction
    w = np.zeros(len(x))
    w[::2] = 1.0
    assert mutual_information(x, y, w) == pytest.approx(
        mutual_information(x[::2], y[::2]), abs=1e-12
    )
    # weights matter otherwise
    assert abs(mutual_information(x, y, np.where(x > 0, 10.0, 1.0)) - base) > 1e-3


def test_mutual_information_drops_nan_rows():
    x, y = _gaussian(0.5, 5000, seed=3)
    xn, yn = x.copy(), y.copy()
    xn[:100] = np.nan
    yn[100:250] = np.nan
    assert mutual_information(xn, yn) == pytest.approx(
        mutual_information(x[250:], y[250:]), abs=1e-12
    )
    assert math.isnan(mutual_information(np.full(5, np.nan), np.arange(5.0)))


def test_mutual_information_edge_cases():
    x, y = _gaussian(0.5, 1000, seed=4)
    assert mutual_information(np.full(1000, 3.0), y) == 0.0
    assert mutual_information(x, np.zeros(1000)) == 0.0
    # a ReLU-like point mass at zero is one bin: still finite and positive
    assert 0.0 < mutual_information(np.maximum(x, 0.0), y) < mutual_information(x, y)
    with pytest.raises(InputValueError, match="non-negative"):
        mutual_information(x, y, -np.ones(1000))
    with pytest.raises(InputValueError, match="1000 rows, y has 999"):
        mutual_information(x, y[:-1])
    with pytest.raises(InputValueError, match="bins"):
        mutual_information(x, y, bins=1)


# --------------------------------------------------------------------------- neurons


def _copying_model(inputs: np.ndarray) -> EventClassifier:
    """Layer 0: neuron 0 = standardised met + 10, neuron 1 = standardised lepton1_pt + 10,
    neuron 2 dead; layer 1: neuron 0 = layer-0 neuron 0, neuron 1 dead."""
    model = EventClassifier(len(INPUT_NAMES), (3, 2))
    model.set_standardisation(inputs)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        first = model.layers[0]
        first.weight[0, INPUT_NAMES.index("met")] = 1.0
        first.weight[1, INPUT_NAMES.index("lepton1_pt")] = 1.0
        first.bias[:] = torch.tensor([10.0, 10.0, -1.0])
        model.layers[1].weight[0, 0] = 1.0
    return model


def test_neuron_information_finds_the_copied_inputs():
    events = _events(3000, np.random.default_rng(5), met=(20.0, 50.0))
    inputs, _ = event_inputs(events)
    model = _copying_model(inputs)
    variables = {
        "met": inputs[:, INPUT_NAMES.index("met")],
        "lepton1_pt": inputs[:, INPUT_NAMES.index("lepton1_pt")],
        "event_mt2_ll": dilepton_features(events, {"event_mt2_ll"})["event_mt2_ll"],
    }
    info = neuron_information(model, events, variables)
    assert info.mi.shape == (5, 3) and info.variables == ("met", "lepton1_pt", "event_mt2_ll")
    assert info.layer.tolist() == [0, 0, 0, 1, 1] and info.neuron.tolist() == [0, 1, 2, 0, 1]
    assert info.dead.tolist() == [False, False, True, False, True]
    assert (info.mi[info.dead] == 0.0).all()
    met, lep = info.column("met"), info.column("lepton1_pt")
    top = info.top("met")
    assert (top["layer"], top["neuron"]) == (0, 0) and met[0] == met.max() == met[3]
    assert met[0] > 2.5  # a copy carries the binned entropy, ~ ln 20 = 3.0 nats
    assert met[0] > 5 * max(met[1], info.column("event_mt2_ll")[0] / 2)
    assert info.top("lepton1_pt")["neuron"] == 1 and lep[1] > 2.5 and lep[1] > 5 * lep[0]
    assert top["mi_nats"]["lepton1_pt"] == pytest.approx(lep[0])
    summary = info.to_dict()
    json.dumps(summary, allow_nan=False)
    assert summary["layers"][0]["dead"] == [2] and summary["n_dead"] == 2
    assert summary["top"]["met"]["index"] == 0
    with pytest.raises(InputValueError, match="no mutual information with 'mll'"):
        info.top("mll")
    with pytest.raises(InputValueError, match="2 values for 3000 events"):
        neuron_information(model, events, {"met": np.ones(2)})


# --------------------------------------------------------------------------- importance


def test_permutation_importance_finds_met(met_only):
    model, (signal, background) = met_only
    importance = permutation_importance(model, signal, background, repeats=2, seed=1)
    assert list(importance) == list(INPUT_NAMES)
    ranked = sorted(importance, key=lambda k: -importance[k])
    assert ranked[0] == "met" and importance["met"] > 0.2, importance
    others = max(v for k, v in importance.items() if k != "met")
    assert others < 0.25 * importance["met"], importance
    assert importance["lepton1_dphi"] == 0.0  # always 0: permuting it changes nothing
    again = permutation_importance(model, signal, background, repeats=2, seed=1)
    assert again == importance
    other = permutation_importance(model, signal, background, repeats=2, seed=2)
    assert other != importance


# --------------------------------------------------------------------------- MET orientation


def test_met_orientation_of_known_angles():
    third = np.pi / 3
    rows = [  # leptons (pt, phi) and met phi: (|dphi(MET, l1)|, |dphi(MET, l2)|)
        ([_lepton(50, 0.0)], [_lepton(30, third)], np.pi),  # (pi, 2pi/3): both away
        ([_lepton(50, 0.0), _lepton(30, np.pi)], [], np.pi / 2 + 0.1),  # (pi/2+.1, pi/2-.1)
        ([], [_lepton(50, 1.0), _lepton(30, 1.5)], 1.2),  # (0.2, 0.3)
        ([_lepton(30, -0.5)], [_lepton(50, 0.0)], 2.5),  # l1 is the muon: (2.5, 3.0)
        ([_lepton(50, 0.0)], [], 3.0),  # one lepton: left out
    ]
    events = ak.Array(
        [
            {"electrons": e, "muons": m, "met": {"met": 100.0, "phi": phi}, "weight": 1.0}
            for e, m, phi in rows
        ]
    )
    weights = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    selected = np.array([True, True, False, False, True])
    out = met_orientation(events, selected, weights=weights, bins=4)
    np.testing.assert_allclose(out["edges_rad"], np.linspace(0, np.pi, 5))
    expected = np.zeros((4, 4))
    expected[3, 2], expected[2, 1], expected[0, 0], expected[3, 3] = 1.0, 2.0, 3.0, 4.0
    np.testing.assert_array_equal(out["all"]["histogram"], expected)
    np.testing.assert_allclose(out["all"]["normalised"], expected / 10.0)
    np.testing.assert_array_equal(out["selected"]["histogram"], np.where(expected < 3, expected, 0))
    assert out["all"]["n_events"] == 4 and out["selected"]["n_events"] == 2
    assert out["both_away_fraction_all"] == pytest.approx(5.0 / 10.0)
    assert out["both_away_fraction_selected"] == pytest.approx(1.0 / 3.0)
    assert met_orientation(events, selected)["both_away_fraction_all"] == pytest.approx(0.5)
    nothing = met_orientation(events, np.zeros(5, bool))
    assert math.isnan(nothing["both_away_fraction_selected"])
    with pytest.raises(InputValueError, match="bool array of one entry per event"):
        met_orientation(events, selected[:4])


# --------------------------------------------------------------------------- ISR response


def test_isr_response_rises_with_a_recoiling_jet():
    rng = np.random.default_rng(8)
    n = 4000
    pt = rng.uniform(30.0, 500.0, n)
    dphi = np.pi * (pt - 30.0) / 470.0  # a harder jet recoils more squarely against MET
    pt[:500] = np.nan  # no jet
    events = _events(n, rng, met=(20.0, 50.0), jet_pt=pt, jet_dphi_to_met=dphi)
    inputs, _ = event_inputs(events)
    model = EventClassifier(len(INPUT_NAMES), (1,))  # logit = standardised jet1_pt
    model.set_standardisation(inputs)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.layers[0].weight[0, INPUT_NAMES.index("jet1_pt")] = 1.0
        model.layers[0].bias[0] = 10.0
        model.output.weight[0, 0] = 1.0
        model.output.bias[0] = -10.0
    out = isr_response(model, events, bins=8)
    jet_pt, angle = out["jet_pt"], out["dphi_met_jet"]
    assert len(jet_pt["edges"]) == 9 and jet_pt["mean_score"].shape == (8,)
    assert jet_pt["n_events"].sum() == angle["n_events"].sum() == 3500
    assert out["no_jet"]["n_events"] == 500
    np.testing.assert_array_less(0.0, np.diff(jet_pt["mean_score"]))
    np.testing.assert_array_less(0.0, np.diff(angle["mean_score"]))
    assert np.all(np.diff(jet_pt["selected_fraction"]) >= 0.0)
    assert jet_pt["selected_fraction"][0] == 0.0 and jet_pt["selected_fraction"][-1] == 1.0
    # the angle from the classifier's inputs is the one built in, bin by bin
    truth = np.histogram(dphi[500:], bins=np.linspace(0, np.pi, 9))[0]
    np.testing.assert_array_equal(angle["n_events"], truth)
    assert out["correlation"]["jet_pt"] > 0.9 and out["correlation"]["dphi_met_jet"] > 0.9
    fixed = isr_response(model, events, pt_edges=[0.0, 100.0, 1000.0], threshold=100.0)
    assert fixed["jet_pt"]["n_events"].tolist() == [
        int(np.sum(pt[500:] < 100)),
        3500 - int(np.sum(pt[500:] < 100)),
    ]
    assert np.all(fixed["jet_pt"]["selected_fraction"] == 0.0)


# --------------------------------------------------------------------------- end to end


def _no_nan(text: str) -> None:
    def refuse(constant: str) -> None:
        raise ValueError(constant)

    return json.loads(text, parse_constant=refuse)


def test_explain_event_classifier_writes_everything(stop_like, tmp_path):
    model, report = stop_like
    rng = np.random.default_rng(23)
    signal = _events(1000, rng, met=(40.0, 80.0), away=True)
    background = _events(2000, rng, met=(10.0, 40.0))
    out_dir = tmp_path / "explain"
    summary = explain_event_classifier(model, signal, background, out_dir, seed=3)
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == sorted([*FIGURE_NAMES.values(), EXPLANATION_NAME])  # no temporaries
    for name in FIGURE_NAMES.values():
        data = (out_dir / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000, name
    document = _no_nan((out_dir / EXPLANATION_NAME).read_text("utf-8"))
    assert document == summary
    # the sha256 that save_event_classifier records (and load_event_classifier checks)
    _, saved = load_event_classifier(save_event_classifier(model, report, tmp_path / "model"))
    assert summary["model"]["sha256"] == saved["sha256"]
    findings = summary["findings"]
    top = findings["mt2_ll_top_neuron"]
    assert set(top) == {"layer", "neuron", "mi_nats", "mi_lepton1_pt_nats", "mi_lepton2_pt_nats"}
    mi = summary["mutual_information"]
    assert top["mi_nats"] == max(
        v for layer in mi["layers"] for v in layer["mi_nats"]["event_mt2_ll"]
    )
    lepton = findings["max_mi_single_lepton_pt"]
    assert lepton["mi_nats"] == max(
        v
        for layer in mi["layers"]
        for k in ("lepton1_pt", "lepton2_pt")
        for v in layer["mi_nats"][k]
    )
    assert findings["mt2_ll_exceeds_lepton_pt"] == (top["mi_nats"] > lepton["mi_nats"])
    assert summary["working_point"]["background_efficiency"] <= 1e-2
    assert summary["auc"] > 0.85 and summary["events"]["selected"] > 0
    away = findings["both_away_fraction"]
    assert away["selected"] > away["all"]  # built in: signal MET points away from both
    assert findings["importance_ranking"][0] in ("met", "met_dphi")
    assert findings["importance_ranking"] == summary["importance"]["ranking"]
    assert len(summary["importance"]["auc_drop"]) == len(INPUT_NAMES)
    again = explain_event_classifier(model, signal, background, tmp_path / "again", seed=3)
    assert again == summary  # deterministic under the seed


def test_explain_event_classifier_writes_nothing_on_failure(stop_like, tmp_path, monkeypatch):
    model, _ = stop_like
    rng = np.random.default_rng(24)
    signal = _events(300, rng, met=(40.0, 80.0), away=True)
    background = _events(300, rng, met=(10.0, 40.0))

    def broken(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(xec, "plot_input_importance", broken)
    with pytest.raises(RuntimeError, match="figure failed"):
        explain_event_classifier(model, signal, background, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cli_missing_classifier_is_one_line(tmp_path, capsys):
    from surrotag.cli import main

    argv = ["reference", "explain-event-classifier", str(tmp_path / "none"), "--signal", "s.pq"]
    code = main([*argv, "--background", "b.pq", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.startswith("surrotag: error:") and "\n" not in err
    assert not (tmp_path / "out").exists()
