"""stop-allhad-toptag: its grid and closure plans, its card, its shipped files."""

from __future__ import annotations

import itertools
import json
from importlib.resources import files

import pytest

from surrotag.analyses.stop_allhad_toptag import build, closure
from surrotag.analysis import get_analysis

NAME = "stop-allhad-toptag"
PACKAGE = files("surrotag.analyses.stop_allhad_toptag")


def _shipped(name: str) -> dict:
    resource = PACKAGE / name
    if not resource.is_file():
        pytest.skip(f"{name} not built yet: run {build.COMMAND}")
    return json.loads(resource.read_text("utf-8"))


def test_every_seed_is_fresh():
    """The grid, the backgrounds of its own (Z -> nu nu) and the closure use seeds no other
    sample of the project uses; t tbar and W+jets are zprime-ttbar-ljets's samples."""
    from surrotag.analyses.zprime_ttbar_allhad import build as allhad
    from surrotag.analyses.zprime_ttbar_allhad import closure as allhad_closure
    from surrotag.analyses.zprime_ttbar_allhad.example import SEED as EXAMPLE_SEED
    from surrotag.analyses.zprime_ttbar_ljets import build as ljets
    from surrotag.analyses.zprime_ttbar_ljets import closure as ljets_closure
    from surrotag.reference.cache import TRAINING_SET
    from surrotag.reference.generate import job_seeds

    shared = {spec.seed for spec in ljets.PLAN.backgrounds}
    mine = {s.seed for s in (*build.PLAN.backgrounds, *build.PLAN.signals)} - shared
    fresh = {s.seed for s in closure.PLAN.samples}
    others = {
        *(s.seed for s in (*ljets.PLAN.backgrounds, *ljets.PLAN.signals)),
        *(s.seed for s in ljets_closure.PLAN.samples),
        *allhad.ZPRIME_SEEDS.values(),
        *(spec.seed for spec in allhad.BACKGROUNDS),
        *allhad_closure.PLAN.seeds,
        allhad_closure.PLAN.bootstrap_seed,
        EXAMPLE_SEED,
        *itertools.chain.from_iterable(TRAINING_SET.values()),
    }
    assert not mine & others and not fresh & (others | mine)
    ours = {job_seeds(seed, j)[0] for seed in mine | fresh for j in range(2)}
    theirs = {job_seeds(seed, j)[0] for seed in others for j in range(4)}
    assert not ours & theirs
    # the closure's points lie on the grid, with its sample size
    grid = {(s.mass, s.lsp_mass) for s in build.PLAN.signals}
    assert {(s.mass, s.lsp_mass) for s in closure.PLAN.samples} <= grid
    assert {s.n_events for s in closure.PLAN.samples} == {build.GRID_EVENTS}


def test_grid_points_open_the_two_body_decay():
    for (m_stop, m_lsp), _ in build.GRID.items():
        assert m_stop > m_lsp + 173.0


def test_card_regions_count_top_tags_of_two_candidates():
    card = get_analysis(NAME).card
    assert card.selection.candidates == 2
    assert [r.tag.requirement for r in card.regions] == ["at_least_one", "none"]
    assert {r.observable.name for r in card.regions} == {"met"}


def test_shipped_workspace_has_three_backgrounds_in_every_channel():
    _shipped("workspace.json")
    for channel in get_analysis(NAME).workspace().spec["channels"]:
        assert {s["name"] for s in channel["samples"]} == {"ttbar", "wjets", "znunu"}


def test_official_yields_cover_the_grid():
    official = _shipped("official_yields.json")
    assert official["surrogates_used"] is False
    points = {(s["m_stop_gev"], s["m_lsp_gev"]) for s in official["signals"]}
    assert points == set(build.GRID)


def test_agreement_follows_the_internal_band():
    """Excluded band: the surrogate must exclude; allowed band: it must not; a band that
    straddles 0.05 accepts either; a missing surrogate point is unknown."""
    from surrotag.analyses.stop_allhad_toptag.contour import PARAMETERS
    from surrotag.scan.comparison import agreement

    def row(name, m1, median, p1):
        return {"name": name, "m_stop_gev": 1.0, "m_lsp_gev": 0.0, "cls_exp_m1": m1,
                "cls_exp": median, "cls_exp_p1": p1}  # fmt: skip

    internal = [row("a", 0.001, 0.01, 0.03), row("b", 0.2, 0.4, 0.6), row("c", 0.01, 0.05, 0.2),
                row("d", 0.001, 0.01, 0.03), row("e", 0.2, 0.4, 0.6)]  # fmt: skip
    surrogate = [
        {"name": "a", "status": "done", "cls_exp": 0.02},
        {"name": "b", "status": "done", "cls_exp": 0.01},
        {"name": "c", "status": "done", "cls_exp": 0.9},
        {"name": "d", "status": "done", "cls_exp": 0.3},
        {"name": "e", "status": "failed", "cls_exp": None},
    ]
    verdicts = {v["name"]: v for v in agreement(internal, surrogate, PARAMETERS)}
    assert [verdicts[n]["band"] for n in "abcde"] == [
        "excluded", "allowed", "straddles", "excluded", "allowed"
    ]  # fmt: skip
    assert [verdicts[n]["agrees"] for n in "abcde"] == [True, False, True, False, None]


def test_official_rows_take_the_expected_set_in_order():
    from surrotag.analyses.stop_allhad_toptag.contour import PARAMETERS
    from surrotag.scan.comparison import official_rows

    signal = {"name": "p", "m_stop_gev": 900.0, "m_lsp_gev": 50.0,
              "cls_mu1": {"observed": 0.1, "expected": [0.01, 0.02, 0.03, 0.04, 0.05]}}  # fmt: skip
    official = {"signals": [signal, {**signal, "name": "q", "cls_mu1": None}]}
    (row,) = official_rows(official, PARAMETERS)
    assert (row["cls_exp_m1"], row["cls_exp"], row["cls_exp_p1"]) == (0.02, 0.03, 0.04)
