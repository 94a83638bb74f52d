"""AdamMCMC: Metropolis-adjusted, Adam-preconditioned weight sampling (arXiv:2312.14027).

Each step proposes ``theta* ~ N(theta - lr * adam(grad U(theta)), sigma^2 I)`` with the Adam
direction ``m_hat / (sqrt(v_hat) + eps)`` from running moments, and accepts it with the
Metropolis–Hastings probability for the target ``exp(-U)``, where the reverse proposal uses the
Adam direction at ``theta*``. ``U = temperature * N_train * loss_batch + |theta|^2 /
(2 prior_std^2)`` is evaluated on one minibatch per step (current and proposed state on the
same batch). The chain starts at the optimised weights; every ``thin`` steps the state is
stored, giving the stacked ensemble of :class:`~surrotag.surrogates.bayes.SampleStack`.

References:
    Bieringer, Kasieczka, Steffen, Trabs, "AdamMCMC: combining Metropolis adjusted Langevin
    with momentum-based optimization", arXiv:2312.14027.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch

__all__ = ["adam_mcmc"]

Energy = Callable[[dict[str, torch.Tensor], object], torch.Tensor]


def adam_mcmc(
    theta: dict[str, torch.Tensor],
    energy: Energy,
    batches: Iterator,
    *,
    n_samples: int,
    thin: int = 10,
    lr: float = 1e-4,
    sigma: float = 1e-4,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    generator: torch.Generator | None = None,
) -> tuple[dict[str, torch.Tensor], float]:
    """Run AdamMCMC and return ``n_samples`` stacked weight samples and the acceptance rate.

    Args:
        theta: Starting weights (name -> tensor, no draw axis).
        energy: ``energy(weights, batch) -> U`` (scalar, differentiable).
        batches: Endless iterator of minibatches.
        n_samples: Samples to store.
        thin: MH steps between stored samples.
        lr: Adam step size of the proposal drift.
        sigma: Standard deviation of the Gaussian proposal noise.
        betas: Adam moment decay rates.
        eps: Adam denominator offset.
        generator: Random generator (proposals and accept decisions).

    Returns:
        (stacked samples name -> [n_samples, *shape], acceptance rate).
    """
    b1, b2 = betas
    names = list(theta)
    cur = {k: v.detach().clone() for k, v in theta.items()}
    m = {k: torch.zeros_like(v) for k, v in cur.items()}
    v2 = {k: torch.zeros_like(v) for k, v in cur.items()}
    step = 0

    def u_and_grad(w: dict[str, torch.Tensor], batch: object) -> tuple[float, dict]:
        w = {k: x.detach().requires_grad_(True) for k, x in w.items()}
        u = energy(w, batch)
        grads = torch.autograd.grad(u, [w[k] for k in names])
        return float(u.detach()), dict(zip(names, grads, strict=True))

    def drift(g: dict, m: dict, v: dict, t: int) -> tuple[dict, dict, dict]:
        m_new = {k: b1 * m[k] + (1 - b1) * g[k] for k in names}
        v_new = {k: b2 * v[k] + (1 - b2) * g[k] ** 2 for k in names}
        d = {
            k: lr * (m_new[k] / (1 - b1**t)) / ((v_new[k] / (1 - b2**t)).sqrt() + eps)
            for k in names
        }
        return d, m_new, v_new

    stored: dict[str, list[torch.Tensor]] = {k: [] for k in names}
    accepted = 0
    total = 0
    while len(stored[names[0]]) < n_samples:
        for _ in range(thin):
            batch = next(batches)
            step += 1
            u0, g0 = u_and_grad(cur, batch)
            d0, m1, v1 = drift(g0, m, v2, step)
            noise = {
                k: sigma * torch.randn(cur[k].shape, generator=generator).to(cur[k].device)
                for k in names
            }
            prop = {k: cur[k] - d0[k] + noise[k] for k in names}
            u1, g1 = u_and_grad(prop, batch)
            d1, _, _ = drift(g1, m1, v1, step + 1)
            log_fwd = -sum(float((noise[k] ** 2).sum()) for k in names) / (2 * sigma**2)
            log_bwd = -sum(float(((cur[k] - prop[k] + d1[k]) ** 2).sum()) for k in names) / (
                2 * sigma**2
            )
            log_alpha = -(u1 - u0) + log_bwd - log_fwd
            total += 1
            if math.isfinite(log_alpha) and math.log(
                float(torch.rand((), generator=generator)) + 1e-300
            ) < min(0.0, log_alpha):
                cur, m, v2 = prop, m1, v1
                accepted += 1
        for k in names:
            stored[k].append(cur[k].detach().clone())
    return {k: torch.stack(v) for k, v in stored.items()}, accepted / max(total, 1)
