"""Several analyses on one pass over the events: each report as if it ran alone."""

from __future__ import annotations

import json
import re
from importlib.resources import as_file, files

import pytest
from recast_fixtures import analysis_variant, workspace_or_skip

from surrotag.errors import InputValueError
from surrotag.recast import recast, recast_many

ANALYSIS = "zprime-ttbar-allhad"
DRAWS = 4  # the equality tested does not depend on it; fewer draws, a faster test


@pytest.fixture(scope="module")
def example():
    workspace_or_skip()
    with as_file(files("surrotag.analyses.zprime_ttbar_allhad") / "example_signal.parquet") as p:
        yield p


def _numbers(report) -> dict:
    document = report.to_dict()
    return {key: document[key] for key in ("selection", "regions", "ood", "patch", "statistics")}


def test_each_report_equals_its_own_recast(example, tmp_path):
    tighter = analysis_variant(tmp_path, "zprime-tighter", leading_pt=700.0, abs_eta=1.5)
    looser = analysis_variant(tmp_path, "zprime-looser", leading_pt=450.0, abs_eta=2.4)
    analyses = [ANALYSIS, tighter, looser]
    together = recast_many(analyses, [example], draws=DRAWS)
    assert [r.analysis for r in together] == [ANALYSIS, "zprime-tighter", "zprime-looser"]
    for analysis, report in zip(analyses, together, strict=True):
        alone = recast(analysis, [example], draws=DRAWS)
        assert _numbers(report) == _numbers(alone)  # bit for bit
    selected = [r.to_dict()["selection"]["cutflow"]["abs_delta_y"] for r in together]
    assert selected[1] < selected[0] < selected[2]  # the cuts differ, so do the selections
    sr = [r.to_dict()["regions"][0]["total"] for r in together]
    assert sr[1] < sr[0] < sr[2]


def test_one_analysis_twice_or_none_is_one_line(example):
    with pytest.raises(InputValueError, match="named more than once"):
        recast_many([ANALYSIS, ANALYSIS], [example], draws=DRAWS)
    with pytest.raises(InputValueError, match="no analysis given"):
        recast_many([], [example])
    with pytest.raises(InputValueError, match="no events given"):
        recast_many([ANALYSIS], [])


def test_split_analyses_from_event_inputs(example, tmp_path):
    from surrotag.analysis import split_analyses
    from surrotag.errors import AnalysisError

    variant = str(analysis_variant(tmp_path, "zprime-variant", leading_pt=600.0))
    events = str(example)
    assert split_analyses([ANALYSIS, variant, events, "more/*.root"]) == (
        [ANALYSIS, variant],
        [events, "more/*.root"],
    )
    # a file is an input whatever its name; the first argument is always the analysis
    assert split_analyses(["typo-search", events]) == (["typo-search"], [events])
    from surrotag.analysis import list_analyses

    everything = list(dict.fromkeys(info.name for info in list_analyses()))
    assert split_analyses([events], every=True) == (everything, [events])
    assert {ANALYSIS, "zprime-ttbar-ljets"} <= set(everything)
    with pytest.raises(AnalysisError, match="no analysis given"):
        split_analyses([])


