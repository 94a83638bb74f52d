"""Surrogate training table: splits from disjoint seeds, provenance, labels, performance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from surrotag.errors import SurrotagError
from surrotag.io.parquet import read_parquet, read_parquet_metadata, sha256_file, write_parquet
from surrotag.reference.performance import evaluate_table
from surrotag.reference.samples import load_sample
from surrotag.reference.table import assign_splits, build_table
from surrotag.reference.tagger import WEIGHTS_NAME


def test_table_columns_labels_and_provenance(table, small_tagger: Path) -> None:
    path, _built, provenance = table
    on_disk = read_parquet(path, events=False)
    assert read_parquet_metadata(path) == provenance
    for column in (
        "event_index",
        "jet_pt",
        "jet_sd_mass",
        "jet_tau32",
        "truth_top_contained",
        "tagger_logit",
        "label",
        "sample_label",
        "split",
        "sample_index",
        "event_weight",
    ):
        assert column in on_disk.fields
    assert provenance["tagger"]["sha256"] == sha256_file(small_tagger / WEIGHTS_NAME)
    samples = provenance["samples"]
    assert len(samples) == 6
    for i, sample in enumerate(samples):
        rows = np.asarray(on_disk.sample_index) == i
        assert sample["sha256"] == sha256_file(sample["path"])
        assert set(np.asarray(on_disk.split)[rows]) == {sample["split"]}
        assert rows.sum() == sample["n_jets"]
    label, sample_label = np.asarray(on_disk.label), np.asarray(on_disk.sample_label)
    contained = np.asarray(on_disk.truth_top_contained) == 1
    matched = np.asarray(on_disk.truth_top_matched) == 1
    hadronic = np.asarray(on_disk.truth_top_hadronic) == 1
    np.testing.assert_array_equal(label == 1, (sample_label == 1) & matched & hadronic & contained)
    np.testing.assert_array_equal(label == 0, sample_label == 0)
    assert np.all(np.isfinite(np.asarray(on_disk.tagger_logit)))
    # splits come from disjoint generation seeds
    seeds = {split: set() for split in ("train", "val", "test")}
    for sample in samples:
        seeds[sample["split"]] |= {sample["seed"], *sample["pythia_seeds"]}
    assert not (
        seeds["train"] & seeds["val"]
        or seeds["train"] & seeds["test"]
        or seeds["val"] & seeds["test"]
    )
    assert len(provenance["tagger_training_samples_in_train"]) == 2


def test_particle_level_columns_follow_the_detector_jets(table) -> None:
    """Each detector jet carries its matched particle-level jet: nearly all match, and the
    detector barely moves pT but changes the constituent count (Delphes EFlow merging)."""
    on_disk = read_parquet(table[0], events=False)
    matched = np.asarray(on_disk.particle_matched).astype(bool)
    assert matched.mean() > 0.95
    det_pt, part_pt = (
        np.asarray(on_disk.jet_pt)[matched],
        np.asarray(on_disk.particle_jet_pt)[matched],
    )
    assert abs(np.median(det_pt / part_pt) - 1) < 0.05
    assert np.all(np.isnan(np.asarray(on_disk.particle_jet_pt)[~matched]))
    n_det = np.asarray(on_disk.jet_n_constituents)[matched]
    n_part = np.asarray(on_disk.particle_jet_n_constituents)[matched]
    assert np.mean(n_part) > np.mean(n_det)  # no detector: every visible particle counts


def test_shared_seeds_and_tagger_samples_are_refused(
    small_tagger: Path, ttbar_file: Path, qcd_file: Path, held_out: dict[str, Path]
) -> None:
    top = {
        "train": [held_out["top_val"]],
        "val": [held_out["top_val"]],
        "test": [held_out["top_test"]],
    }
    qcd = {
        "train": [held_out["qcd_val"]],
        "val": [held_out["qcd_val"]],
        "test": [held_out["qcd_test"]],
    }
    with pytest.raises(SurrotagError, match="share generation seeds"):
        build_table(top, qcd, small_tagger)
    top = {"train": [held_out["top_val"]], "val": [held_out["top_test"]], "test": [ttbar_file]}
    qcd = {"train": [held_out["qcd_val"]], "val": [held_out["qcd_test"]], "test": [qcd_file]}
    with pytest.raises(SurrotagError, match="tagger was trained on"):
        build_table(top, qcd, small_tagger)


def test_assign_splits() -> None:
    assert assign_splits(["a", "b", "c"]) == {"train": ["a"], "val": ["b"], "test": ["c"]}
    assert assign_splits(["train=a", "train=b", "test=c"]) == {
        "train": ["a", "b"],
        "val": [],
        "test": ["c"],
    }
    with pytest.raises(SurrotagError, match="SPLIT=PATH"):
        assign_splits(["a", "b"])


def test_performance_report(table, tmp_path: Path) -> None:
    _, built, _ = table
    report = evaluate_table(built, pt_range=(200.0, 2000.0), out_dir=tmp_path)
    saved = json.loads(Path(report.json_path).read_text())
    assert Path(report.png_path).stat().st_size > 10_000
    assert set(saved["taggers"]) == set(report.taggers) and len(report.taggers) == 3
    for figures in report.taggers.values():
        assert 0.0 <= figures["auc"] <= 1.0
        assert figures["eps_b_0.3"] <= figures["eps_b_0.5"]
    assert saved["published"]["PFN"] == {"auc": 0.980, "rejection_0.3": 699}


def test_table_carries_each_jets_event_weight(table) -> None:
    path, _built, provenance = table
    on_disk = read_parquet(path, events=False)
    weight = np.asarray(on_disk.event_weight)
    assert weight.dtype == np.float64
    event_index = np.asarray(on_disk.event_index)
    sample_index = np.asarray(on_disk.sample_index)
    for i, sample in enumerate(provenance["samples"]):
        raw = np.asarray(read_parquet(sample["path"], events=False).weight, dtype=np.float64)
        rows = sample_index == i
        # Pythia's weight of the jet's event, over the sample's mean event weight
        np.testing.assert_allclose(weight[rows], raw[event_index[rows]] / raw.mean(), rtol=1e-12)
    top_rows = np.asarray(on_disk.sample_label) == 1
    assert np.ptp(weight[top_rows]) > 0  # pTHat-biased ttbar: the weights vary
    assert "mean 1 per sample" in provenance["event_weight"]


def test_sample_without_weights_reads_as_weight_one(ttbar_file: Path, tmp_path: Path) -> None:
    events = read_parquet(ttbar_file, events=False)
    old = tmp_path / "old.parquet"
    write_parquet(
        events[[f for f in events.fields if f != "weight"]], old, read_parquet_metadata(ttbar_file)
    )
    with pytest.warns(UserWarning, match="without event weights.*regenerate"):
        sample = load_sample(old, "top")
    assert sample.event_weight.dtype == np.float64
    np.testing.assert_array_equal(sample.event_weight, np.ones(len(sample.label)))
    weighted = load_sample(ttbar_file, "top")
    np.testing.assert_array_equal(sample.label, weighted.label)
