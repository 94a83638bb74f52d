"""The event surrogate's training table, from small Pythia samples (the shared
``dilepton_samples`` of conftest)."""

from __future__ import annotations

import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from surrotag.errors import SurrotagError


@pytest.fixture(scope="module")
def samples(dilepton_samples) -> dict[str, Path]:
    """The shared dilepton samples (conftest)."""
    return dilepton_samples


@pytest.fixture(scope="module")
def classifier(dilepton_classifier) -> Path:
    """The shared tiny event classifier (conftest)."""
    return dilepton_classifier


def test_table_rows_logits_and_provenance(samples, classifier, tmp_path):
    from surrotag.io.parquet import read_parquet, read_parquet_metadata
    from surrotag.reference.event_classifier import (
        classifier_scores,
        load_dilepton_events,
        load_event_classifier,
    )
    from surrotag.reference.event_table import (
        EVENT_FEATURES,
        LOGIT_COLUMN,
        build_event_training_table,
    )

    splits = {"train": [samples["stop"]], "val": [samples["ttbar_a"]], "test": [samples["ttbar_b"]]}
    path = build_event_training_table(splits, classifier, tmp_path / "table.parquet")
    table = read_parquet(path, events=False)
    meta = read_parquet_metadata(path)
    assert set(EVENT_FEATURES) <= set(table.fields) and meta["score"] == LOGIT_COLUMN
    model, _ = load_event_classifier(classifier)
    events, _ = load_dilepton_events([samples["stop"]])
    train = ak.to_numpy(table.split) == "train"
    assert train.sum() == len(events) > 20  # every dilepton event of the stop sample
    np.testing.assert_array_equal(ak.to_numpy(table[LOGIT_COLUMN])[train],
                                  classifier_scores(model, events))  # fmt: skip
    assert np.all(ak.to_numpy(table.m_stop)[train] == 400.0)
    assert np.all(np.isnan(ak.to_numpy(table.m_stop)[~train]))
    assert np.all(ak.to_numpy(table.truth_n_tops)[train] == 2)
    assert [s["split"] for s in meta["samples"]] == ["train", "val", "test"]
    assert meta["classifier"]["sha256"] and all(len(s["sha256"]) == 64 for s in meta["samples"])


def test_a_sample_in_two_splits_is_refused(samples, classifier, tmp_path):
    from surrotag.reference.event_table import build_event_training_table

    twin = tmp_path / "twin.parquet"
    shutil.copy(samples["ttbar_a"], twin)
    splits = {"train": [samples["stop"]], "val": [samples["ttbar_a"]], "test": [twin]}
    with pytest.raises(SurrotagError, match=r"is the same sample as tt_a\.parquet"):
        build_event_training_table(splits, classifier, tmp_path / "table.parquet")
    assert not (tmp_path / "table.parquet").exists()
    with pytest.raises(SurrotagError, match="no sample given"):
        build_event_training_table({"test": []}, classifier, tmp_path / "table.parquet")
    assert not (tmp_path / "table.parquet").exists()


def test_a_table_of_one_split(samples, classifier, tmp_path):
    """A validation table of fresh samples holds the test split alone."""
    import awkward as ak

    from surrotag.reference.event_table import build_event_training_table

    path = build_event_training_table(
        {"test": [samples["stop"], samples["ttbar_a"]]}, classifier, tmp_path / "table.parquet"
    )
    table = ak.from_parquet(path)
    assert set(ak.to_numpy(table.split).tolist()) == {"test"}
    assert sorted(set(ak.to_numpy(table.sample_index).tolist())) == [0, 1]
