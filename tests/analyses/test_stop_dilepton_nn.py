"""stop-dilepton-nn: its grid, closure and validation plans, its card, its shipped files."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest

from surrotag.analyses.stop_dilepton_nn import build, closure
from surrotag.analysis import get_analysis
from surrotag.errors import SurrotagError

NAME = "stop-dilepton-nn"
PACKAGE = files("surrotag.analyses.stop_dilepton_nn")


def _shipped(name: str) -> dict:
    resource = PACKAGE / name
    if not resource.is_file():
        pytest.skip(f"{name} not built yet: run {build.COMMAND}")
    return json.loads(resource.read_text("utf-8"))


def test_every_seed_is_fresh():
    """The grid, the closure and the event surrogate's validation use seeds no other sample
    of the project uses, nor one another's (the background is the classifier's unseen
    t tbar sample, 5102)."""
    from surrotag.analyses.stop_allhad_toptag import build as allhad_stop
    from surrotag.analyses.stop_allhad_toptag import closure as allhad_stop_closure
    from surrotag.analyses.zprime_ttbar_allhad import build as allhad
    from surrotag.analyses.zprime_ttbar_allhad import closure as allhad_closure
    from surrotag.analyses.zprime_ttbar_ljets import build as ljets
    from surrotag.analyses.zprime_ttbar_ljets import closure as ljets_closure
    from surrotag.reference.cache import TRAINING_SET
    from surrotag.reference.event_pipeline import TABLE_SAMPLES
    from surrotag.reference.ship_event import VALIDATION_PLAN

    grid = {s.seed for s in build.PLAN.signals}
    fresh = {s.seed for s in closure.PLAN.samples}
    validation = {s.seed for s in VALIDATION_PLAN["samples"]}
    table = {s.seed for s in TABLE_SAMPLES.values()} | {5102}  # and the background
    others = {
        *(s.seed for p in (ljets.PLAN, allhad_stop.PLAN) for s in (*p.backgrounds, *p.signals)),
        *(s.seed for c in (ljets_closure.PLAN, allhad_stop_closure.PLAN) for s in c.samples),
        *allhad.ZPRIME_SEEDS.values(),
        *(spec.seed for spec in allhad.BACKGROUNDS),
        *allhad_closure.PLAN.seeds,
        *(seed for seeds in TRAINING_SET.values() for seed in seeds),
    }
    sets = [grid, fresh, validation, table, others]
    for i, a in enumerate(sets):
        for b in sets[i + 1 :]:
            assert not a & b
    assert len(grid) == len(build.PLAN.signals) == 32
    assert {s.seed for s in build.PLAN.backgrounds} == {5102}
    assert {(s.mass, s.lsp_mass) for s in closure.PLAN.samples} <= set(build.GRID)


def test_grid_points_decay_on_shell():
    """Every point lies above the W threshold: t neutralino or b W neutralino (three-body)."""
    from surrotag.reference.susy import stop_decay

    decays = {stop_decay(m_stop, m_lsp) for m_stop, m_lsp in build.GRID}
    assert all(m_stop > m_lsp + 86.0 for m_stop, m_lsp in build.GRID)
    assert len(decays) == 2


def test_card_is_event_level_at_the_surrogate_working_point():
    card = get_analysis(NAME).card
    assert card.selection.collection == "event" and card.selection.candidates == 1
    assert [r.tag.requirement for r in card.regions] == ["at_least_one", "none"]
    assert {r.tag.working_point for r in card.regions} == {build.PLAN.working_point}
    assert card.working_point(build.PLAN.working_point).background_efficiency == 0.01
    assert {r.observable.name for r in card.regions} == {"mt2_ll"}


def test_card_names_the_classifier_the_surrogate_replaces():
    from surrotag.surrogates.card import load_card
    from surrotag.surrogates.registry import resolve_surrogate

    card = get_analysis(NAME).card
    try:
        folder = resolve_surrogate(card.surrogate_name("delphes"))
    except SurrotagError:  # not shipped yet in this checkout
        pytest.skip("stop-classifier-delphes is not shipped yet")
    surrogate = load_card(folder)
    assert surrogate.tagger["weights_sha256"] == card.surrogate.tagger_sha256
    assert build.PLAN.working_point in {p["name"] for p in surrogate.working_points}


def test_official_yields_cover_the_grid_with_the_card_classifier():
    official = _shipped("official_yields.json")
    card = get_analysis(NAME).card
    assert official["surrogates_used"] is False
    assert {(s["m_stop_gev"], s["m_lsp_gev"]) for s in official["signals"]} == set(build.GRID)
    assert {s["tagger_sha256"] for s in official["signals"]} == {card.surrogate.tagger_sha256}
    assert official["working_point"]["name"] == build.PLAN.working_point
