"""anomaly-dijet: fresh seeds, signals that trained nothing, its card, its shipped files."""

from __future__ import annotations

import itertools
import json
from importlib.resources import files

import pytest

from surrotag.analyses.anomaly_dijet import build, closure
from surrotag.analysis import get_analysis

NAME = "anomaly-dijet"
PACKAGE = files("surrotag.analyses.anomaly_dijet")
SIGNAL_PROCESSES = {"wprime-wz", "y-xx"}


def _shipped(name: str) -> dict:
    resource = PACKAGE / name
    if not resource.is_file():
        pytest.skip(f"{name} not built yet: run {build.COMMAND}")
    return json.loads(resource.read_text("utf-8"))


def _other_seeds() -> set[int]:
    """Every master seed of the project's other samples."""
    from surrotag.analyses.stop_allhad_toptag import build as stop
    from surrotag.analyses.stop_allhad_toptag import closure as stop_closure
    from surrotag.analyses.stop_dilepton_nn import build as dilepton
    from surrotag.analyses.stop_dilepton_nn import closure as dilepton_closure
    from surrotag.analyses.zprime_ttbar_allhad import build as allhad
    from surrotag.analyses.zprime_ttbar_allhad import closure as allhad_closure
    from surrotag.analyses.zprime_ttbar_allhad.example import SEED as EXAMPLE_SEED
    from surrotag.analyses.zprime_ttbar_ljets import build as ljets
    from surrotag.analyses.zprime_ttbar_ljets import closure as ljets_closure
    from surrotag.reference.anomaly_plan import ANOMALY_PLAN
    from surrotag.reference.cache import TRAINING_SET

    return {
        *(s.seed for plan in (stop.PLAN, dilepton.PLAN, ljets.PLAN)
          for s in (*plan.backgrounds, *plan.signals)),
        *(s.seed for c in (stop_closure, dilepton_closure, ljets_closure)
          for s in c.PLAN.samples),
        *allhad.ZPRIME_SEEDS.values(),
        *(spec.seed for spec in allhad.BACKGROUNDS),
        *allhad_closure.PLAN.seeds,
        EXAMPLE_SEED,
        *itertools.chain.from_iterable(TRAINING_SET.values()),
        *(s.seed for s in ANOMALY_PLAN["samples"].values()),
    }  # fmt: skip


def test_every_seed_is_fresh():
    """The build's and the closure's samples use seeds (and per-job Pythia seeds) that no
    other sample uses: not the taggers', the surrogates' or any other analysis's."""
    from surrotag.reference.anomaly_surrogates import ANOMALY_SURROGATE_PLAN
    from surrotag.reference.generate import job_seeds

    surrogates = {s.seed for split in ANOMALY_SURROGATE_PLAN["samples"].values() for s in split}
    others = _other_seeds() | surrogates
    mine = {s.seed for s in (*build.PLAN.backgrounds, *build.PLAN.signals)}
    fresh = {s.seed for s in closure.PLAN.samples}
    assert not mine & others and not fresh & (others | mine)
    ours = {job_seeds(seed, j)[0] for seed in mine | fresh for j in range(2)}
    theirs = {job_seeds(seed, j)[0] for seed in others for j in range(4)}
    assert not ours & theirs


def test_no_signal_model_trains_a_tagger_or_a_surrogate():
    from surrotag.reference.anomaly_plan import ANOMALY_PLAN
    from surrotag.reference.anomaly_surrogates import ANOMALY_SURROGATE_PLAN

    taggers = {ANOMALY_PLAN["samples"][n].process for n in ("qcd_train", "outliers")}
    surrogates = {s.process for split in ANOMALY_SURROGATE_PLAN["samples"].values() for s in split}
    assert not (taggers | surrogates) & SIGNAL_PROCESSES
    assert {s.process for s in (*build.PLAN.signals, *closure.PLAN.samples)} == SIGNAL_PROCESSES
    # two masses of each model, the closure at the build's points
    points = {(s.process, s.mass, s.x_masses) for s in closure.PLAN.samples}
    assert points == {(s.process, s.mass, s.x_masses) for s in build.PLAN.signals}
    assert len(points) == 4


def test_card_tags_two_jets_with_the_anomaly_surrogate():
    card = get_analysis(NAME).card
    assert card.selection.candidates == 2
    assert [r.tag.requirement for r in card.regions] == ["both", "exactly_one"]
    assert {r.observable.name for r in card.regions} == {"mjj"}
    assert card.surrogate.internal_tagger == "anomaly/oe"
    (point,) = card.surrogate.working_points
    assert (point.name, point.background_efficiency) == ("qcd10", 0.1)


def test_card_names_the_tagger_its_surrogate_replaces():
    from surrotag.surrogates.card import load_card
    from surrotag.surrogates.registry import shipped_folder

    card = get_analysis(NAME).card
    folder = shipped_folder() / card.surrogate.names["delphes"]
    if not folder.is_dir():
        pytest.skip("anomaly-oe-delphes not shipped yet: surrotag reference anomaly-surrogates")
    surrogate = load_card(folder / "card.json")
    assert surrogate.tagger["weights_sha256"] == card.surrogate.tagger_sha256
    assert surrogate.working_points[0]["name"] == "qcd10"


def test_shipped_workspace_has_qcd_in_both_channels():
    _shipped("workspace.json")
    for channel in get_analysis(NAME).workspace().spec["channels"]:
        assert {s["name"] for s in channel["samples"]} == {"qcd"}


def test_official_yields_cover_both_models_at_two_masses():
    official = _shipped("official_yields.json")
    assert official["surrogates_used"] is False
    assert {s["name"] for s in official["signals"]} == {s.name for s in build.PLAN.signals}
