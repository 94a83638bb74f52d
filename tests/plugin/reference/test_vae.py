"""The internal VAE anomaly taggers (arXiv:2007.01850) on real Pythia jets: frame-fixed
inputs, DisCo and outlier exposure doing what they are for, storage, truth labels."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import torch

from surrotag.errors import IntegrityError
from surrotag.io.parquet import read_parquet
from surrotag.reference.anomaly import LABELS, jet_resonance_labels, select_jets
from surrotag.reference.vae import (
    VAEConfig,
    distance_correlation,
    load_vae,
    save_vae,
    train_vae,
    vae_scores,
)
from surrotag.reference.vae_inputs import vae_inputs

WIDE = {"leading_jets": 2, "containment_radius": 0.8, "jet_pt_gev": (200.0, 5000.0),
        "jet_abs_eta": 2.0}  # fmt: skip


@pytest.fixture(scope="module")
def qcd_jets(qcd_file: Path) -> dict:
    return select_jets(read_parquet(qcd_file, ["weight", "fatjets", "particles"]), WIDE)


@pytest.fixture(scope="module")
def wprime_events(wprime_file: Path) -> ak.Array:
    return read_parquet(wprime_file, ["weight", "fatjets", "particles"])


def _transformed(jets: ak.Array, dphi: float, rapidity: float) -> ak.Array:
    """The jets rotated by dphi about the beam and boosted along it (constituents too)."""
    c = jets.constituents
    cos, sin = np.cos(dphi), np.sin(dphi)
    ch, sh = np.cosh(rapidity), np.sinh(rapidity)
    px, py = c.px * cos - c.py * sin, c.px * sin + c.py * cos
    pz, e = c.pz * ch + c.E * sh, c.E * ch + c.pz * sh
    constituents = ak.zip({"px": px, "py": py, "pz": pz, "E": e})
    jet_pz = jets.pt * np.sinh(jets.eta)
    jet_e = np.sqrt(jets.pt**2 + jet_pz**2 + jets.mass**2)
    new_pz = jet_pz * ch + jet_e * sh
    return ak.zip(
        {
            "pt": jets.pt,
            "eta": np.arcsinh(new_pz / jets.pt),
            "phi": (jets.phi + dphi + np.pi) % (2 * np.pi) - np.pi,
            "mass": jets.mass,
            "constituents": constituents,
        },
        depth_limit=1,
    )


def test_inputs_do_not_depend_on_the_jet_azimuth_or_longitudinal_boost(qcd_jets):
    """The jet frame (phi = 0, rapidity 0, principal axis along phi) removes both."""
    jets = qcd_jets["jets"]
    assert len(jets) > 100
    reference = vae_inputs(jets)
    for dphi, rapidity in ((1.1, 0.0), (0.0, 0.7), (-2.5, -1.3)):
        moved = vae_inputs(_transformed(jets, dphi, rapidity))
        np.testing.assert_allclose(moved, reference, atol=2e-4 * np.abs(reference).max())
    # a rotation about the beam alone moves the raw momenta: the test can fail
    raw = ak.to_numpy(ak.fill_none(ak.pad_none(jets.constituents.px, 1, clip=True), 0))
    moved_raw = ak.to_numpy(
        ak.fill_none(ak.pad_none(_transformed(jets, 1.1, 0).constituents.px, 1, clip=True), 0)
    )
    assert not np.allclose(raw, moved_raw)


def test_inputs_are_the_hardest_constituents_zero_padded(qcd_jets):
    jets = qcd_jets["jets"]
    inputs = vae_inputs(jets, n=20).reshape(len(jets), 20, 4)
    real = np.minimum(ak.to_numpy(ak.num(jets.constituents)), 20)
    assert np.array_equal((inputs[..., 0] > 0).sum(1), real)
    assert np.all(inputs[np.arange(20)[None, :] >= real[:, None]] == 0)
    # E / pT of the constituents kept: all of them carry most of the jet's energy
    assert np.median(inputs[..., 0].sum(1)) > 0.5


def test_distance_correlation_known_answers():
    gen = torch.Generator().manual_seed(3)
    x, y = torch.randn(2000, generator=gen), torch.randn(2000, generator=gen)
    assert float(distance_correlation(x, y)) < 0.08
    assert float(distance_correlation(x, -2 * x + 1)) == pytest.approx(1.0, abs=1e-6)
    assert 0.3 < float(distance_correlation(x, x**2)) < 0.7  # dependent, not correlated


@pytest.fixture(scope="module")
def trained(qcd_jets: dict, wprime_events: ak.Array) -> dict:
    qcd_jets = {**qcd_jets, "inputs": vae_inputs(qcd_jets["jets"])}
    bosons = select_jets(wprime_events, WIDE)
    outliers = vae_inputs(bosons["jets"])[bosons["label"] == LABELS["W"]]
    base = dict(epochs=25, batch_size=32, seed=5)
    out = {}
    for name, options in {
        "vae": {},
        "disco": {"disco_weight": 100.0},
        "oe": {"oe_weight": 2.0, "oe_margin": 1.0},
    }.items():
        config = VAEConfig(**base, **options)
        model, scale, report = train_vae(
            qcd_jets["inputs"],
            qcd_jets["mass"],
            config,
            outliers if "oe_weight" in options else None,
        )
        out[name] = (model, scale, report, config)
    out["qcd"] = qcd_jets
    out["outliers"] = outliers
    return out


def test_disco_decorrelates_the_loss_from_the_jet_mass(trained):
    qcd = trained["qcd"]
    mass = torch.from_numpy(qcd["mass"])
    dcorr = {}
    for name in ("vae", "disco"):
        model, scale, _, config = trained[name]
        loss = vae_scores(model, scale, qcd["inputs"], config.beta)["loss"]
        dcorr[name] = float(distance_correlation(torch.from_numpy(loss), mass.double()))
    assert dcorr["disco"] < 0.6 * dcorr["vae"], dcorr


def test_outlier_exposure_pushes_the_outliers_latent_score_up(trained):
    qcd, outliers = trained["qcd"], trained["outliers"]
    assert len(outliers) >= 20
    gap = {}
    for name in ("vae", "oe"):
        model, scale, _, config = trained[name]
        kl_qcd = np.median(vae_scores(model, scale, qcd["inputs"], config.beta)["kl"])
        kl_out = np.median(vae_scores(model, scale, outliers, config.beta)["kl"])
        gap[name] = kl_out - kl_qcd
    assert gap["oe"] > gap["vae"] + 0.5, gap


def test_saved_tagger_loads_bit_identically_and_refuses_tampering(trained, tmp_path):
    model, scale, report, config = trained["vae"]
    folder = save_vae(model, scale, config, report, tmp_path / "vae", {"samples": {"x": "0" * 64}})
    loaded, loaded_scale, document = load_vae(folder)
    assert document["config"] == json.loads(json.dumps(config.__dict__))
    inputs = trained["qcd"]["inputs"][:50]
    before = vae_scores(model, scale, inputs, config.beta)
    after = vae_scores(loaded, loaded_scale, inputs, config.beta)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    weights = folder / "vae.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as caught:
        load_vae(folder)
    assert "\n" not in str(caught.value)


def test_wprime_jets_are_labelled_w_and_z_and_qcd_jets_none(wprime_events, qcd_file):
    labels = ak.to_numpy(ak.flatten(jet_resonance_labels(wprime_events)[:, :2]))
    pt = ak.to_numpy(ak.flatten(wprime_events.fatjets.pt[:, :2]))
    hard = labels[pt > 400]
    counts = np.bincount(hard, minlength=4)
    assert counts[LABELS["W"]] > 0.3 * len(hard) and counts[LABELS["Z"]] > 0.3 * len(hard), counts
    assert counts[LABELS["top"]] == 0
    qcd = ak.flatten(jet_resonance_labels(read_parquet(qcd_file, ["fatjets", "particles"])))
    assert ak.all(qcd == LABELS["none"])


def test_the_study_runs_end_to_end_on_a_small_plan(tmp_path, monkeypatch):
    """The pre-registered study's code path on a small plan of its own (fresh samples in a
    temporary cache): report and figure written together, every figure in range, the
    taggers loadable, each sample's sha256 recorded."""
    from surrotag.reference.anomaly import run_anomaly_study
    from surrotag.reference.anomaly_plan import ANOMALY_PLAN
    from surrotag.reference.lgae import load_lgae
    from surrotag.reference.publish import Sample
    from surrotag.surrogates.card import sha256_file

    monkeypatch.setenv("SURROTAG_DATA", str(tmp_path / "data"))
    plan = {
        **ANOMALY_PLAN,
        "samples": {
            "qcd_train": Sample("qcd_train", "qcd-dijet", 400, 91),
            "qcd_test": Sample("qcd_test", "qcd-dijet", 300, 92),
            "top": Sample("top", "zprime-ttbar", 120, 93, 1300.0),
            "wz": Sample("wz", "wprime-wz", 120, 94, 1300.0),
            "outliers": Sample("outliers", "wprime-wz", 80, 95, 1300.0),
        },
        "jobs": 1,
        "jet_pt_gev": (200.0, 5000.0),
        "epochs": 2,
        "batch_size": 32,
        "lgae": {**ANOMALY_PLAN["lgae"], "epochs": 1, "batch_size": 64},
    }
    report = run_anomaly_study(tmp_path / "out", plan, log=lambda line: None)
    written = json.loads((tmp_path / "out" / "anomaly_study.json").read_text())
    assert written == json.loads(json.dumps(report))
    assert (tmp_path / "out" / "anomaly_study.png").stat().st_size > 10_000
    for name, sample in written["samples"].items():
        path = next((tmp_path / "data" / "reference").glob(sample["file"]))
        assert sample["sha256"] == sha256_file(path), name
    assert written["samples"]["top"]["labels"]["top"] > 20
    floor = written["js_null_floor"]
    assert 0.0 < floor["mean"] < floor["p95"] <= 1.0 and floor["draws"] == 200
    for name in ("vae", "disco", "oe", "lgae"):
        result = written["results"][name]
        assert result["headline_score"] == ANOMALY_PLAN["headline_score"][name]
        for aucs in result["auc"].values():
            assert set(aucs) == {"top", "W", "Z"} and all(0.0 <= v <= 1.0 for v in aucs.values())
        point = result["working_point"]
        assert 0.0 <= point["js_distance_qcd_mass"] <= 1.0
        assert point["qcd_efficiency"] <= 0.1
        (load_lgae if name == "lgae" else load_vae)(tmp_path / "out" / name)
    assert set(written["results"]["vae"]["auc"]) == {"mse", "kl", "loss"}


