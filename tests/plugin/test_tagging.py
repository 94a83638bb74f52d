"""``surrotag.tagging`` on the real Delphes file with a really trained tiny surrogate.

The surrogate (``tagging_surrogate.tiny_surrogate``) is trained for 5 epochs on noisy copies
of the file's 6 real fat jets with a closed-form tagger; these tests check the tagging
machinery (shapes, nesting, threshold transform, stochastic = exact on average, event
formulas, errors), not the surrogate's accuracy.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
import torch
from tagging_surrogate import FEATURES, THRESHOLDS, tiny_surrogate

from surrotag.errors import FeatureError, InputValueError
from surrotag.features import build_features
from surrotag.io import read_events
from surrotag.surrogates.errors import CardError as SurrogateCardError
from surrotag.surrogates.storage import load_surrogate
from surrotag.tagging import ObjectTags, object_positions, tag_events, tag_objects

K = 4
EVENT_INDEX = [3, 4, 4, 5, 5, 6]  # fat jets per event: 0,0,0,1,2,2,1,0,0,0


@pytest.fixture(scope="module")
def model(delphes_file, tmp_path_factory):
    return load_surrogate(tiny_surrogate(delphes_file, tmp_path_factory.mktemp("surrogate")))


@pytest.fixture(scope="module")
def table(delphes_file):
    return build_features(read_events(delphes_file, collections=["fatjets"]), features=FEATURES)


@pytest.fixture(scope="module")
def exact(table, model):
    surrogate, card = model
    return tag_objects(table, surrogate, card, draws=K)


def test_thread_count_is_applied_recorded_and_restored(table, model, exact):
    """``threads=1``: the solve runs on one thread, says so, and torch's count comes back."""
    surrogate, card = model
    before = torch.get_num_threads()
    one = tag_objects(table, surrogate, card, draws=K, threads=1)
    assert torch.get_num_threads() == before
    assert one.threads["threads"] == 1 and one.threads["source"] == "argument"
    np.testing.assert_allclose(one.probabilities, exact.probabilities, rtol=0, atol=1e-6)
    assert exact.threads["source"] in ("auto", "env SURROTAG_THREADS")


def _columns(table) -> dict[str, np.ndarray]:
    return {name: table[name].to_numpy() for name in table.fields}


def test_exact_probabilities_shape_range_and_nesting(exact):
    p = exact.probabilities
    assert p.shape == (K, 6, 2) and exact.working_points == ("loose", "tight")
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(p[..., 1] <= p[..., 0])  # tight (score > 0.8) inside loose (score > 0.3)
    np.testing.assert_allclose(exact.nominal, p.mean(axis=0))
    np.testing.assert_allclose(exact.spread, p.std(axis=0, ddof=1))
    assert np.all(exact.spread > 0)  # VI: the weight draws differ
    np.testing.assert_array_equal(exact.event_index, EVENT_INDEX)
    np.testing.assert_array_equal(exact.thresholds, [0.3, 0.8])
    assert exact.ood.shape == (6,) and not exact.ood.any()  # real jets are inside the support
    assert exact.n_draws == K and exact.n_objects == 6 and exact.ood_fraction == 0.0


def test_thresholds_are_logits_of_the_score_cuts(table, model, exact):
    """The card's cuts on the score (a probability) enter the flow as logits."""
    surrogate, _ = model
    x = np.column_stack([table[name].to_numpy() for name in FEATURES]).astype(np.float32)
    logits = [math.log(cut / (1 - cut)) for cut in THRESHOLDS.values()]
    direct = surrogate(torch.as_tensor(x), draws=K).prob_above(logits).double().numpy()
    np.testing.assert_allclose(exact.probabilities, direct, rtol=0, atol=1e-6)


def test_input_types_and_working_point_subset(table, model, exact):
    surrogate, card = model
    columns = _columns(table)
    from_dict = tag_objects(columns, surrogate, card, draws=K)
    from_arrow = tag_objects(pa.table(columns), surrogate, card, draws=K)
    np.testing.assert_allclose(from_dict.probabilities, exact.probabilities, atol=1e-7)
    np.testing.assert_allclose(from_arrow.probabilities, exact.probabilities, atol=1e-7)
    tight = tag_objects(table, surrogate, card, working_points=["tight"], draws=K)
    assert tight.working_points == ("tight",)
    np.testing.assert_allclose(tight.probabilities[..., 0], exact.probabilities[..., 1], atol=1e-6)
    one = tag_objects(table, surrogate, card, draws=1)
    assert one.probabilities.shape == (1, 6, 2) and not one.spread.any()


