"""Several taggers per analysis: further taggers on given objects and regions counting their tags.

The checks have known answers: the candidates' "both" / "exactly one" requirements, said
again as tag counts of a further tagger on the same two jets, must give the same yields draw
by draw; a veto on a top-tagged third jet must equal the product computed by hand from the
third jets' own tag probabilities; adding a further tagger must not change the candidates'
sampled tags. The card refuses what the product rule cannot describe.
"""

from __future__ import annotations

import copy
import json
from importlib.resources import as_file, files

import numpy as np
import pytest
from recast_fixtures import analysis_variant, workspace_or_skip

from surrotag.errors import CardError
from surrotag.recast import recast, validate_report

DRAWS = 4


@pytest.fixture(scope="module")
def example():
    workspace_or_skip()
    with as_file(files("surrotag.analyses.zprime_ttbar_allhad") / "example_signal.parquet") as p:
        yield p


def _with_tagger(objects: list[int]):
    """An edit: delphes input only, and a further tagger ``again`` (the analysis's own
    surrogate and working points) on the fat jets at ``objects``."""

    def edit(card: dict) -> None:
        card["input_levels"] = ["delphes"]
        card["surrogate"]["names"] = {"delphes": card["surrogate"]["names"]["delphes"]}
        card["objects"]["fatjets"].pop("particle_response", None)
        card["taggers"] = {
            "again": {
                "collection": "fatjets",
                "objects": objects,
                "surrogate": copy.deepcopy(card["surrogate"]),
                "description": "the analysis's top tagger once more, as a further tagger",
            }
        }

    return edit


def _counted(objects: list[int], regions: dict[str, dict]):
    """``_with_tagger`` and the regions' ``tag`` / ``tag_counts`` replaced by ``regions``."""

    def edit(card: dict) -> None:
        _with_tagger(objects)(card)
        for region in card["regions"]:
            region.update(copy.deepcopy(regions.get(region["name"], {})))

    return edit


def _per_draw(report, region: str) -> np.ndarray:
    return report.region(region).yields.per_draw


def test_candidate_requirements_equal_the_same_tag_counts(example, tmp_path):
    """both == exactly 2 and exactly_one == exactly 1 of a further tagger on the same jets."""
    plain = analysis_variant(tmp_path, "zprime-plain", edit=_with_tagger([5]))
    any_tag = {"tag": {"requirement": "any"}}
    counted = analysis_variant(tmp_path, "zprime-counted", edit=_counted([0, 1], {
        "SR": {**any_tag, "tag_counts": [{"tagger": "again", "working_point": "wp50",
                                           "exactly": 2}]},
        "CR": {**any_tag, "tag_counts": [{"tagger": "again", "working_point": "wp50",
                                           "at_least": 1, "at_most": 1}]},
    }))  # fmt: skip
    a = recast(plain, [example], draws=DRAWS)
    b = recast(counted, [example], draws=DRAWS)
    for region in ("SR", "CR"):
        np.testing.assert_allclose(_per_draw(b, region), _per_draw(a, region), rtol=1e-12)
        np.testing.assert_allclose(b.region(region).yields.ood_up,
                                   a.region(region).yields.ood_up, rtol=1e-12)  # fmt: skip
    document = b.to_dict()
    validate_report(document)
    assert document["regions"][0]["tag_counts"] == [
        {"tagger": "again", "working_point": "wp50", "at_least": 2, "at_most": 2}
    ]
    further = document["tagger"]["further"][0]
    assert further["tagger"] == "again" and further["objects"] == [0, 1]
    assert further["n_objects"] == a.n_objects  # the same selected jets, once each
    assert "top_tagger_delphes_top_tagger_delphes" in json.dumps(document["patch"])


