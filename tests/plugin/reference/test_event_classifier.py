"""The internal event-level classifier (stop pairs against dileptonic ttbar, arXiv:1804.09278).

Inputs on hand-built events (exact values, rotation invariance, the dilepton contract),
training on a synthetic separable set (AUC, bit-reproducibility under the seed), the
safetensors round trip and its integrity check, the weighted metrics against hand-computed
cases, and the inputs of the real Delphes 3.4.2 file's dilepton events.
"""

from __future__ import annotations

import dataclasses
import doctest
import math

import awkward as ak
import numpy as np
import pytest
import torch

from surrotag.errors import (
    FeatureError,
    FormatError,
    InputFileError,
    InputValueError,
    IntegrityError,
)
from surrotag.reference import event_classifier as ec
from surrotag.reference.classifier_metrics import efficiency_at, weighted_auc, working_point
from surrotag.reference.event_classifier import (
    INPUT_NAMES,
    ClassifierConfig,
    EventClassifier,
    classifier_scores,
    event_inputs,
    has_two_leptons,
    load_event_classifier,
    save_event_classifier,
    train_event_classifier,
)

E_MASS, MU_MASS = 0.000511, 0.10566


def _column(inputs: np.ndarray, name: str) -> np.ndarray:
    return inputs[:, INPUT_NAMES.index(name)]


def _lepton(pt, eta, phi, mass, charge) -> dict:
    return {"pt": pt, "eta": eta, "phi": phi, "mass": mass, "charge": np.int32(charge)}


def _jet(pt, eta, phi, btag) -> dict:
    return {"pt": pt, "eta": eta, "phi": phi, "mass": 10.0, "btag": np.int32(btag),
            "flavour": np.int32(5 if btag else 0)}  # fmt: skip


def _hand_events() -> ak.Array:
    """e+mu with no jets; two unsorted muons with five jets; two electrons + a muon, one jet."""
    events = [
        {
            "electrons": [_lepton(50.0, 0.5, 1.0, E_MASS, -1)],
            "muons": [_lepton(30.0, -1.0, -2.0, MU_MASS, 1)],
            "jets": [],
            "met": {"met": 100.0, "phi": 3.0},
            "weight": 1.0,
        },
        {
            "electrons": [],
            "muons": [_lepton(20.0, 0.1, 2.5, MU_MASS, 1), _lepton(60.0, 0.2, -3.0, MU_MASS, -1)],
            "jets": [
                _jet(pt, 0.1 * i, -2.0 + 0.5 * i, i % 2 == 0)
                for i, pt in enumerate((200.0, 150.0, 100.0, 50.0, 30.0))
            ],
            "met": {"met": 40.0, "phi": -1.0},
            "weight": 0.5,
        },
        {
            "electrons": [_lepton(15.0, 2.0, 0.0, E_MASS, 1), _lepton(45.0, -0.3, 0.4, E_MASS, -1)],
            "muons": [_lepton(25.0, 1.0, 1.0, MU_MASS, 1)],
            "jets": [_jet(80.0, 1.5, -0.4, 0)],
            "met": {"met": 10.0, "phi": 0.4},
            "weight": 2.0,
        },
    ]
    return ak.Array(events)


