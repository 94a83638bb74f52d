"""The one event stream: chunks, per-file provenance, entry_stop across files, and the same
input resolution (MadGraph run folders) for ``features`` and ``tag`` as for ``run``."""

from __future__ import annotations

import shutil

import awkward as ak
import pytest

from surrotag.cli import main
from surrotag.io import read_events, read_parquet_metadata, sha256_file
from surrotag.io.stream import EventStream


@pytest.fixture()
def two_files(tmp_path, delphes_file):
    """Two copies of the real file (links would be one input: inputs are deduplicated)."""
    a, b = tmp_path / "a.root", tmp_path / "b.root"
    for path in (a, b):
        shutil.copyfile(delphes_file, path)
    return [a, b]


def test_chunks_records_and_offsets(two_files):
    stream = EventStream(two_files, level="delphes", collections=["weight", "fatjets"], step_size=4)
    offsets = [(offset, len(chunk)) for offset, chunk in stream.with_offsets()]
    assert offsets == [(0, 4), (4, 4), (8, 2), (10, 4), (14, 4), (18, 2)]  # never across files
    assert stream.n_events == 20
    weights = ak.to_numpy(read_events(two_files[0]).weight)
    for record, path in zip(stream.files, two_files, strict=True):
        assert record["path"] == str(path) and record["sha256"] == sha256_file(path)
        assert record["format"] == "delphes" and record["n_events"] == 10
        assert record["sum_weights"] == pytest.approx(float(weights.sum()))


def test_entry_stop_across_files(two_files):
    stream = EventStream(two_files, level="delphes", collections=["fatjets"], entry_stop=13)
    assert sum(len(chunk) for chunk in stream) == 13
    assert [r["n_events"] for r in stream.files] == [10, 3]
    assert all(r["sum_weights"] is None for r in stream.files)  # weights not read


def test_features_and_tag_take_a_madgraph_run_folder(tmp_path, delphes_file):
    run = tmp_path / "PROC" / "Events" / "run_01"
    run.mkdir(parents=True)
    (run / "tag_1_delphes_events.root").symlink_to(delphes_file)
    output = tmp_path / "features.parquet"
    assert main(["features", str(tmp_path / "PROC"), "-o", str(output)]) == 0
    (record,) = read_parquet_metadata(output)["inputs"]
    assert record["path"] == str(run / "tag_1_delphes_events.root")
    tags = tmp_path / "tags.parquet"
    args = ["tag", str(run), "--surrogate", "top-tagger-delphes", "--draws", "2"]
    assert main([*args, "-o", str(tags)]) == 0
    assert read_parquet_metadata(tags)["n_events"] == 10
