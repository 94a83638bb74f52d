"""``surrotag surrogate train|show|export`` and ``surrotag surrogates|analyses`` end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from surrotag.cli import main


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """Closed-form tagger table: pt ~ U(300, 1000) GeV, mass ~ N(172.5, 15) GeV,
    score = sigmoid(u), u ~ N((pt - 650) / 175, 1); 5 rows with a NaN mass; an extra column."""
    rng = np.random.default_rng(5)
    n = 305
    pt = rng.uniform(300.0, 1000.0, n)
    mass = rng.normal(172.5, 15.0, n)
    mass[:5] = np.nan
    score = 1.0 / (1.0 + np.exp(-rng.normal((pt - 650.0) / 175.0, 1.0)))
    path = tmp_path_factory.mktemp("table") / "closed_form.parquet"
    pq.write_table(
        pa.table({"jet_pt": pt, "groomed_mass": mass, "score": score, "unused": np.arange(n)}), path
    )
    return path


@pytest.fixture(scope="module")
def trained_dir(table, tmp_path_factory):
    out = tmp_path_factory.mktemp("surrogates") / "closed-form"
    code = main(
        [
            "surrogate",
            "train",
            str(table),
            "--features",
            "jet_pt,groomed_mass",
            "--score",
            "score",
            "--bayes",
            "vi",
            "--epochs",
            "3",
            "--draws",
            "3",
            "--hidden",
            "16",
            "--depth",
            "2",
            "--seed",
            "1",
            "--working-point",
            "medium=0.5",
            "--unit",
            "groomed_mass=GeV",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    return out


def test_train_writes_a_valid_folder(trained_dir, table, capsys):
    card = json.loads((trained_dir / "card.json").read_text())
    assert card["name"] == "closed-form"
    assert card["training"]["rows"]["total"] == 305
    assert card["training"]["rows"]["used"] == 300
    assert card["training"]["rows"]["dropped_nan"] == 5
    assert card["bayes"] == {"method": "vi", "draws": 3}
    assert [f["unit"] for f in card["features"]] == ["GeV", "GeV"]  # registry, then --unit
    assert card["features"][0]["description"] == "Fat-jet transverse momentum."
    point = card["working_points"][0]
    # fraction of the 300 used rows above 0.5: a binomial around the closed-form value 0.5
    assert abs(point["efficiency"] - 0.5) < 4 * (0.25 / 300) ** 0.5
    from surrotag.io.parquet import sha256_file

    assert card["training"]["sha256"] == sha256_file(table)


def test_train_reports_dropped_rows_and_bad_columns(table, tmp_path, capsys):
    code = main(
        [
            "surrogate",
            "train",
            str(table),
            "--features",
            "jet_pt,nope",
            "--score",
            "score",
            "-o",
            str(tmp_path / "x"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "no column(s) nope" in err and err.count("\n") == 1
    code = main(
        [
            "surrogate",
            "train",
            str(table),
            "--features",
            "jet_pt",
            "--score",
            "groomed_mass",
            "--epochs",
            "1",
            "-o",
            str(tmp_path / "x"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "dropped 5 of 305 rows" in captured.out
    assert "not a probability; use --score-space identity" in captured.err


def test_the_suggested_score_space_is_one_the_option_accepts(table, tmp_path, capsys):
    """The error's advice, followed to the letter, trains (it once named a rejected choice)."""
    args = ["surrogate", "train", str(table), "--features", "jet_pt", "--score", "groomed_mass"]
    args += ["--bayes", "none", "--epochs", "1", "--hidden", "8"]
    assert main([*args, "-o", str(tmp_path / "refused")]) == 1
    err = capsys.readouterr().err
    advice = err.split("use --score-space ", 1)[1].split()[0]
    assert main([*args, "--score-space", advice, "-o", str(tmp_path / "taken")]) == 0
    card = json.loads((tmp_path / "taken" / "card.json").read_text())
    assert card["score"]["space"] == advice == "identity"


