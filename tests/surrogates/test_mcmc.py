"""Samplers and Bayesian weights on targets with a known answer.

* independence Metropolis-Hastings chains recover the mean and covariance of a correlated
  2-D Gaussian within Monte Carlo error (errors from the chains' own effective sample size)
  from a proposal that is off-centre and of the wrong shape, and their spread does not
  follow the proposal's width;
* the diagnostics give the known autocorrelation time of an AR(1) process, R-hat near 1 for
  mixed chains and far above it for chains stuck apart, and sqrt(lag) growth for a random walk;
* mean-field VI (:class:`MeanFieldWeights`, the surrogate's ``vi`` method) recovers the
  closed-form answer of Bayesian linear regression: the exact posterior mean and the
  marginal widths ``1 / sqrt(Lambda_ii)`` (the mean-field optimum for a Gaussian posterior);
* the discretised flow's log-likelihood is a normalised density that agrees with the
  continuous change of variables.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from surrotag.surrogates import Surrogate
from surrotag.surrogates.bayes import MeanFieldWeights
from surrotag.surrogates.diagnostics import (
    chain_diagnostics,
    effective_sample_size,
    lag_distances,
    split_rhat,
)
from surrotag.surrogates.errors import SurrogateError
from surrotag.surrogates.likelihood import flow_log_likelihood
from surrotag.surrogates.mcmc import SamplerSettings, independence_mh

MU = torch.tensor([1.0, -2.0], dtype=torch.float64)
SD = torch.tensor([2.0, 0.3], dtype=torch.float64)
RHO = 0.8
COV = torch.outer(SD, SD) * torch.tensor([[1.0, RHO], [RHO, 1.0]], dtype=torch.float64)


def _gaussian_energy(theta: dict[str, torch.Tensor]) -> torch.Tensor:
    d = theta["x"] - MU
    return 0.5 * torch.einsum("ci,ij,cj->c", d, torch.linalg.inv(COV), d)


def _chains(centre: list[float], sd: float, scale: float, seed: int) -> tuple[np.ndarray, list]:
    """Independence MH on the correlated Gaussian with a wrong, isotropic proposal."""
    precision = torch.eye(2, dtype=torch.float64) / sd**2
    result = independence_mh(
        {"x": torch.tensor(centre, dtype=torch.float64)},
        precision,
        _gaussian_energy,
        settings=SamplerSettings(chains=4, burn_in=20, samples=1500, thin=2, proposal_scale=scale),
        generator=torch.Generator().manual_seed(seed),
    )
    return result.samples["x"].numpy(), result.acceptance


def test_independence_mh_recovers_correlated_gaussian_from_a_wrong_proposal() -> None:
    """The proposal (centred 0.5 off, isotropic, 1.5x the widest width) is corrected by MH."""
    x, acceptance = _chains([1.5, -2.2], 3.0, 1.0, seed=11)
    flat = x.reshape(-1, 2)
    ess = np.atleast_1d(effective_sample_size(x))
    assert (ess > 300).all(), ess
    err = SD.numpy() / np.sqrt(ess)  # Monte Carlo standard error of the mean
    assert (np.abs(flat.mean(0) - MU.numpy()) < 4 * err).all(), (flat.mean(0), err)
    cov = np.cov(flat.T)
    rel = np.sqrt(2 / ess)  # relative Monte Carlo error of a variance
    assert (np.abs(np.diag(cov) / np.diag(COV.numpy()) - 1) < 4 * rel).all(), cov
    corr = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
    assert abs(corr - RHO) < 4 * (1 - RHO**2) / np.sqrt(ess.min()), corr
    assert float(np.max(split_rhat(x))) < 1.02
    assert all(0.02 < a < 0.9 for a in acceptance), acceptance


def test_spread_follows_the_target_not_the_proposal() -> None:
    """A proposal twice as wide changes the acceptance, not the spread of the samples."""
    spreads, accept = [], []
    for scale in (1.0, 2.0):
        x, acceptance = _chains([1.0, -2.0], 2.5, scale, seed=5)
        spreads.append(x.reshape(-1, 2).std(0))
        accept.append(np.mean(acceptance))
    for s in spreads:
        assert np.allclose(s, SD.numpy(), rtol=0.15), s
    assert accept[1] < accept[0]


def test_sampler_settings_and_energy_shape_are_checked() -> None:
    with pytest.raises(SurrogateError, match="chains"):
        SamplerSettings(chains=0)
    with pytest.raises(SurrogateError, match="energy returned shape"):
        independence_mh(
            {"x": torch.zeros(2)},
            torch.eye(2),
            lambda theta: theta["x"].sum(),
            settings=SamplerSettings(chains=2, burn_in=0, samples=1, thin=1),
        )
    with pytest.raises(SurrogateError, match="positive definite"):
        independence_mh({"x": torch.zeros(2)}, -torch.eye(2), _gaussian_energy)


def test_diagnostics_on_known_processes() -> None:
    rng = np.random.default_rng(2)
    phi, chains, n = 0.8, 4, 5000
    x = np.zeros((chains, n))
    noise = rng.normal(size=(chains, n))
    for i in range(1, n):
        x[:, i] = phi * x[:, i - 1] + noise[:, i]
    expected = chains * n * (1 - phi) / (1 + phi)
    assert abs(effective_sample_size(x) / expected - 1) < 0.2
    assert split_rhat(x) < 1.01
    stuck = rng.normal(size=(4, 200)) + np.array([0.0, 0.0, 3.0, 3.0])[:, None]
    assert split_rhat(stuck) > 1.5
    walk = np.cumsum(rng.normal(size=(4, 256, 30)), axis=1)
    d = lag_distances(walk, [1, 4, 16, 64])
    assert 6 < d[64] / d[1] < 10  # sqrt(64) = 8
    iid = chain_diagnostics(rng.normal(size=(4, 50, 30)))
    assert iid.lag_distance_ratio < 1.1 and iid.rhat_max < 1.1 and iid.ess_median > 150


def test_vi_recovers_bayesian_linear_regression() -> None:
    """Mean-field VI on y = X beta + noise: exact mean, widths 1/sqrt(Lambda_ii)."""
    gen = torch.Generator().manual_seed(0)
    n, noise, prior = 40, 0.5, 1.0
    x = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    x[:, 2] = 0.6 * x[:, 0] + 0.8 * x[:, 2]  # correlated design: a non-diagonal posterior
    y = x @ torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64) + noise * torch.randn(
        n, generator=gen, dtype=torch.float64
    )
    precision = x.T @ x / noise**2 + torch.eye(3, dtype=torch.float64) / prior**2
    mean = torch.linalg.solve(precision, x.T @ y / noise**2)
    q = MeanFieldWeights({"beta": (3,)}, prior_std=prior, init_std=0.1).double()
    opt = torch.optim.Adam(q.parameters(), lr=0.02)
    for step in range(3000):
        beta = q.draws(64, gen)["beta"]  # [64, 3]
        nll = 0.5 * (((beta @ x.T) - y) ** 2).sum(1).mean() / noise**2
        loss = nll + q.kl()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 2000:
            for g in opt.param_groups:
                g["lr"] = 0.002
    mu = q.mu["beta"].detach()
    std = torch.nn.functional.softplus(q.rho["beta"]).detach()
    exact_std = precision.diagonal().rsqrt()
    assert torch.allclose(mu, mean, atol=0.1 * float(exact_std.min())), (mu, mean)
    assert torch.allclose(std, exact_std, rtol=0.05), (std, exact_std)


@torch.no_grad()
def test_flow_log_likelihood_is_normalised_and_matches_change_of_variables() -> None:
    s = Surrogate(["a", "b"], hidden=16, depth=2, cond_hidden=16, cond_depth=1, seed=1)
    c = torch.randn(3, 2, generator=torch.Generator().manual_seed(1))
    w = s.weights.mean()
    std = s.standardise(c)
    grid = torch.linspace(-8, 8, 1601)
    for i in range(3):
        lp = flow_log_likelihood(s.field, w, std[i : i + 1].expand(len(grid), -1), grid, 16)
        assert math.isclose(float(lp.exp().sum() * (grid[1] - grid[0])), 1.0, abs_tol=1e-3)
    ref = s(c, steps=64).log_prob(torch.full((3, 1), 0.3))[0, :, 0]
    ours = flow_log_likelihood(s.field, w, std, torch.full((3,), 0.3), 32)[0]
    assert torch.allclose(ours, ref, atol=1e-4)


def test_flow_log_likelihood_is_differentiable_in_the_weights() -> None:
    s = Surrogate(["a"], hidden=8, depth=2, cond_hidden=8, cond_depth=1, seed=2)
    w = {k: v.clone().requires_grad_(True) for k, v in s.weights.mean().items()}
    lp = flow_log_likelihood(s.field, w, torch.randn(20, 1), torch.randn(20), 4).sum()
    grads = torch.autograd.grad(lp, list(w.values()))
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
