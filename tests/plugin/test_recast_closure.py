"""The closure machinery shared by the analyses (surrotag.validation.recast_closure)."""

from __future__ import annotations

import pytest

from surrotag.reference.publish import Sample
from surrotag.validation.recast_closure import ClosurePlan, closure_command, markdown


def _plan(**changes) -> ClosurePlan:
    options = {
        "analysis": "zprime-ttbar-ljets",
        "samples": (Sample("a", "zprime-ttbar-inclusive", 10, 1, 1000.0),),
        "jobs": 1,
        "draws": 2,
        "yield_tolerance": 0.1,
        "mu_up_tolerance": 0.1,
    }
    return ClosurePlan(**{**options, **changes})


def test_a_plan_refuses_repeated_seeds_and_an_unknown_primary_path():
    twice = (Sample("a", "p", 10, 7), Sample("b", "p", 10, 7))
    with pytest.raises(ValueError, match="repeat"):
        _plan(samples=twice)
    with pytest.raises(ValueError, match="primary path"):
        _plan(primary_path="parton")


def test_the_plan_digest_follows_every_setting():
    base = _plan()
    assert base.sha256() == _plan().sha256()
    other_seed = (Sample("a", "zprime-ttbar-inclusive", 10, 2, 1000.0),)
    changes = ({"draws": 3}, {"yield_tolerance": 0.2}, {"jobs": 2}, {"samples": other_seed})
    for change in changes:
        assert _plan(**change).sha256() != base.sha256(), change


def test_the_committed_ljets_history_prints_as_a_table(capsys):
    from surrotag.analyses.zprime_ttbar_ljets import closure
    from surrotag.validation.closure import read_history

    _, runs = read_history(closure.HISTORY_FILE)
    if not runs:
        pytest.skip("no closure run recorded")
    assert closure_command(closure.PLAN, closure.HISTORY_FILE, "prog", ["--table"]) == 0
    out = capsys.readouterr().out
    assert out == markdown(runs[-1])
    assert "| point | path | SR recast / official | CR recast / official |" in out
    assert out.count("| zprime_") == 2 * len(closure.PLAN.samples)
