"""Conditional flow matching training of a :class:`~surrotag.surrogates.flow.Surrogate`.

Straight path ``x_t = (1 - t) x0 + t x1`` with target velocity ``x1 - x0``, ``x0 ~ N(0, 1)``
drawn *independently* of the data (no minibatch optimal-transport pairing: OT pairing ignores
the conditioning c and would bias p(score | c)). Bayesian methods:

* ``none``: Adam on the MSE.
* ``vi``: one weight draw per minibatch; per-example loss ``MSE + kl_weight * KL / N_train``
  with the KL differentiated (not detached).
* ``mcmc``: Adam optimisation as for ``none``, then AdamMCMC (arXiv:2312.14027) from the
  optimum, storing ``draws`` weight samples.

Validation loss on a held-out fraction with fixed noise and times; early stopping keeps the
best epoch. Training is seeded: same data, config and seed give the same model on one device.

References:
    Lipman et al., arXiv:2210.02747; Tong et al., arXiv:2302.00482; Bieringer et al.,
    arXiv:2402.15558; Blundell et al., arXiv:1505.05424.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .bayes import METHODS, MeanFieldWeights, SampleStack
from .errors import SurrogateInputError
from .flow import Surrogate
from .mcmc import adam_mcmc

__all__ = [
    "STEP_CHOICES",
    "TrainConfig",
    "TrainReport",
    "cfm_loss",
    "choose_steps",
    "solver_error",
    "train_surrogate",
]

#: RK4 step counts tried, in order, when the step count is chosen by measured solver error.
STEP_CHOICES = (3, 4, 6, 8, 12, 16, 24, 32)


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
        prior_std: Gaussian prior width of the weights (vi, mcmc).
        init_std: Initial posterior width of every weight (vi). Small (1e-3), so that training
            widens the weights the data leave free instead of having to narrow every weight
            from a noisy start (which leaves a large in-distribution spread).
        kl_weight: Multiplier of KL / N_train in the VI loss (1 = the ELBO).
        mcmc_thin: AdamMCMC steps between stored samples.
        mcmc_lr: AdamMCMC drift step size.
        mcmc_sigma: AdamMCMC proposal noise.
        mcmc_temperature: Multiplier of N_train * loss in the MCMC energy.
        steps: RK4 steps of the trained surrogate; None chooses the smallest of
            :data:`STEP_CHOICES` whose measured solver error is <= ``solver_tolerance``.
        solver_tolerance: Largest accepted |P_rk4 - P_dopri5| (tag probability) when the
            step count is chosen.
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
    mcmc_thin: int = 10
    mcmc_lr: float = 1e-5
    mcmc_sigma: float = 1e-3
    mcmc_temperature: float = 1.0
    steps: int | None = None
    solver_tolerance: float = 1e-3


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
    solver_error: float | None = None

    def to_dict(self) -> dict:
        """JSON-able copy."""
        return asdict(self)


def cfm_loss(
    model: Surrogate,
    w: dict[str, torch.Tensor],
    c: torch.Tensor,
    x1: torch.Tensor,
    x0: torch.Tensor,
    t: torch.Tensor,
) -> torch.Tensor:
    """Flow-matching MSE of one weight draw on a batch.

    Args:
        model: The surrogate (its velocity field).
        w: Weights with a draw axis of size 1.
        c: Standardised features [B, F].
        x1: Standardised scores [B].
        x0: Base samples [B], independent of (c, x1).
        t: Times [B] in [0, 1].
    """
    xt = (1 - t) * x0 + t * x1
    hc = model.field.condition(w, c)
    v = model.field(w, xt.view(1, -1, 1), t, hc).view(-1)
    return ((v - (x1 - x0)) ** 2).mean()


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
) -> tuple[Surrogate, TrainReport]:
    """Train a surrogate of ``scores | features`` by conditional flow matching.

    Args:
        features: [N, F] conditioning features, columns in ``feature_names`` order.
        scores: [N] tagger scores in the modelled space (e.g. ``logit_clip(p)``).
        feature_names: Feature column names.
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
    features = np.asarray(features, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    _check(features, scores, list(feature_names))
    start = time.perf_counter()
    device = torch.device(cfg.device)
    gen = torch.Generator().manual_seed(cfg.seed)
    n = features.shape[0]
    perm = torch.randperm(n, generator=gen).numpy()
    n_val = max(1, round(cfg.val_fraction * n))
    val_idx, tr_idx = perm[:n_val], perm[n_val:]
    model = Surrogate(
        feature_names,
        hidden=cfg.hidden,
        depth=cfg.depth,
        cond_hidden=cfg.cond_hidden,
        cond_depth=cfg.cond_depth,
        n_freq=cfg.n_freq,
        bayes="vi" if bayes == "vi" else "none",
        bayes_options={"prior_std": cfg.prior_std, "init_std": cfg.init_std},
        draws=cfg.draws,
        steps=cfg.steps or STEP_CHOICES[-1],
        seed=cfg.seed,
    )
    model.set_statistics(features[tr_idx], scores[tr_idx])
    model.to(device)

    def prep(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        c = model.standardise(torch.as_tensor(features[idx], dtype=torch.float32).to(device))
        x = torch.as_tensor(scores[idx], dtype=torch.float32).to(device) - model.score_loc
        return c, x / model.score_scale

    c_tr, x_tr = prep(tr_idx)
    c_va, x_va = prep(val_idx)
    n_tr = c_tr.shape[0]
    x0_va = torch.randn(n_val, generator=gen).to(device)
    t_va = torch.rand(n_val, generator=gen).to(device)
    vi = isinstance(model.weights, MeanFieldWeights)
    opt = torch.optim.Adam(model.weights.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs, eta_min=cfg.lr / 20)
    report = TrainReport(bayes, n_tr, n_val, model.field.n_parameters(), 0, 0, math.inf)
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
            loss = cfm_loss(model, w, c_tr[idx], x_tr[idx], x0, t)
            if vi:
                loss = loss + cfg.kl_weight * model.weights.kl() / n_tr
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * b
        sched.step()
        with torch.no_grad():
            val = float(cfm_loss(model, model.weights.mean(), c_va, x_va, x0_va, t_va))
            if vi:
                val += cfg.kl_weight * float(model.weights.kl()) / n_tr
        report.train_loss.append(total / n_tr)
        report.val_loss.append(val)
        report.epochs_run = epoch + 1
        if val < report.best_val_loss:
            report.best_val_loss, report.best_epoch, bad = val, epoch + 1, 0
            best_state = {k: v.clone() for k, v in model.weights.state_dict().items()}
        else:
            bad += 1
        if progress is not None:
            progress(
                {
                    "epoch": epoch + 1,
                    "epochs": cfg.epochs,
                    "train_loss": total / n_tr,
                    "val_loss": val,
                    "best_val_loss": report.best_val_loss,
                }
            )
        if bad >= cfg.patience:
            break
    model.weights.load_state_dict(best_state)

    if bayes == "mcmc":
        model = _run_mcmc(model, cfg, c_tr, x_tr, gen, report, progress)
    model = model.cpu().eval()
    check = features[val_idx[:500]]
    levels = np.quantile(scores[tr_idx], [0.1, 0.3, 0.5, 0.7, 0.9])
    if cfg.steps is None:
        model.steps, report.solver_error = choose_steps(model, check, levels, cfg.solver_tolerance)
    else:
        report.solver_error = solver_error(model, check, levels, cfg.steps)
    report.seconds = time.perf_counter() - start
    return model, report


def solver_error(
    model: Surrogate, features: np.ndarray, thresholds: np.ndarray, steps: int
) -> float:
    """Max |P_rk4 - P_dopri5| of the exact tag probability over objects, thresholds, draws.

    Args:
        model: A trained surrogate.
        features: [N, F] objects to check (e.g. validation rows).
        thresholds: Score thresholds [M] in the modelled space.
        steps: RK4 steps.
    """
    draws = min(model.default_draws, 4)
    with torch.inference_mode():
        reference = model(features, draws=draws, solver="dopri5").prob_above(thresholds)
        fixed = model(features, draws=draws, solver="rk4", steps=steps).prob_above(thresholds)
    return float((fixed - reference).abs().max())


def choose_steps(
    model: Surrogate, features: np.ndarray, thresholds: np.ndarray, tolerance: float
) -> tuple[int, float]:
    """The fewest RK4 steps of :data:`STEP_CHOICES` with solver error <= ``tolerance``.

    Returns:
        (steps, measured solver error); the largest choice if none meets the tolerance.
    """
    for steps in STEP_CHOICES:
        error = solver_error(model, features, thresholds, steps)
        if error <= tolerance:
            return steps, error
    return STEP_CHOICES[-1], error


def _run_mcmc(
    model: Surrogate,
    cfg: TrainConfig,
    c_tr: torch.Tensor,
    x_tr: torch.Tensor,
    gen: torch.Generator,
    report: TrainReport,
    progress: Callable[[dict], None] | None,
) -> Surrogate:
    """Replace the point weights of ``model`` by an AdamMCMC sample stack."""
    n_tr = c_tr.shape[0]
    device = c_tr.device

    def batches() -> Iterator[tuple[torch.Tensor, ...]]:
        while True:
            order = torch.randperm(n_tr, generator=gen).to(device)
            for i in range(0, n_tr - cfg.batch_size + 1 or 1, cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                b = idx.shape[0]
                yield (
                    c_tr[idx],
                    x_tr[idx],
                    torch.randn(b, generator=gen).to(device),
                    torch.rand(b, generator=gen).to(device),
                )

    def energy(w: dict[str, torch.Tensor], batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        wk = {k: v.unsqueeze(0) for k, v in w.items()}
        mse = cfm_loss(model, wk, *batch)
        prior = sum((v**2).sum() for v in w.values()) / (2 * cfg.prior_std**2)
        return cfg.mcmc_temperature * n_tr * mse + prior

    theta = {k: v.detach() for k, v in model.weights.params.items()}
    samples, acc = adam_mcmc(
        theta,
        energy,
        batches(),
        n_samples=cfg.draws,
        thin=cfg.mcmc_thin,
        lr=cfg.mcmc_lr,
        sigma=cfg.mcmc_sigma,
        generator=gen,
    )
    report.mcmc_acceptance = acc
    if progress is not None:
        progress({"phase": "mcmc", "sample": cfg.draws, "n_samples": cfg.draws, "acceptance": acc})
    config = model.config()
    config["bayes"] = {"method": "mcmc", "n_samples": cfg.draws, "draws": cfg.draws}
    tensors = {k: v for k, v in model.tensors().items() if not k.startswith("weights.")}
    stack = SampleStack(model.field.shapes(), cfg.draws, {k: v.cpu() for k, v in samples.items()})
    tensors.update({f"weights.{k}": v for k, v in stack.state_dict().items()})
    return Surrogate.from_parts(config, tensors)
