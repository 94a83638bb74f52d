"""Particle Flow Network (Deep Sets) for jet tagging, arXiv:1810.05165.

f(jet) = F( sum_i Phi(x_i) ), with Phi a per-constituent MLP and F an MLP on the summed
latent vector; masked (padded) constituents contribute zero and cost no computation. The
output is one logit. Inputs are standardised inside the module with the training set's
per-feature mean and standard deviation (buffers, so they travel with the weights).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ParticleFlowNetwork"]


def _mlp(sizes: Sequence[int], last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if last_activation or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ParticleFlowNetwork(nn.Module):
    """PFN with per-constituent network Phi and jet-level network F.

    Args:
        n_features: inputs per constituent.
        phi_sizes: hidden and latent widths of Phi (the last is the latent dimension).
        f_sizes: hidden widths of F (a final linear layer gives the logit).

    Shapes:
        forward(x (batch, n, n_features) float32, mask (batch, n) bool) -> (batch,) logits.
    """

    def __init__(
        self,
        n_features: int = 8,
        phi_sizes: Sequence[int] = (64, 64, 128),
        f_sizes: Sequence[int] = (128, 64),
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.phi = _mlp((n_features, *phi_sizes), last_activation=True)
        self.f = _mlp((phi_sizes[-1], *f_sizes, 1), last_activation=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Phi runs on the real constituents only (packed), then a per-jet sum (index_add)
        rows = torch.nonzero(mask, as_tuple=True)[0]
        z = self.phi((x[mask] - self.mean) / self.std)
        pooled = torch.zeros(x.shape[0], z.shape[1], dtype=z.dtype, device=z.device)
        return self.f(pooled.index_add(0, rows, z)).squeeze(-1)
