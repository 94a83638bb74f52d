"""The recast pipeline: input discovery, cross-sections, real files end to end, closure pieces."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pylhe
import pytest
from recast_fixtures import find_surrogate, workspace_or_skip

from surrotag.errors import EmptyInputError, InputFileError, InputValueError
from surrotag.io.inputs import input_cross_section, input_sqrt_s, resolve_inputs
from surrotag.recast import recast, validate_report

ANALYSIS = "zprime-ttbar-allhad"
BANNER = """<MGVersion>
3.5.1
</MGVersion>
<MGRunCard>
  6500.0     = ebeam1  ! beam 1 total energy in GeV
  6500.0     = ebeam2  ! beam 2 total energy in GeV
</MGRunCard>
<MGGenerationInfo>
#  Number of Events        :       10
#  Integrated weight (pb)  :       0.5071
</MGGenerationInfo>
"""


@pytest.fixture
def madgraph(tmp_path: Path, delphes_file: Path, lhe_ttbar_file: Path) -> Path:
    """``PROC/Events/run_01`` (Delphes + LHE + banner) pointing at the real files."""
    run = tmp_path / "PROC" / "Events" / "run_01"
    run.mkdir(parents=True)
    (run / "tag_1_delphes_events.root").symlink_to(delphes_file)
    (run / "unweighted_events.lhe").symlink_to(lhe_ttbar_file)
    (run / "run_01_tag_1_banner.txt").write_text(BANNER)
    return tmp_path / "PROC"


def test_madgraph_folders_resolve_to_the_delphes_file(madgraph: Path):
    run = madgraph / "Events" / "run_01"
    for spec in (run, madgraph, madgraph / "Events"):
        inputs = resolve_inputs([spec])
        assert inputs.paths == (run / "tag_1_delphes_events.root",)
        assert inputs.run_folders == (run,)
    (run / "tag_1_delphes_events.root").unlink()
    assert resolve_inputs([run]).paths == (run / "unweighted_events.lhe",)


def test_banner_cross_section_and_energy(madgraph: Path):
    inputs = resolve_inputs([madgraph])
    xsec = input_cross_section(inputs)
    assert (xsec.value_pb, xsec.source) == (0.5071, "madgraph-banner")
    assert xsec.detail.endswith("run_01_tag_1_banner.txt")
    assert input_sqrt_s(inputs) == 13000.0


def test_several_runs_globs_and_missing_paths(madgraph: Path, lhe_zprime_file: Path):
    second = madgraph / "Events" / "run_02"
    second.mkdir()
    (second / "unweighted_events.lhe").symlink_to(lhe_zprime_file)
    with pytest.raises(InputFileError, match=r"holds 2 MadGraph runs .*run_01, run_02"):
        resolve_inputs([madgraph])
    found = resolve_inputs([str(madgraph / "Events" / "run_*" / "*.lhe")])
    assert [p.parent.name for p in found.paths] == ["run_01", "run_02"]
    with pytest.raises(EmptyInputError, match="matches no file"):
        resolve_inputs([str(madgraph / "*.root")])
    with pytest.raises(InputFileError, match="no such file or folder"):
        resolve_inputs([madgraph / "nothing.root"])
    # the same file reached twice (here through a symlink) is read once
    run = madgraph / "Events" / "run_01"
    again = resolve_inputs([run, (run / "tag_1_delphes_events.root").resolve()])
    assert again.paths == (run / "tag_1_delphes_events.root",)


def test_cross_section_from_real_lhe_init(lhe_ttbar_file: Path, lhe_zprime_file: Path):
    for path in (lhe_ttbar_file, lhe_zprime_file):
        lhef = pylhe.LHEFile.fromfile(path, generator=True)
        lhef.events.close()
        sigma = math.fsum(p.xSection for p in lhef.init.procInfo)
        found = input_cross_section(resolve_inputs([path]))
        assert found.source == "lhe-init" and found.detail == str(path)
        assert found.value_pb == pytest.approx(sigma, rel=1e-12) and found.value_pb > 0
    assert input_sqrt_s(resolve_inputs([lhe_ttbar_file])) == 1960.0
    both = input_cross_section(resolve_inputs([lhe_ttbar_file, lhe_zprime_file]), [100, 10])
    one = input_cross_section(resolve_inputs([lhe_ttbar_file])).value_pb
    two = input_cross_section(resolve_inputs([lhe_zprime_file])).value_pb
    assert both.value_pb == pytest.approx((100 * one + 10 * two) / 110)


def test_real_delphes_tth_gives_zero_signal_and_no_exclusion(delphes_file: Path):
    workspace_or_skip()
    report = recast(
        ANALYSIS, [delphes_file], xsec_pb=0.5071, surrogate=find_surrogate("top-tagger-delphes")
    )
    document = report.to_dict()
    validate_report(document)
    assert report.cutflow["all"] == 10 and report.cutflow["leading_pt"] == 0
    assert all(region.total == 0.0 for region in report.regions)
    assert not report.cls.sensitive and not report.excluded
    assert document["statistics"]["mu_up_observed"] is None
    assert document["cross_section"]["source"] == "option"


def test_parton_lhe_at_tevatron_energy_warns_and_reads_init(lhe_ttbar_file: Path):
    workspace_or_skip()
    report = recast(ANALYSIS, [lhe_ttbar_file], surrogate=find_surrogate("top-tagger-parton"))
    validate_report(report.to_dict())
    assert report.level == "parton" and report.cross_section.source == "lhe-init"
    assert report.sqrt_s_gev == 1960.0
    assert any("sqrt(s) = 1960 GeV" in line for line in report.warnings)
    assert report.cutflow["two_objects"] == 100  # two last-copy tops in every event


def test_surrogate_uncertainty_never_strengthens_the_expected_limit():
    """The same yields with and without the eigen histosys: mu_up(exp) can only grow."""
    workspace_or_skip()
    from surrotag.stats import build_patch, upper_limit

    report = recast(ANALYSIS, surrogate=find_surrogate("top-tagger-delphes"), draws=8)
    yields = {region.channel: region.yields for region in report.regions}
    ws = report.analysis  # name; the workspace comes from the analysis
    from surrotag.analysis import get_analysis

    workspace = get_analysis(ws).workspace()
    with_unc = build_patch(workspace, yields, analysis="a", surrogate="s")
    without = build_patch(workspace, yields, analysis="a", surrogate="s", max_components=0)
    assert with_unc.variations.n_components >= 1
    limit_with = upper_limit(workspace, with_unc, rtol=1e-3)
    limit_without = upper_limit(workspace, without, rtol=1e-3)
    assert np.all(np.array(limit_with.expected) >= np.array(limit_without.expected) * (1 - 2e-3))
    assert limit_with.observed >= limit_without.observed * (1 - 2e-3)


def test_chunked_reading_gives_the_same_yields():
    """Yields are running sums over chunks: 7 chunks and one chunk give the same numbers."""
    workspace_or_skip()
    whole = recast(ANALYSIS, draws=3)
    chunked = recast(ANALYSIS, draws=3, step_size=300, threads=1)
    assert chunked.n_events == whole.n_events == 2000
    threads = chunked.to_dict()["tagger"]["threads"]  # the report records the thread plans
    assert threads["setting"] == 1 and threads["used"] == [1] and threads["solves"] == 7
    assert threads["first"]["source"] == "argument" and "load_average" in threads["last"]
    auto = whole.tagger["threads"]
    assert auto["setting"] == "auto" and auto["solves"] == 1
    assert auto["first"]["source"] in ("auto", "env SURROTAG_THREADS")
    validate_report(chunked.to_dict())
    for a, b in zip(whole.regions, chunked.regions, strict=True):
        assert a.total > 0
        np.testing.assert_allclose(b.yields.per_draw, a.yields.per_draw, rtol=1e-9)
        np.testing.assert_allclose(b.yields.mc_stat_error, a.yields.mc_stat_error, rtol=1e-9)


def test_bad_thread_setting_stops_before_any_work():
    with pytest.raises(InputValueError, match="--threads"):
        recast(ANALYSIS, threads="many")


def test_unconverged_posterior_chains_are_said_in_one_warning():
    """A card whose MCMC diagnostics fail gets one line in the report's warnings."""
    from types import SimpleNamespace

    from surrotag.recast.pipeline import RHAT_CONVERGED, _posterior_warnings

    def card(rhat, iid=None):
        probability = {"rhat_max": rhat, "ess_min": 5.3, "chains": 4, "samples_per_chain": 5}
        if iid is not None:
            probability["iid_rhat_max_95"] = iid
        diagnostics = {"tag_probability": probability, "acceptance": [0.0, 0.04]}
        return SimpleNamespace(name="s", bayes={"method": "mcmc", "diagnostics": diagnostics})

    (line,) = _posterior_warnings(card(20.4))
    assert "did not converge" in line and "ESS 5.3 of 20" in line and "20.4 > 1.1," in line
    assert "acceptance per chain 0.00, 0.04" in line
    assert _posterior_warnings(card(RHAT_CONVERGED)) == []
    # within what independent draws of the card's shape give: no warning; beyond it: one
    assert _posterior_warnings(card(1.144, iid=1.194)) == []
    (line,) = _posterior_warnings(card(1.476, iid=1.194))
    assert "split-R-hat 1.48 > 1.19," in line
    assert _posterior_warnings(SimpleNamespace(name="vi", bayes={"method": "vi"})) == []