def test_cli_writes_one_report_per_analysis_and_a_table(example, tmp_path, capsys):
    """Efficiency-map tagging keeps the CLI test fast; the reports are complete and valid."""
    from surrotag.cli import main
    from surrotag.recast import validate_report

    variant = analysis_variant(tmp_path, "zprime-variant", leading_pt=600.0)
    reports, patches = tmp_path / "reports", tmp_path / "patches"
    args = ["run", ANALYSIS, str(variant), str(example), "--tagger", "efficiency-map"]
    assert main([*args, "-o", str(reports), "--patch-out", str(patches)]) == 0
    out = capsys.readouterr().out
    assert "2 analyses on the same events" in out
    for name in (ANALYSIS, "zprime-variant"):
        document = json.loads((reports / f"{name}.json").read_text("utf-8"))
        validate_report(document)
        assert document["analysis"]["name"] == name
        assert (patches / f"{name}.patch.json").is_file()
    blocked = tmp_path / "a_file"
    blocked.write_text("keep me")
    assert main([*args, "-o", str(blocked)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "names a folder" in err, err
    assert blocked.read_text() == "keep me"


def test_all_skips_the_analyses_the_events_cannot_serve(example, tmp_path, capsys):
    """The example signal has fat jets only: --all runs zprime-ttbar-allhad into a folder
    and skips the lepton and MET searches with one line each; named alone, such a search
    is one error line naming what the events lack."""
    from surrotag.cli import main

    reports = tmp_path / "reports"
    args = ["run", "--all", str(example), "--tagger", "efficiency-map", "-o", str(reports)]
    assert main(args) == 0
    out = capsys.readouterr().out
    for name in ("zprime-ttbar-ljets", "stop-allhad-toptag"):
        assert f"skipped {name}: example_signal.parquet has no electrons, jets, met, muons" in out
    assert "skipped anomaly-dijet: its surrogate anomaly-oe-delphes has no efficiency map" in out
    assert [p.name for p in reports.iterdir()] == [f"{ANALYSIS}.json"]
    assert main(["run", "zprime-ttbar-ljets", str(example)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert "without electrons, jets, met, muons" in err and "'zprime-ttbar-ljets'" in err


def test_run_configuration_paths_and_errors(tmp_path):
    from surrotag.recast.config import load_run_config

    (tmp_path / "signal").mkdir()
    config = tmp_path / "run.yaml"
    config.write_text(
        "analyses: [zprime-ttbar-allhad]\nevents: ['signal/*.root', /abs/x.root]\n"
        "draws: 7\noutput: out/\n"
    )
    loaded = load_run_config(config)
    assert loaded.analyses == [ANALYSIS] and not loaded.every
    assert loaded.events == [str(tmp_path / "signal/*.root"), "/abs/x.root"]
    assert loaded.options == {"draws": 7, "output": tmp_path / "out"}
    for text, words in [
        ("analyses: [a]\ndraws: 0\n", "at $.draws: 0 is less than the minimum of 1"),
        ("analyses: [a]\nxsec: 1\n", "Additional properties are not allowed"),
        ("draws: 5\n", "invalid run configuration at $"),
        ("analyses: [a\n", "not valid YAML at line"),
        ("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
         + "".join(f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                   for p, c in zip("abcdefg", "bcdefgh", strict=True)),
         "expands to more than"),
    ]:  # fmt: skip
        config.write_text(text)
        with pytest.raises(InputValueError, match=re.escape(words)):
            load_run_config(config)


def test_cli_runs_a_configuration(example, tmp_path, capsys):
    from surrotag.cli import main

    analysis_variant(tmp_path, "zprime-variant", leading_pt=600.0)
    config = tmp_path / "run.yaml"
    config.write_text(
        f"analyses: [{ANALYSIS}, zprime-variant]\nevents: [{example}]\n"
        "tagger: efficiency-map\noutput: reports\n"
    )
    assert main(["run", "--config", str(config)]) == 0
    assert "2 analyses on the same events" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        f"{ANALYSIS}.json",
        "zprime-variant.json",
    ]
    assert main(["run", "--config", str(config), ANALYSIS]) == 1
    assert "either as arguments or in --config" in capsys.readouterr().err


def test_report_efficiency_is_the_last_cut_whatever_its_name(example, tmp_path):
    """The report's selection efficiency is the share passing the card's last cut (it read
    the all-hadronic card's 'abs_delta_y' by name, so every other analysis's report failed
    to serialise)."""
    extra = ({"name": "still_two_jets", "observable": "count", "at_least": 2},)
    variant = analysis_variant(tmp_path, "zprime-extra-cut", extra_cuts=extra)
    report = recast(variant, [example], tagger="efficiency-map")
    cutflow = report.to_dict()["selection"]["cutflow_weighted"]
    assert list(cutflow)[-1] == "still_two_jets"
    expected = cutflow["still_two_jets"] / report.sum_weights
    assert report.to_dict()["selection"]["efficiency"] == pytest.approx(expected)
    assert 0 < report.selection_efficiency == pytest.approx(expected)


def test_why_an_analysis_cannot_serve_real_files(lhe_zprime_file, delphes_file):
    """Parton-level LHE is for zprime-ttbar-allhad only; a real Delphes file has every
    collection the three shipped analyses read."""
    from surrotag.recast.pipeline import unusable_reason

    assert unusable_reason("zprime-ttbar-allhad", [lhe_zprime_file]) is None
    for name in ("zprime-ttbar-ljets", "stop-allhad-toptag"):
        reason = unusable_reason(name, [lhe_zprime_file])
        assert reason == "it takes delphes-level events, these are parton-level"
        assert unusable_reason(name, [delphes_file]) is None
