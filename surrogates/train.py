"""Conditional flow matching training of a :class:`~surrotag.surrogates.flow.Surrogate`.

Straight path ``x_t = (1 - t) x0 + t x1`` with target velocity ``x1 - x0``, ``x0 ~ N(0, 1)``
drawn *independently* of the data (no minibatch optimal-transport pairing: OT pairing ignores
the conditioning c and would bias p(score | c)). Event weights enter every loss as
per-row weights. Bayesian methods:

* ``none``: Adam on the MSE.
* ``vi``: one weight draw per minibatch; per-example loss ``MSE + kl_weight * KL / N_train``
  with the KL differentiated (not detached).
* ``mcmc``: Adam optimisation as for ``none``; then, for the velocity field's output layer
  (``mcmc_weights``), the exact posterior whose energy is the flow's negative
  log-likelihood on the whole training set (:mod:`surrotag.surrogates.likelihood`) plus a
  Gaussian prior, at a temperature calibrated on held-out cells and floored by the
  disagreement of flows refitted on bootstrap resamples, sampled by several
  independence Metropolis-Hastings chains with a Laplace proposal
  (:mod:`surrotag.surrogates.posterior`, :mod:`surrotag.surrogates.mcmc`); acceptance,
  effective sample size, split-R-hat and lag distances are recorded.

Validation loss on a held-out fraction with fixed noise and times; early stopping keeps the
best epoch. Training is seeded: same data, config and seed give the same model on one device.

References:
    Lipman et al., arXiv:2210.02747; Tong et al., arXiv:2302.00482; Bieringer et al.,
    arXiv:2402.15558; Blundell et al., arXiv:1505.05424; Bieringer et al., arXiv:2312.14027.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from .bayes import METHODS, MeanFieldWeights, SampleStack
from .diagnostics import chain_diagnostics
from .errors import SurrogateInputError
from .flow import Surrogate
from .mcmc import SamplerSettings, independence_mh
from .posterior import (
    CALIBRATION_LEVELS,
    OutputLayerPosterior,
    bootstrap_temperature,
    exceedance,
    find_mode,
    fit_temperature,
    sampled,
    unflatten,
)
from .solver_choice import STEP_CHOICES, THRESHOLD_LEVELS, choose_solver
from .support import fit_support
from .threads import intra_op_threads

__all__ = [
    "TrainConfig",
    "TrainReport",
    "cfm_loss",
    "train_surrogate",
]


@dataclass
class TrainConfig:
    """Training settings.

    Attributes:
        hidden: Width of the velocity trunk (evaluated at every solver stage).
        depth: Hidden SiLU layers of the trunk.
        cond_hidden: Width of the conditioner MLP (evaluated once per object).
        cond_depth: Hidden SiLU layers of the conditioner.
        n_freq: Time-embedding frequency pairs.
        epochs: Maximum number of epochs.
        batch_size: Minibatch size.
        lr: Adam learning rate (cosine-annealed to lr/20 over ``epochs``).
        patience: Epochs without validation improvement before stopping.
        seed: Seed of initialisation, splits, noise and weight draws.
        draws: Default number of weight draws (vi) / number of stored samples (mcmc).
        device: ``"cpu"`` or ``"cuda"``.
        val_fraction: Fraction of rows held out for validation.
        prior_std: Gaussian prior width of the weights (vi).
        init_std: Initial posterior width of every weight (vi). Small (1e-3), so that training
            widens the weights the data leave free instead of having to narrow every weight
            from a noisy start (which leaves a large in-distribution spread).
        kl_weight: Multiplier of KL / N_train in the VI loss (1 = the ELBO).
        mcmc_chains: Independent chains; ``draws`` must be a multiple of it (each chain
            stores ``draws / mcmc_chains`` samples).
        mcmc_burn_in: Proposals per chain before the first stored sample.
        mcmc_thin: Proposals between stored samples.
        mcmc_proposal_scale: ``s``: the proposal covariance is ``s^2 T H^-1`` (a little
            wider than the Laplace approximation, so that its tails cover the target's; in
            D dimensions a Gaussian target costs a log-weight spread of
            ``sqrt(D / 2) (s^2 - 1)``: 0.6 at D = 65, s = 1.05; 1.2 at s = 1.1).
        mcmc_temperature: Posterior temperature T: the posterior is raised to the power 1/T
            (1: the Bayesian posterior of the sampled layer; larger values widen it). None:
            the largest of the smallest T >= 1 at which held-out cells have pull RMS 1
            (:func:`surrotag.surrogates.posterior.fit_temperature`) and the T at which the
            posterior spread on held-out rows matches the bootstrap refits' disagreement
            (``mcmc_bootstrap_fits``).
        mcmc_steps: RK4 steps of the likelihood's backward solve.
        mcmc_weights: Weight groups sampled (prefixes of the weight names); the others stay
            at the flow-matching optimum. Default ``("out",)``: the output layer of the
            velocity trunk (``hidden + 1`` weights), small enough for exact sampling with a
            Laplace proposal, and the layer whose uncertainty grows where the trunk's
            features leave the training range (arXiv:2002.10118).
        mcmc_adam_steps: Minibatch Adam steps on the exact likelihood from the flow-matching
            optimum towards the posterior mode (before the Newton steps).
        mcmc_newton_steps: Most Newton steps to the posterior mode (they stop when the Newton
            decrement is below 0.01).
        mcmc_hessian_rows: Rows, drawn in proportion to their weight, whose Hessian, scaled
            to the whole set, is the precision of the Laplace proposal.
        mcmc_prior_std: Width of the Gaussian prior of the sampled weights; None:
            ``1 / sqrt(hidden)``, the fan-in scale of the trunk's layers (the scale of their
            initialisation, so that the prior keeps a layer's output of order one: Neal,
            "Bayesian learning for neural networks", 1996).
        mcmc_calibration_rows: Held-out rows whose cells calibrate the temperature.
        mcmc_calibration_draws: Laplace draws per temperature tried in the calibration.
        mcmc_bootstrap_fits: Flows refitted on bootstrap resamples of the training rows
            (0: none, else >= 2; fitted only when ``mcmc_temperature`` is None); their
            disagreement on the held-out rows sets a second lower bound of the calibrated
            temperature
            (:func:`surrotag.surrogates.posterior.bootstrap_temperature`): held-out cells
            cannot see an error of the surrogate smaller than their binomial noise, the
            refits' disagreement can.
        steps: RK4 steps (equal steps) of the trained surrogate; None chooses the fewest
            steps, and the time grid, whose measured solver error is <= ``solver_tolerance``
            (:func:`~surrotag.surrogates.solver_choice.choose_solver`).
        solver_tolerance: Largest accepted |P_rk4 - P_dopri5| (tag probability) when the
            step count is chosen.
        train_threads: torch intra-op threads of the whole training on the CPU (flow
            fits, refits and posterior stages; None: torch's own setting). One by default:
            a training step is many small operations that gain little from threads and stall
            at OpenMP barriers when another process holds a core (issue 21; on 2 cores
            beside one busy process: a 512-row flow-matching step 2.6 ms on one thread
            against 11.9 ms on two, a 4096-row step of the exact likelihood 0.8 s against
            4.9 s; quiet, 2.5 ms against 2.3 ms).
    """

    hidden: int = 64
    depth: int = 2
    cond_hidden: int = 128
    cond_depth: int = 2
    n_freq: int = 3
    epochs: int = 200
    batch_size: int = 512
    lr: float = 3e-3
    patience: int = 20
    seed: int = 0
    draws: int = 20
    device: str = "cpu"
    val_fraction: float = 0.2
    prior_std: float = 1.0
    init_std: float = 1e-3
    kl_weight: float = 1.0
    mcmc_chains: int = 4
    mcmc_burn_in: int = 6
    mcmc_thin: int = 3
    mcmc_proposal_scale: float = 1.05
    mcmc_temperature: float | None = None
    mcmc_steps: int = 8
    mcmc_weights: tuple[str, ...] = ("out",)
    mcmc_adam_steps: int = 300
    mcmc_newton_steps: int = 6
    mcmc_hessian_rows: int = 16384
    mcmc_prior_std: float | None = None
    mcmc_calibration_rows: int = 20_000
    mcmc_calibration_draws: int = 16
    mcmc_bootstrap_fits: int = 2
    steps: int | None = None
    solver_tolerance: float = 1e-3
    train_threads: int | None = 1


@dataclass
class TrainReport:
    """What happened in training: losses per epoch, best epoch, timing."""

    method: str
    n_train: int
    n_val: int
    n_parameters: int
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    mcmc_acceptance: float | None = None
    mcmc: dict | None = None
    solver_check: dict | None = None

    def to_dict(self) -> dict:
        """JSON-able copy."""
        return asdict(self)

    def card_figures(self, seconds_digits: int = 3) -> dict[str, Any]:
        """The card's ``validation`` block and, after mcmc, its ``bayes`` diagnostics.

        Args:
            seconds_digits: decimals of the training time (seconds) on the card.
        """
        figures: dict[str, Any] = {
            "validation": {
                "best_val_loss": self.best_val_loss,
                "best_epoch": self.best_epoch,
                "epochs_run": self.epochs_run,
                "train_seconds": round(self.seconds, seconds_digits),
            }
        }
        if self.mcmc is not None:
            figures["bayes"] = {"diagnostics": self.bayes_diagnostics()}
        if self.solver_check is not None:
            figures["solver"] = {"check": self.solver_check}
        return figures

    def bayes_diagnostics(self) -> dict | None:
        """The sampler's settings and convergence figures for the card (None unless mcmc)."""
        if self.mcmc is None:
            return None
        m = self.mcmc
        return {
            "sampler": m["sampler"],
            "energy": m["energy"],
            "temperature": m["temperature"],
            "chains": m["settings"]["chains"],
            "burn_in": m["settings"]["burn_in"],
            "thin": m["settings"]["thin"],
            "samples_per_chain": m["settings"]["samples"],
            "sampled_weights": m["sampled_weights"],
            "n_sampled": m["n_sampled"],
            "acceptance": m["acceptance"],
            "weights": m["weights"],
            "tag_probability": m["tag_probability"],
            "temperature_calibration": m["temperature_calibration"],
        }


def cfm_loss(
    model: Surrogate,
    w: dict[str, torch.Tensor],
    c: torch.Tensor,
    x1: torch.Tensor,
    x0: torch.Tensor,
    t: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Flow-matching MSE of one weight draw on a batch.

    Args:
        model: The surrogate (its velocity field).
        w: Weights with a draw axis of size 1.
        c: Standardised features [B, F].
        x1: Standardised scores [B].
        x0: Base samples [B], independent of (c, x1).
        t: Times [B] in [0, 1].
        weight: Per-row weights [B] (event weights normalised to mean 1), or None.
    """
    xt = (1 - t) * x0 + t * x1
    hc = model.field.condition(w, c)
    v = model.field(w, xt.view(1, -1, 1), t, hc).view(-1)
    sq = (v - (x1 - x0)) ** 2
    return sq.mean() if weight is None else (weight * sq).sum() / weight.sum()


def _row_weights(sample_weight: np.ndarray | None, n: int) -> np.ndarray:
    """Event weights scaled so that they sum to Kish's effective number of rows.

    ``n_eff = (sum w)^2 / sum w^2``: a weighted sample carries the information of ``n_eff``
    unweighted rows, so the likelihood of the posterior is ``sum_i w_i log p_i`` with the
    weights scaled to sum to ``n_eff`` (unit weights give back the plain sum).
    """
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise SurrogateInputError(f"sample_weight of shape {w.shape}: expected [{n}]")
    if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise SurrogateInputError(
            "sample_weight must be finite and >= 0 with a positive sum: drop rows with "
            "negative or NaN weights before training"
        )
    n_eff = w.sum() ** 2 / (w**2).sum()
    return w * n_eff / w.sum()


def _check(features: np.ndarray, scores: np.ndarray, names: list[str]) -> None:
    if features.ndim != 2 or features.shape[1] != len(names):
        raise SurrogateInputError(
            f"training features of shape {features.shape}: expected [N, {len(names)}] for "
            f"feature_names {names}"
        )
    if scores.shape != (features.shape[0],):
        raise SurrogateInputError(
            f"training scores of shape {scores.shape}: expected [{features.shape[0]}] "
            "(one score per feature row)"
        )
    if not (np.isfinite(features).all() and np.isfinite(scores).all()):
        raise SurrogateInputError(
            "training table holds NaN or inf: drop those rows; probabilities of exactly 0 or 1 "
            "need logit_clip before training"
        )
    if features.shape[0] < 10:
        raise SurrogateInputError(f"training table has {features.shape[0]} rows: need >= 10")


def train_surrogate(
    features: np.ndarray,
    scores: np.ndarray,
    *,
    feature_names: list[str],
    bayes: str = "vi",
    config: TrainConfig | None = None,
    progress: Callable[[dict], None] | None = None,
    sample_weight: np.ndarray | None = None,
) -> tuple[Surrogate, TrainReport]:
    """Train a surrogate of ``scores | features`` by conditional flow matching.

    Args:
        features: [N, F] conditioning features, columns in ``feature_names`` order.
        scores: [N] tagger scores in the modelled space (e.g. ``logit_clip(p)``).
        feature_names: Feature column names.
        sample_weight: [N] event weights (e.g. of pTHat-biased samples), or None.
        bayes: ``"vi"``, ``"mcmc"`` or ``"none"``.
        config: Settings (defaults: :class:`TrainConfig`).
        progress: Called after each epoch with ``{"epoch", "epochs", "train_loss",
            "val_loss", "best_val_loss"}`` (and once per stored sample in the MCMC phase with
            ``{"phase": "mcmc", "sample", "n_samples"}``).

    Returns:
        (trained surrogate on CPU, in eval mode; report).
    """
    cfg = config or TrainConfig()
    if bayes not in METHODS:
        raise SurrogateInputError(f"bayes={bayes!r} unknown: choose one of {', '.join(METHODS)}")
    if bayes == "mcmc":  # settings checked before any training, not after it
        if cfg.draws % cfg.mcmc_chains:
            raise SurrogateInputError(
                f"draws={cfg.draws} is not a multiple of mcmc_chains={cfg.mcmc_chains}: each "
                "chain stores the same number of samples"
            )
        if cfg.mcmc_bootstrap_fits != 0 and cfg.mcmc_bootstrap_fits < 2:
            raise SurrogateInputError(
                f"mcmc_bootstrap_fits={cfg.mcmc_bootstrap_fits}: use 0 (none) or >= 2 (their "
                "disagreement needs two)"
            )
    threads = cfg.train_threads if torch.device(cfg.device).type == "cpu" else None
    with intra_op_threads(threads):
        return _train(features, scores, list(feature_names), bayes, cfg, progress, sample_weight)


def _train(
    features: np.ndarray,
    scores: np.ndarray,
    feature_names: list[str],
    bayes: str,
    cfg: TrainConfig,
    progress: Callable[[dict], None] | None,
    sample_weight: np.ndarray | None,
) -> tuple[Surrogate, TrainReport]:
    """The body of :func:`train_surrogate`, its settings checked."""
    features = np.asarray(features, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    _check(features, scores, list(feature_names))
    row_weight = _row_weights(sample_weight, features.shape[0])
    start = time.perf_counter()
    device = torch.device(cfg.device)
    gen = torch.Generator().manual_seed(cfg.seed)
    n = features.shape[0]
    perm = torch.randperm(n, generator=gen).numpy()
    n_val = max(1, round(cfg.val_fraction * n))
    val_idx, tr_idx = perm[:n_val], perm[n_val:]
    model = _new_model(cfg, list(feature_names), "vi" if bayes == "vi" else "none", cfg.seed)
    model.set_statistics(features[tr_idx], scores[tr_idx])
    model.set_support(fit_support(features[tr_idx], list(feature_names), seed=cfg.seed))
    model.to(device)

    def prep(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        c = model.standardise(torch.as_tensor(features[idx], dtype=torch.float32).to(device))
        x = torch.as_tensor(scores[idx], dtype=torch.float32).to(device) - model.score_loc
        return c, x / model.score_scale

    c_tr, x_tr = prep(tr_idx)
    c_va, x_va = prep(val_idx)
    w_tr = torch.as_tensor(row_weight[tr_idx], dtype=torch.float32).to(device)
    w_va = torch.as_tensor(row_weight[val_idx], dtype=torch.float32).to(device)
    x0_va = torch.randn(n_val, generator=gen).to(device)
    t_va = torch.rand(n_val, generator=gen).to(device)
    report = TrainReport(bayes, c_tr.shape[0], n_val, model.field.n_parameters(), 0, 0, math.inf)
    val = (c_va, x_va, w_va, x0_va, t_va)
    _fit_flow(model, cfg, (c_tr, x_tr, w_tr), val, gen, report, progress)

    if bayes == "mcmc":
        calibrated = cfg.mcmc_temperature is None  # a given temperature needs no refits
        refits = [
            _bootstrap_refit(model, cfg, (c_tr, x_tr, w_tr), val, b, progress)
            for b in range(cfg.mcmc_bootstrap_fits if calibrated else 0)
        ]
        model = _run_mcmc(
            model, cfg, (c_tr, x_tr, w_tr), (c_va, x_va), gen, report, progress, refits
        )
    model = model.cpu().eval()
    check = features[val_idx[:500]]
    levels = np.quantile(scores[tr_idx], THRESHOLD_LEVELS)
    if cfg.steps is None:
        chosen = choose_solver(model, check, levels, cfg.solver_tolerance)
    else:  # the given steps on equal steps, measured all the same
        chosen = choose_solver(
            model, check, levels, cfg.solver_tolerance, steps=(cfg.steps,), grid_powers=(1.0,),
            fit_nodes=False,
        )  # fmt: skip
    model.steps, model.grid_power = chosen.steps, chosen.grid_power
    model.nodes = None if chosen.nodes is None else tuple(chosen.nodes)
    report.solver_check = chosen.to_dict()
    report.seconds = time.perf_counter() - start
    return model, report


def _new_model(cfg: TrainConfig, names: list[str], bayes: str, seed: int) -> Surrogate:
    """An untrained surrogate of the configured architecture, initialised from ``seed``."""
    return Surrogate(
        names,
        hidden=cfg.hidden,
        depth=cfg.depth,
        cond_hidden=cfg.cond_hidden,
        cond_depth=cfg.cond_depth,
        n_freq=cfg.n_freq,
        bayes=bayes,
        bayes_options={"prior_std": cfg.prior_std, "init_std": cfg.init_std},
        draws=cfg.draws,
        steps=cfg.steps or STEP_CHOICES[-1],
        seed=seed,
    )


def _fit_flow(
    model: Surrogate,
    cfg: TrainConfig,
    train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, ...],
    gen: torch.Generator,
    report: TrainReport,
    progress: Callable[[dict], None] | None,
) -> None:
    """Adam on the flow-matching loss; ``model`` ends at the epoch of best validation loss.

    Args:
        model: The surrogate whose weights are trained in place.
        cfg: Settings (epochs, batch size, learning rate, patience, KL weight).
        train: ``(c, x, w)`` standardised features, scores and row weights.
        val: ``(c, x, w, x0, t)`` of the validation rows, with their fixed noise and times.
        gen: Generator of the minibatch order, noise, times and VI draws.
        report: Receives the losses, epochs run and best epoch.
        progress: Called after each epoch (see :func:`train_surrogate`).
    """
    c_tr, x_tr, w_tr = train
    c_va, x_va, w_va, x0_va, t_va = val
    device, n_tr = c_tr.device, c_tr.shape[0]
    vi = isinstance(model.weights, MeanFieldWeights)
    opt = torch.optim.Adam(model.weights.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs, eta_min=cfg.lr / 20)
    best_state = {k: v.clone() for k, v in model.weights.state_dict().items()}
    bad = 0
    for epoch in range(cfg.epochs):
        order = torch.randperm(n_tr, generator=gen).to(device)
        total = 0.0
        for i in range(0, n_tr, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            b = idx.shape[0]
            x0 = torch.randn(b, generator=gen).to(device)
            t = torch.rand(b, generator=gen).to(device)
            w = model.weights.draws(1, gen)
            loss = cfm_loss(model, w, c_tr[idx], x_tr[idx], x0, t, w_tr[idx])
            if vi:
                loss = loss + cfg.kl_weight * model.weights.kl() / n_tr
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * b
        sched.step()
        with torch.no_grad():
            val_loss = float(cfm_loss(model, model.weights.mean(), c_va, x_va, x0_va, t_va, w_va))
            if vi:
                val_loss += cfg.kl_weight * float(model.weights.kl()) / n_tr
        report.train_loss.append(total / n_tr)
        report.val_loss.append(val_loss)
        report.epochs_run = epoch + 1
        if val_loss < report.best_val_loss:
            report.best_val_loss, report.best_epoch, bad = val_loss, epoch + 1, 0
            best_state = {k: v.clone() for k, v in model.weights.state_dict().items()}
        else:
            bad += 1
        if progress is not None:
            progress(
                {
                    "epoch": epoch + 1,
                    "epochs": cfg.epochs,
                    "train_loss": total / n_tr,
                    "val_loss": val_loss,
                    "best_val_loss": report.best_val_loss,
                }
            )
        if bad >= cfg.patience:
            break
    model.weights.load_state_dict(best_state)


def _bootstrap_refit(
    model: Surrogate,
    cfg: TrainConfig,
    train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, ...],
    index: int,
    progress: Callable[[dict], None] | None,
) -> dict[str, torch.Tensor]:
    """Point weights of a flow refitted on a bootstrap resample of the training rows.

    The same architecture and settings as ``model``'s own fit, a fresh initialisation and
    resample (seed ``cfg.seed + 1 + index``), the same standardisation and validation rows.
    The disagreement of such refits measures how much the fitted flow moves under another
    draw of the data and of the optimiser's noise (Efron, Ann. Statist. 7 (1979) 1; the
    weighted likelihood bootstrap as an approximate posterior: Newton and Raftery, J. R.
    Stat. Soc. B 56 (1994) 3).

    Returns:
        Every weight, with a draw axis of size 1.
    """
    seed = cfg.seed + 1 + index
    if progress is not None:
        progress(
            {"phase": "mcmc", "stage": "bootstrap", "fit": index + 1,
             "fits": cfg.mcmc_bootstrap_fits}
        )  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    twin = _new_model(cfg, model.feature_names, "none", seed).to(train[0].device)
    rows = torch.randint(0, train[0].shape[0], (train[0].shape[0],), generator=gen)
    resample = tuple(v[rows.to(v.device)] for v in train)
    scratch = TrainReport("none", len(rows), val[0].shape[0], 0, 0, 0, math.inf)
    _fit_flow(twin, cfg, resample, val, gen, scratch, None)
    return {k: v.detach() for k, v in twin.weights.mean().items()}


def _run_mcmc(
    model: Surrogate,
    cfg: TrainConfig,
    train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    gen: torch.Generator,
    report: TrainReport,
    progress: Callable[[dict], None] | None,
    refits: list[dict[str, torch.Tensor]],
) -> Surrogate:
    """Replace the point weights of ``model`` by exact posterior samples of a subspace.

    The stages (mode, Laplace precision, temperature, chains) are those of
    :mod:`surrotag.surrogates.posterior`; the chains are
    :func:`~surrotag.surrogates.mcmc.independence_mh` on the exact tempered energy. A
    calibrated temperature is the largest of 1, the held-out cells' and the bootstrap
    ``refits``' (none: the cells' alone).
    """
    point = {k: v.detach() for k, v in model.weights.params.items()}
    names = [k for k in point if sampled(k, cfg.mcmc_weights)]
    if not names:
        raise SurrogateInputError(
            f"mcmc_weights={cfg.mcmc_weights} selects no weight of {', '.join(point)}"
        )
    post = OutputLayerPosterior(
        model.field, point, names, train, steps=cfg.mcmc_steps,
        prior_std=cfg.mcmc_prior_std or 1.0 / math.sqrt(model.field.hidden),
        chains=cfg.mcmc_chains,
    )  # fmt: skip

    def tick(state: dict) -> None:
        if progress is not None:
            progress({"phase": "mcmc", **state})

    theta, hess, history = find_mode(
        post, {n: point[n].unsqueeze(0) for n in names}, adam_steps=cfg.mcmc_adam_steps,
        newton_steps=cfg.mcmc_newton_steps, hessian_rows=cfg.mcmc_hessian_rows, generator=gen,
        progress=tick,
    )  # fmt: skip
    eigen = torch.linalg.eigvalsh(hess)
    if float(eigen.min()) <= 0:
        raise SurrogateInputError(
            "the posterior of the sampled weights is not convex at its mode (smallest Hessian "
            f"eigenvalue {float(eigen.min()):.3g}): train longer, or sample fewer weights"
        )
    chol = torch.linalg.cholesky(hess)
    flat_mode = torch.cat([v.reshape(-1) for v in theta.values()]).double()
    c_va, x_va = val
    rows = slice(0, min(cfg.mcmc_calibration_rows, c_va.shape[0]))
    levels = torch.quantile(x_va, torch.tensor(CALIBRATION_LEVELS, device=x_va.device))
    shape = (cfg.mcmc_calibration_draws, len(flat_mode))
    xi = torch.randn(shape, generator=gen, dtype=torch.float64)
    laplace = torch.linalg.solve_triangular(chol.T, xi.T, upper=True).T  # covariance H^-1

    measured: dict[float, np.ndarray] = {}

    def draws_at(temperature: float) -> np.ndarray:
        if temperature not in measured:
            w = post.full(unflatten(flat_mode + math.sqrt(temperature) * laplace, theta))
            measured[temperature] = exceedance(model.field, w, c_va[rows], levels)
        return measured[temperature]

    if cfg.mcmc_temperature is None:
        fit = fit_temperature(
            draws_at, (x_va[rows, None] > levels[None, :]).cpu().numpy(),
            c_va[rows].cpu().numpy(), np.ones(c_va[rows].shape[0]),
        )  # fmt: skip
        calibration = asdict(fit)
        temperature = fit.temperature
        if refits:
            boot = bootstrap_temperature(
                np.concatenate([exceedance(model.field, w, c_va[rows], levels) for w in refits]),
                draws_at(1.0),
            )
            calibration["bootstrap"] = asdict(boot)
            temperature = max(temperature, boot.temperature)
    else:
        temperature, calibration = float(cfg.mcmc_temperature), None
    tick({"stage": "temperature", "temperature": temperature})
    post.temperature = temperature
    settings = SamplerSettings(
        chains=cfg.mcmc_chains,
        burn_in=cfg.mcmc_burn_in,
        samples=cfg.draws // cfg.mcmc_chains,
        thin=cfg.mcmc_thin,
        proposal_scale=cfg.mcmc_proposal_scale,
    )
    result = independence_mh(
        {n: v[0] for n, v in theta.items()}, hess / temperature, post.energy,
        settings=settings, generator=gen, progress=lambda s: tick({"stage": "chains", **s}),
    )  # fmt: skip
    chains = {
        n: result.samples[n]
        if n in result.samples
        else point[n].expand(cfg.mcmc_chains, settings.samples, *point[n].shape)
        for n in point
    }
    weights_flat = torch.cat([result.samples[n].flatten(2) for n in names], dim=2)
    probs = _function_draws(model, chains, (c_va, x_va))
    report.mcmc_acceptance = float(np.mean(result.acceptance))
    report.mcmc = {
        **result.summary(),
        "sampled_weights": names,
        "n_sampled": int(weights_flat.shape[-1]),
        "temperature": temperature,
        "temperature_calibration": calibration,
        "energy": "exact negative log-likelihood of the RK4 flow "
        f"({cfg.mcmc_steps} steps) on all {train[0].shape[0]} training rows (weighted) + "
        f"Gaussian prior (std {post.prior_std:.4g}), divided by the temperature; Laplace "
        f"proposal from the Hessian of {cfg.mcmc_hessian_rows} weight-proportional rows",
        "mode_search": history,
        "laplace_posterior_std_median": float(
            (torch.linalg.inv(hess).diagonal() * temperature).sqrt().median()
        ),
        "weights": chain_diagnostics(weights_flat.cpu().numpy()).to_dict(),
        "tag_probability": chain_diagnostics(probs).to_dict(),
    }
    tick({"done": True, "acceptance": report.mcmc_acceptance})
    config = model.config()
    config["bayes"] = {"method": "mcmc", "n_samples": cfg.draws, "draws": cfg.draws}
    tensors = {k: v for k, v in model.tensors().items() if not k.startswith("weights.")}
    stacked = {n: v.reshape(cfg.draws, *v.shape[2:]).cpu() for n, v in chains.items()}
    stack = SampleStack(model.field.shapes(), cfg.draws, stacked)
    tensors.update({f"weights.{k}": v for k, v in stack.state_dict().items()})
    return Surrogate.from_parts(config, tensors)


def _function_draws(
    model: Surrogate,
    chains: dict[str, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    rows: int = 500,
) -> np.ndarray:
    """Mean P(score > q) over validation rows at the 10/50/90% score quantiles, per sample.

    A function-space summary of each posterior sample: its chains must mix for the
    surrogate's tag probabilities to be posterior draws, whatever the weights do.

    Returns:
        [chains, samples, 3].
    """
    c_va, x_va = val
    c, s = next(iter(chains.values())).shape[:2]
    w = {n: v.reshape(c * s, *v.shape[2:]) for n, v in chains.items()}
    levels = torch.quantile(x_va, torch.tensor([0.1, 0.5, 0.9], device=x_va.device))
    return exceedance(model.field, w, c_va[:rows], levels).mean(1).reshape(c, s, -1)
