"""surrotag.explain: closed-form cases recover the truth; real surrogate, table and tagger.

Closed forms: a function of five features that depends on two gets those two as the most
important (permutation and integrated gradients, autograd and finite differences); a
contour map equals the function on its grid; gradient ascent reaches the known maximum (and
stops on the support boundary). Real data: a known rectangular cut on real table features
is recovered; the surrogate adapter equals tag_objects and its autograd gradient equals
finite differences; the tagger's differentiable inputs equal constituent_inputs; both CLI
commands write their PNGs and summary JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from surrotag.explain import (
    best_rectangular_cut,
    contour_map,
    evaluate,
    feature_importance,
    gradient,
    gradient_ascent,
)
from surrotag.reference.cache import TABLE_NAME, TAGGER_NAME, reference_dir, split_sample_path


def _sigmoid_torch_or_numpy(x):
    """p = sigmoid(2 x1 - 3 x3): depends on features 1 and 3 of 5 (torch or numpy)."""
    if isinstance(x, torch.Tensor):
        return torch.sigmoid(2 * x[:, 1] - 3 * x[:, 3])
    return 1 / (1 + np.exp(-(2 * x[:, 1] - 3 * x[:, 3])))


def _sigmoid_numpy_only(x):
    x = np.asarray(x)  # fails on a tensor with a graph: forces finite differences
    return 1 / (1 + np.exp(-(2 * x[:, 1] - 3 * x[:, 3])))


@pytest.fixture(scope="module")
def table_path() -> Path:
    path = reference_dir() / TABLE_NAME
    if not path.is_file():
        pytest.skip(f"{path} absent: build it with surrotag reference build-table (SURROTAG_DATA)")
    return path


@pytest.fixture(scope="module")
def shipped():
    """The shipped top-tagger-delphes surrogate (model, card)."""
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import load_surrogate

    return load_surrogate(resolve_surrogate("top-tagger-delphes"))


@pytest.mark.parametrize(
    ("prob", "method"), [(_sigmoid_torch_or_numpy, "autograd"), (_sigmoid_numpy_only, "finite")]
)
def test_importance_finds_the_two_features_a_function_depends_on(prob, method):
    x = np.random.default_rng(1).normal(size=(400, 5))
    result = feature_importance(prob, x, [f"x{i}" for i in range(5)], method="auto")
    assert result.gradient_method == method
    assert set(result.ranking("permutation")[:2]) == {"x1", "x3"}
    assert set(result.ranking("integrated_gradients")[:2]) == {"x1", "x3"}
    assert result.ranking("integrated_gradients")[0] == "x3"  # |-3| > |2|
    unused = [0, 2, 4]
    assert np.all(result.permutation[unused] == 0)
    assert np.allclose(result.integrated_gradients[unused], 0, atol=1e-9)
    assert result.completeness < 5e-3  # sum of attributions = p(x) - p(baseline)


def test_contour_map_equals_the_function_on_its_grid():
    rng = np.random.default_rng(2)
    sample = rng.normal(size=(50, 3))

    def prob(x):  # two "weight draws": g and g + 0.1
        g = 1 / (1 + np.exp(-(x[:, 0] - x[:, 1] ** 2)))
        return np.stack([g, g + 0.1])

    gx, gy = np.linspace(-2, 2, 7), np.linspace(-1, 1.5, 5)
    cmap = contour_map(prob, sample, 0, 1, gx, gy, mode="median")
    truth = 1 / (1 + np.exp(-(gx[None, :] - gy[:, None] ** 2))) + 0.05
    assert cmap.mean.shape == (5, 7)
    np.testing.assert_allclose(cmap.mean, truth, atol=1e-12)
    np.testing.assert_allclose(cmap.spread, np.std([0, 0.1], ddof=1), atol=1e-12)

    def additive(x):  # partial dependence of x0 * x1 + x2 is x0 * x1 + mean(x2)
        return x[:, 0] * x[:, 1] + x[:, 2]

    avg = contour_map(additive, sample, 0, 1, gx, gy, mode="average")
    np.testing.assert_allclose(
        avg.mean, gx[None, :] * gy[:, None] + sample[:, 2].mean(), atol=1e-12
    )
    assert avg.n_rows == 50 and np.all(avg.spread == 0)


@pytest.mark.parametrize("torch_function", [True, False])
def test_gradient_ascent_reaches_the_known_maximum(torch_function):
    centre = np.array([1.5, -0.5, 0.8])

    def prob(x):
        if torch_function and isinstance(x, torch.Tensor):
            return torch.exp(-0.5 * ((x - torch.as_tensor(centre)) ** 2).sum(1) / 0.7**2)
        x = np.asarray(x)
        return np.exp(-0.5 * ((x - centre) ** 2).sum(1) / 0.7**2)

    seeds = np.random.default_rng(3).uniform(-2, 2, size=(40, 3))
    result = gradient_ascent(prob, seeds, loc=np.zeros(3), scale=np.ones(3), steps=300,
                             learning_rate=0.05)  # fmt: skip
    assert result.method == ("autograd" if torch_function else "finite")
    np.testing.assert_allclose(result.final, np.broadcast_to(centre, seeds.shape), atol=2e-2)
    assert result.p_final.min() > 0.999 and result.history[-1] > result.history[0]
    # maximum outside the support box: ascent stops on the boundary, other features free
    high = np.array([1.0, 2.0, 2.0])
    boxed = gradient_ascent(prob, seeds, loc=np.zeros(3), scale=np.ones(3), high=high,
                            steps=300, learning_rate=0.05)  # fmt: skip
    np.testing.assert_allclose(boxed.final[:, 0], 1.0, atol=1e-9)
    np.testing.assert_allclose(boxed.final[:, 1:], np.broadcast_to(centre[1:], (40, 2)), atol=2e-2)
    # frozen features stay at the seeds
    frozen = gradient_ascent(prob, seeds, free=np.array([True, False, True]), steps=20)
    np.testing.assert_array_equal(frozen.final[:, 1], seeds[:, 1])


def test_simple_cut_recovers_a_known_cut_on_real_table_features(table_path):
    from surrotag.explain.report import read_feature_sample

    x, _, _ = read_feature_sample(table_path, ["jet_sd_mass", "jet_tau32"], n_max=6000)
    truth = (x[:, 0] >= 110) & (x[:, 0] < 210) & (x[:, 1] < 0.6)
    assert 0.05 < truth.mean() < 0.5
    kinds = ["window", "below"]
    exact = best_rectangular_cut(
        x, truth, kinds=kinds,
        edges={0: np.r_[np.linspace(50, 300, 26), 110, 210], 1: np.r_[np.linspace(0.3, 0.9, 13)]},
    )  # fmt: skip
    assert exact.agreement == 1.0
    np.testing.assert_allclose(exact.low, [110, -np.inf])
    np.testing.assert_allclose(exact.high, [210, 0.6])
    quantile = best_rectangular_cut(x, truth, kinds=kinds, n_edges=30)
    assert quantile.agreement > 0.97 and quantile.trivial_agreement < 0.95
    assert abs(quantile.low[0] - 110) < 15 and abs(quantile.high[0] - 210) < 25
    assert abs(quantile.high[1] - 0.6) < 0.03 and quantile.low[1] == -np.inf
    # the returned agreement is the cut's own, and probabilities work as targets
    prob_target = best_rectangular_cut(x, np.where(truth, 0.8, 0.1), kinds=kinds, n_edges=30)
    assert prob_target.agreement == quantile.agreement


def test_surrogate_probability_equals_tag_objects_and_is_differentiable(shipped, table_path):
    from surrotag.explain import SurrogateProbability
    from surrotag.explain.report import read_feature_sample
    from surrotag.tagging import tag_objects

    surrogate, card = shipped
    x, _, _ = read_feature_sample(table_path, card.feature_names, card.feature_fills, n_max=40)
    prob = SurrogateProbability(surrogate, card, "wp50", draws=3)
    tags = tag_objects(dict(zip(card.feature_names, x.T, strict=True)), surrogate, card,
                       working_points=["wp50"], draws=3)  # fmt: skip
    np.testing.assert_allclose(evaluate(prob, x), tags.probabilities[..., 0], atol=1e-6)
    auto = gradient(prob, x[:8], method="autograd")
    surrogate.double()
    try:
        torch.set_default_dtype(torch.float64)
        prob64 = SurrogateProbability(surrogate, card, "wp50", draws=3)  # float64 weight draws
        finite = gradient(prob64, x[:8], method="finite", scale=prob.scale, rel_step=1e-4)
        exact = gradient(prob64, x[:8], method="autograd")
    finally:
        torch.set_default_dtype(torch.float32)
        surrogate.float()
    np.testing.assert_allclose(exact, finite, rtol=1e-4, atol=1e-7 * np.abs(finite).max())
    assert np.isfinite(auto).all() and np.abs(auto).max() > 1e-3  # float32 graph works too


def test_cli_explain_on_the_shipped_surrogate(shipped, table_path, tmp_path):
    from surrotag.cli import main

    out = tmp_path / "explain"
    rc = main(["surrogate", "explain", "top-tagger-delphes", "--table", str(table_path),
               "--n-max", "150",
               "--grid", "4", "--n-average", "3", "--seeds", "6", "--steps", "4", "--draws", "2",
               "-o", str(out)])  # fmt: skip
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    for name in summary["files"].values():
        assert (out / name).stat().st_size > 1000
    assert len(summary["contours"]) == 3
    two = summary["simple_cut"]["two"]
    assert two["features"] == ["jet_sd_mass", "jet_tau32"] and 0.5 <= two["agreement"] <= 1
    assert summary["ascent"]["gradient"] == "autograd"
    assert set(summary["importance"]["ranking_permutation"]) == set(shipped[1].feature_names)
    assert not list(out.glob(".*.tmp"))


def test_tagger_inputs_activations_and_cli(tmp_path):
    reference = reference_dir()
    tagger_dir, qcd = reference / TAGGER_NAME, split_sample_path("qcd-dijet", "test")
    top = split_sample_path("ttbar-allhad", "test")
    if not all(p.exists() for p in (tagger_dir, qcd, top)):
        pytest.skip(f"internal tagger or test samples absent under {reference}")
    from surrotag.cli import main
    from surrotag.explain.tagger import (
        constituents_of,
        hidden_activations,
        mutual_information,
        network_inputs,
    )
    from surrotag.reference.inputs import constituent_inputs
    from surrotag.reference.samples import load_sample
    from surrotag.reference.tagger import load_tagger

    tagger = load_tagger(tagger_dir)
    sample = load_sample(qcd, "qcd")
    jets = sample.jets[:150]
    inputs, mask = constituent_inputs(jets, tagger.n_constituents)
    c = constituents_of(jets, tagger.n_constituents)
    mine = network_inputs(*(torch.as_tensor(a) for a in (c.pt, c.eta, c.phi, c.charge)),
                          torch.as_tensor(c.mask)).numpy()  # fmt: skip
    whole = mask.sum(1) < tagger.n_constituents  # the jet axis is the sum of all constituents
    np.testing.assert_allclose(mine[whole], inputs[whole], atol=2e-5)
    acts = hidden_activations(tagger.model, inputs, mask)
    np.testing.assert_allclose(acts["logit"], tagger.logits(jets), atol=1e-5)
    mass = np.asarray(sample.features.jet_mass[:150], dtype=float)
    units = np.column_stack([np.random.default_rng(0).normal(size=150), mass, mass**0.5 * 0])
    mi = mutual_information(units, {"jet_mass": mass})["jet_mass"]
    assert np.argmax(mi) == 1 and mi[2] == 0 and mi[1] > 1.0

    out = tmp_path / "tagger"
    rc = main(["reference", "explain-tagger", "--tagger", str(tagger_dir), "--sample", str(top),
               "--sample", str(qcd), "--n-jets", "40", "--seeds", "8", "--steps", "6",
               "-o", str(out)])  # fmt: skip
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    for name in summary["files"].values():
        assert (out / name).stat().st_size > 1000
    ascent = summary["ascent"]
    assert ascent["logit_final_median"] > ascent["logit_start_median"]
    assert summary["jets"] == {"top": 40, "qcd": 40}
    assert set(summary["mutual_information"]["top_units"]) == {
        "jet_mass", "jet_tau32", "truth_top_n_contained"}  # fmt: skip
