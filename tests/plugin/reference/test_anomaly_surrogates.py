"""Anomaly-score surrogates end to end on real Pythia jets: the internal taggers as jet
taggers, the table, the QCD-efficiency working point, training and the validation's OOD
probes (a four-prong jet must be flagged), at toy sizes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from surrotag.errors import FormatError, InputFileError, InputValueError, IntegrityError
from surrotag.io.parquet import read_parquet, read_parquet_metadata
from surrotag.reference.anomaly import four_momenta, lgae_scores, select_jets
from surrotag.reference.anomaly_surrogates import (
    ANOMALY_SURROGATE_PLAN,
    FEATURES,
    anomaly_working_point,
    build_anomaly_table,
    ship_anomaly_surrogate,
    split_rows,
)
from surrotag.reference.anomaly_tagger import is_anomaly_tagger, load_anomaly_tagger
from surrotag.reference.lgae import save_lgae, train_lgae
from surrotag.reference.publish import Sample
from surrotag.reference.vae import VAEConfig, save_vae, train_vae, vae_scores
from surrotag.reference.vae_inputs import vae_inputs
from surrotag.surrogates.train import TrainConfig

WIDE = {"leading_jets": 2, "containment_radius": 0.8, "jet_pt_gev": (200.0, 5000.0),
        "jet_abs_eta": 2.4}  # fmt: skip
PLAN = {
    **ANOMALY_SURROGATE_PLAN,
    "samples": {
        "train": (Sample("qcd_a", "qcd-dijet", 200, 41), Sample("tt", "ttbar-allhad", 120, 42)),
        "test": (
            Sample("qcd_b", "qcd-dijet", 200, 43),
            Sample("tt_b", "ttbar-allhad", 120, 45),
            Sample("s120", "scalar-jet", 80, 44, 120.0),
        ),
    },
    "jobs": 1,
    "working_point": {
        "name": "qcd10",
        "qcd_efficiency": 0.10,
        "sample": "qcd_b",
        "jet_pt_gev": (300.0, 3000.0),
        "jet_abs_eta": 2.4,
    },
    "training": {"epochs": 1, "patience": 1, "bayes": "vi", "draws": 4, "seed": 3},
}


@pytest.fixture(scope="module")
def taggers(tmp_path_factory: pytest.TempPathFactory, qcd_file: Path) -> Path:
    """A tiny VAE stored as ``oe`` and a tiny LGAE, both trained on 150 QCD events."""
    folder = tmp_path_factory.mktemp("anomaly")
    jets = select_jets(read_parquet(qcd_file, ["weight", "fatjets", "particles"]), WIDE)
    config = VAEConfig(latent=3, epochs=2, batch_size=64, seed=1)
    model, scale, report = train_vae(vae_inputs(jets["jets"]), jets["mass"], config)
    save_vae(model, scale, config, report, folder / "oe")
    p4, mask = four_momenta(jets["jets"], 30)
    lgae, losses = train_lgae(p4, mask, epochs=1, batch_size=64, seed=2,
                              model_kwargs={"n_slots": 20})  # fmt: skip
    save_lgae(lgae, folder / "lgae", {"settings": {"constituents": 30}, "losses": losses})
    return folder


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory, taggers: Path) -> Path:
    data = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SURROTAG_DATA", str(data))
        return build_anomaly_table(taggers, data / "anomaly_table.parquet", PLAN, log=print)


def test_anomaly_taggers_give_the_log_of_their_score(taggers: Path, qcd_file: Path):
    jets = select_jets(read_parquet(qcd_file, ["weight", "fatjets", "particles"]), WIDE)["jets"]
    oe = load_anomaly_tagger(taggers / "oe")
    assert is_anomaly_tagger(taggers / "oe") and oe.score == "kl"
    model_scores = vae_scores(oe.model, oe.scale, vae_inputs(jets), oe.beta)["kl"]
    np.testing.assert_allclose(oe.logits(jets), np.log(model_scores), rtol=1e-5)
    lgae = load_anomaly_tagger(taggers / "lgae")
    p4, mask = four_momenta(jets, 30)
    np.testing.assert_allclose(lgae.logits(jets), np.log(lgae_scores(lgae.model, p4, mask)),
                               rtol=1e-5)  # fmt: skip
    assert oe.sha256 != lgae.sha256 and len(oe.sha256) == 64


def test_a_tampered_or_absent_tagger_is_refused(taggers: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / "oe"
    shutil.copytree(taggers / "oe", copy)
    weights = copy / "vae.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        load_anomaly_tagger(copy)
    with pytest.raises(InputFileError, match="anomaly-study"):
        load_anomaly_tagger(tmp_path / "nothing")


def test_table_holds_features_prongs_scores_and_disjoint_splits(table: Path, taggers: Path):
    meta = read_parquet_metadata(table)
    assert meta["kind"] == "anomaly-surrogate-table"
    assert meta["taggers"]["oe"]["sha256"] == load_anomaly_tagger(taggers / "oe").sha256
    assert {s["split"] for s in meta["samples"]} == {"train", "test"}
    assert len({s["seed"] for s in meta["samples"]}) == len(meta["samples"])
    x, score, columns, _ = split_rows(table, "oe", "test", ("process",))
    assert x.shape[1] == len(FEATURES) and np.isfinite(x).all() and np.isfinite(score).all()
    prongs = columns["truth_n_prongs"]
    assert set(np.unique(prongs[columns["process"] == "qcd-dijet"])) == {0.0}
    scalar = columns["process"] == "scalar-jet"
    two = scalar & (prongs == 2)
    assert two.sum() >= 10
    np.testing.assert_allclose(columns["truth_prong_mass"][two], 120.0, rtol=0.011)
    assert np.all(columns["jet_pt"] > 300.0)


def test_working_point_keeps_the_planned_qcd_efficiency(table: Path, taggers: Path):
    sha = load_anomaly_tagger(taggers / "oe").sha256
    point = anomaly_working_point(table, "qcd10", sha)
    assert abs(point["efficiency"] - 0.10) < 0.03
    assert "qcd_b" in point["definition"]
    with pytest.raises(InputValueError, match="qcd20"):
        anomaly_working_point(table, "qcd20", sha)
    with pytest.raises(InputValueError, match="scores no tagger"):
        anomaly_working_point(table, "qcd10", "f" * 64)


def test_a_top_tagger_table_is_not_an_anomaly_table(tmp_path: Path):
    import awkward as ak

    from surrotag.io.parquet import write_parquet

    path = tmp_path / "t.parquet"
    write_parquet(ak.zip({"jet_pt": np.ones(3)}, depth_limit=1), path, {"kind": "other"})
    with pytest.raises(FormatError, match="not an anomaly surrogate table"):
        split_rows(path, "oe", "test")


def test_shipped_surrogate_flags_four_prong_jets_and_validates(table: Path, tmp_path: Path):
    from surrotag.validation.anomaly_surrogate import (
        VALIDATION_SETTINGS,
        validate_anomaly_surrogate,
    )

    config = TrainConfig(hidden=8, cond_hidden=8, epochs=1, draws=4, steps=4, seed=3)
    card = ship_anomaly_surrogate("anomaly-oe-delphes", table, tmp_path / "s", plan=PLAN,
                                  config=config)  # fmt: skip
    assert card.score["column"] == "score_oe"
    assert [f["name"] for f in card.features] == list(FEATURES)
    assert card.working_points[0]["name"] == "qcd10"
    settings = {**VALIDATION_SETTINGS, "draws": 4, "c2st_rows": 400, "c2st_min_rows": 50,
                "probe_rows": 50, "min_entries": 5.0, "min_expected": 1.0}  # fmt: skip
    report = validate_anomaly_surrogate(tmp_path / "s", table, settings)
    json.dumps(report, allow_nan=True)
    probes = report["probes"]["points"]
    assert probes["four prongs"]["flag_rate"] == 1.0  # unseen truth category, always flagged
    assert probes["prong mass x2 support edge"]["flag_rate"] == 1.0  # outside the box
    assert probes["inside"]["flag_rate"] < 0.5
    assert {g["name"] for g in report["goals"]} >= {"cells with |pull| <= 2, all prong classes"}


def test_anomaly_dijet_official_decisions_come_from_the_anomaly_tagger(table: Path, taggers: Path):
    """The card's internal_tagger makes internal_decisions load the anomaly tagger, its
    working point from the anomaly table, and refuse a tagger the card does not name."""
    import dataclasses

    from surrotag.analysis import get_analysis
    from surrotag.reference.official import internal_decisions

    card = get_analysis("anomaly-dijet").card
    assert card.surrogate.internal_tagger == "anomaly/oe"
    oe = load_anomaly_tagger(taggers / "oe")
    mine = dataclasses.replace(
        card, surrogate=dataclasses.replace(card.surrogate, tagger_sha256=oe.sha256)
    )
    decisions = internal_decisions(mine, "qcd10", folder=taggers / "oe", table=table)
    assert decisions.tagger.sha256 == oe.sha256
    assert decisions.threshold == pytest.approx(
        anomaly_working_point(table, "qcd10", oe.sha256)["threshold"]
    )
    with pytest.raises(IntegrityError, match="tagger_sha256"):
        internal_decisions(
            dataclasses.replace(
                card, surrogate=dataclasses.replace(card.surrogate, tagger_sha256="a" * 64)
            ),
            "qcd10", folder=taggers / "oe", table=table,
        )  # fmt: skip


def test_lgae_gives_no_score_to_a_jet_without_invariant_mass(taggers: Path, qcd_file: Path):
    """A jet of one massless constituent (a photon) has J.J = 0: the LGAE cannot score it, so
    its logit is NaN (never tagged, left out of tables) while the other jets keep theirs."""
    import awkward as ak

    jets = select_jets(read_parquet(qcd_file, ["weight", "fatjets", "particles"]), WIDE)["jets"]
    lgae = load_anomaly_tagger(taggers / "lgae")
    whole = lgae.logits(jets[:3])
    single = ak.concatenate([jets[:1], jets[1:3]])
    first = jets[:1].constituents[:, :1]
    momentum = np.sqrt(first.px**2 + first.py**2 + first.pz**2)  # E below |p| after rounding
    photon = ak.with_field(first, momentum * (1.0 - 1e-6), "E")
    single = ak.with_field(single, ak.concatenate([photon, jets[1:3].constituents]), "constituents")
    logits = lgae.logits(single)
    assert np.isnan(logits[0]) and np.isfinite(whole[0])
    np.testing.assert_allclose(logits[1:], whole[1:], rtol=1e-5)
