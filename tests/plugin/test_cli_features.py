"""``surrotag features`` end to end on the real Delphes file, through the CLI entry point."""

from __future__ import annotations

import numpy as np
import pytest
from delphes_copy import copy_branches

from surrotag.cli import main
from surrotag.io import read_parquet, read_parquet_metadata, sha256_file


def test_features_writes_table_with_provenance(delphes_file, tmp_path, capsys):
    output = tmp_path / "table.parquet"
    assert main(["features", str(delphes_file), "-o", str(output)]) == 0
    table = read_parquet(output, events=False)
    assert len(table) == 6
    np.testing.assert_array_equal(
        table.event_index.to_numpy(), np.repeat(np.arange(10), [0, 0, 0, 1, 2, 2, 1, 0, 0, 0])
    )
    meta = read_parquet_metadata(output)
    (record,) = meta["inputs"]
    assert record["path"] == str(delphes_file) and record["sha256"] == sha256_file(delphes_file)
    assert record["format"] == "delphes" and record["n_events"] == 10
    assert meta["level"] == "delphes" and meta["n_events"] == 10 and meta["n_rows"] == 6
    assert "jet_tau32" in meta["features"] and "truth_top_contained" in meta["features"]
    out = capsys.readouterr().out
    assert "6 fatjet rows from 10 events" in out and str(output) in out


def test_features_subset_and_max_events(delphes_file, tmp_path):
    output = tmp_path / "subset.parquet"
    code = main(
        [
            "features",
            str(delphes_file),
            "-o",
            str(output),
            "--features",
            "jet_pt,jet_tau32",
            "--max-events",
            "5",
        ]
    )
    assert code == 0
    table = read_parquet(output, events=False)
    assert table.fields == ["event_index", "jet_pt", "jet_tau32", "flag_tau_undefined"]
    assert len(table) == 3  # fat jets of events 0..4: 0 + 0 + 0 + 1 + 2
    assert read_parquet_metadata(output)["n_events"] == 5


def test_parton_level_lhe(lhe_ttbar_file, tmp_path):
    output = tmp_path / "tops.parquet"
    assert main(["features", str(lhe_ttbar_file), "-o", str(output)]) == 0
    table = read_parquet(output, events=False)
    assert len(table) == 200
    assert read_parquet_metadata(output)["row_kind"] == "top"


def test_missing_file_is_one_line_and_exit_1(tmp_path, capsys):
    missing = tmp_path / "nope.root"
    assert main(["features", str(missing), "-o", str(tmp_path / "x.parquet")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("surrotag: error:") and "nope.root" in err
    assert not (tmp_path / "x.parquet").exists()


def test_feature_of_wrong_level_is_one_line(lhe_ttbar_file, tmp_path, capsys):
    code = main(
        [
            "features",
            str(lhe_ttbar_file),
            "-o",
            str(tmp_path / "x.parquet"),
            "--features",
            "jet_tau32",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "jet_tau32" in err and "delphes" in err


def test_list_prints_the_registry(capsys):
    assert main(["features", "--list", "--level", "parton"]) == 0
    out = capsys.readouterr().out
    assert "top_dr_max" in out and "jet_tau32" not in out


#: Detector branches of the real Delphes file kept in a copy without FatJet and EFlow*.
_KEPT = {"Jet": ("PT", "Eta", "Phi", "Mass"), "Event": ("Weight",)}


@pytest.fixture(scope="module")
def no_fatjet_file(delphes_file, tmp_path_factory):
    """The real Delphes file's Jet and Event branches in a tree with neither FatJet nor EFlow."""
    path = tmp_path_factory.mktemp("nofat") / "nofat_delphes.root"
    return copy_branches(delphes_file, _KEPT, path)


def test_no_fatjet_nor_eflow_is_the_same_line_as_tag_and_run(no_fatjet_file, tmp_path, capsys):
    """``features`` (which reads every collection it finds) once died with a traceback here."""
    commands = {
        "features": ["features", str(no_fatjet_file), "-o", str(tmp_path / "f.parquet")],
        "tag": ["tag", str(no_fatjet_file), "--surrogate", "top-tagger-delphes"],
        "run": ["run", "zprime-ttbar-allhad", str(no_fatjet_file), "--xsec-pb", "1"],
    }
    commands["tag"] += ["-o", str(tmp_path / "t.parquet")]
    commands["run"] += ["-o", str(tmp_path / "r.json")]
    errors = {}
    for name, args in commands.items():
        assert main(args) == 1, name
        errors[name] = capsys.readouterr().err.strip()
    assert errors["features"] == errors["tag"] == errors["run"], errors
    err = errors["features"]
    assert err.count("\n") == 0 and err.startswith("surrotag: error: ")
    assert "has no branch 'FatJet' needed for fatjets, nor EFlowTrack" in err
    assert not list(tmp_path.iterdir())
