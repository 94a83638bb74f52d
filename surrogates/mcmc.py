"""Posterior weight samples: independence Metropolis-Hastings with a Laplace proposal.

A posterior over a network's weights is only useful if its samples are samples. Random-walk
or Langevin chains over tens of thousands of weights, driven by minibatch energies, do not
reach stationarity in any affordable number of steps: their spread then follows the step
size and the number of steps, not the data. This module samples a subspace of the weights
(by default the velocity field's output layer, see :mod:`surrotag.surrogates.train`) where
the posterior can be sampled exactly:

1. the proposal is the Laplace approximation ``q = N(theta_hat, s^2 Lambda^-1)`` at the
   posterior mode, with the precision ``Lambda`` from the data (the caller computes it;
   ``s`` >= 1 widens the proposal so that its tails cover the target's);
2. every proposal ``theta' ~ q`` is accepted with the Metropolis-Hastings probability
   ``min(1, pi(theta') q(theta) / (pi(theta) q(theta')))`` of an *independence* sampler
   (Tierney, Ann. Statist. 22 (1994) 1701), with ``pi = exp(-U)`` the exact posterior
   (energy on the whole training set, not a minibatch): the correction of the proposal
   actually made, so the chain's stationary law is the exact posterior whatever the
   quality of the Laplace approximation. That quality shows in the acceptance rate and the
   effective sample size (a poor proposal repeats states);
3. several chains, each started from a proposal draw, a short burn-in and thinning; the
   diagnostics of :mod:`surrotag.surrogates.diagnostics` decide whether they converged.

The chains are evaluated together: ``energy(theta) -> U`` takes every weight with a leading
chain axis ``[C, ...]`` and returns ``[C]``.

Example:
    >>> import torch
    >>> def energy(theta):
    ...     return 0.5 * (theta["x"] ** 2).sum(-1)
    >>> result = independence_mh({"x": torch.zeros(2)}, torch.eye(2), energy,
    ...     settings=SamplerSettings(chains=2, burn_in=5, samples=50, thin=1),
    ...     generator=torch.Generator().manual_seed(0))
    >>> result.samples["x"].shape, result.acceptance[0] > 0.5
    (torch.Size([2, 50, 2]), True)

References:
    Tierney, "Markov chains for exploring posterior distributions", Ann. Statist. 22 (1994);
    MacKay, "A practical Bayesian framework for backpropagation networks", Neural Comput. 4
    (1992) (the Laplace approximation); Kristiadi, Hein, Hennig, "Being Bayesian, even just a
    bit, fixes overconfidence in ReLU networks", arXiv:2002.10118 (last-layer posteriors);
    Bieringer et al., "AdamMCMC", arXiv:2312.14027.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from .errors import SurrogateError

__all__ = ["SamplerResult", "SamplerSettings", "independence_mh"]

Energy = Callable[[dict[str, torch.Tensor]], torch.Tensor]


@dataclass(frozen=True)
class SamplerSettings:
    """Chain settings.

    Attributes:
        chains: Independent chains, evaluated together.
        burn_in: Proposals per chain before the first stored sample (discarded).
        samples: Stored samples per chain.
        thin: Proposals between stored samples.
        proposal_scale: ``s``: the proposal covariance is ``s^2 Lambda^-1`` (>= 1: tails at
            least as wide as the Laplace approximation's).
    """

    chains: int = 4
    burn_in: int = 2
    samples: int = 5
    thin: int = 2
    proposal_scale: float = 1.1

    def __post_init__(self) -> None:
        for name in ("chains", "samples", "thin"):
            if getattr(self, name) < 1:
                raise SurrogateError(f"sampler: {name}={getattr(self, name)} must be >= 1")
        if self.burn_in < 0:
            raise SurrogateError(f"sampler: burn_in={self.burn_in} must be >= 0")
        if not self.proposal_scale > 0:
            raise SurrogateError(f"sampler: proposal_scale={self.proposal_scale} must be > 0")


@dataclass
class SamplerResult:
    """Stored samples and what the chains did.

    Attributes:
        samples: name -> [chains, samples, *shape].
        acceptance: Acceptance rate of each chain after burn-in.
        energy_trace: Energy of each chain at every stored sample, [chains][samples].
        settings: The settings used.
    """

    samples: dict[str, torch.Tensor]
    acceptance: list[float]
    energy_trace: list[list[float]] = field(default_factory=list)
    settings: SamplerSettings = field(default_factory=SamplerSettings)

    def summary(self) -> dict:
        """JSON-able summary (no samples)."""
        return {
            "sampler": "independence Metropolis-Hastings, Laplace proposal, exact energy",
            "acceptance": self.acceptance,
            "settings": asdict(self.settings),
        }


def _layout(theta: dict[str, torch.Tensor]) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in theta.items()]


def _unflat(x: torch.Tensor, layout: list[tuple[str, tuple[int, ...]]]) -> dict:
    """[C, D] -> name -> [C, *shape]."""
    out, i = {}, 0
    for name, shape in layout:
        size = math.prod(shape)
        out[name] = x[:, i : i + size].reshape(x.shape[0], *shape)
        i += size
    return out


def independence_mh(
    mode: dict[str, torch.Tensor],
    precision: torch.Tensor,
    energy: Energy,
    *,
    settings: SamplerSettings | None = None,
    generator: torch.Generator | None = None,
    progress: Callable[[dict], None] | None = None,
) -> SamplerResult:
    """Sample ``exp(-U)`` with independence MH chains and a Gaussian (Laplace) proposal.

    Args:
        mode: Centre of the proposal (the posterior mode), name -> tensor; flattened in
            this order to the axis of ``precision``.
        precision: [D, D] symmetric positive-definite precision of the Laplace
            approximation (D = total size of ``mode``).
        energy: ``energy(theta) -> U [C]`` with ``theta`` name -> ``[C, *shape]``.
        settings: Chain settings (defaults: :class:`SamplerSettings`).
        generator: Random generator of proposals and accept decisions.
        progress: Called after each batch of proposals with ``{"step", "steps"}``.

    Returns:
        The samples and the chains' acceptance rates.
    """
    cfg = settings or SamplerSettings()
    layout = _layout(mode)
    centre = torch.cat([v.detach().reshape(-1) for v in mode.values()])
    d = centre.numel()
    if precision.shape != (d, d):
        raise SurrogateError(f"sampler: precision of shape {tuple(precision.shape)}, not {d}x{d}")
    dtype = torch.float64
    lam = (precision.to(dtype) + precision.to(dtype).T) / 2
    try:
        chol = torch.linalg.cholesky(lam)  # Lambda = L L^T
    except RuntimeError as exc:
        raise SurrogateError("sampler: the precision matrix is not positive definite") from exc
    s = cfg.proposal_scale
    c = cfg.chains

    def propose() -> tuple[torch.Tensor, torch.Tensor]:
        """Draws [C, D] and their log proposal density up to a constant."""
        xi = torch.randn((c, d), generator=generator, dtype=dtype)
        # theta = centre + s L^-T xi has covariance s^2 Lambda^-1
        step = torch.linalg.solve_triangular(chol.T, xi.T, upper=True).T * s
        return (centre.to(dtype) + step), -0.5 * (xi**2).sum(1)

    def energies(x: torch.Tensor) -> torch.Tensor:
        u = energy(_unflat(x.to(centre.dtype).to(centre.device), layout))
        if u.shape != (c,):
            raise SurrogateError(f"sampler: energy returned shape {tuple(u.shape)}, not [{c}]")
        return u.detach().to(dtype).cpu()

    x, log_q = propose()
    u = energies(x)
    accepted = torch.zeros(c, dtype=dtype)
    stored, trace = [], []
    total = cfg.burn_in + cfg.samples * cfg.thin
    for step in range(total):
        prop, log_q1 = propose()
        u1 = energies(prop)
        # pi(x') q(x) / (pi(x) q(x'))
        log_alpha = -(u1 - u) + log_q - log_q1
        log_alpha = torch.where(torch.isfinite(log_alpha), log_alpha, -math.inf)
        accept = torch.rand(c, generator=generator, dtype=dtype).log() < log_alpha
        x = torch.where(accept.unsqueeze(1), prop, x)
        u = torch.where(accept, u1, u)
        log_q = torch.where(accept, log_q1, log_q)
        if step >= cfg.burn_in:
            accepted += accept.to(dtype)
            if (step - cfg.burn_in + 1) % cfg.thin == 0:
                stored.append(x.clone())
                trace.append(u.clone())
        if progress is not None:
            progress({"step": step + 1, "steps": total})
    samples = torch.stack(stored, dim=1).to(centre.dtype)  # [C, S, D]
    flat = _unflat(samples.reshape(c * cfg.samples, d), layout)
    return SamplerResult(
        samples={k: v.reshape(c, cfg.samples, *v.shape[1:]) for k, v in flat.items()},
        acceptance=(accepted / (cfg.samples * cfg.thin)).tolist(),
        energy_trace=torch.stack(trace, dim=1).tolist(),
        settings=cfg,
    )
