"""The exact posterior of the velocity field's output layer: mode, temperature, samples.

A partially Bayesian surrogate (arXiv:2002.10118): every weight outside ``mcmc_weights``
stays at the flow-matching optimum; the sampled ones (by default the trunk's output layer,
``hidden + 1`` weights) get the posterior

    pi_T(theta) ∝ [exp(-sum_i w_i NLL_i(theta)) N(theta; 0, sigma_prior^2)]^(1 / T),

with ``NLL_i`` the exact negative log-likelihood of the RK4 flow
(:mod:`surrotag.surrogates.likelihood`) and ``w_i`` the event weights scaled to sum to the
effective number of rows. Stages (:func:`sample_output_layer`):

1. **mode**: minibatch Adam on the exact likelihood (rows drawn in proportion to their
   weight), then damped Newton steps on the whole-set energy until the Newton decrement
   ``g^T H^-1 g`` (twice the energy still to gain) is below 0.01;
2. **Laplace precision** ``H``: the exact Hessian on ``mcmc_hessian_rows`` rows drawn in
   proportion to their weight (so that a weighted sample of pTHat-biased events gives a
   Hessian of that many effective rows, not of a handful of heavy ones), scaled to the set;
3. **temperature** ``T`` (``mcmc_temperature=None``): the posterior of one layer, the others
   held fixed, is too narrow to cover the surrogate's actual error (the closed-form study
   measured pull RMS 3.4-5.0 at T = 1). ``T`` is the smallest value >= 1 at which the cells
   of the held-out validation rows (truth categories x quantile bins of each continuous
   feature, at five score thresholds) have pull RMS 1, with the validation's pull
   ``(eps_S - eps_T) / sqrt(sigma_T^2 + sigma_Bayes^2)``, every row counted once (the
   surrogate models p(score | features), which event weights of the features' sampling do
   not change; unit weights give the test its full power, as the validation has).
   Tempering the whole posterior keeps its mode and scales its covariance by ``T`` (a warm
   posterior; on tempered posteriors see Wenzel et al., arXiv:2002.02405). The cells cannot
   see an error smaller than their binomial noise, so ``T`` is at least the
   :func:`bootstrap_temperature`: the value at which the posterior's spread of P on the
   held-out rows matches the disagreement of flows refitted on bootstrap resamples. The
   held-out rows take no part in the likelihood, and the validation of a shipped surrogate
   uses another split;
4. **samples**: independence Metropolis-Hastings chains on the exact tempered energy with the
   proposal ``N(mode, T H^-1)`` (:func:`surrotag.surrogates.mcmc.independence_mh`).

References:
    MacKay, Neural Comput. 4 (1992) (Laplace); Kristiadi, Hein, Hennig, arXiv:2002.10118;
    Wenzel et al., arXiv:2002.02405; Tierney, Ann. Statist. 22 (1994) 1701; Efron, Ann.
    Statist. 7 (1979) 1 (the bootstrap); Newton, Raftery, J. R. Stat. Soc. B 56 (1994) 3
    (the weighted likelihood bootstrap as an approximate posterior); Bieringer et al.,
    arXiv:2402.15558 (a tempered posterior of the surrogate's weights).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .errors import SurrogateInputError
from .likelihood import flow_log_likelihood
from .ode import rk4

__all__ = [
    "CALIBRATION_LEVELS",
    "BootstrapTemperature",
    "OutputLayerPosterior",
    "TemperatureFit",
    "bootstrap_temperature",
    "calibration_cells",
    "exceedance",
    "find_mode",
    "fit_temperature",
    "sampled",
    "unflatten",
]

#: Score quantiles (of the held-out rows) whose exceedance probabilities calibrate ``T``.
CALIBRATION_LEVELS = (0.5, 0.7, 0.8, 0.9, 0.95)
#: Fewest effective rows, and expected passing and failing rows, of a calibration cell.
MIN_CELL_ROWS, MIN_CELL_EXPECTED = 20.0, 5.0
#: Largest temperature tried.
MAX_TEMPERATURE = 1e6
#: Rows x chains per chunk of the whole-set energy (bounds memory, keeps matmuls large).
ENERGY_CHUNK = 16_384


def sampled(name: str, groups: tuple[str, ...]) -> bool:
    """Whether weight ``name`` belongs to the sampled groups (name prefixes, or ``"all"``)."""
    return "all" in groups or any(name.startswith(g) for g in groups)


class OutputLayerPosterior:
    """The exact (tempered) posterior of a subspace of the weights, the others fixed.

    ``U_T(theta) = [sum_i w_i NLL_i(theta) + |theta|^2 / (2 sigma_prior^2)] / T`` over the
    whole training set (chunked).

    Args:
        field: The surrogate's velocity field.
        point: Every weight at the flow-matching optimum, name -> tensor (no draw axis).
        names: The sampled weights (a subset of ``point``).
        train: ``(c [N, F], x [N], w [N])`` standardised features, scores and row weights.
        steps: RK4 steps of the likelihood.
        prior_std: ``sigma_prior``.
        chains: Chains evaluated together (sets the chunk size).
    """

    def __init__(
        self,
        field: Any,
        point: dict[str, torch.Tensor],
        names: list[str],
        train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        *,
        steps: int,
        prior_std: float,
        chains: int = 4,
    ) -> None:
        self.field, self.point, self.names = field, point, names
        self.c, self.x, self.w = train
        self.steps, self.prior_std, self.chains = steps, prior_std, chains
        self.temperature = 1.0

    def full(self, theta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every weight with the draw axis of ``theta``: sampled ones from it, others fixed."""
        k = theta[self.names[0]].shape[0]
        return {n: theta.get(n, v.expand(k, *v.shape)) for n, v in self.point.items()}

    def _nll(self, theta: dict[str, torch.Tensor], rows: slice | torch.Tensor) -> torch.Tensor:
        lp = flow_log_likelihood(
            self.field, self.full(theta), self.c[rows], self.x[rows], self.steps
        )
        return -(lp.double() * self.w[rows].double()).sum(1)

    def prior(self, theta: dict[str, torch.Tensor]) -> torch.Tensor:
        """``|theta|^2 / (2 sigma_prior^2)`` per draw (untempered)."""
        sq = sum((theta[n].double() ** 2).flatten(1).sum(1) for n in self.names)
        return sq / (2 * self.prior_std**2)

    def _chunks(self) -> list[slice]:
        n, size = self.c.shape[0], max(1, ENERGY_CHUNK // self.chains)
        return [slice(i, min(i + size, n)) for i in range(0, n, size)]

    @torch.no_grad()
    def energy(self, theta: dict[str, torch.Tensor]) -> torch.Tensor:
        """``U_T`` [C] of weights with a chain axis (the whole training set)."""
        nll = sum(self._nll(theta, r) for r in self._chunks())
        return (nll + self.prior(theta)) / self.temperature

    def gradient(self, theta: dict[str, torch.Tensor]) -> torch.Tensor:
        """``dU_1 / dtheta`` [D] of one weight set (draw axis of size 1), whole set."""
        th = {n: v.detach().requires_grad_(True) for n, v in theta.items()}
        total = torch.autograd.grad(self.prior(th).sum(), list(th.values()))
        flat = torch.cat([g.reshape(-1) for g in total]).double()
        for rows in self._chunks():
            grads = torch.autograd.grad(self._nll(th, rows).sum(), list(th.values()))
            flat = flat + torch.cat([g.reshape(-1) for g in grads]).double()
        return flat

    def weighted_rows(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` row indices drawn with replacement in proportion to the row weights."""
        return torch.multinomial(self.w.double().cpu(), n, replacement=True, generator=generator)

    def hessian(
        self, theta: dict[str, torch.Tensor], rows: int, generator: torch.Generator
    ) -> torch.Tensor:
        """``d2U_1 / dtheta2`` [D, D] from ``rows`` weight-proportional rows, scaled to the set.

        Rows drawn in proportion to ``w`` and counted once each estimate ``sum_i w_i H_i``
        without the variance of a few heavy rows: ``sum_i w_i H_i ~ (sum w / n) sum_j H_j``.
        """
        th = {n: v.detach().requires_grad_(True) for n, v in theta.items()}
        params = list(th.values())
        idx = self.weighted_rows(rows, generator).to(self.c.device)
        scale = float(self.w.sum()) / rows
        size = max(1, ENERGY_CHUNK // self.chains)
        hess = self._second_derivatives(self.prior(th).sum(), params)
        for i in range(0, rows, size):  # one chunk's graph at a time (bounds the memory)
            part = idx[i : i + size]
            lp = flow_log_likelihood(
                self.field, self.full(th), self.c[part], self.x[part], self.steps
            )
            hess = hess + self._second_derivatives(-lp.double().sum() * scale, params)
        return (hess + hess.T) / 2

    @staticmethod
    def _second_derivatives(value: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
        """``d2 value / dparams2`` [D, D] (float64) by differentiating the gradient."""
        grads = torch.autograd.grad(value, params, create_graph=True)
        g = torch.cat([x.reshape(-1) for x in grads])
        rows = [torch.autograd.grad(gi, params, retain_graph=True) for gi in g]
        return torch.stack([torch.cat([h.reshape(-1) for h in r]) for r in rows]).double()

    def adam(
        self,
        theta: dict[str, torch.Tensor],
        steps: int,
        generator: torch.Generator,
        batch: int = 4096,
        lr: float = 1e-3,
    ) -> dict[str, torch.Tensor]:
        """Minibatch Adam on the exact likelihood (rows drawn in proportion to ``w``)."""
        th = {n: v.detach().clone().requires_grad_(True) for n, v in theta.items()}
        opt = torch.optim.Adam(list(th.values()), lr=lr)
        total = float(self.w.sum())
        for _ in range(steps):
            idx = self.weighted_rows(batch, generator).to(self.c.device)
            lp = flow_log_likelihood(
                self.field, self.full(th), self.c[idx], self.x[idx], self.steps
            )
            loss = (-lp.sum() * (total / batch) + self.prior(th).sum()) / total
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return {n: v.detach() for n, v in th.items()}


def _flat(theta: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.reshape(-1) for v in theta.values()]).double()


def unflatten(vec: torch.Tensor, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """[K, D] (or [D]) -> name -> [K, *shape] in the layout of ``like`` (draw axis kept)."""
    vec = vec.reshape(-1, vec.shape[-1])
    out, i = {}, 0
    for n, v in like.items():
        size = v[0].numel()
        out[n] = vec[:, i : i + size].reshape(vec.shape[0], *v.shape[1:]).to(v.dtype)
        i += size
    return out


def find_mode(
    post: OutputLayerPosterior,
    theta: dict[str, torch.Tensor],
    *,
    adam_steps: int,
    newton_steps: int,
    hessian_rows: int,
    generator: torch.Generator,
    progress: Callable[[dict], None] | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, list[dict]]:
    """The posterior mode of the sampled weights and the Hessian there.

    Returns:
        ``(mode (draw axis 1), Hessian [D, D] of U_1 at the mode, history)``; the history
        holds the energy and the Newton decrement of every step.
    """
    history: list[dict] = []
    if adam_steps:
        if progress is not None:
            progress({"stage": "adam", "steps": adam_steps})
        theta = post.adam(theta, adam_steps, generator)
    u = float(post.energy(theta)[0])
    history.append({"stage": "adam", "steps": adam_steps, "energy": u})
    floor = 1.0 / post.prior_std**2
    hess = post.hessian(theta, hessian_rows, generator)
    flat = _flat(theta)
    for it in range(newton_steps):
        smallest = float(torch.linalg.eigvalsh(hess).min())
        damped = hess + max(0.0, floor - smallest) * torch.eye(len(flat), dtype=hess.dtype)
        grad = post.gradient(theta)
        step = torch.linalg.solve(damped, grad)
        decrement = float(grad @ step)
        history.append({"stage": "newton", "step": it, "energy": u, "decrement": decrement})
        if progress is not None:
            progress({"stage": "mode", "step": it + 1, "energy": u, "decrement": decrement})
        if decrement < 0.01:
            break
        for _ in range(20):  # backtracking: never accept a higher energy
            trial = unflatten(flat - step, theta)
            u_trial = float(post.energy(trial)[0])
            if u_trial <= u:
                break
            step = step / 2
        else:
            break
        flat, theta, u = flat - step, trial, u_trial
    hess = post.hessian(theta, hessian_rows, generator)
    return theta, hess, history


def calibration_cells(c: np.ndarray, bins: int = 6, categorical: int = 8) -> list[np.ndarray]:
    """Cell index per row for each view: truth categories x quantile bins of one feature.

    Features with at most ``categorical`` distinct values are categories (their combination
    labels every row); each other feature gives one view of ``bins`` quantile bins within
    each category; one more view has the categories alone.

    Example:
        >>> c = np.column_stack([np.arange(12.0), np.repeat([0.0, 1.0], 6)])
        >>> [int(v.max()) + 1 for v in calibration_cells(c, bins=3)]
        [2, 6]
    """
    discrete = [j for j in range(c.shape[1]) if np.unique(c[:, j]).size <= categorical]
    _, category = (
        np.unique(c[:, discrete], axis=0, return_inverse=True)
        if discrete
        else (None, np.zeros(c.shape[0], dtype=np.int64))
    )
    category = np.asarray(category).reshape(-1)
    views = [category]
    for j in range(c.shape[1]):
        if j in discrete:
            continue
        edges = np.quantile(c[:, j], np.linspace(0, 1, bins + 1)[1:-1])
        views.append(category * bins + np.searchsorted(edges, c[:, j]))
    return views


@dataclass
class TemperatureFit:
    """The calibrated temperature and what it was calibrated on.

    Attributes:
        temperature: ``T`` (>= 1).
        pull_rms_at_1: Pull RMS of the held-out cells at ``T = 1``.
        pull_rms: Pull RMS at ``T``, measured with draws at ``T``.
        cells: Counted cells (views x thresholds).
        rows: Held-out rows used.
        iterations: ``(T, pull RMS)`` of every measurement.
    """

    temperature: float
    pull_rms_at_1: float
    pull_rms: float
    cells: int
    rows: int
    iterations: list[list[float]] = field(default_factory=list)


def _cell_terms(
    passed: np.ndarray, prob: np.ndarray, views: list[np.ndarray], w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per counted cell: eps_S - eps_T, sigma_T^2, sigma_Bayes^2 (all views, one threshold)."""
    diff, var_t, var_b = [], [], []
    k = prob.shape[0]
    pbar = prob.mean(0)
    for cell in views:
        n = int(cell.max()) + 1
        sum_w = np.bincount(cell, weights=w, minlength=n)
        sum_w2 = np.bincount(cell, weights=w * w, minlength=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            eps_t = np.bincount(cell, weights=w * passed, minlength=n) / sum_w
            offsets = (np.arange(k)[:, None] * n + cell[None, :]).ravel()
            sums = np.bincount(offsets, weights=(prob * w).ravel(), minlength=k * n)
            eps_k = sums.reshape(k, n) / sum_w
            sig_t = np.bincount(cell, weights=w * w * pbar * (1 - pbar), minlength=n) / sum_w**2
            n_eff = sum_w**2 / sum_w2
        expected = eps_k.mean(0) * n_eff
        ok = (n_eff >= MIN_CELL_ROWS) & (expected >= MIN_CELL_EXPECTED)
        ok &= (n_eff - expected) >= MIN_CELL_EXPECTED
        diff.append((eps_k.mean(0) - eps_t)[ok])
        var_t.append(sig_t[ok])
        var_b.append(eps_k.var(0, ddof=1)[ok])
    return np.concatenate(diff), np.concatenate(var_t), np.concatenate(var_b)


def fit_temperature(
    draws_at: Callable[[float], np.ndarray],
    passed: np.ndarray,
    c: np.ndarray,
    w: np.ndarray,
    iterations: int = 3,
) -> TemperatureFit:
    """Smallest ``T >= 1`` at which the held-out cells' pull RMS is 1.

    The spread of a cell's efficiency over draws grows like ``sqrt(T)`` while the draws stay
    in the linear regime of the network; the solve assumes that scaling from the last
    measurement and measures again at the new ``T`` (``iterations`` times).

    Args:
        draws_at: ``T -> P [K, N, L]``, exceedance probabilities of K posterior draws at
            temperature ``T`` for the held-out rows and the L thresholds.
        passed: [N, L] whether the tagger's score exceeds each threshold.
        c: [N, F] the rows' features (cells: :func:`calibration_cells`).
        w: [N] row weights.
        iterations: Measurements after the one at ``T = 1``.

    Returns:
        The :class:`TemperatureFit`.
    """
    views = calibration_cells(c)

    def terms(temperature: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        prob = draws_at(temperature)
        parts = [_cell_terms(passed[:, j], prob[:, :, j], views, w) for j in range(passed.shape[1])]
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))

    def rms(d: np.ndarray, vt: np.ndarray, vb: np.ndarray) -> float:
        return float(np.sqrt(np.mean(d**2 / np.maximum(vt + vb, 1e-300))))

    d, vt, vb = terms(1.0)
    if d.size == 0:
        raise SurrogateInputError(
            "no held-out cell has enough rows to calibrate the posterior temperature: train on "
            "more rows or pass mcmc_temperature"
        )
    at_one = rms(d, vt, vb)
    temperature, measured, history = 1.0, at_one, [[1.0, at_one]]
    for _ in range(iterations):
        if measured <= 1.0 and temperature == 1.0:
            break
        base = temperature

        def scaled(t: float, base: float = base, d=d, vt=vt, vb=vb) -> float:
            return rms(d, vt, vb * t / base)

        lo, hi = 1.0, MAX_TEMPERATURE
        if scaled(hi) > 1.0:
            temperature = hi
        else:
            for _ in range(100):  # bisection in log T: the pull RMS falls with T
                mid = math.sqrt(lo * hi)
                lo, hi = (mid, hi) if scaled(mid) > 1.0 else (lo, mid)
            temperature = hi
        d, vt, vb = terms(temperature)
        measured = rms(d, vt, vb)
        history.append([temperature, measured])
    return TemperatureFit(temperature, at_one, measured, int(d.size), int(passed.shape[0]), history)


@dataclass
class BootstrapTemperature:
    """The temperature at which the posterior's spread matches bootstrap refits' disagreement.

    Attributes:
        temperature: ``T_boot`` (any positive value; the calibration keeps ``T >= 1``).
        fits: Bootstrap refits compared.
        bootstrap_sd: RMS over held-out rows and thresholds of the refits' standard deviation
            of P.
        posterior_sd: The same of the posterior draws at ``T = 1``.
        points: Rows x thresholds counted.
    """

    temperature: float
    fits: int
    bootstrap_sd: float
    posterior_sd: float
    points: int


def bootstrap_temperature(refits: np.ndarray, draws: np.ndarray) -> BootstrapTemperature:
    """``T`` at which the posterior variance of P equals the refits' variance, summed over points.

    A posterior of the output layer with every other weight held at its optimum cannot see
    how far those weights, fitted to this one sample, are from where another sample would
    put them; held-out cells cannot see an error smaller than their own binomial noise
    (the closed-form study: pull RMS 4.4 at 1e4 rows with the cells at T = 1). Flows
    refitted on bootstrap resamples with fresh initialisations differ by what the data
    and the optimiser leave undetermined, and their disagreement is measured at any number
    of points without noise from the tagger's decisions. With the spread growing as
    ``sqrt(T)`` (the linear regime, as in :func:`fit_temperature`),

        T_boot = sum_points var_refits(P) / sum_points var_draws(P) at T = 1,

    a ratio of sums, so that points where P saturates (both variances vanish) carry no
    weight. A bias that every refit shares (too few epochs, too small a network) is not
    seen: train to convergence.

    Args:
        refits: [B, N, L] P of B >= 2 refits at N held-out rows and L thresholds.
        draws: [K, N, L] P of K >= 2 posterior draws at ``T = 1`` at the same points.

    Returns:
        The :class:`BootstrapTemperature`.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> refits = 0.5 + 0.02 * rng.standard_normal((2, 5000, 1))
        >>> draws = 0.5 + 0.01 * rng.standard_normal((16, 5000, 1))
        >>> round(bootstrap_temperature(refits, draws).temperature)  # (0.02 / 0.01)^2
        4
    """
    refits, draws = np.asarray(refits, dtype=np.float64), np.asarray(draws, dtype=np.float64)
    if refits.shape[0] < 2 or draws.shape[0] < 2 or refits.shape[1:] != draws.shape[1:]:
        raise SurrogateInputError(
            f"bootstrap temperature needs >= 2 refits and >= 2 draws at the same points, got "
            f"refits {refits.shape} and draws {draws.shape}"
        )
    var_boot, var_post = refits.var(0, ddof=1), draws.var(0, ddof=1)
    if not var_post.sum() > 0:
        raise SurrogateInputError(
            "the posterior draws do not move P at any held-out row: the Laplace precision is "
            "degenerate; pass mcmc_temperature or sample other weights"
        )
    return BootstrapTemperature(
        temperature=float(var_boot.sum() / var_post.sum()),
        fits=int(refits.shape[0]),
        bootstrap_sd=float(np.sqrt(var_boot.mean())),
        posterior_sd=float(np.sqrt(var_post.mean())),
        points=int(var_boot.size),
    )


def exceedance(
    field: Any,
    weights: dict[str, torch.Tensor],
    c: torch.Tensor,
    levels: torch.Tensor,
    steps: int = 16,
    chunk: int = 4096,
) -> np.ndarray:
    """``P(x > level | c)`` [K, N, L] under K weight draws (backward RK4 solve, exact)."""
    out = []
    with torch.no_grad():
        for i in range(0, c.shape[0], chunk):
            hc = field.condition(weights, c[i : i + chunk])
            k, n = hc.shape[0], hc.shape[1]
            y = levels.view(1, 1, -1).expand(k, n, -1).contiguous()
            z = rk4(lambda t, x, hc=hc: field(weights, x, t, hc), y, 1.0, 0.0, steps)
            out.append(0.5 * torch.erfc(z / math.sqrt(2.0)))
    return torch.cat(out, dim=1).double().cpu().numpy()