def test_show_prints_the_card(trained_dir, capsys):
    assert main(["surrogate", "show", str(trained_dir)]) == 0
    out = capsys.readouterr().out
    for text in (
        "closed-form",
        "jet_pt",
        "GeV",
        "medium",
        "vi, 3 draws",
        "weights.safetensors",
        " ok",
    ):
        assert text in out
    assert main(["surrogate", "show", str(trained_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "closed-form"


def test_show_does_not_import_torch(trained_dir):
    code = (
        "import sys; from surrotag.cli import main;"
        f"rc = main(['surrogate', 'show', {str(trained_dir)!r}]);"
        "sys.exit(3 if 'torch' in sys.modules else rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_show_of_a_tampered_folder_fails_in_one_line(trained_dir, tmp_path, capsys):
    import shutil

    copy = tmp_path / "tampered"
    shutil.copytree(trained_dir, copy)
    weights = copy / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert main(["surrogate", "show", str(copy)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("surrotag: error: ") and err.count("\n") == 1
    assert "weights.safetensors: sha256 differs" in err
    assert main(["surrogate", "show", "no-such-surrogate"]) == 1
    assert "no surrogate 'no-such-surrogate'" in capsys.readouterr().err


def test_export_writes_onnx(trained_dir, tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    out = tmp_path / "v.onnx"
    assert main(["surrogate", "export", str(trained_dir), "--onnx", str(out), "--all-draws"]) == 0
    assert "exported 'closed-form' (nominal weights)" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "v-draw000.onnx",
        "v-draw001.onnx",
        "v-draw002.onnx",
        "v.onnx",
    ]
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["surrotag.feature_names"]) == ["jet_pt", "groomed_mass"]


def test_listing_commands(capsys):
    assert main(["surrogates"]) == 0
    assert main(["analyses"]) == 0
    assert capsys.readouterr().out.strip()


def test_train_on_one_split_only(tmp_path, capsys):
    """--split keeps only that split's rows (the test split must never reach training)."""
    rng = np.random.default_rng(8)
    n = 400
    pt = rng.uniform(300.0, 1000.0, n)
    score = rng.normal((pt - 650.0) / 175.0, 1.0)
    split = np.where(np.arange(n) % 4 == 0, "test", "train")
    path = tmp_path / "table.parquet"
    pq.write_table(pa.table({"jet_pt": pt, "logit": score, "split": split}), path)
    out = tmp_path / "split-surrogate"
    args = ["surrogate", "train", str(path), "--features", "jet_pt", "--score", "logit"]
    args += ["--score-space", "identity", "--bayes", "none", "--epochs", "2", "--hidden", "8"]
    assert main([*args, "--split", "train", "-o", str(out)]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["rows"]["used"] == int((split == "train").sum()) == 300
    assert "split == 'train'" in card["training"]["description"]
    capsys.readouterr()
    assert main([*args, "--split", "calibration", "-o", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no rows with split == 'calibration'" in err
    assert "test, train" in err


def test_solver_chooses_from_the_folder_alone(trained_dir, tmp_path, capsys):
    """``surrotag surrogate solver``: measured on the objects the support stores; --dry-run
    leaves the card byte for byte, a real run rewrites only its solver, and a folder that is
    not a surrogate gets one line."""
    import shutil

    copy = tmp_path / "solver"
    shutil.copytree(trained_dir, copy)
    before = (copy / "card.json").read_bytes()
    assert main(["surrogate", "solver", str(copy), "--rows", "60", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (copy / "card.json").read_bytes() == before
    assert "steps, grid power 1.00: max |dP|" in out and "card left as it was" in out
    assert main(["surrogate", "solver", str(copy), "--rows", "60"]) == 0
    assert "card written" in capsys.readouterr().out
    card = json.loads((copy / "card.json").read_text())
    assert card["solver"]["check"]["objects"] == 60
    assert "stored training support" in card["solver"]["check"]["source"]
    assert main(["surrogate", "show", str(copy)]) == 0  # digest and config agree
    capsys.readouterr()
    assert main(["surrogate", "solver", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("surrotag: error: ") and err.count("\n") == 1