def test_stochastic_tags_average_to_exact_probability(table, model, exact):
    """R replicas of each jet in one batch: the mean 0/1 tag per draw and working point is a
    binomial estimate of the exact probability of the same weight draw."""
    surrogate, card = model
    replicas = 1500
    tiled = {name: np.tile(values, replicas) for name, values in _columns(table).items()}
    generator = torch.Generator().manual_seed(5)
    sampled = tag_objects(tiled, surrogate, card, draws=K, stochastic=True, generator=generator)
    tags = sampled.probabilities
    assert tags.shape == (K, 6 * replicas, 2) and sampled.scores.shape == (K, 6 * replicas)
    assert set(np.unique(tags)) <= {0.0, 1.0}
    assert np.all(tags[..., 1] <= tags[..., 0])  # one score per object: nested cuts
    rate = tags.reshape(K, replicas, 6, 2).mean(axis=1)  # [K, 6, W]
    p = exact.probabilities
    sigma = np.sqrt(p * (1 - p) / replicas)
    pull = np.abs(rate - p) / (sigma + 1e-3)
    assert np.all(np.abs(rate - p) <= 5 * sigma + 3e-3), pull.max()


def test_stochastic_seeded(table, model):
    surrogate, card = model

    def run(seed: int) -> np.ndarray:
        generator = torch.Generator().manual_seed(seed)
        return tag_objects(table, surrogate, card, stochastic=True, generator=generator).scores

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_event_probabilities_match_formulas(exact):
    events = tag_events(exact, 10)
    p = exact.probabilities
    assert events.at_least_one.shape == (K, 10, 2)
    np.testing.assert_array_equal(events.n_objects, [0, 0, 0, 1, 2, 2, 1, 0, 0, 0])
    empty = [0, 1, 2, 7, 8, 9]
    assert not events.at_least_one[:, empty].any() and not events.both[:, empty].any()
    np.testing.assert_array_equal(events.none[:, empty], 1.0)
    for event, rows in ((3, [0]), (6, [5])):  # one fat jet
        np.testing.assert_allclose(events.at_least_one[:, event], p[:, rows[0]])
        np.testing.assert_allclose(events.exactly_one[:, event], p[:, rows[0]])
        np.testing.assert_array_equal(events.both[:, event], 0.0)
    for event, (a, b) in ((4, (1, 2)), (5, (3, 4))):  # two fat jets
        p1, p2 = p[:, a], p[:, b]
        np.testing.assert_allclose(events.both[:, event], p1 * p2)
        np.testing.assert_allclose(events.exactly_one[:, event], p1 * (1 - p2) + p2 * (1 - p1))
        np.testing.assert_allclose(events.none[:, event], (1 - p1) * (1 - p2))
        np.testing.assert_allclose(events.at_least_one[:, event], 1 - (1 - p1) * (1 - p2))
    total = events.both + events.exactly_one + events.none
    np.testing.assert_allclose(total, 1.0)


def test_three_objects_use_all_for_at_least_one_and_two_leading_for_pairs(exact):
    """The six real jets as one event (first three) and a second event (last three)."""
    tags = ObjectTags(
        probabilities=exact.probabilities,
        nominal=exact.nominal,
        spread=exact.spread,
        ood=exact.ood,
        working_points=exact.working_points,
        thresholds=exact.thresholds,
        event_index=np.array([10, 10, 10, 12, 12, 12]),
    )
    events = tag_events(tags, 3, first_event=10)
    p = exact.probabilities
    np.testing.assert_array_equal(events.n_objects, [3, 0, 3])
    np.testing.assert_allclose(events.at_least_one[:, 0], 1 - np.prod(1 - p[:, :3], axis=1))
    np.testing.assert_allclose(events.at_least_one[:, 2], 1 - np.prod(1 - p[:, 3:], axis=1))
    np.testing.assert_allclose(events.both[:, 2], p[:, 3] * p[:, 4])
    np.testing.assert_array_equal(object_positions(tags.event_index, 3, 10), [0, 1, 2, 0, 1, 2])


