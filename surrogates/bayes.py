"""Bayesian weights with one API: a stack of K weight draws evaluated at once.

Every method exposes ``draws(K) -> dict[name, Tensor[K, *shape]]``; the velocity field is a
pure function of such a dict, so K draws are one batched matmul, not K models.

* ``"none"``: point estimate, always one draw.
* ``"vi"``: mean-field Gaussian variational inference (Bayes by backprop, arXiv:1505.05424):
  ``w = mu + softplus(rho) * eps`` with a Gaussian prior ``N(0, prior_std^2)``; the KL term is
  differentiable in ``mu`` and ``rho`` (the published code of arXiv:2402.15558 detached it).
* ``"mcmc"``: a stack of posterior weight samples (several Metropolis-Hastings chains on the
  exact likelihood, see :mod:`surrotag.surrogates.mcmc`).

The nominal tag probability is the mean over draws of the per-draw probabilities.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .errors import SurrogateError

__all__ = ["METHODS", "MeanFieldWeights", "PointWeights", "SampleStack", "WeightPosterior"]

METHODS = ("none", "vi", "mcmc")
Shapes = dict[str, tuple[int, ...]]


class WeightPosterior(nn.Module):
    """Base class: a distribution over the weights of the velocity field."""

    method: str = ""

    def __init__(self, shapes: Shapes) -> None:
        super().__init__()
        self.shapes = {k: tuple(v) for k, v in shapes.items()}

    def draws(self, k: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """K weight draws stacked along a new leading axis."""
        raise NotImplementedError

    def mean(self) -> dict[str, torch.Tensor]:
        """A single representative draw (posterior mean), leading axis of size 1."""
        raise NotImplementedError

    def config(self) -> dict:
        """JSON-able description of the method (enough to rebuild the empty module)."""
        return {"method": self.method}


class PointWeights(WeightPosterior):
    """Point estimate (``bayes="none"``): ``draws(K)`` always returns one draw."""

    method = "none"

    def __init__(self, shapes: Shapes, init: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__(shapes)
        self.params = nn.ParameterDict(
            {
                k: nn.Parameter(init[k].clone() if init else torch.zeros(s))
                for k, s in shapes.items()
            }
        )

    def draws(
        self, k: int = 1, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        return self.mean()

    def mean(self) -> dict[str, torch.Tensor]:
        return {k: p.unsqueeze(0) for k, p in self.params.items()}


class MeanFieldWeights(WeightPosterior):
    """Mean-field Gaussian posterior ``N(mu, softplus(rho)^2)`` per weight.

    Args:
        shapes: Weight names and shapes.
        prior_std: Width of the Gaussian prior ``N(0, prior_std^2)`` on every weight.
        init: Initial means (e.g. a standard network initialisation).
        init_std: Initial posterior width.
    """

    method = "vi"

    def __init__(
        self,
        shapes: Shapes,
        prior_std: float = 1.0,
        init: dict[str, torch.Tensor] | None = None,
        init_std: float = 0.03,
    ) -> None:
        super().__init__(shapes)
        if prior_std <= 0:
            raise SurrogateError(f"vi: prior_std={prior_std} must be > 0")
        self.prior_std = float(prior_std)
        rho0 = math.log(math.expm1(init_std))
        self.mu = nn.ParameterDict(
            {
                k: nn.Parameter(init[k].clone() if init else torch.zeros(s))
                for k, s in shapes.items()
            }
        )
        self.rho = nn.ParameterDict(
            {k: nn.Parameter(torch.full(s, rho0)) for k, s in shapes.items()}
        )

    def draws(self, k: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        out = {}
        for name, mu in self.mu.items():
            eps = torch.randn((k, *mu.shape), generator=generator, dtype=mu.dtype)
            out[name] = mu + F.softplus(self.rho[name]) * eps.to(mu.device)
        return out

    def mean(self) -> dict[str, torch.Tensor]:
        return {k: p.unsqueeze(0) for k, p in self.mu.items()}

    def kl(self) -> torch.Tensor:
        """KL(q || prior) summed over all weights (differentiable in mu and rho)."""
        p = self.prior_std
        total = torch.zeros(())
        for name, mu in self.mu.items():
            s = F.softplus(self.rho[name])
            total = total + (math.log(p) - torch.log(s) + (s**2 + mu**2) / (2 * p * p) - 0.5).sum()
        return total

    def config(self) -> dict:
        return {"method": self.method, "prior_std": self.prior_std}


class SampleStack(WeightPosterior):
    """An ensemble of S weight samples (from MCMC) stored stacked, ``[S, *shape]``."""

    method = "mcmc"

    def __init__(
        self, shapes: Shapes, n_samples: int, samples: dict[str, torch.Tensor] | None = None
    ) -> None:
        super().__init__(shapes)
        if n_samples < 1:
            raise SurrogateError(f"mcmc: n_samples={n_samples} must be >= 1")
        self.n_samples = int(n_samples)
        for name, s in shapes.items():
            value = samples[name].clone() if samples else torch.zeros((n_samples, *s))
            self.register_buffer(f"stack_{name}", value)

    def draws(self, k: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        if k > self.n_samples:
            raise SurrogateError(
                f"mcmc surrogate holds {self.n_samples} weight samples, {k} draws requested: "
                f"ask for draws <= {self.n_samples} or retrain with more samples"
            )
        idx = torch.linspace(0, self.n_samples - 1, k).round().long()
        return {n: getattr(self, f"stack_{n}")[idx] for n in self.shapes}

    def mean(self) -> dict[str, torch.Tensor]:
        return {n: getattr(self, f"stack_{n}").mean(0, keepdim=True) for n in self.shapes}

    def config(self) -> dict:
        return {"method": self.method, "n_samples": self.n_samples}
