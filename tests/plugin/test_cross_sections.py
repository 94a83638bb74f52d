"""Which cross-section a recast takes from LHE files and MadGraph banners, and that it says so.

Real files from ``../shared/data`` where they exist (Delphes, MadGraph and Pythia 6 LHE); the
Sherpa-style and weighted LHE files are the real ttbar events with their ``<init>`` block and
event weights rewritten, as those generators write them.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from recast_fixtures import find_surrogate, workspace_or_skip

import surrotag.io.lhe as lhe
from surrotag.io import lhe_cross_section
from surrotag.io.inputs import input_cross_section, resolve_inputs
from surrotag.io.lhe import lhe_cross_section_info
from surrotag.recast import recast, validate_report

UNMATCHED, MATCHED = 0.5071, 0.2138


def _banner(*, ickkw: int, integrated: float | None = UNMATCHED, matched: float | None = None):
    lines = [
        "<MGRunCard>",
        "  6500.0     = ebeam1  ! beam 1 total energy in GeV",
        "  6500.0     = ebeam2  ! beam 2 total energy in GeV",
        f"  {ickkw} = ickkw  ! 0 no matching, 1 MLM",
        "  30.0 = xqcut ! minimum kt jet measure between partons",
        "</MGRunCard>",
        "<MGGenerationInfo>",
        "#  Number of Events        :       10",
    ]
    if integrated is not None:
        lines.append(f"#  Integrated weight (pb)  :       {integrated}")
    if matched is not None:
        lines.append(f"#  Matched Integrated weight (pb)  :       {matched}")
    return "\n".join([*lines, "</MGGenerationInfo>", ""])


def _run_folder(tmp_path: Path, events: Path, name: str, banner: str) -> Path:
    run = tmp_path / "PROC" / "Events" / "run_01"
    run.mkdir(parents=True)
    (run / name).symlink_to(events)
    (run / "run_01_tag_1_banner.txt").write_text(banner)
    return run


def _rewritten(source: Path, target: Path, init: str, weight) -> Path:
    """``source`` with another ``<init>`` block and XWGTUP ``weight(i)`` for event i."""
    text = source.read_text()
    text = re.sub(r"<init>.*?</init>", f"<init>\n{init}\n</init>", text, count=1, flags=re.S)
    count = iter(range(10**6))

    def reweight(match: re.Match) -> str:
        words = match.group(2).split()
        words[2] = f"{weight(next(count)):.8E}"
        return match.group(1) + "  ".join(words)

    text = re.sub(r"(<event>\s*\n)([^\n]+)", reweight, text)
    opener = gzip.open if target.suffix == ".gz" else open
    with opener(target, "wt") as stream:
        stream.write(text)
    return target


def _init(idwtup: int, xsecup: float) -> str:
    return f"2212 -2212 9.8E+02 9.8E+02 0 0 7 7 {idwtup} 1\n{xsecup:.6E} 0.0 {xsecup:.6E} 81"


# -- (a) merged MadGraph runs: the matched cross-section -------------------------------------


def test_merged_run_takes_the_matched_cross_section(tmp_path, delphes_file):
    run = _run_folder(
        tmp_path, delphes_file, "tag_1_delphes_events.root", _banner(ickkw=1, matched=MATCHED)
    )
    xsec = input_cross_section(resolve_inputs([run]))
    assert (xsec.value_pb, xsec.source) == (MATCHED, "madgraph-banner-matched")
    assert xsec.detail.endswith("run_01_tag_1_banner.txt") and xsec.warnings == ()


def test_lhe_of_a_merged_run_takes_the_matched_one_and_says_so(tmp_path, lhe_zprime_file):
    run = _run_folder(
        tmp_path, lhe_zprime_file, "unweighted_events.lhe", _banner(ickkw=1, matched=MATCHED)
    )
    xsec = input_cross_section(resolve_inputs([run]))
    assert (xsec.value_pb, xsec.source) == (MATCHED, "madgraph-banner-matched")
    (line,) = xsec.warnings
    assert "\n" not in line and "matched cross-section 0.2138 pb" in line
    assert "unmatched 0.5071 pb" in line and "matching veto" in line


def test_merged_run_without_matched_line_warns(tmp_path, delphes_file):
    run = _run_folder(tmp_path, delphes_file, "tag_1_delphes_events.root", _banner(ickkw=1))
    xsec = input_cross_section(resolve_inputs([run]))
    assert (xsec.value_pb, xsec.source) == (UNMATCHED, "madgraph-banner")
    (line,) = xsec.warnings
    assert "\n" not in line and "merged run (ickkw = 1)" in line and "--xsec-pb" in line


def test_unmerged_run_takes_the_integrated_weight_silently(tmp_path, delphes_file):
    run = _run_folder(tmp_path, delphes_file, "tag_1_delphes_events.root", _banner(ickkw=0))
    xsec = input_cross_section(resolve_inputs([run]))
    assert (xsec.value_pb, xsec.source, xsec.warnings) == (UNMATCHED, "madgraph-banner", ())


# -- (b) LHE <init> against the banner ------------------------------------------------------


def test_lhe_init_that_disagrees_with_the_banner_warns(tmp_path, lhe_zprime_file):
    run = _run_folder(tmp_path, lhe_zprime_file, "unweighted_events.lhe", _banner(ickkw=0))
    xsec = input_cross_section(resolve_inputs([run]))
    assert (xsec.value_pb, xsec.source) == (pytest.approx(2.894732e-19), "lhe-init")
    (line,) = xsec.warnings
    assert "\n" not in line and "2.89473e-19 pb (lhe-init)" in line and "0.5071 pb" in line
    assert "used the LHE file's" in line


def test_lhe_init_that_agrees_with_the_banner_is_silent(tmp_path, lhe_zprime_file):
    # the real file's own MadGraph banner value (its header), 2.894731552e-19 pb
    banner = _banner(ickkw=0, integrated=2.894731552e-19)
    run = _run_folder(tmp_path, lhe_zprime_file, "unweighted_events.lhe", banner)
    xsec = input_cross_section(resolve_inputs([run]))
    assert xsec.source == "lhe-init" and xsec.warnings == ()


# -- (c) XSECUP against the event weights ---------------------------------------------------


@pytest.mark.parametrize("idwtup", [3, -4, 1])
@pytest.mark.parametrize("name", ["sherpa.lhe", "sherpa.lhe.gz"])
def test_placeholder_xsecup_is_not_taken_at_1_pb(tmp_path, lhe_ttbar_file, idwtup, name):
    """Sherpa-style: XSECUP = 1 pb in <init>, every event weighs 675.65 pb."""
    path = _rewritten(lhe_ttbar_file, tmp_path / name, _init(idwtup, 1.0), lambda _: 675.65)
    info = lhe_cross_section_info(path)
    assert (info.value_pb, info.source) == (pytest.approx(675.65), "lhe-weights")
    assert "\n" not in info.warning and "XSECUP = 1 pb" in info.warning
    assert "100 event weights average 675.65 pb" in info.warning
    assert "used the mean weight" in info.warning
    assert lhe_cross_section(path) == pytest.approx((675.65, 0.0), abs=1e-9)
    xsec = input_cross_section(resolve_inputs([path]))
    assert (xsec.value_pb, xsec.source, xsec.warnings) == (
        pytest.approx(675.65),
        "lhe-weights",
        (info.warning,),
    )


def test_weights_read_across_block_boundaries(tmp_path, lhe_ttbar_file, monkeypatch):
    weights = [10.0 + i for i in range(100)]
    path = _rewritten(lhe_ttbar_file, tmp_path / "w.lhe.gz", _init(-4, 1.0), weights.__getitem__)
    monkeypatch.setattr(lhe, "_BLOCK", 97)  # event headers cut at every possible place
    summary = lhe._event_weights(path)
    assert summary.n == 100 and summary.total == pytest.approx(sum(weights))
    info = lhe_cross_section_info(path)
    assert info.source == "lhe-weights" and info.value_pb == pytest.approx(59.5)
    assert info.error_pb == pytest.approx(29.011491975882016 / 10)  # std / sqrt(n)


@pytest.mark.parametrize(
    ("idwtup", "xsecup", "weight"),
    [
        (3, 5.0, lambda i: 1.0),  # the LHA's unit weights
        (3, 5.0, lambda i: -1.0 if i % 7 == 0 else 1.0),  # unit weights, some negative
        (-4, 5.0, lambda i: 5.0),  # MadGraph event_norm = average
        (-4, 5.0, lambda i: 0.05),  # MadGraph event_norm = sum (100 events)
        (-4, 5.0, lambda i: 5.0 + (0.5 if i % 2 else -0.5)),  # weighted, mean = XSECUP
    ],
)
def test_weights_that_agree_with_xsecup_keep_it(tmp_path, lhe_ttbar_file, idwtup, xsecup, weight):
    path = _rewritten(lhe_ttbar_file, tmp_path / "ok.lhe", _init(idwtup, xsecup), weight)
    info = lhe_cross_section_info(path)
    assert (info.value_pb, info.source, info.warning) == (pytest.approx(xsecup), "lhe-init", None)


def test_relative_weights_of_idwtup_2_keep_xsecup_with_a_warning(tmp_path, lhe_ttbar_file):
    path = _rewritten(lhe_ttbar_file, tmp_path / "two.lhe", _init(2, 1.0), lambda _: 675.65)
    info = lhe_cross_section_info(path)
    assert (info.value_pb, info.source) == (pytest.approx(1.0), "lhe-init")
    assert "\n" not in info.warning and "used XSECUP" in info.warning


def test_real_lhe_files_keep_their_init(lhe_ttbar_file, lhe_zprime_file):
    """Pythia 6 (IDWTUP 3, unit weights) and MadGraph (IDWTUP -4, weight = XSECUP)."""
    for path, sigma in ((lhe_ttbar_file, 5.4803624), (lhe_zprime_file, 2.894732e-19)):
        info = lhe_cross_section_info(path)
        assert (info.value_pb, info.source, info.warning) == (
            pytest.approx(sigma),
            "lhe-init",
            None,
        )


def test_recast_reports_the_weights_cross_section_and_the_warning(tmp_path, lhe_ttbar_file):
    workspace_or_skip()
    path = _rewritten(lhe_ttbar_file, tmp_path / "sherpa.lhe", _init(3, 1.0), lambda _: 675.65)
    report = recast("zprime-ttbar-allhad", [path], surrogate=find_surrogate("top-tagger-parton"))
    document = report.to_dict()
    validate_report(document)  # the schema knows the source
    assert document["cross_section"]["source"] == "lhe-weights"
    assert document["cross_section"]["value_pb"] == pytest.approx(675.65)
    assert sum("used the mean weight" in line for line in report.warnings) == 1