def test_inputs_exact_values():
    inputs, names = event_inputs(_hand_events())
    assert names == INPUT_NAMES and inputs.dtype == np.float32 and inputs.shape == (3, 40)
    expected = {
        "lepton1_pt": [50.0, 60.0, 45.0],
        "lepton1_E": [
            math.hypot(50 * math.cosh(0.5), E_MASS),
            math.hypot(60 * math.cosh(0.2), MU_MASS),
            math.hypot(45 * math.cosh(0.3), E_MASS),
        ],
        "lepton1_charge": [-1, -1, -1],
        "lepton1_is_muon": [0, 1, 0],
        "lepton1_dphi": [0, 0, 0],
        "lepton2_pt": [30.0, 20.0, 25.0],
        "lepton2_is_muon": [1, 1, 1],
        "lepton2_dphi": [-3.0, 5.5 - 2 * math.pi, 0.6],
        "jet1_present": [0, 1, 1],
        "jet1_pt": [0, 200.0, 80.0],
        "jet1_E": [0, math.hypot(200.0, 10.0), math.hypot(80 * math.cosh(1.5), 10.0)],
        "jet1_dphi": [0, 1.0, -0.8],
        "jet4_present": [0, 1, 0],
        "jet4_pt": [0, 50.0, 0],
        "jet4_btag": [0, 0, 0],
        "jet3_btag": [0, 1, 0],
        "met": [100.0, 40.0, 10.0],
        "met_dphi": [2.0, 2.0, 0.0],
        "n_jets": [0, 5, 1],
        "n_bjets": [0, 3, 0],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(
            _column(inputs, name), values, rtol=1e-6, atol=1e-5, err_msg=name
        )
    assert not _column(inputs, "jet2_E")[0] and _column(inputs, "jet2_btag")[1] == 0


def _rotated(events: ak.Array, angle: float) -> ak.Array:
    def turn(phi):
        return ec.wrap_phi(np.asarray(ak.to_numpy(phi), dtype=np.float64) + angle)

    out = events
    for name in ("electrons", "muons", "jets"):
        collection = events[name]
        flat = ak.flatten(collection.phi)
        phi = ak.unflatten(turn(flat), ak.num(collection))
        out = ak.with_field(out, ak.with_field(collection, phi, "phi"), name)
    return ak.with_field(out, ak.with_field(events.met, turn(events.met.phi), "phi"), "met")


def test_inputs_are_invariant_under_a_rotation_in_phi():
    events = ak.concatenate([_hand_events(), _synthetic(200, True, np.random.default_rng(1))])
    inputs, _ = event_inputs(events)
    for angle in (0.7, -2.9, 10.0):
        rotated, _ = event_inputs(_rotated(events, angle))
        np.testing.assert_allclose(rotated, inputs, rtol=0, atol=1e-5)
    assert np.abs(_column(inputs, "lepton2_dphi")).max() <= math.pi


def test_inputs_refuse_events_without_two_leptons():
    events = _hand_events()
    one = ak.with_field(events, events.muons[:, :0], "muons")  # 1, 0, 2 leptons
    np.testing.assert_array_equal(has_two_leptons(one), [False, False, True])
    with pytest.raises(InputValueError, match=r"^2 of 3 events have fewer than two leptons") as e:
        event_inputs(one)
    assert "\n" not in str(e.value)
    with pytest.raises(FeatureError, match=r"jets\.btag"):
        event_inputs(ak.with_field(events, events.jets[["pt", "eta", "phi", "mass"]], "jets"))
    empty, _ = event_inputs(events[:0])
    assert empty.shape == (0, len(INPUT_NAMES))


def _synthetic(n: int, signal: bool, rng: np.random.Generator) -> ak.Array:
    """Dilepton events: signal has larger MET and leptons nearer back-to-back than ttbar."""
    phi1 = rng.uniform(-np.pi, np.pi, n)
    dphi = rng.normal(np.pi, 0.5, n) if signal else rng.normal(0.0, 0.9, n)
    lepton_pt = np.sort(rng.exponential(40.0, (n, 2)) + 20.0, axis=1)[:, ::-1]
    is_muon = rng.random((n, 2)) < 0.5
    leptons = ak.unflatten(
        ak.zip(
            {
                "pt": lepton_pt.ravel(),
                "eta": rng.normal(0.0, 1.0, 2 * n),
                "phi": ec.wrap_phi(np.stack([phi1, phi1 + dphi], axis=1).ravel()),
                "mass": np.where(is_muon.ravel(), MU_MASS, E_MASS),
                "charge": rng.choice(np.array([-1, 1], np.int32), 2 * n),
            }
        ),
        np.full(n, 2),  # var, not regular: masks below pick per event
    )
    mu = ak.unflatten(is_muon.ravel(), np.full(n, 2))
    n_jets = rng.integers(0, 6, n)
    total = int(n_jets.sum())
    jet_pt = ak.sort(ak.unflatten(rng.exponential(60.0, total) + 20.0, n_jets), ascending=False)
    jets = ak.zip(
        {
            "pt": jet_pt,
            "eta": ak.unflatten(rng.normal(0.0, 1.5, total), n_jets),
            "phi": ak.unflatten(rng.uniform(-np.pi, np.pi, total), n_jets),
            "mass": ak.unflatten(rng.uniform(0.0, 20.0, total), n_jets),
            "btag": ak.unflatten((rng.random(total) < 0.3).astype(np.int32), n_jets),
            "flavour": ak.unflatten(np.zeros(total, np.int32), n_jets),
        }
    )
    met = rng.exponential(150.0, n) + 80.0 if signal else rng.exponential(30.0, n) + 10.0
    return ak.zip(
        {
            "electrons": leptons[~mu],
            "muons": leptons[mu],
            "jets": jets,
            "met": ak.zip({"met": met, "phi": rng.uniform(-np.pi, np.pi, n)}),
            "weight": rng.uniform(0.5, 1.5, n),
        },
        depth_limit=1,
    )


CONFIG = ClassifierConfig(hidden=(32, 16), epochs=12, batch_size=256, patience=3)
SHA = {"signal.parquet": "ab" * 32, "ttbar.parquet": "cd" * 32}


@pytest.fixture(scope="module")
def samples() -> tuple[ak.Array, ak.Array]:
    rng = np.random.default_rng(7)
    return _synthetic(2500, True, rng), _synthetic(2500, False, rng)


@pytest.fixture(scope="module")
def trained(samples):
    return train_event_classifier(*samples, config=CONFIG, seed=3, inputs_sha256=SHA)


def test_training_separates_and_reports(trained):
    model, report = trained
    assert report.auc > 0.9
    assert report.n_events == {
        "train": {"signal": 1500, "background": 1500},
        "val": {"signal": 500, "background": 500},
        "test": {"signal": 500, "background": 500},
    }
    assert report.input_names == INPUT_NAMES and report.config == CONFIG and report.seed == 3
    assert report.inputs_sha256 == SHA
    assert len(report.train_loss) == len(report.val_loss) <= CONFIG.epochs
    assert report.val_loss[report.best_epoch - 1] == min(report.val_loss)
    loose, tight = sorted(report.working_points, key=lambda p: p.target, reverse=True)
    assert (loose.target, tight.target) == (1e-2, 1e-3)
    # 500 test background events: 1e-3 leaves < 1 effective event above the cut
    assert tight.signal_efficiency is None and tight.n_background_effective < 10
    assert loose.background_efficiency <= 1e-2 and not model.training


def test_training_is_reproducible_under_the_seed(samples, trained):
    torch.manual_seed(999)  # another global state: the seed alone decides
    state = torch.random.get_rng_state()
    again, report = train_event_classifier(*samples, config=CONFIG, seed=3, inputs_sha256=SHA)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's torch RNG untouched
    first = trained[0].state_dict()
    for name, tensor in again.state_dict().items():
        assert torch.equal(tensor, first[name]), name
    assert report == trained[1]
    other, _ = train_event_classifier(
        *samples, config=dataclasses.replace(CONFIG, epochs=1), seed=4
    )
    same_epoch, _ = train_event_classifier(
        *samples, config=dataclasses.replace(CONFIG, epochs=1), seed=3
    )
    assert not torch.equal(other.layers[0].weight, same_epoch.layers[0].weight)


def test_activations_have_the_hidden_widths(trained):
    model, _ = trained
    x = torch.from_numpy(event_inputs(_hand_events())[0])
    acts = model.activations(x)
    assert [tuple(a.shape) for a in acts] == [(3, 32), (3, 16)]
    assert all(bool((a >= 0).all()) for a in acts)
    torch.testing.assert_close(model.output(acts[-1]).squeeze(-1), model(x))


def test_save_load_round_trip_and_integrity(trained, samples, tmp_path):
    model, report = trained
    folder = save_event_classifier(model, report, tmp_path / "clf")
    assert sorted(p.name for p in folder.iterdir()) == [ec.CONFIG_NAME, ec.WEIGHTS_NAME]
    loaded, document = load_event_classifier(folder)
    events = samples[0][:300]
    np.testing.assert_array_equal(
        classifier_scores(loaded, events), classifier_scores(model, events)
    )
    assert classifier_scores(loaded, events).dtype == np.float64
    assert document["inputs"] == list(INPUT_NAMES)
    assert ec.ClassifierReport.from_dict(document["report"]) == report

    weights = folder / ec.WEIGHTS_NAME
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256") as error:
        load_event_classifier(folder)
    assert "\n" not in str(error.value)

    (folder / ec.CONFIG_NAME).write_text("{not json")
    with pytest.raises(FormatError, match="not valid JSON"):
        load_event_classifier(folder)
    with pytest.raises(InputFileError, match="missing"):
        load_event_classifier(tmp_path / "nowhere")


def test_weighted_auc_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(5)
    s, b = rng.normal(1.0, 1.0, 300).round(1), rng.normal(0.0, 1.0, 400).round(1)  # ties
    ws, wb = rng.uniform(0.1, 2.0, 300), rng.uniform(0.1, 2.0, 400)
    # sklearn's weighted AUC is a trapezoid over the weighted ROC: the same with ties as 1/2
    expected = metrics.roc_auc_score(
        np.r_[np.ones(300), np.zeros(400)], np.r_[s, b], sample_weight=np.r_[ws, wb]
    )
    assert weighted_auc(s, ws, b, wb) == pytest.approx(expected, abs=1e-12)


def test_efficiency_at_hand_computed():
    background, b_w = np.array([0.1, 0.2, 0.3, 0.4, 0.5]), np.array([1.0, 1.0, 1.0, 1.0, 4.0])
    signal, s_w = np.array([0.45, 0.55, 0.35]), np.array([1.0, 2.0, 1.0])
    # from the top: 0.5 holds 4/8 = 0.5 (not above 0.5), with 0.4 it is 5/8: cut at > 0.4
    point = working_point(signal, s_w, background, b_w, 0.5, min_effective=1.0)
    assert (point.threshold, point.background_efficiency) == (0.4, 0.5)
    assert point.signal_efficiency == 0.75 and point.n_background_effective == 1.0
    assert efficiency_at(signal, s_w, background, b_w, 0.5, min_effective=1.0) == 0.75
    assert efficiency_at(signal, s_w, background, b_w, 0.5) is None  # 1 < 10 effective
    # ties at the top exceed the target: nothing passes, and nothing is divided by zero
    tied = working_point(signal, s_w, np.array([0.5, 0.5, 0.1]), np.ones(3), 0.4)
    assert tied.signal_efficiency is None and tied.n_background_effective == 0.0
    assert tied.background_efficiency == 0.0
    # negative weights: inside the tie at 0.5 the fraction reaches 3/4, the whole tie 3/8
    negative = working_point(
        signal, s_w, np.array([0.9, 0.5, 0.5, 0.1]), np.array([1.0, 2.0, -1.5, 2.5]), 0.5,
        min_effective=0.0,
    )  # fmt: skip
    assert (negative.threshold, negative.background_efficiency) == (0.1, 0.375)
    everything = working_point(signal, s_w, background, b_w, 1.0, min_effective=1.0)
    assert everything.signal_efficiency == 1.0 and everything.threshold == -math.inf
    with pytest.raises(InputValueError, match="total weight"):
        efficiency_at(signal, s_w, background, np.zeros(5), 0.1)


def test_config_is_validated():
    with pytest.raises(InputValueError, match="fractions"):
        ClassifierConfig(fractions=(0.5, 0.5, 0.5))
    with pytest.raises(InputValueError, match=">= 1"):
        ClassifierConfig(hidden=(8, 0))
    assert ClassifierConfig.from_dict(dataclasses.asdict(CONFIG)) == CONFIG
    assert EventClassifier().activations(torch.zeros(2, len(INPUT_NAMES)))[0].shape == (2, 64)


def test_docstring_examples_run():
    from surrotag.reference import classifier_metrics

    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(ec, optionflags=flags)
    metrics = doctest.testmod(classifier_metrics, optionflags=flags)
    assert result.attempted >= 1 and metrics.attempted >= 3
    assert result.failed == 0 and metrics.failed == 0


def test_real_delphes_dilepton_events(delphes_file):
    from surrotag.io import iter_events

    chunks = list(
        iter_events(
            delphes_file,
            level="delphes",
            collections=["electrons", "muons", "jets", "met", "weight"],
        )
    )
    events = ak.concatenate(chunks)
    n_leptons = ak.to_numpy(ak.num(events.electrons) + ak.num(events.muons))
    selected = has_two_leptons(events)
    np.testing.assert_array_equal(selected, n_leptons >= 2)
    if not selected.any():
        with pytest.raises(InputValueError, match=f"^{len(events)} of {len(events)} events"):
            event_inputs(events)
        return
    with pytest.raises(InputValueError, match="fewer than two leptons"):
        event_inputs(events)
    dilepton = events[selected]
    inputs, _ = event_inputs(dilepton)
    assert inputs.shape == (int(selected.sum()), len(INPUT_NAMES)) and np.isfinite(inputs).all()
    leptons = ak.concatenate([dilepton.electrons.pt, dilepton.muons.pt], axis=1)
    leading = ak.to_numpy(ak.sort(leptons, ascending=False)[:, :2])
    np.testing.assert_allclose(_column(inputs, "lepton1_pt"), leading[:, 0], rtol=1e-6)
    np.testing.assert_allclose(_column(inputs, "lepton2_pt"), leading[:, 1], rtol=1e-6)
    np.testing.assert_array_equal(_column(inputs, "lepton1_dphi"), 0.0)
    np.testing.assert_array_equal(_column(inputs, "n_jets"), ak.to_numpy(ak.num(dilepton.jets)))
    np.testing.assert_allclose(_column(inputs, "met"), ak.to_numpy(dilepton.met.met), rtol=1e-6)
    assert set(np.abs(_column(inputs, "lepton1_charge"))) == {1.0}


def test_evaluation_on_independent_events(trained):
    """Fresh synthetic events (another seed): AUC near the test split's, and equal to the
    weighted AUC of the model's own scores."""
    from surrotag.reference.event_classifier import evaluate_event_classifier

    model, report = trained
    rng = np.random.default_rng(99)
    signal, background = _synthetic(3000, True, rng), _synthetic(3000, False, rng)
    result = evaluate_event_classifier(model, signal, background)
    s_scores, b_scores = classifier_scores(model, signal), classifier_scores(model, background)
    direct = weighted_auc(
        s_scores, ak.to_numpy(signal.weight), b_scores, ak.to_numpy(background.weight)
    )
    assert result["auc"] == pytest.approx(direct, rel=1e-12)
    assert abs(result["auc"] - report.auc) < 0.03
    assert (result["n_signal"], result["n_background"]) == (3000, 3000)
    assert [p["target"] for p in result["working_points"]] == [1e-3, 1e-2]