def test_the_null_floor_of_the_sculpting_figure_falls_with_the_statistics():
    """A random cut sculpts nothing: its JS distance is statistics alone, falling as
    1/sqrt(N) (4x the jets, about half the floor), and a mass cut stands far above it."""
    from surrotag.reference.anomaly import js_mass_sculpting, js_null_floor

    rng = np.random.default_rng(1)
    bins = (0.0, 300.0, 30)
    small, large = (rng.gamma(3.0, 30.0, n) for n in (5_000, 20_000))
    floor_small = js_null_floor(small, np.ones_like(small), 0.1, bins, draws=50)
    floor_large = js_null_floor(large, np.ones_like(large), 0.1, bins, draws=50)
    assert 0.35 < floor_large["mean"] / floor_small["mean"] < 0.65
    sculpted = js_mass_sculpting(large, np.ones_like(large), large > np.quantile(large, 0.9), bins)
    assert sculpted > 5 * floor_large["p95"]


def test_y_xx_jets_are_labelled_x(tmp_path):
    """gg -> Y(1.6 TeV) -> X(150) X'(250), X, X' -> q qbar: boosted X and X' jets get
    label X (both quarks inside), never W, Z or top."""
    from surrotag.reference.generate import generate

    path = generate("y-xx", 60, seed=25, jobs=1, mass=1600.0, x_masses=(150.0, 250.0),
                    out=tmp_path / "y.parquet")  # fmt: skip
    events = read_parquet(path, ["fatjets", "particles"])
    labels = ak.to_numpy(ak.flatten(jet_resonance_labels(events)[:, :2]))
    counts = np.bincount(labels, minlength=len(LABELS))
    assert counts[LABELS["X"]] > 0.5 * len(labels), counts
    assert counts[LABELS["W"]] == counts[LABELS["Z"]] == counts[LABELS["top"]] == 0
