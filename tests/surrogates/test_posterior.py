"""The output-layer posterior's stages on cases with a known answer.

* the Hessian from weight-proportional rows estimates the exact weighted Hessian of the
  whole set (heavy rows not left to chance);
* the mode search ends where the whole-set gradient vanishes (Newton decrement < 0.01);
* the temperature fit returns T = 1 for a surrogate whose cells are already calibrated, and
  for a biased one the T at which the held-out pull RMS is measured to be 1; a larger bias
  needs a larger T;
* the bootstrap floor is the ratio of the refits' to the draws' variance of P (a known
  ratio is recovered, saturated points count for nothing), and training uses the larger of
  the cells' temperature and that floor without changing the cells' own.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from closed_form import closed_form

from surrotag.surrogates.errors import SurrogateInputError
from surrotag.surrogates.posterior import (
    OutputLayerPosterior,
    bootstrap_temperature,
    find_mode,
    fit_temperature,
)
from surrotag.surrogates.train import TrainConfig, train_surrogate


@pytest.fixture(scope="module")
def posterior() -> OutputLayerPosterior:
    """The output-layer posterior of a small point surrogate, with very unequal row weights."""
    c, x = closed_form(1500, seed=11)
    cfg = TrainConfig(hidden=16, depth=2, cond_hidden=16, cond_depth=1, epochs=4, batch_size=128)
    model, _ = train_surrogate(c, x, feature_names=["c1", "c2"], bayes="none", config=cfg)
    ct = model.standardise(torch.as_tensor(c, dtype=torch.float32))
    xt = (torch.as_tensor(x, dtype=torch.float32) - model.score_loc) / model.score_scale
    w = torch.as_tensor(
        np.random.default_rng(3).lognormal(0.0, 1.5, c.shape[0]), dtype=torch.float32
    )
    point = {k: v.detach() for k, v in model.weights.params.items()}
    names = [k for k in point if k.startswith("out")]
    return OutputLayerPosterior(model.field, point, names, (ct, xt, w), steps=4, prior_std=0.25)


def _exact_hessian(post: OutputLayerPosterior, theta: dict[str, torch.Tensor]) -> torch.Tensor:
    flat = torch.cat([v.reshape(-1) for v in theta.values()]).detach()

    def energy(vec: torch.Tensor) -> torch.Tensor:
        th, i = {}, 0
        for n, v in theta.items():
            th[n] = vec[i : i + v.numel()].reshape(v.shape)
            i += v.numel()
        return post._nll(th, slice(None)).sum() + post.prior(th).sum()

    return torch.autograd.functional.hessian(energy, flat).double()


def test_hessian_from_weight_proportional_rows_matches_the_weighted_whole_set(posterior) -> None:
    theta = {n: posterior.point[n].unsqueeze(0) for n in posterior.names}
    exact = _exact_hessian(posterior, theta)
    estimate = posterior.hessian(theta, 8000, torch.Generator().manual_seed(0))
    error = torch.linalg.matrix_norm(estimate - exact) / torch.linalg.matrix_norm(exact)
    assert float(error) < 0.1, float(error)


def test_mode_search_ends_where_the_whole_set_gradient_vanishes(posterior) -> None:
    theta = {n: posterior.point[n].unsqueeze(0) for n in posterior.names}
    mode, hess, history = find_mode(
        posterior, theta, adam_steps=100, newton_steps=8, hessian_rows=4000,
        generator=torch.Generator().manual_seed(1),
    )  # fmt: skip
    grad = posterior.gradient(mode)
    decrement = float(grad @ torch.linalg.solve(_exact_hessian(posterior, mode), grad))
    assert decrement < 0.05, (decrement, history)
    assert float(torch.linalg.eigvalsh(hess).min()) > 0
    energies = [h["energy"] for h in history]
    assert energies == sorted(energies, reverse=True)  # never uphill


def _cells_case(bias: float, spread: float, seed: int):
    """Rows with a true tag probability; K draws = truth + bias + sqrt(T) * spread * eps_k."""
    rng = np.random.default_rng(seed)
    n, k = 40_000, 32
    c = np.column_stack([rng.uniform(0, 1, n), rng.integers(0, 2, n).astype(float)])
    p_true = np.column_stack([0.2 + 0.5 * c[:, 0], 0.1 + 0.3 * c[:, 0] + 0.2 * c[:, 1]])
    passed = rng.uniform(size=p_true.shape) < p_true
    eps = np.random.default_rng(seed + 1).normal(size=(k, 1, 1))

    def draws_at(t: float) -> np.ndarray:
        return np.clip(p_true[None] + bias * c[None, :, :1] + math.sqrt(t) * spread * eps, 0, 1)

    return draws_at, passed, c, np.ones(n)


def test_temperature_is_one_for_a_calibrated_surrogate() -> None:
    fit = fit_temperature(*_cells_case(bias=0.0, spread=1e-3, seed=5))
    assert fit.temperature == 1.0 and fit.pull_rms_at_1 < 1.3, fit


def test_temperature_makes_the_held_out_pull_rms_one_and_grows_with_the_bias() -> None:
    small = fit_temperature(*_cells_case(bias=0.03, spread=2e-3, seed=6))
    large = fit_temperature(*_cells_case(bias=0.09, spread=2e-3, seed=6))
    for fit in (small, large):
        assert fit.pull_rms_at_1 > 2.0 and abs(fit.pull_rms - 1.0) < 0.1, fit
    assert large.temperature > 4 * small.temperature, (small, large)


def test_bootstrap_temperature_is_the_variance_ratio_and_ignores_saturated_points() -> None:
    """Refits scattered 3x as widely as the draws give T = 9 (Monte Carlo error 1.3% from two
    refits at 12,000 points); 1,500 points where P saturates at 0 change nothing."""
    rng = np.random.default_rng(41)
    truth = rng.uniform(0.2, 0.8, (4000, 3))
    refits = truth + 0.03 * rng.standard_normal((2, *truth.shape))
    draws = truth + 0.01 * rng.standard_normal((16, *truth.shape))
    fit = bootstrap_temperature(refits, draws)
    assert abs(fit.temperature / 9.0 - 1) < 0.05, fit
    assert fit.fits == 2 and fit.points == truth.size
    assert abs(fit.bootstrap_sd / 0.03 - 1) < 0.03 and abs(fit.posterior_sd / 0.01 - 1) < 0.03
    with_saturated = bootstrap_temperature(
        np.concatenate([refits, np.zeros((2, 500, 3))], axis=1),
        np.concatenate([draws, np.zeros((16, 500, 3))], axis=1),
    )
    assert with_saturated.temperature == pytest.approx(fit.temperature, rel=1e-12)


@pytest.mark.parametrize(
    ("refits", "draws", "match"),
    [
        (np.zeros((1, 10, 1)), np.ones((4, 10, 1)), ">= 2 refits"),
        (np.zeros((2, 10, 1)), np.ones((4, 10, 2)), "same points"),
        (np.random.default_rng(0).random((2, 10, 1)), np.ones((4, 10, 1)), "do not move P"),
    ],
    ids=["one-refit", "other-points", "degenerate-draws"],
)
def test_bootstrap_temperature_refuses_what_it_cannot_compare(refits, draws, match) -> None:
    with pytest.raises(SurrogateInputError, match=match):
        bootstrap_temperature(refits, draws)


def test_training_takes_the_larger_of_the_cells_and_the_bootstrap_temperature() -> None:
    """The refits have their own generators: without them the cells' temperature (and every
    stage before the chains) is the same; with them the used T is the larger of the two; a
    given temperature fits no refits."""
    c, x = closed_form(2000, seed=17)
    cfg = TrainConfig(
        hidden=16, depth=2, cond_hidden=16, cond_depth=1, epochs=5, batch_size=256, draws=8,
        mcmc_thin=1, mcmc_adam_steps=50, mcmc_hessian_rows=2048,
    )  # fmt: skip
    events: list[dict] = []
    _, report = train_surrogate(
        c, x, feature_names=["c1", "c2"], bayes="mcmc", config=cfg, progress=events.append
    )
    assert [e["fit"] for e in events if e.get("stage") == "bootstrap"] == [1, 2]
    calibration = report.mcmc["temperature_calibration"]
    boot = calibration["bootstrap"]
    assert boot["fits"] == 2 and boot["bootstrap_sd"] > 0 and boot["posterior_sd"] > 0
    assert report.mcmc["temperature"] == max(calibration["temperature"], boot["temperature"])
    _, plain = train_surrogate(
        c, x, feature_names=["c1", "c2"], bayes="mcmc",
        config=replace(cfg, mcmc_bootstrap_fits=0),
    )  # fmt: skip
    assert "bootstrap" not in plain.mcmc["temperature_calibration"]
    assert plain.mcmc["temperature_calibration"]["temperature"] == calibration["temperature"]
    events.clear()
    _, given = train_surrogate(
        c, x, feature_names=["c1", "c2"], bayes="mcmc",
        config=replace(cfg, mcmc_temperature=2.0), progress=events.append,
    )  # fmt: skip
    assert given.mcmc["temperature"] == 2.0 and given.mcmc["temperature_calibration"] is None
    assert not [e for e in events if e.get("stage") == "bootstrap"]  # no refits to fit
    with pytest.raises(SurrogateInputError, match="mcmc_bootstrap_fits=1"):
        train_surrogate(
            c, x, feature_names=["c1", "c2"], bayes="mcmc",
            config=replace(cfg, mcmc_bootstrap_fits=1),
        )  # fmt: skip


@pytest.mark.parametrize(
    ("settings", "match"),
    [({"draws": 6}, "not a multiple of mcmc_chains"), ({"mcmc_bootstrap_fits": -1}, "use 0")],
    ids=["draws-per-chain", "negative-refits"],
)
def test_bad_sampler_settings_stop_before_any_training(settings, match) -> None:
    """Refused at once, with no flow fitted first (no epoch reaches the progress callback)."""
    c, x = closed_form(200, seed=3)
    events: list[dict] = []
    with pytest.raises(SurrogateInputError, match=match):
        train_surrogate(
            c, x, feature_names=["c1", "c2"], bayes="mcmc",
            config=TrainConfig(epochs=2, **settings), progress=events.append,
        )  # fmt: skip
    assert events == []