def test_rows_out_of_event_order_are_refused(exact):
    shuffled = ObjectTags(
        exact.probabilities,
        exact.nominal,
        exact.spread,
        exact.ood,
        exact.working_points,
        exact.thresholds,
        np.array([4, 3, 4, 5, 5, 6]),
    )
    with pytest.raises(InputValueError, match="grouped by event"):
        tag_events(shuffled, 10)
    with pytest.raises(InputValueError, match="outside"):
        tag_events(exact, 5)


def test_missing_feature_names_it_and_its_level(delphes_file, model):
    surrogate, card = model
    events = read_events(delphes_file, collections=["fatjets"])
    partial = build_features(events, features=["jet_pt", "jet_eta", "jet_mass", "jet_sd_mass"])
    with pytest.raises(FeatureError, match="jet_tau32") as error:
        tag_objects(partial, surrogate, card)
    message = str(error.value)
    assert "delphes" in message and "surrotag features" in message and "\n" not in message


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_feature_is_refused_with_row_count(table, model, bad):
    surrogate, card = model
    columns = _columns(table)
    columns["jet_tau32"] = columns["jet_tau32"].copy()
    columns["jet_tau32"][[1, 4]] = bad
    with pytest.raises(FeatureError, match=r"'jet_tau32' is NaN or infinite in 2 of 6 rows"):
        tag_objects(columns, surrogate, card)


def test_out_of_support_objects_are_flagged(table, model):
    surrogate, card = model
    columns = _columns(table)
    columns["jet_pt"] = columns["jet_pt"].copy()
    columns["jet_pt"][2] = 5000.0  # GeV, far above the training support
    tags = tag_objects(columns, surrogate, card)
    np.testing.assert_array_equal(tags.ood, [False, False, True, False, False, False])
    assert tags.ood_fraction == pytest.approx(1 / 6)


def test_unknown_working_point(table, model):
    surrogate, card = model
    with pytest.raises(SurrogateCardError, match="medium"):
        tag_objects(table, surrogate, card, working_points=["medium"])


def test_no_objects(table, model):
    surrogate, card = model
    empty = table[:0]
    tags = tag_objects(empty, surrogate, card, draws=K)
    assert tags.probabilities.shape == (K, 0, 2) and tags.ood.shape == (0,)
    events = tag_events(tags, 3)
    assert events.at_least_one.shape == (K, 3, 2) and not events.at_least_one.any()
    np.testing.assert_array_equal(events.none, 1.0)


def test_both_taggers_satisfy_the_protocol(table, model, exact, tmp_path):
    """The recast's two taggers are :class:`Tagger` s; the surrogate's gives tag_objects'
    numbers and records its solves' threads."""
    from surrotag.tagging import EfficiencyMapTagger, SurrogateTagger, Tagger

    surrogate, card = model
    features = tuple(card.feature_names)
    tagger = SurrogateTagger(card, tmp_path, surrogate, exact.working_points, features, K)
    effmap = EfficiencyMapTagger(card, tmp_path, exact.working_points, ("jet_pt",))
    assert isinstance(tagger, Tagger) and isinstance(effmap, Tagger)
    tags = tagger.probabilities(table, "delphes")
    np.testing.assert_allclose(tags.probabilities, exact.probabilities, rtol=0, atol=1e-6)
    assert len(tagger.thread_plans) == 1
    record = tagger.describe(7)
    assert record["kind"] == "surrogate" and record["draws"] == K and record["seed"] == 7
    assert effmap.draws == 1 and effmap.ood_method == "pt-range"
    assert effmap.key() != tagger.key()


def test_gradient_mode_gives_the_same_probabilities_with_a_graph(table, model, exact):
    """``exact_probabilities(grad=True)`` is the surrogate's own solve, differentiable."""
    from surrotag.tagging import exact_probabilities, feature_matrix

    surrogate, card = model
    x = torch.tensor(feature_matrix(table, card.feature_names), requires_grad=True)
    cuts = [card.model_threshold(p) for p in exact.working_points]
    p = exact_probabilities(surrogate, x, cuts, draws=K, grad=True)
    np.testing.assert_allclose(p.detach().double().numpy(), exact.probabilities, atol=1e-6)
    (grad,) = torch.autograd.grad(p.sum(), x)
    assert grad.shape == x.shape and bool(torch.isfinite(grad).all())
    assert not exact_probabilities(surrogate, x, cuts, draws=K).requires_grad
