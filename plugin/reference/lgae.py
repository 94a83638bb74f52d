"""A Lorentz-group equivariant autoencoder (LGAE) anomaly score for jets.

An autoencoder trained on QCD jets only, whose reconstruction error serves as an anomaly
score (after Hao, Kansal, Duarte et al., arXiv:2212.07347). The network is equivariant
under proper orthochronous Lorentz transformations SO+(3,1): its latent space holds
Lorentz scalars and four-vectors, and its score is a Lorentz invariant. This is surrotag's
own, deliberately simple design (no Clebsch-Gordan layers), equivariant by construction:

* Input: ``p4`` ``[B, N, 4]`` four-momenta (E, px, py, pz) in GeV of up to N constituents
  per jet, zero-padded, with a boolean ``mask`` ``[B, N]``; metric (+, -, -, -).
* Invariants only: every learnable function sees only Lorentz invariants, made
  dimensionless with the jet's own J.J = m_jet^2 (J = sum_i p_i): the energy fractions
  x_i = p_i.J / J.J (= E_i / m_jet in the jet rest frame, sum_i x_i = 1), entering as
  log x_i, the mass ratios m_i^2 J.J / (p_i.J)^2 (= 1 - |v_i|^2 in the rest frame) and the
  pairwise
  d_ij = p_i.p_j J.J / ((p_i.J)(p_j.J)) (= 1 - v_i v_j cos(theta_ij) in the rest frame,
  in [0, 2]). No pT, eta, phi or frame-dependent ordering appears anywhere.
* Encoder: per-constituent features -> MLP -> one round of x-weighted message passing on
  d_ij -> latent scalars ``[B, S]`` (an MLP of x-weighted and mean pooled features and the
  multiplicity) and latent four-vectors ``[B, V, 4]``: vector 0 is J itself, vectors
  1..V-1 are convex combinations sum_i softmax_i(a_iv) p_i with invariant logits a_iv
  (each a "typical constituent", future-pointing).
* Decoder: the latent invariants (scalars and asinh of the latent Gram matrix
  V_v.V_w / V_0.V_0) -> MLP -> per output slot k (with a learned slot embedding) the
  coefficients c_kv of p_hat_k = (1 + c_k0) V_0 / n_slots + sum_{v>=1} c_kv V_v: a
  linear combination of latent four-vectors with invariant coefficients (the offset starts
  training from every slot carrying an equal share of the jet).
* Score: the constituents are ordered by p_i.J (their energy in the jet rest frame), and
  the score is sum_{k,l} |p_hat_k.p_hat_l - p_k.p_l| / J.J over the real (masked)
  constituents k, l among the first ``n_slots``: dimensionless, O(1) (sum_kl p_k.p_l/J.J
  is 1 for a jet with at most ``n_slots`` constituents).

Why it is equivariant: if every p_i -> Lambda p_i, all invariants (hence all MLP outputs,
the latent scalars, the softmax weights, the ordering and the coefficients c_kv) are
unchanged, so V_v -> Lambda V_v and p_hat_k -> Lambda p_hat_k, and the score (made of
Minkowski products only) is unchanged. Permutations of the constituents only permute the
summands of symmetric sums (and ties of p_i.J aside, not the sorted order), and padded
constituents enter with weight exactly zero.

Numerics: the invariants and everything built from four-vectors (the latent vectors, the
Gram matrices of input and reconstruction) are computed in float64 whatever the input
dtype, the Gram matrix of the reconstruction from latent invariants (never from lab-frame
float32 vectors); only the MLPs run in the parameters' dtype (float32 by default). Given
the same numbers in two frames (float64 inputs), the score of a float32 model is invariant
to ~ 1e-12. What is left in float32 is the rounding of the float32 input itself, which no
internal arithmetic can undo: in a frame where the jet has gamma = E_jet / m_jet, float32
components fix the small invariants p_i.p_j / J.J of its hard constituents only to a
relative ~ 6e-8 gamma^2. The scores of a jet given in float32 in two frames agree to
about 1e-7 gamma^2 relative (gamma the larger of the two; measured at most 1.1e-7 gamma^2
on 2,560 toy jets), hence to 1e-5 relative as long as E_jet / m_jet <= 10 in both frames,
i.e. the jet's rapidity relative to its own rest frame stays below arccosh(10) = 3.0 (a
jet of pT 500 GeV and mass 100 GeV at eta = 0 has 2.3 and so stays within 1e-5 under any
boost of rapidity up to 0.7; away from the jet direction, larger). Beyond that, use
float64 inputs.

Example:
    >>> import torch
    >>> from surrotag.reference.lgae import LorentzAutoencoder, minkowski_dot, random_lorentz
    >>> lam = random_lorentz(torch.Generator().manual_seed(0), max_rapidity=0.5)
    >>> p = torch.tensor([10.0, 0.0, 0.0, 6.0], dtype=torch.float64)
    >>> round(float(minkowski_dot(lam @ p, lam @ p)), 9)
    64.0
    >>> _ = torch.manual_seed(0)
    >>> model = LorentzAutoencoder(n_slots=4)
    >>> p4 = torch.tensor([[[50.0, 0.0, 30.0, 40.0], [26.0, 10.0, 0.0, 24.0],
    ...                     [0.0, 0.0, 0.0, 0.0]]])
    >>> mask = torch.tensor([[True, True, False]])
    >>> scalars, vectors = model.encode(p4, mask)
    >>> tuple(scalars.shape), tuple(vectors.shape), tuple(model(p4, mask).shape)
    ((1, 4), (1, 4, 4), (1, 4, 4))
    >>> score = model.anomaly_score(p4, mask)
    >>> boosted = p4 @ lam.T.float()
    >>> bool(torch.allclose(model.anomaly_score(boosted, mask), score, rtol=1e-5))
    True

References:
    Z. Hao, R. Kansal, J. Duarte, N. Chernyavskaya, Lorentz group equivariant autoencoders,
    Eur. Phys. J. C 83 (2023) 485, arXiv:2212.07347.
    A. Bogatskiy et al., Lorentz group equivariant neural network for particle physics,
    arXiv:2006.04780 (equivariance through invariants and vector combinations).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import torch
from torch import nn

from surrotag.errors import InputValueError

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "LorentzAutoencoder",
    "load_lgae",
    "minkowski_dot",
    "random_lorentz",
    "save_lgae",
    "train_lgae",
]

#: Floor of the rest-frame energy fraction x_i inside logarithms and ratios.
_X_FLOOR: Final = 1e-12
_WORK: Final = torch.float64


def minkowski_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Minkowski inner product a.b = a0 b0 - a1 b1 - a2 b2 - a3 b3 over the last axis.

    Args:
        a: four-vectors (E, px, py, pz), shape ``[..., 4]`` (GeV).
        b: four-vectors, shape broadcastable with ``a``.

    Returns:
        The products, shape the broadcast of ``a.shape[:-1]`` and ``b.shape[:-1]`` (GeV^2).

    Raises:
        InputValueError: if the last axis of ``a`` or ``b`` is not of length 4.
    """
    if a.shape[-1:] != (4,) or b.shape[-1:] != (4,):
        raise InputValueError(
            f"minkowski_dot needs four-vectors (last axis 4), got shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    return a[..., 0] * b[..., 0] - (a[..., 1:] * b[..., 1:]).sum(-1)


def random_lorentz(
    generator: torch.Generator, batch: int | None = None, max_rapidity: float = 1.0
) -> torch.Tensor:
    """Random proper orthochronous Lorentz transformations (float64).

    Lambda = B R: a rotation R uniform on SO(3) (from a normalised Gaussian quaternion)
    followed by a boost B along a uniformly random direction with rapidity uniform in
    ``[0, max_rapidity]``. Acting on column four-vectors (E, px, py, pz):
    ``p' = Lambda @ p``; Lambda^T g Lambda = g, det Lambda = +1, Lambda_00 >= 1.

    Args:
        generator: the source of randomness (its device is used).
        batch: number of matrices; None for a single ``[4, 4]`` matrix.
        max_rapidity: the largest boost rapidity (dimensionless, >= 0).

    Returns:
        float64 tensor ``[4, 4]`` (``batch`` None) or ``[batch, 4, 4]``.

    Raises:
        InputValueError: if ``batch`` < 1 or ``max_rapidity`` is negative or not finite.
    """
    if batch is not None and batch < 1:
        raise InputValueError(f"random_lorentz: batch must be at least 1, got {batch}")
    if not (math.isfinite(max_rapidity) and max_rapidity >= 0.0):
        raise InputValueError(
            f"random_lorentz: max_rapidity must be finite and >= 0, got {max_rapidity}"
        )
    n = 1 if batch is None else batch
    opts: dict[str, Any] = {"generator": generator, "dtype": _WORK, "device": generator.device}
    q = torch.randn(n, 4, **opts)
    w, x, y, z = (q / q.norm(dim=-1, keepdim=True)).unbind(-1)
    rot = torch.stack(
        [
            torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            torch.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            torch.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )
    axis = torch.randn(n, 3, **opts)
    axis = axis / axis.norm(dim=-1, keepdim=True)
    rapidity = torch.rand(n, **opts) * max_rapidity
    ch, sh = torch.cosh(rapidity), torch.sinh(rapidity)
    eye3 = torch.eye(3, dtype=_WORK, device=generator.device)
    boost = torch.zeros(n, 4, 4, dtype=_WORK, device=generator.device)
    boost[:, 0, 0] = ch
    boost[:, 0, 1:] = sh[:, None] * axis
    boost[:, 1:, 0] = sh[:, None] * axis
    boost[:, 1:, 1:] = eye3 + (ch - 1)[:, None, None] * axis[:, :, None] * axis[:, None, :]
    rot4 = torch.zeros(n, 4, 4, dtype=_WORK, device=generator.device)
    rot4[:, 0, 0] = 1.0
    rot4[:, 1:, 1:] = rot
    lam = boost @ rot4
    return lam[0] if batch is None else lam


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with SiLU between them (smooth, so scores vary smoothly with input)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


def _gram(p: torch.Tensor) -> torch.Tensor:
    """All pairwise Minkowski products of ``p`` ``[B, N, 4]`` -> ``[B, N, N]``."""
    return torch.einsum("bnk,bmk->bnm", p[..., :1], p[..., :1]) - torch.einsum(
        "bnk,bmk->bnm", p[..., 1:], p[..., 1:]
    )


def _check_jets(p4: torch.Tensor, mask: torch.Tensor) -> None:
    """Shapes, dtype and finiteness of a padded batch of jets (one-line errors)."""
    if not isinstance(p4, torch.Tensor) or not isinstance(mask, torch.Tensor):
        raise InputValueError("LGAE: p4 and mask must be torch tensors")
    if p4.ndim != 3 or p4.shape[-1] != 4:
        raise InputValueError(
            f"LGAE: p4 must have shape [jets, constituents, 4] (E, px, py, pz), "
            f"got {tuple(p4.shape)}"
        )
    if mask.shape != p4.shape[:2]:
        raise InputValueError(
            f"LGAE: mask must have shape {tuple(p4.shape[:2])} (jets, constituents), "
            f"got {tuple(mask.shape)}"
        )
    if mask.dtype != torch.bool:
        raise InputValueError(f"LGAE: mask must be a bool tensor, got {mask.dtype}")
    if p4.shape[0] == 0 or p4.shape[1] == 0:
        raise InputValueError(f"LGAE: empty batch of jets, p4 has shape {tuple(p4.shape)}")
    if not p4.is_floating_point() or not bool(torch.isfinite(p4).all()):
        raise InputValueError("LGAE: p4 must hold finite floating-point values")


class LorentzAutoencoder(nn.Module):
    """Lorentz-equivariant autoencoder of jet constituents (arXiv:2212.07347).

    See the module docstring for the architecture and why it is equivariant.

    Args:
        n_slots: number of reconstructed constituents (output slots); jets with more
            constituents are scored on their ``n_slots`` leading ones in p_i.J.
        n_scalars: latent Lorentz scalars S.
        n_vectors: latent four-vectors V, the jet momentum J included (>= 1).
        hidden: width of the hidden layers.
        slot_embedding: size of the learned per-slot embedding of the decoder.

    Shapes:
        ``encode(p4 [B, N, 4], mask [B, N]) -> (scalars [B, S], vectors [B, V, 4] GeV)``,
        ``decode(scalars, vectors) -> p4_hat [B, n_slots, 4]`` (GeV),
        ``anomaly_score(p4, mask) -> [B]`` (dimensionless); outputs in the dtype of p4.
    """

    def __init__(
        self,
        n_slots: int = 30,
        n_scalars: int = 4,
        n_vectors: int = 4,
        hidden: int = 32,
        slot_embedding: int = 8,
    ) -> None:
        super().__init__()
        for name, value, low in (
            ("n_slots", n_slots, 1),
            ("n_scalars", n_scalars, 1),
            ("n_vectors", n_vectors, 1),
            ("hidden", hidden, 1),
            ("slot_embedding", slot_embedding, 1),
        ):
            if int(value) != value or value < low:
                raise InputValueError(f"LorentzAutoencoder: {name} must be an integer >= {low}")
        self.n_slots, self.n_scalars, self.n_vectors = n_slots, n_scalars, n_vectors
        self.hidden, self.slot_embedding = hidden, slot_embedding
        # encoder: node features (log x_i, m_i^2 / rest-frame E_i^2) -> h_i
        self.node = _mlp([2, hidden, hidden])
        # edge message from (h_i, h_j, d_ij); the first layer is split to avoid [B, N, N, 2H]
        self.edge_i = nn.Linear(hidden, hidden)
        self.edge_j = nn.Linear(hidden, hidden, bias=False)
        self.edge_d = nn.Linear(1, hidden, bias=False)
        self.edge_out = nn.Linear(hidden, hidden)
        self.update = _mlp([2 * hidden, hidden, hidden])
        self.to_scalars = _mlp([2 * hidden + 1, hidden, n_scalars])
        self.to_logits = nn.Linear(hidden, n_vectors - 1) if n_vectors > 1 else None
        # decoder: latent invariants -> context z -> per-slot coefficients
        n_pairs = n_vectors * (n_vectors + 1) // 2 - 1
        self.context = _mlp([n_scalars + n_pairs, hidden, hidden])
        self.slots = nn.Parameter(torch.randn(n_slots, slot_embedding) * 0.5)
        self.coefficients = _mlp([hidden + slot_embedding, hidden, n_vectors])
        iu = torch.triu_indices(n_vectors, n_vectors)
        self.register_buffer("_pairs", iu[:, 1:], persistent=False)  # (0, 0) is always 1

    def architecture(self) -> dict[str, int]:
        """The constructor's arguments (what :func:`load_lgae` rebuilds the model from)."""
        return {
            "n_slots": self.n_slots,
            "n_scalars": self.n_scalars,
            "n_vectors": self.n_vectors,
            "hidden": self.hidden,
            "slot_embedding": self.slot_embedding,
        }

    # ----------------------------------------------------------------- invariants
    @staticmethod
    def _invariants(p4: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Masked float64 momenta, jet momentum and the normalised invariants."""
        p = torch.where(mask[..., None], p4.to(_WORK), 0.0)
        jet = p.sum(1)
        m2 = minkowski_dot(jet, jet)
        if not bool((m2 > 0).all()):
            bad = torch.nonzero(m2 <= 0).flatten().tolist()[:5]
            raise InputValueError(
                f"LGAE: jets {bad} have J.J <= 0 (no invariant mass): every jet needs at "
                f"least two non-collinear constituents"
            )
        gram = _gram(p)  # [B, N, N] GeV^2
        x = minkowski_dot(p, jet[:, None, :]) / m2[:, None]  # rest-frame energy / m_jet
        x = torch.where(mask, x, 0.0)
        x_safe = torch.where(mask, x.clamp_min(_X_FLOOR), 1.0)
        g = gram / m2[:, None, None]
        mass_ratio = torch.diagonal(g, dim1=1, dim2=2) / x_safe**2
        d = g / (x_safe[:, :, None] * x_safe[:, None, :])
        pair = mask[:, :, None] & mask[:, None, :]
        return {
            "p": p,
            "jet": jet,
            "m2": m2,
            "g": torch.where(pair, g, 0.0),
            "x": x,
            "log_x": torch.where(mask, torch.log(x_safe), 0.0),
            "mass_ratio": torch.where(mask, mass_ratio, 0.0),
            "d": torch.where(pair, d, 0.0),
        }

    # -------------------------------------------------------------------- encoder
    def _encode(
        self, p4: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Latent scalars (parameter dtype), float64 latent vectors, and the invariants."""
        _check_jets(p4, mask)
        inv = self._invariants(p4, mask)
        dt = self.slots.dtype
        m = mask[..., None].to(dt)
        feats = torch.stack([inv["log_x"], inv["mass_ratio"]], -1).to(dt)
        h = self.node(feats) * m
        x = inv["x"].to(dt)
        pre = (
            self.edge_i(h)[:, :, None, :]
            + self.edge_j(h)[:, None, :, :]
            + self.edge_d(inv["d"].to(dt)[..., None])
        )
        message = torch.einsum("bijh,bj->bih", self.edge_out(nn.functional.silu(pre)), x)
        h = (h + self.update(torch.cat([h, message], -1))) * m
        n = mask.sum(1, keepdim=True).to(dt)
        pooled = torch.cat([torch.einsum("bnh,bn->bh", h, x), h.sum(1) / n, torch.log(n)], -1)
        scalars = self.to_scalars(pooled)
        vectors = [inv["jet"][:, None, :]]
        if self.to_logits is not None:
            logits = self.to_logits(h).to(_WORK)
            logits = logits.masked_fill(~mask[..., None], torch.finfo(_WORK).min)
            weights = torch.softmax(logits, dim=1)  # [B, N, V-1], sums to 1 over constituents
            vectors.append(torch.einsum("bnv,bnk->bvk", weights, inv["p"]))
        return scalars, torch.cat(vectors, 1), inv

    def encode(self, p4: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode jets into Lorentz scalars and four-vectors.

        Args:
            p4: constituent four-momenta (E, px, py, pz) in GeV, ``[B, N, 4]``, zero-padded.
            mask: ``[B, N]`` bool, True for real constituents.

        Returns:
            ``(scalars [B, S], vectors [B, V, 4])`` in the dtype of ``p4``; ``vectors[:, 0]``
            is the jet momentum J (GeV). Under p -> Lambda p the scalars are unchanged and
            the vectors become Lambda vectors.

        Raises:
            InputValueError: on a wrong shape, a non-bool mask, an empty batch, non-finite
                values, or a jet with J.J <= 0.
        """
        scalars, vectors, _ = self._encode(p4, mask)
        return scalars.to(p4.dtype), vectors.to(p4.dtype)

    # -------------------------------------------------------------------- decoder
    def _coefficients(self, scalars: torch.Tensor, latent_gram: torch.Tensor) -> torch.Tensor:
        """Per-slot coefficients ``[B, n_slots, V]`` from the latent invariants (float64)."""
        dt = self.slots.dtype
        norm = latent_gram / latent_gram[:, :1, :1]
        pairs = torch.asinh(norm[:, self._pairs[0], self._pairs[1]]).to(dt)
        z = self.context(torch.cat([scalars.to(dt), pairs], -1))
        b = z.shape[0]
        slot_in = torch.cat(
            [z[:, None, :].expand(b, self.n_slots, -1), self.slots.expand(b, -1, -1)], -1
        )
        c = self.coefficients(slot_in).to(_WORK)
        # p_hat_k = (1 + c_k0) J / n_slots + sum_{v>=1} c_kv V_v: J shared among the slots
        offset = torch.zeros(self.n_vectors, dtype=_WORK, device=c.device)
        offset[0] = 1.0
        scale = torch.ones(self.n_vectors, dtype=_WORK, device=c.device)
        scale[0] = 1.0 / self.n_slots
        return (c + offset) * scale

    def _check_latent(self, scalars: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """Validate a latent and return its float64 Minkowski Gram matrix ``[B, V, V]``."""
        if vectors.ndim != 3 or vectors.shape[1:] != (self.n_vectors, 4):
            raise InputValueError(
                f"LGAE decode: vectors must have shape [jets, {self.n_vectors}, 4], "
                f"got {tuple(vectors.shape)}"
            )
        if scalars.shape != (vectors.shape[0], self.n_scalars):
            raise InputValueError(
                f"LGAE decode: scalars must have shape [{vectors.shape[0]}, {self.n_scalars}], "
                f"got {tuple(scalars.shape)}"
            )
        if vectors.shape[0] == 0:
            raise InputValueError("LGAE decode: empty batch of latents")
        latent_gram = _gram(vectors.to(_WORK))
        if not bool((latent_gram[:, 0, 0] > 0).all()):
            raise InputValueError("LGAE decode: vectors[:, 0] (the jet momentum) must be timelike")
        return latent_gram

    def decode(self, scalars: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``n_slots`` constituent four-momenta from a latent.

        Args:
            scalars: latent scalars ``[B, S]``.
            vectors: latent four-vectors ``[B, V, 4]`` (GeV); ``vectors[:, 0]`` timelike.

        Returns:
            ``p4_hat [B, n_slots, 4]`` (GeV) in the dtype of ``vectors``, slot k meant to
            match the constituent of k-th largest p_i.J; covariant: Lambda vectors in gives
            Lambda p4_hat out.

        Raises:
            InputValueError: on wrong shapes, an empty batch or a non-timelike vectors[:, 0].
        """
        latent_gram = self._check_latent(scalars, vectors)
        c = self._coefficients(scalars, latent_gram)
        return torch.einsum("bkv,bvi->bki", c, vectors.to(_WORK)).to(vectors.dtype)

    def forward(self, p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``decode(*encode(p4, mask))``, ``[B, n_slots, 4]`` (GeV)."""
        scalars, vectors, _ = self._encode(p4, mask)
        c = self._coefficients(scalars, _gram(vectors))
        return torch.einsum("bkv,bvi->bki", c, vectors).to(p4.dtype)

    # ---------------------------------------------------------------------- score
    def _score(self, p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Float64 anomaly score ``[B]`` (differentiable; used for training)."""
        scalars, vectors, inv = self._encode(p4, mask)
        latent_gram = _gram(vectors)
        c = self._coefficients(scalars, latent_gram)
        k = min(self.n_slots, p4.shape[1])
        # input ordered by p_i.J (rest-frame energy), padding last
        key = torch.where(mask, inv["x"], -1.0)
        order = torch.argsort(key, dim=1, descending=True, stable=True)[:, :k]
        g = torch.gather(inv["g"], 1, order[:, :, None].expand(-1, -1, inv["g"].shape[2]))
        g = torch.gather(g, 2, order[:, None, :].expand(-1, k, -1))
        real = torch.gather(mask, 1, order)
        # reconstruction Gram from invariants: p_hat_k.p_hat_l = c_k M c_l^T
        c = c[:, :k]
        g_hat = torch.einsum("bkv,bvw,blw->bkl", c, latent_gram, c) / inv["m2"][:, None, None]
        pair = real[:, :, None] & real[:, None, :]
        return torch.where(pair, (g_hat - g).abs(), 0.0).sum((1, 2))

    def anomaly_score(self, p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Lorentz-invariant reconstruction error of each jet (the anomaly score).

        sum_{k,l} |p_hat_k.p_hat_l - p_k.p_l| / J.J over the real constituents k, l among
        the ``n_slots`` leading ones in p_i.J (inputs ordered by p_i.J, slot k against the
        k-th). Invariant under SO+(3,1) transformations of all constituents of a jet,
        permutations of the constituents and extra padding.

        Args:
            p4: constituent four-momenta (E, px, py, pz) in GeV, ``[B, N, 4]``, zero-padded.
            mask: ``[B, N]`` bool, True for real constituents.

        Returns:
            ``[B]`` dimensionless scores in the dtype of ``p4`` (larger = more anomalous).

        Raises:
            InputValueError: as :meth:`encode`.
        """
        return self._score(p4, mask).to(p4.dtype)


def train_lgae(
    p4: torch.Tensor,
    mask: torch.Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    model_kwargs: Mapping[str, Any] | None = None,
) -> tuple[LorentzAutoencoder, list[float]]:
    """Train a :class:`LorentzAutoencoder` on (background) jets by minimising the score.

    Adam on the batch mean of :meth:`LorentzAutoencoder.anomaly_score`; the weights and
    the shuffling are drawn from ``seed`` (the global torch RNG is left untouched), so a
    run is reproducible on CPU.

    Args:
        p4: training jets, ``[n_jets, N, 4]`` four-momenta in GeV, zero-padded.
        mask: ``[n_jets, N]`` bool, True for real constituents.
        epochs: passes over the data (>= 1).
        batch_size: jets per step (>= 1).
        lr: Adam learning rate (> 0).
        seed: seed of the initial weights and the shuffling.
        model_kwargs: keyword arguments of :class:`LorentzAutoencoder`.

    Returns:
        ``(model, losses)``: the trained model in eval mode and the mean training loss of
        each epoch (dimensionless).

    Raises:
        InputValueError: on invalid jets (see :meth:`LorentzAutoencoder.encode`) or
            non-positive ``epochs``, ``batch_size`` or ``lr``.
    """
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise InputValueError(
            f"train_lgae: epochs and batch_size must be >= 1 and lr > 0, got epochs={epochs}, "
            f"batch_size={batch_size}, lr={lr}"
        )
    _check_jets(p4, mask)
    LorentzAutoencoder._invariants(p4, mask)  # every jet must have a mass, checked once
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LorentzAutoencoder(**dict(model_kwargs or {})).to(p4.device)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    n = p4.shape[0]
    losses: list[float] = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(p4.device)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            loss = model._score(p4[idx], mask[idx]).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / n)
    return model.eval(), losses


CONFIG_NAME: Final = "lgae.json"
WEIGHTS_NAME: Final = "lgae.safetensors"
_KIND: Final = "surrotag-lgae-anomaly-tagger"


def save_lgae(
    model: LorentzAutoencoder, folder: str | Path, extra: Mapping[str, Any] | None = None
) -> Path:
    """Write ``lgae.safetensors`` and ``lgae.json`` (architecture, sha256 of the weights,
    ``extra`` fields) into ``folder`` as one unit.

    Returns:
        The folder.
    """
    from surrotag.reference.verified import write_verified_folder

    document = {
        "kind": _KIND,
        "architecture": model.architecture(),
        "torch": torch.__version__,
        "references": ["Hao, Kansal, Duarte, Chernyavskaya, arXiv:2212.07347"],
        **dict(extra or {}),
    }
    return write_verified_folder(folder, CONFIG_NAME, WEIGHTS_NAME, document, model.state_dict())


def load_lgae(folder: str | Path) -> tuple[LorentzAutoencoder, dict[str, Any]]:
    """Load an LGAE folder, checking the weights' sha256 against ``lgae.json`` (no pickle).

    Raises:
        InputFileError: a file is missing. IntegrityError: the sha256 differs.
        FormatError: the tensors do not fit the recorded architecture.
    """
    from surrotag.reference.verified import load_verified_network

    def build(document: dict[str, Any], tensors: dict[str, Any]) -> LorentzAutoencoder:
        model = LorentzAutoencoder(**document["architecture"])
        model.load_state_dict(tensors)
        return model

    return load_verified_network(
        folder, CONFIG_NAME, WEIGHTS_NAME, _KIND, "Lorentz-group autoencoder",
        "train one with surrotag.reference.anomaly", ("architecture", "sha256"), build,
    )  # fmt: skip
