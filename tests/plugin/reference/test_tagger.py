"""Internal tagger: constituent inputs, training, deterministic scores, sha256 guard."""

from __future__ import annotations

import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from surrotag.errors import IntegrityError
from surrotag.io.parquet import read_parquet, read_parquet_metadata, sha256_file
from surrotag.reference.generate import generate
from surrotag.reference.inputs import CONSTITUENT_FEATURES, constituent_inputs, flat_fatjets
from surrotag.reference.samples import load_sample
from surrotag.reference.score import score_sample
from surrotag.reference.tagger import WEIGHTS_NAME, load_tagger, train_tagger


def test_constituent_inputs(ttbar_events: ak.Array) -> None:
    jets = flat_fatjets(ttbar_events)[:40]
    inputs, mask = constituent_inputs(jets, n_max=30)
    assert inputs.shape == (40, 30, len(CONSTITUENT_FEATURES)) and mask.shape == (40, 30)
    n = ak.to_numpy(ak.num(jets.constituents, axis=1))
    np.testing.assert_array_equal(mask.sum(axis=1), np.minimum(n, 30))
    assert np.all(inputs[~mask] == 0)
    deta, dphi, log_pt, _, log_pt_rel, _, delta_r, charge = np.moveaxis(inputs, -1, 0)
    assert np.all(np.abs(dphi[mask]) <= np.pi)
    np.testing.assert_allclose(delta_r[mask], np.hypot(deta, dphi)[mask], rtol=1e-5)
    np.testing.assert_allclose(
        (log_pt - log_pt_rel)[mask],
        np.repeat(np.log(ak.to_numpy(jets.pt)), mask.sum(axis=1)),
        rtol=1e-5,
    )
    # hardest first, and inside the jet cone (anti-kT R = 0.8, up to the jet-axis recoil)
    real_pt = np.where(mask, log_pt, -1e9)
    assert np.all(np.diff(real_pt, axis=1)[mask[:, 1:]] <= 1e-6)
    assert np.all(delta_r[mask] < 1.0) and set(np.unique(charge[mask])) <= {-1.0, 0.0, 1.0}
    # the leading constituent's pT from px, py directly
    c = jets.constituents
    lead = ak.to_numpy(ak.max(np.hypot(c.px, c.py), axis=1))
    np.testing.assert_allclose(np.exp(log_pt[:, 0]), lead, rtol=1e-5)


def test_scores_are_deterministic(small_tagger: Path, ttbar_file: Path, tmp_path: Path) -> None:
    first, meta = score_sample(ttbar_file, small_tagger, tmp_path / "a.parquet")
    second, _ = score_sample(ttbar_file, load_tagger(small_tagger), tmp_path / "b.parquet")
    a, b = read_parquet(first, events=False), read_parquet(second, events=False)
    np.testing.assert_array_equal(ak.to_numpy(a.tagger_logit), ak.to_numpy(b.tagger_logit))
    assert meta["sample"]["sha256"] == sha256_file(ttbar_file)
    assert meta["tagger"]["sha256"] == sha256_file(small_tagger / WEIGHTS_NAME)
    assert read_parquet_metadata(first) == meta
    events = read_parquet(ttbar_file, events=False)
    np.testing.assert_array_equal(
        ak.to_numpy(a.event_index), np.repeat(np.arange(len(events)), ak.num(events.fatjets))
    )
    # one logit per jet, independent of how jets are batched
    jets = flat_fatjets(events)
    tagger = load_tagger(small_tagger)
    np.testing.assert_allclose(
        tagger.logits(jets, batch_size=7), ak.to_numpy(a.tagger_logit), rtol=1e-5, atol=1e-5
    )


def test_tampered_weights_are_refused(small_tagger: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tagger"
    shutil.copytree(small_tagger, copy)
    raw = bytearray((copy / WEIGHTS_NAME).read_bytes())
    raw[-3] ^= 0x40  # one bit of the last float
    (copy / WEIGHTS_NAME).write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="sha256"):
        load_tagger(copy)


def _mass_window_auc(sample) -> tuple[np.ndarray, np.ndarray]:
    return sample.label, -np.abs(np.nan_to_num(ak.to_numpy(sample.features.jet_sd_mass)) - 172.5)


@pytest.mark.slow
def test_tagger_beats_jet_mass(tmp_path: Path, ttbar_file: Path, qcd_file: Path) -> None:
    """Trained on 400 + 400 events (seeds 41, 42), tested on the session samples (11, 12)."""
    from sklearn.metrics import roc_auc_score

    top = generate("ttbar-allhad", 400, seed=41, jobs=1, out=tmp_path / "t.parquet")
    qcd = generate("qcd-dijet", 400, seed=42, jobs=1, out=tmp_path / "q.parquet")
    report = train_tagger([top], [qcd], epochs=25, seed=0, out=tmp_path / "tagger", patience=6)
    tagger = load_tagger(tmp_path / "tagger")
    labels, logits, masses = [], [], []
    for path, role in ((ttbar_file, "top"), (qcd_file, "qcd")):
        sample = load_sample(path, role)
        keep = sample.label >= 0
        labels.append(sample.label[keep])
        logits.append(tagger.logits(sample.jets[keep]))
        masses.append(_mass_window_auc(sample)[1][keep])
    y = np.concatenate(labels)
    auc_tagger = roc_auc_score(y, np.concatenate(logits))
    auc_mass = roc_auc_score(y, np.concatenate(masses))
    assert report.val_auc > 0.85
    assert auc_tagger > auc_mass, (auc_tagger, auc_mass)
