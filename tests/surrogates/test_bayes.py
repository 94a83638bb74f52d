"""Bayesian weights: differentiable KL, batched draws, OOD spread, persistence round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from closed_form import closed_form

from surrotag.surrogates import (
    MeanFieldWeights,
    ScoreDistribution,
    Surrogate,
    TrainConfig,
    train_surrogate,
)


def _train_closed_form(bayes: str) -> Surrogate:
    """Surrogate with ``bayes`` weights on 20000 closed-form rows (same net, data and seed)."""
    c, x = closed_form(20000, seed=2)
    cfg = TrainConfig(
        hidden=32,
        depth=2,
        cond_hidden=64,
        cond_depth=2,
        epochs=40,
        batch_size=256,
        patience=40,
        seed=0,
        draws=20,
    )
    model, _ = train_surrogate(c, x, feature_names=["c1", "c2"], bayes=bayes, config=cfg)
    return model


@pytest.fixture(scope="module")
def trained_vi() -> Surrogate:
    """Mean-field VI surrogate (prior N(0, 1), initial width 1e-3) on 20000 closed-form rows."""
    return _train_closed_form("vi")


@pytest.fixture(scope="module")
def trained_mcmc() -> Surrogate:
    """AdamMCMC surrogate (20 stored samples) on the same 20000 closed-form rows."""
    return _train_closed_form("mcmc")


def test_kl_gradient_reaches_mu_and_rho() -> None:
    """The KL term alone gives nonzero gradients for every mu and rho."""
    w = MeanFieldWeights(
        {"a": (3, 2), "b": (3,)}, prior_std=0.5, init={"a": torch.ones(3, 2), "b": torch.ones(3)}
    )
    w.kl().backward()
    for group in (w.mu, w.rho):
        for p in group.values():
            assert p.grad is not None and bool((p.grad != 0).all())


def test_batched_draws_equal_loop_over_single_draws() -> None:
    """K draws in one batched solve equal K solves of one draw each."""
    s = Surrogate(["a", "b"], hidden=16, depth=3, bayes="vi", bayes_options={"prior_std": 1.0})
    with torch.no_grad():
        for rho in s.weights.rho.values():
            rho.fill_(-2.0)
    c = np.random.default_rng(0).normal(size=(50, 2))
    dist = s(c, draws=6)
    p = dist.prob_above([-0.5, 0.3])
    cs = s.standardise(c)
    for i in range(6):
        wi = {k: v[i : i + 1] for k, v in dist.weights.items()}
        single = ScoreDistribution(s, wi, cs, dist.ood, dist.steps, "rk4")
        assert torch.allclose(single.prob_above([-0.5, 0.3])[0], p[i], atol=1e-6)
    assert float(p.std(0).max()) > 1e-3  # the draws differ


@pytest.mark.parametrize("method", ["none", "vi", "mcmc"])
def test_config_tensors_round_trip_exact(method: str) -> None:
    """from_parts(config, tensors) rebuilds a model with identical tensors and outputs."""
    s = Surrogate(
        ["a", "b", "c"],
        hidden=8,
        depth=2,
        bayes=method,
        draws=4,
        bayes_options={"n_samples": 4} if method == "mcmc" else None,
    )
    with torch.no_grad():
        for p in s.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.1)
        for name, b in s.named_buffers():
            if name.startswith("weights.stack"):
                b.normal_(generator=torch.Generator().manual_seed(2))
    s.set_statistics(np.random.default_rng(0).normal(size=(100, 3)), np.arange(100.0))
    config = json.loads(json.dumps(s.config()))
    tensors = s.tensors()
    s2 = Surrogate.from_parts(config, tensors)
    assert config == s2.config()
    for k, v in s2.tensors().items():
        assert torch.equal(v, tensors[k]), k
    c = np.random.default_rng(3).normal(size=(20, 3))
    assert torch.equal(s(c).prob_above([0.0, 40.0]), s2(c).prob_above([0.0, 40.0]))


def _spread_ratios(model: Surrogate, feature: int) -> tuple[np.ndarray, float]:
    """Spread of P(x > mu(c)) 3 feature-sigmas beyond each end of the support of ``feature``
    (the other feature at 0), and the mean spread inside (|c| < 1.5).

    Threshold at the analytic median mu(c) = c1 so P = 0.5, where a probability is most
    sensitive to the weights (far from 0 and 1 the spread is squashed by saturation).
    """
    rng = np.random.default_rng(21)
    inside = rng.uniform(-1.5, 1.5, size=(400, 2))
    hi, lo = model.feature_high.numpy(), model.feature_low.numpy()
    std = model.feature_std.numpy()
    outside = np.zeros((2, 2))
    outside[0, feature] = hi[feature] + 3 * std[feature]
    outside[1, feature] = lo[feature] - 3 * std[feature]
    assert model.ood_mask(outside).all() and not model.ood_mask(inside).any()

    def spread(c: np.ndarray) -> np.ndarray:
        return model(c, draws=20).spread(np.asarray(c[:, :1]))[:, 0].numpy()

    return spread(outside), float(np.mean(spread(inside)))


def test_vi_spread_grows_outside_support_of_location_feature(trained_vi: Surrogate) -> None:
    """Outside the support of c1 (which sets the mean) the spread is >= 3x the inside one.

    Measured: inside 0.029, outside 0.24 and 0.15 (ratios 8.3 and 5.3).
    """
    s_out, s_in = _spread_ratios(trained_vi, feature=0)
    assert np.all(s_out >= 3 * s_in), (s_out, s_in)


@pytest.mark.xfail(
    strict=True,
    reason="known gap of mean-field VI: outside the support of c2 (which sets only the width) "
    "the spread grows by 2.1-2.6x, not 3x (measured inside 0.029, outside 0.072 and 0.060)",
)
def test_vi_spread_grows_outside_support_of_width_feature(trained_vi: Surrogate) -> None:
    """Outside the support of c2 (which sets only the width) the spread is >= 3x inside."""
    s_out, s_in = _spread_ratios(trained_vi, feature=1)
    assert np.all(s_out >= 3 * s_in), (s_out, s_in)


def test_mcmc_samples_diagnostics_and_finite_spread() -> None:
    """The MCMC surrogate stores its chains' samples (a Metropolis-Hastings chain may repeat a
    state, several chains never share one), records its diagnostics and has a finite,
    nonzero spread."""
    c, x = closed_form(2000, seed=5)
    cfg = TrainConfig(
        hidden=16,
        depth=2,
        cond_hidden=16,
        cond_depth=1,
        epochs=5,
        batch_size=256,
        draws=16,
        mcmc_thin=3,
    )
    s, report = train_surrogate(c, x, feature_names=["c1", "c2"], bayes="mcmc", config=cfg)
    assert s.bayes == "mcmc" and 0.0 < report.mcmc_acceptance <= 1.0
    diagnostics = report.bayes_diagnostics()
    assert diagnostics["chains"] == 4 and diagnostics["samples_per_chain"] == 4
    assert sorted(diagnostics["sampled_weights"]) == ["out_b", "out_w"]
    assert np.isfinite(diagnostics["weights"]["ess_median"])
    w = s.weights.draws(16)
    flat = torch.cat([v.reshape(16, -1) for v in w.values()], dim=1)
    assert len({tuple(r.tolist()) for r in flat}) >= 4  # at least one state per chain
    spread = s(c[:200], draws=16).spread([0.0])
    assert torch.isfinite(spread).all() and float(spread.max()) > 0


def _median_spread(model: Surrogate, c: np.ndarray) -> np.ndarray:
    """Std over 20 weight draws of the conditional median (score space), per object."""
    return model(c, draws=20).quantile([0.5])[..., 0].numpy().std(0)


@pytest.mark.parametrize("method", ["vi", "mcmc"])
@pytest.mark.parametrize("feature", [0, 1], ids=["location-feature", "width-feature"])
def test_median_spread_grows_outside_support(
    request: pytest.FixtureRequest, method: str, feature: int
) -> None:
    """In score space the spread of the conditional median grows >= 3x outside the support
    of either feature. Measured, VI: inside 0.049; outside 0.39 and 0.34 (location feature,
    8.0x and 7.0x), 0.48 and 0.42 (width feature, 9.8x and 8.7x); AdamMCMC: 7.7x and 4.5x,
    8.9x and 7.9x. Beyond the width feature's support the distribution itself is wider,
    which dilutes the spread of a *probability* (the xfail above): the surrogate's
    uncertainty does grow there, the probability metric hides it."""
    model = request.getfixturevalue(f"trained_{method}")
    inside = np.random.default_rng(22).uniform(-1.5, 1.5, size=(100, 2))
    hi, lo = model.feature_high.numpy(), model.feature_low.numpy()
    std = model.feature_std.numpy()
    outside = np.zeros((2, 2))
    outside[0, feature] = hi[feature] + 3 * std[feature]
    outside[1, feature] = lo[feature] - 3 * std[feature]
    s_in = float(np.mean(_median_spread(model, inside)))
    s_out = _median_spread(model, outside)
    assert np.all(s_out >= 3 * s_in), (s_out, s_in)


def test_mcmc_spread_grows_outside_support_of_location_feature(trained_mcmc: Surrogate) -> None:
    """AdamMCMC: P(x > mu(c)) spreads >= 3x more beyond c1's support (measured 8.3x, 4.8x;
    beyond c2's it is 2.1x and 1.8x, the same dilution as for VI)."""
    s_out, s_in = _spread_ratios(trained_mcmc, feature=0)
    assert np.all(s_out >= 3 * s_in), (s_out, s_in)
