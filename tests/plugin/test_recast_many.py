"""Several analyses on one pass over the events: each report as if it ran alone."""

from __future__ import annotations

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
