"""``surrotag tag`` end to end on the real Delphes file, through the CLI entry point."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from tagging_surrogate import FEATURES, tiny_surrogate

from surrotag.cli import main
from surrotag.features import build_features
from surrotag.io import read_events, read_parquet, read_parquet_metadata, sha256_file
from surrotag.surrogates.storage import load_surrogate
from surrotag.tagging import tag_objects

K = 4


@pytest.fixture(scope="module")
def folder(delphes_file, tmp_path_factory):
    return tiny_surrogate(delphes_file, tmp_path_factory.mktemp("surrogate"))


@pytest.fixture(scope="module")
def written(delphes_file, folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("tag")
    args = ["tag", str(delphes_file), "--surrogate", str(folder), "-o", str(out / "probs.parquet")]
    assert main([*args, "--events-out", str(out / "events.parquet")]) == 0
    return out


def test_object_file_columns_values_and_provenance(written, delphes_file, folder):
    table = read_parquet(written / "probs.parquet", events=False)
    assert table.fields == [
        "event_index",
        "object_index",
        "p_loose",
        "p_loose_spread",
        "p_loose_draws",
        "p_tight",
        "p_tight_spread",
        "p_tight_draws",
        "ood",
    ]
    np.testing.assert_array_equal(table.event_index.to_numpy(), [3, 4, 4, 5, 5, 6])
    np.testing.assert_array_equal(table.object_index.to_numpy(), [0, 0, 1, 0, 1, 0])
    surrogate, card = load_surrogate(folder)
    features = build_features(read_events(delphes_file, collections=["fatjets"]), features=FEATURES)
    expected = tag_objects(features, surrogate, card)
    for j, wp in enumerate(("loose", "tight")):
        draws = np.asarray(table[f"p_{wp}_draws"].to_list())
        assert draws.shape == (6, K)
        np.testing.assert_allclose(draws, expected.probabilities[:, :, j].T, atol=1e-12)
        np.testing.assert_allclose(table[f"p_{wp}"].to_numpy(), expected.nominal[:, j])
        np.testing.assert_allclose(table[f"p_{wp}_spread"].to_numpy(), expected.spread[:, j])
    assert np.all(table.p_tight.to_numpy() <= table.p_loose.to_numpy())
    meta = read_parquet_metadata(written / "probs.parquet")
    assert meta["inputs"] == [
        {
            "path": str(delphes_file),
            "sha256": sha256_file(delphes_file),
            "format": "delphes",
            "n_events": 10,
            "sum_weights": None,  # the weights are not read to tag
        }
    ]
    assert meta["surrogate"]["name"] == card.name and meta["surrogate"]["version"] == "0.0.1"
    assert meta["surrogate"]["weights_sha256"] == sha256_file(folder / "weights.safetensors")
    assert meta["threads"]["setting"] == "auto" and meta["threads"]["solves"] == 1
    assert meta["threads"]["first"]["threads"] >= 1 and "load_average" in meta["threads"]["first"]
    assert meta["draws"] == K and meta["stochastic"] is False and meta["table"] == "objects"
    assert [wp["name"] for wp in meta["working_points"]] == ["loose", "tight"]
    assert meta["n_events"] == 10 and meta["n_objects"] == 6 and meta["ood_fraction"] == 0.0


def test_event_file_matches_object_probabilities(written):
    objects = read_parquet(written / "probs.parquet", events=False)
    events = read_parquet(written / "events.parquet", events=False)
    assert len(events) == 10
    np.testing.assert_array_equal(events.n_objects.to_numpy(), [0, 0, 0, 1, 2, 2, 1, 0, 0, 0])
    p = np.asarray(objects.p_loose_draws.to_list())  # [6, K]
    both = np.asarray(events.p_loose_both_draws.to_list())  # [10, K]
    np.testing.assert_allclose(both[4], p[1] * p[2])
    np.testing.assert_allclose(both[5], p[3] * p[4])
    np.testing.assert_allclose(events.p_loose_both.to_numpy()[4], np.mean(p[1] * p[2]))
    any_tagged = np.asarray(events.p_loose_at_least_one_draws.to_list())
    np.testing.assert_allclose(any_tagged[3], p[0])
    np.testing.assert_allclose(any_tagged[5], 1 - (1 - p[3]) * (1 - p[4]))
    total = events.p_tight_both + events.p_tight_exactly_one + events.p_tight_none
    np.testing.assert_allclose(total.to_numpy(), 1.0)
    assert read_parquet_metadata(written / "events.parquet")["table"] == "events"


def test_summary_line(delphes_file, folder, tmp_path, capsys):
    args = ["tag", str(delphes_file), "--surrogate", str(folder), "-o", str(tmp_path / "p.pq")]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "6 fatjet objects from 10 events" in captured.out
    assert "loose 0." in captured.out and "OOD 0/6 (0.0%)" in captured.out
    assert "warning" not in captured.err


def test_out_of_support_input_warns(delphes_file, folder, tmp_path, capsys):
    """The real events with every fat-jet pT scaled by 20, as a canonical Parquet file."""
    import awkward as ak

    from surrotag.io import write_parquet

    events = read_events(delphes_file, collections=["weight", "fatjets"])
    boosted = ak.with_field(events.fatjets, events.fatjets.pt * 20.0, "pt")
    source = write_parquet(ak.with_field(events, boosted, "fatjets"), tmp_path / "boosted.parquet")
    output = tmp_path / "p.parquet"
    assert main(["tag", str(source), "--surrogate", str(folder), "-o", str(output)]) == 0
    captured = capsys.readouterr()
    assert "OOD 6/6 (100.0%)" in captured.out and "warning" in captured.err
    assert read_parquet(output, events=False).ood.to_list() == [True] * 6
    assert read_parquet_metadata(output)["ood_fraction"] == 1.0


def test_chunks_give_the_same_result(written, delphes_file, folder, tmp_path):
    output = tmp_path / "chunked.parquet"
    args = ["tag", str(delphes_file), "--surrogate", str(folder), "-o", str(output)]
    assert main([*args, "--step-size", "4"]) == 0
    chunked = read_parquet(output, events=False)
    whole = read_parquet(written / "probs.parquet", events=False)
    assert chunked.fields == whole.fields
    for name in whole.fields:
        # float32 solves in batches of other sizes round differently (BLAS summation order)
        np.testing.assert_allclose(
            ak.to_numpy(ak.flatten(chunked[name], axis=None)).astype(np.float64),
            ak.to_numpy(ak.flatten(whole[name], axis=None)).astype(np.float64),
            rtol=1e-6,
            atol=1e-7,
            err_msg=name,
        )


def test_stochastic_wp_subset_and_seed(delphes_file, folder, tmp_path):
    def run(name: str, seed: str) -> object:
        output = tmp_path / name
        args = ["tag", str(delphes_file), "--surrogate", str(folder), "-o", str(output)]
        code = main([*args, "--stochastic", "--seed", seed, "--wp", "tight", "--draws", "8"])
        assert code == 0
        return read_parquet(output, events=False)

    first, again = run("a.parquet", "3"), run("b.parquet", "3")
    assert first.fields == [
        "event_index",
        "object_index",
        "p_tight",
        "p_tight_spread",
        "p_tight_draws",
        "ood",
    ]
    draws = np.asarray(first.p_tight_draws.to_list())
    assert draws.shape == (6, 8) and set(np.unique(draws)) <= {0.0, 1.0}
    assert first.to_list() == again.to_list()
    meta = read_parquet_metadata(tmp_path / "a.parquet")
    assert meta["stochastic"] is True and meta["seed"] == 3 and meta["draws"] == 8


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("surrotag: error:")
    return err


def test_missing_surrogate_is_one_line(delphes_file, tmp_path, capsys):
    output = tmp_path / "x.parquet"
    code = main(["tag", str(delphes_file), "--surrogate", "no-such-tagger", "-o", str(output)])
    assert code == 1
    assert "no-such-tagger" in _one_error_line(capsys)
    assert not output.exists()


def test_missing_events_file_is_one_line(folder, tmp_path, capsys):
    output = tmp_path / "x.parquet"
    missing = tmp_path / "nope.root"
    assert main(["tag", str(missing), "--surrogate", str(folder), "-o", str(output)]) == 1
    assert "nope.root" in _one_error_line(capsys)
    assert not output.exists()


def test_parton_level_input_names_the_feature_and_level(lhe_ttbar_file, folder, tmp_path, capsys):
    output = tmp_path / "x.parquet"
    assert main(["tag", str(lhe_ttbar_file), "--surrogate", str(folder), "-o", str(output)]) == 1
    err = _one_error_line(capsys)
    assert "jet_pt" in err and "delphes" in err


def test_thread_option_is_recorded(delphes_file, folder, tmp_path):
    output = tmp_path / "one.parquet"
    args = ["tag", str(delphes_file), "--surrogate", str(folder), "-o", str(output)]
    assert main([*args, "--threads", "1"]) == 0
    threads = read_parquet_metadata(output)["threads"]
    assert threads["setting"] == 1 and threads["used"] == [1]
    assert threads["first"]["source"] == "argument"


def test_bad_thread_option_is_one_line(delphes_file, folder, tmp_path, capsys):
    output = tmp_path / "bad.parquet"
    args = ["tag", str(delphes_file), "--surrogate", str(folder), "-o", str(output)]
    assert main([*args, "--threads", "many"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'many'" in err and not output.exists()


def test_parton_level_leptonic_tops_are_never_tagged(lhe_ttbar_file, tmp_path):
    """A leptonic top makes no top-tagged jet: probability 0, not the surrogate's guess."""
    output = tmp_path / "tops.parquet"
    args = ["tag", str(lhe_ttbar_file), "--surrogate", "top-tagger-parton", "-o", str(output)]
    assert main([*args, "--draws", "2"]) == 0
    tags = read_parquet(output, events=False)
    tops = build_features(
        read_events(lhe_ttbar_file, level="parton"),
        level="parton",
        features=["top_hadronic", "flag_top_no_decay_chain"],
    )
    assert len(tags) == len(tops)
    hadronic = (np.nan_to_num(np.asarray(tops.top_hadronic, dtype=float)) > 0.5) & ~np.asarray(
        tops.flag_top_no_decay_chain, dtype=bool
    )
    assert 0 < hadronic.sum() < len(hadronic)  # the sample has both kinds
    p = np.asarray(tags.p_wp50)
    assert np.all(p[~hadronic] == 0.0)
    assert np.all(p[hadronic] > 0.0)