def test_cuts_on_other_collections_are_read(tmp_path: Path, delphes_file: Path):
    """A MET cut and a jet count in the card make the recast read ``MissingET`` and ``Jet``
    of the real Delphes file (without that: "events have no 'met' collection"); with the pT
    cuts lowered to 100 GeV two of its events pass, and the two extra cuts keep both."""
    from recast_fixtures import analysis_variant

    workspace_or_skip()
    extra = (
        {"name": "met", "observable": "met", "above": 10.0},
        {"name": "four_jets", "observable": "count", "collection": "jets", "at_least": 4},
    )
    variant = analysis_variant(
        tmp_path, "zprime-met", extra_cuts=extra, leading_pt=100.0, subleading_pt=100.0
    )
    report = recast(variant, [delphes_file], xsec_pb=1.0, tagger="efficiency-map")
    cutflow = report.to_dict()["selection"]["cutflow"]
    assert list(cutflow)[-3:] == ["abs_delta_y", "met", "four_jets"]
    assert cutflow["abs_delta_y"] == cutflow["met"] == cutflow["four_jets"] == 2


def test_one_candidate_regions_tag_the_leading_jet(tmp_path: Path):
    """candidates = 1: the region 'at_least_one' holds each selected event with its leading
    jet's own tag probability (the same surrogate draws as tagging the jets directly), and
    'none' the rest."""
    import json
    from importlib.resources import as_file, files

    import awkward as ak
    from recast_fixtures import analysis_variant

    from surrotag.analysis import get_analysis
    from surrotag.features import build_features
    from surrotag.io import read_events
    from surrotag.recast import ChunkRecast
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import load_surrogate
    from surrotag.tagging import tag_objects

    folder = analysis_variant(tmp_path, "one-jet")
    card = json.loads((folder / "card.json").read_text("utf-8"))
    card["selection"] = {"collection": "fatjets", "candidates": 1, "cuts": [
        {"name": "jet", "observable": "pt", "object": 0, "above": 500.0},
        {"name": "central", "observable": "abs_eta", "object": 0, "below": 2.0},
    ]}  # fmt: skip
    for region, requirement in zip(card["regions"], ("at_least_one", "none"), strict=True):
        region["tag"]["requirement"] = requirement
        region["observable"] = {"name": "pt_system", "bin_edges": [0.0, 1.0e5]}
    (folder / "card.json").write_text(json.dumps(card), "utf-8")
    from surrotag.analysis_card import seal_analysis_card

    seal_analysis_card(folder)
    workspace_or_skip()
    with as_file(files("surrotag.analyses.zprime_ttbar_allhad") / "example_signal.parquet") as p:
        events = read_events(p)
    yields = ChunkRecast(get_analysis(folder), draws=4)(events)
    # the same by hand: every fat jet tagged, the leading one of each event picked
    surrogate, surrogate_card = load_surrogate(resolve_surrogate("top-tagger-delphes"))
    table = build_features(events, level="delphes")
    tags = tag_objects(table, surrogate, surrogate_card, working_points=["wp50"], draws=4)
    event = ak.to_numpy(table["event_index"])
    pt, eta = ak.to_numpy(table["jet_pt"]), ak.to_numpy(table["jet_eta"])
    order = np.lexsort((-pt, event))
    first = order[np.r_[True, event[order][1:] != event[order][:-1]]]  # leading jet per event
    keep = first[(pt[first] > 500.0) & (np.abs(eta[first]) < 2.0)]
    weight = ak.to_numpy(events.weight)[event[keep]]
    p = tags.probabilities[:, keep, 0]  # [K, n]
    tagged = yields[card["regions"][0]["name"]].per_draw[:, 0]
    untagged = yields[card["regions"][1]["name"]].per_draw[:, 0]
    np.testing.assert_allclose(tagged, (p * weight).sum(axis=1), rtol=1e-9)
    np.testing.assert_allclose(untagged, ((1 - p) * weight).sum(axis=1), rtol=1e-9)
    assert 0.2 < tagged.mean() / (tagged + untagged).mean() < 0.9
