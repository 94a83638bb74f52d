"""``surrotag run`` through the CLI entry point: bad input is one line, exit 1, no report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from recast_fixtures import edited_copy, find_surrogate, workspace_or_skip

from surrotag.analysis import get_analysis
from surrotag.cli import main
from surrotag.io import read_events, write_parquet
from surrotag.recast import validate_report

ANALYSIS = "zprime-ttbar-allhad"


@pytest.fixture(scope="module")
def delphes_surrogate() -> Path:
    return find_surrogate("top-tagger-delphes")


def _run_args(events: Path, report: Path, surrogate: Path, xsec_pb: str | None = "1") -> list[str]:
    """``surrotag run ANALYSIS EVENTS [--xsec-pb X] -o REPORT --surrogate SURROGATE``."""
    xsec = ["--xsec-pb", xsec_pb] if xsec_pb is not None else []
    return ["run", ANALYSIS, str(events), *xsec, "-o", str(report), "--surrogate", str(surrogate)]


def _fails(capsys, args: list[str], report: Path, *patterns: str) -> str:
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("surrotag: error: "), err
    for pattern in patterns:
        assert pattern in err, err
    assert not report.exists()
    assert not [p for p in report.parent.iterdir() if p.name.startswith(f".{report.name}")]
    return err


def test_unknown_analysis(tmp_path, capsys, delphes_file):
    out = tmp_path / "report.json"
    _fails(
        capsys,
        ["run", "no-such-search", str(delphes_file), "-o", str(out)],
        out,
        "unknown analysis 'no-such-search'",
        ANALYSIS,
    )


def test_negative_cross_section(tmp_path, capsys, delphes_file):
    out = tmp_path / "report.json"
    args = ["run", ANALYSIS, str(delphes_file), "--xsec-pb", "-1", "-o", str(out)]
    _fails(capsys, args, out, "-1", "cross-section must be a number in [0, ")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--draws", "41", "gives 1 to 40 weight draws (its stored posterior samples)"),
        ("--draws", "1000000000000", "gives 1 to 40 weight draws"),
        ("--xsec-pb", "1e308", "cross-section must be a number in [0, 1e+12] pb"),
    ],
)
def test_absurd_draws_and_cross_sections_are_refused(
    tmp_path, capsys, delphes_file, option, value, message
):
    """More draws than an MCMC surrogate stores would repeat samples (a spread that is not
    the posterior's); an absurd cross-section would overflow the yields."""
    from surrotag.surrogates.card import load_card
    from surrotag.surrogates.registry import resolve_surrogate

    stored = load_card(resolve_surrogate("top-tagger-delphes")).bayes["draws"]
    assert stored == 40, "the cases above are written for the shipped 40 samples"
    out = tmp_path / "report.json"
    args = ["run", ANALYSIS, str(delphes_file), option, value, "--xsec-pb", "0.1"]
    if option == "--xsec-pb":
        args = ["run", ANALYSIS, str(delphes_file), option, value]
    _fails(capsys, [*args, "-o", str(out)], out, message)


def test_events_without_fatjets(tmp_path, capsys, delphes_file, delphes_surrogate):
    """Real Delphes events written without their fat jets, marked as detector level."""
    events = read_events(delphes_file, collections=["weight", "jets", "particles"])
    path = write_parquet(events, tmp_path / "nofatjets.parquet", {"level": "delphes"})
    out = tmp_path / "report.json"
    args = _run_args(path, out, delphes_surrogate)
    _fails(capsys, args, out, str(path), "without fatjets", ANALYSIS)


def test_missing_cross_section(tmp_path, capsys, delphes_file, delphes_surrogate):
    out = tmp_path / "report.json"
    args = _run_args(delphes_file, out, delphes_surrogate, xsec_pb=None)
    _fails(capsys, args, out, "no cross-section", "--xsec-pb")


def test_tagger_hash_mismatch(tmp_path, capsys, delphes_file, delphes_surrogate):
    def other_tagger(card):
        card["tagger"]["weights_sha256"] = "0" * 64

    folder = edited_copy(delphes_surrogate, tmp_path / "other", other_tagger)
    out = tmp_path / "report.json"
    args = _run_args(delphes_file, out, folder)
    expected = get_analysis(ANALYSIS).card.surrogate.tagger_sha256[:12]
    _fails(capsys, args, out, "replaces tagger sha256 000000000000", expected)


def test_surrogate_lacking_a_fed_feature(tmp_path, capsys, delphes_file, delphes_surrogate):
    """A surrogate taking jet_phi where the analysis feeds jet_eta (same weights, same hash)."""

    def swap_eta(card):
        names = [f["name"] for f in card["features"]]
        card["features"][names.index("jet_eta")]["name"] = "jet_phi"
        card["model"]["feature_names"] = [f["name"] for f in card["features"]]

    folder = edited_copy(delphes_surrogate, tmp_path / "no-eta", swap_eta)
    out = tmp_path / "report.json"
    args = _run_args(delphes_file, out, folder)
    _fails(capsys, args, out, "lacks feature(s) jet_eta", ANALYSIS)


def test_bad_thread_setting(tmp_path, capsys, delphes_file, delphes_surrogate):
    out = tmp_path / "report.json"
    args = [*_run_args(delphes_file, out, delphes_surrogate), "--threads", "many"]
    _fails(capsys, args, out, "--threads", "'many'")


def test_zero_signal_report_through_the_cli(tmp_path, capsys, delphes_file, delphes_surrogate):
    workspace_or_skip()
    out, patch = tmp_path / "report.json", tmp_path / "patch.json"
    args = [
        "run",
        ANALYSIS,
        str(delphes_file),
        "--xsec-pb",
        "0.5071",
        "-o",
        str(out),
        "--patch-out",
        str(patch),
        "--surrogate",
        str(delphes_surrogate),
        "--profile",
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "no exclusion" in text and "profile (s):" in text
    document = json.loads(out.read_text())
    validate_report(document)
    assert document["statistics"]["sensitive"] is False
    assert [r["total"] for r in document["regions"]] == [0.0, 0.0]
    assert json.loads(patch.read_text())[0]["op"] == "add"
