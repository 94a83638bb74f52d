"""The shipped analysis zprime-ttbar-allhad: card, registration, CLI listing."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest

from surrotag.analysis import get_analysis, list_analyses, load_analysis_card
from surrotag.cli import main
from surrotag.errors import AnalysisError

NAME = "zprime-ttbar-allhad"


def _tagger_json():
    """The internal tagger the card was built with, in the reference cache ($SURROTAG_DATA)."""
    from surrotag.reference.cache import TAGGER_NAME, reference_dir

    return reference_dir() / TAGGER_NAME / "tagger.json"


def test_shipped_card_validates_and_says_what_the_search_is():
    card = load_analysis_card(files("surrotag.analyses.zprime_ttbar_allhad") / "card.json")
    assert card.name == NAME
    assert (card.sqrt_s_gev, card.luminosity_ifb) == (13000.0, 139.0)
    assert {"arXiv:2005.05138", "arXiv:1810.05905", "arXiv:2402.15558"} <= set(card.references)
    assert card.objects["fatjets"].algorithm == "anti-kt"
    spec = card.selection
    assert (spec.collection, spec.candidates) == ("fatjets", 2)
    bounds = {cut.name: (cut.observable, cut.object, cut.above or cut.below or cut.at_least)
              for cut in spec.cuts}  # fmt: skip
    assert bounds == {
        "two_objects": ("count", None, 2),
        "leading_pt": ("pt", 0, 500.0),
        "subleading_pt": ("pt", 1, 400.0),
        "abs_eta": ("abs_eta", "each", 2.0),
        "abs_delta_y": ("abs_delta_y", None, 1.8),
    }
    sr, cr = card.region("SR"), card.region("CR")
    assert (sr.tag.requirement, cr.tag.requirement) == ("both", "exactly_one")
    assert sr.tag.working_point == cr.tag.working_point == "wp50"
    assert card.working_point("wp50").signal_efficiency == 0.5
    for region in (sr, cr):
        edges = region.observable.bin_edges
        assert region.observable.name == "mjj"
        assert (edges[0], edges[-1]) == (1000.0, 5000.0)
    assert card.surrogate_name("delphes") == "top-tagger-delphes"
    assert card.surrogate_name("parton") == "top-tagger-parton"
    assert dict(card.statistics.channels) == {"SR": "SR_mjj", "CR": "CR_mjj"}
    assert card.statistics.workspace == "workspace.json"


def test_tagger_sha256_is_the_internal_taggers():
    path = _tagger_json()
    try:
        with open(path, encoding="utf-8") as handle:
            recorded = json.load(handle)["sha256"]
    except FileNotFoundError:
        pytest.skip(f"{path} not found: the internal tagger is trained by the reference")
    assert get_analysis(NAME).card.surrogate.tagger_sha256 == recorded


def test_found_by_entry_point_and_loads_without_workspace():
    (info,) = [info for info in list_analyses() if info.name == NAME]
    assert info.problem is None, info.problem
    analysis = get_analysis(NAME)
    if analysis.has_resource("workspace.json"):
        workspace = analysis.workspace()
        assert workspace.poi == analysis.card.statistics.poi
    else:
        with pytest.raises(AnalysisError, match="build it with the analysis's build script"):
            analysis.workspace()


def test_cli_lists_the_analysis(capsys):
    assert main(["analyses"]) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith(NAME)]
    for words in (
        "13 TeV",
        "139 fb^-1",
        "SR[both@wp50",
        "CR[exactly_one@wp50",
        "top-tagger-delphes",
    ):
        assert words in line


def test_cli_lists_as_json(capsys):
    assert main(["analyses", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    (entry,) = [entry for entry in document if entry["name"] == NAME]
    assert entry["problem"] is None
    assert entry["card"] == get_analysis(NAME).card.to_dict()


def test_example_builder_help_writes_nothing(tmp_path, monkeypatch, capsys):
    """``--help`` used to be taken as the output path and got a 1.7 MB Parquet file."""
    from surrotag.analyses.zprime_ttbar_allhad.example import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0 and "usage:" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())