def test_third_jet_veto_is_the_product_of_its_own_probabilities(example, tmp_path):
    """SR with a veto on a top-tagged third jet: per draw sum w p1 p2 (1 - p3), by hand."""
    import awkward as ak

    from surrotag.analysis import get_analysis
    from surrotag.io import iter_events
    from surrotag.recast.pipeline import load_tagger, object_table
    from surrotag.selection import select

    veto = [{"tagger": "again", "working_point": "wp50", "exactly": 0}]
    edit = _counted([2], {"SR": {"tag_counts": veto}})
    folder = analysis_variant(tmp_path, "zprime-veto", edit=edit)
    plain = analysis_variant(tmp_path, "zprime-plain", edit=_with_tagger([5]))
    with_veto = recast(folder, [example], draws=DRAWS)
    without = recast(plain, [example], draws=DRAWS)
    np.testing.assert_array_equal(_per_draw(with_veto, "CR"), _per_draw(without, "CR"))

    analysis = get_analysis(folder)
    tagger = load_tagger(analysis, "delphes", "surrogate", None, DRAWS, False, 0, "cpu")
    (events,) = list(iter_events(example, level="delphes", step_size=10_000))
    selection = select(events, analysis.card)
    passed = np.flatnonzero(selection.mask)
    chosen = events[passed]
    lead = selection.indices[passed]
    pair = tagger.probabilities(
        object_table(chosen, "fatjets", ak.from_regular(ak.Array(lead)), "delphes",
                     tagger.features), "delphes")  # fmt: skip
    p = pair.probabilities[..., 0].reshape(DRAWS, len(passed), 2)
    third = np.asarray(ak.num(chosen.fatjets)) > 2
    p3 = np.zeros((DRAWS, len(passed)))
    index = ak.unflatten(np.full(int(third.sum()), 2), third.astype(np.int64))
    p3[:, third] = tagger.probabilities(
        object_table(chosen, "fatjets", index, "delphes", tagger.features), "delphes"
    ).probabilities[..., 0]
    assert third.sum() > 20 and p3.max() > 0.5  # the veto has something to veto
    weight = np.asarray(ak.to_numpy(events.weight))
    norm = with_veto.normalisation
    mjj = selection.values["mjj"][passed]
    edges = with_veto.region("SR").yields.bin_edges
    bins = np.digitize(mjj, edges) - 1
    inside = (bins >= 0) & (bins < edges.size - 1)
    expected = np.stack([
        np.bincount(bins[inside], (weight[passed] * p[d, :, 0] * p[d, :, 1] * (1 - p3[d]))[inside],
                    minlength=edges.size - 1)
        for d in range(DRAWS)
    ]) * norm  # fmt: skip
    np.testing.assert_allclose(_per_draw(with_veto, "SR"), expected, rtol=1e-9, atol=1e-12)
    assert _per_draw(with_veto, "SR").sum() < _per_draw(without, "SR").sum()


def test_a_further_tagger_leaves_the_candidates_sampled_tags_alone(example, tmp_path):
    """Stochastic tags: the further tagger draws from its own stream of the seed."""
    plain = analysis_variant(tmp_path, "zprime-plain", edit=_with_tagger([5]))
    veto = {"CR": {"tag_counts": [{"tagger": "again", "working_point": "wp50", "exactly": 0}]}}
    folder = analysis_variant(tmp_path, "zprime-cr-veto", edit=_counted([2], veto))
    a = recast(plain, [example], draws=DRAWS, stochastic=True, seed=3)
    b = recast(folder, [example], draws=DRAWS, stochastic=True, seed=3)
    np.testing.assert_array_equal(_per_draw(b, "SR"), _per_draw(a, "SR"))
    assert not np.array_equal(_per_draw(b, "CR"), _per_draw(a, "CR"))


@pytest.mark.parametrize(
    ("objects", "regions", "message"),
    [
        ([0], {"SR": {"tag_counts": [{"tagger": "again", "working_point": "wp50", "exactly": 1}]}},
         r"regions\[0\]\.tag_counts: tagger 'again' at 'wp50' and the candidates' tag both tag "
         r"fatjets\[0\]"),
        ([2], {"SR": {"tag_counts": [{"tagger": "other", "working_point": "wp50", "exactly": 1}]}},
         r"tag_counts\[0\]\.tagger: 'other' is not in taggers"),
        ([2], {"SR": {"tag_counts": [{"tagger": "again", "working_point": "wp90", "exactly": 1}]}},
         r"'wp90' is not a working point of tagger 'again'"),
        ([2], {"SR": {"tag_counts": [{"tagger": "again", "working_point": "wp50", "exactly": 1,
                                      "at_least": 1}]}},
         r"'exactly' says both bounds"),
        ([2], {"SR": {"tag_counts": [{"tagger": "again", "working_point": "wp50",
                                      "at_least": 2}]}},
         r"at least 2 tagged of the 1 object\(s\)"),
        ([2], {"SR": {"tag_counts": [{"tagger": "again", "working_point": "wp50"}]}},
         r"say how many"),
        ([2, 3], {"SR": {"tag_counts": [
            {"tagger": "again", "working_point": "wp50", "at_least": 1},
            {"tagger": "again", "working_point": "wp50", "at_most": 1}]}},
         r"both tag fatjets\[2\]"),
        ([2], {"SR": {"tag": {"requirement": "any", "working_point": "wp50"}}},
         r"'any' tags nothing"),
        ([2], {"SR": {"tag": {"requirement": "both"}}}, r"name the working_point"),
    ],
)  # fmt: skip
def test_cards_the_product_rule_cannot_describe_are_refused(tmp_path, objects, regions, message):
    with pytest.raises(CardError, match=message):
        analysis_variant(tmp_path, "zprime-bad", edit=_counted(objects, regions))


def test_further_taggers_need_jet_level_input_and_large_r_jets(tmp_path):
    def parton(card: dict) -> None:
        _with_tagger([2])(card)
        card["input_levels"] = ["delphes", "parton"]
        card["surrogate"]["names"]["parton"] = "top-tagger-parton"
        card["taggers"]["again"]["surrogate"]["names"]["parton"] = "top-tagger-parton"

    with pytest.raises(CardError, match=r"taggers\.again: further taggers tag reconstructed"):
        analysis_variant(tmp_path, "zprime-parton", edit=parton)

    def small_r(card: dict) -> None:
        _with_tagger([2])(card)
        card["objects"]["jets"] = {"algorithm": "anti-kt", "radius": 0.4}
        card["taggers"]["again"]["collection"] = "jets"

    with pytest.raises(CardError, match=r"taggers\.again\.collection: 'jets': surrogate features"):
        analysis_variant(tmp_path, "zprime-small-r", edit=small_r)


def test_a_different_surrogate_as_further_tagger(example, tmp_path):
    """top-tagger-particle (other weights, same tagger) counting the candidates' tags equals
    the plain analysis with it as the candidates' surrogate, draw by draw."""

    def edit(card: dict) -> None:
        _counted([0, 1], {
            "SR": {"tag": {"requirement": "any"},
                   "tag_counts": [{"tagger": "again", "working_point": "wp50", "exactly": 2}]},
            "CR": {"tag": {"requirement": "any"},
                   "tag_counts": [{"tagger": "again", "working_point": "wp50", "exactly": 1}]},
        })(card)  # fmt: skip
        card["taggers"]["again"]["surrogate"]["names"]["delphes"] = "top-tagger-particle"

    plain = analysis_variant(tmp_path, "zprime-plain", edit=_with_tagger([5]))
    counted = analysis_variant(tmp_path, "zprime-particle", edit=edit)
    a = recast(plain, [example], draws=DRAWS, surrogate="top-tagger-particle")
    b = recast(counted, [example], draws=DRAWS)
    for region in ("SR", "CR"):
        np.testing.assert_allclose(_per_draw(b, region), _per_draw(a, region), rtol=1e-12)
    assert b.to_dict()["tagger"]["further"][0]["name"] == "top-tagger-particle"


@pytest.mark.parametrize("tagger", ["surrogate", "efficiency-map"])
def test_selection_tag_counts_apply_to_every_region(example, tmp_path, tagger):
    """A veto in the selection's tag_counts equals the same veto in each region."""
    veto = [{"tagger": "again", "working_point": "wp50", "exactly": 0}]

    def in_selection(card: dict) -> None:
        _with_tagger([2])(card)
        card["selection"]["tag_counts"] = veto

    each = analysis_variant(tmp_path, "zprime-each", edit=_counted([2], {
        "SR": {"tag_counts": veto}, "CR": {"tag_counts": veto}}))  # fmt: skip
    once = analysis_variant(tmp_path, "zprime-once", edit=in_selection)
    a = recast(each, [example], draws=DRAWS, tagger=tagger)
    b = recast(once, [example], draws=DRAWS, tagger=tagger)
    for region in ("SR", "CR"):
        np.testing.assert_array_equal(_per_draw(b, region), _per_draw(a, region))
    assert b.to_dict()["regions"][1]["tag_counts"][0]["at_most"] == 0


def test_chunk_recast_counts_the_further_tags_as_the_recast(example, tmp_path):
    from surrotag.io import iter_events
    from surrotag.recast import ChunkRecast

    veto = {"SR": {"tag_counts": [{"tagger": "again", "working_point": "wp50", "exactly": 0}]}}
    folder = analysis_variant(tmp_path, "zprime-veto", edit=_counted([2], veto))
    report = recast(folder, [example], draws=DRAWS)
    chunked = ChunkRecast(folder, level="delphes", draws=DRAWS)
    parts = [
        chunked(events)
        for events in iter_events(
            example, level="delphes", step_size=700, collections=list(chunked.collections)
        )
    ]
    summed = {name: sum(part[name] for part in parts) for name in parts[0]}
    scaled = chunked.normalise(summed, report.sum_weights, report.cross_section.value_pb)
    for region in ("SR", "CR"):
        np.testing.assert_allclose(scaled[region].per_draw, _per_draw(report, region), rtol=1e-12)
