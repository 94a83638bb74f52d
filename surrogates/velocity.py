"""Velocity field v(x, t | c) of the conditional flow, evaluated on K weight draws at once.

Two parts. A *conditioner* MLP maps the standardised features c to a first-layer bias,

    hc = W_c silu(... silu(W_c0 c + b_c0) ...) + b_c            ([K, N, H], once per object),

and a small *trunk* MLP in (x, t) evaluated at every solver stage,

    h1 = silu(w_x * x + W_t emb(t) + hc),   h_{i+1} = silu(W_i h_i + b_i),   v = w_o h_L + b_o.

Most weights sit in the conditioner, which runs once per object and draw before an ODE
solve (:meth:`VelocityField.condition`); the time term runs once per solver stage (shared by
the batch); only the narrow trunk runs per evaluation. This is what makes exact
probabilities cheap: the per-step cost is the trunk's, not the whole network's. The field
holds no parameters: weights come as a dict of tensors with a leading draw axis K (see
:mod:`surrotag.surrogates.bayes`), and every layer is a batched matmul over ``[K, rows, H]``.
``emb(t) = (t, sin(pi j t), cos(pi j t))`` for ``j = 1..n_freq``.

A graph-free solve evaluates the trunk through :class:`TrunkSolve`: the same operations in
the same order as :meth:`VelocityField.__call__` (hence the same values bit for bit), but
written into two buffers reused at every stage instead of fresh [K, rows, H] tensors, with
the time term ``W_t emb(t)`` computed once per distinct solver time. The output layer
multiplies the last hidden layer by ``w_o`` in its buffer and sums over the units, row by
row: faster on the CPU than the one-column batched matmul ``h w_o`` it replaces, and,
unlike a one-row matmul ``w_o^T h^T``, a row's velocity does not depend on the other rows
of its chunk (so yields do not depend on how the events were chunked). Inside an RK4 solve
on one CPU core the trunk then runs at 0.47-0.60 of the speed of its hidden-layer matmuls
alone, against 0.44-0.48 before (``tests/benchmarks/bench_surrogate.py``,
``trunk_roofline``; artefact ``trunk_roofline_ab_2026-12-01.json``).

References:
    Lipman et al., "Flow matching for generative modeling", arXiv:2210.02747;
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

__all__ = ["TrunkSolve", "VelocityField"]


class VelocityField:
    """Architecture of the velocity MLP (a pure function of a weight dict).

    Args:
        n_features: Number of conditioning features F.
        hidden: Width H of the trunk's hidden layers.
        depth: Number of hidden (SiLU) layers of the trunk, >= 1.
        n_freq: Number of sine/cosine frequency pairs of the time embedding.
        cond_hidden: Width of the conditioner's hidden layers.
        cond_depth: Number of hidden (SiLU) layers of the conditioner (0: hc = W_c c + b_c).
    """

    def __init__(
        self,
        n_features: int,
        hidden: int = 64,
        depth: int = 3,
        n_freq: int = 3,
        cond_hidden: int = 128,
        cond_depth: int = 0,
    ) -> None:
        self.n_features = int(n_features)
        self.hidden = int(hidden)
        self.depth = int(depth)
        self.n_freq = int(n_freq)
        self.cond_hidden = int(cond_hidden)
        self.cond_depth = int(cond_depth)

    @property
    def n_embed(self) -> int:
        """Size E of the time embedding."""
        return 1 + 2 * self.n_freq

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Weight names and shapes (without the draw axis)."""
        h = self.hidden
        out: dict[str, tuple[int, ...]] = {}
        fan = self.n_features
        for i in range(self.cond_depth):
            out[f"c{i}_w"] = (self.cond_hidden, fan)
            out[f"c{i}_b"] = (self.cond_hidden,)
            fan = self.cond_hidden
        out |= {
            "cond_w": (h, fan),
            "cond_b": (h,),
            "x_w": (h,),
            "t_w": (h, self.n_embed),
        }
        for i in range(self.depth - 1):
            out[f"h{i}_w"] = (h, h)
            out[f"h{i}_b"] = (h,)
        out["out_w"] = (h,)
        out["out_b"] = (1,)
        return out

    def n_parameters(self) -> int:
        """Number of weights of one draw."""
        return sum(math.prod(s) for s in self.shapes().values())

    def init_weights(self, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) initialisation, as ``torch.nn.Linear``."""
        fan_first = (self.cond_hidden if self.cond_depth else self.n_features) + 1 + self.n_embed
        out = {}
        for name, shape in self.shapes().items():
            if name in ("cond_w", "cond_b", "x_w", "t_w"):
                fan = fan_first
            elif name.startswith("c") and name[1].isdigit():
                fan = self.n_features if name.startswith("c0_") else self.cond_hidden
            else:
                fan = self.hidden
            bound = 1.0 / math.sqrt(fan)
            out[name] = (torch.rand(shape, generator=generator) * 2 - 1) * bound
        return out

    def config(self) -> dict:
        """JSON-able architecture."""
        return {
            "n_features": self.n_features,
            "hidden": self.hidden,
            "depth": self.depth,
            "n_freq": self.n_freq,
            "cond_hidden": self.cond_hidden,
            "cond_depth": self.cond_depth,
        }

    def n_step_parameters(self) -> int:
        """Weights used at every solver stage (the trunk), per draw."""
        return sum(
            math.prod(s)
            for n, s in self.shapes().items()
            if not (n.startswith("cond") or (n[0] == "c" and n[1].isdigit()))
        )

    def embed(self, t: float | torch.Tensor) -> torch.Tensor:
        """Time embedding, [E] for a float t or [N, E] for a tensor t of shape [N]."""
        t = torch.as_tensor(t, dtype=torch.get_default_dtype())
        j = torch.arange(1, self.n_freq + 1, dtype=t.dtype, device=t.device) * math.pi
        tj = t.unsqueeze(-1) * j
        return torch.cat([t.unsqueeze(-1), torch.sin(tj), torch.cos(tj)], dim=-1)

    def condition(self, w: dict[str, torch.Tensor], c: torch.Tensor) -> torch.Tensor:
        """Conditioning term ``hc`` of the trunk's first layer (the conditioner MLP).

        Args:
            w: Weights, each with a leading draw axis K.
            c: Standardised features [N, F].

        Returns:
            [K, N, H].
        """
        k = w["cond_w"].shape[0]
        z = c.unsqueeze(0).expand(k, -1, -1)
        for i in range(self.cond_depth):
            z = torch.baddbmm(w[f"c{i}_b"].unsqueeze(1), z, w[f"c{i}_w"].transpose(1, 2))
            z = F.silu(z)
        return torch.baddbmm(w["cond_b"].unsqueeze(1), z, w["cond_w"].transpose(1, 2))

    def __call__(
        self,
        w: dict[str, torch.Tensor],
        x: torch.Tensor,
        t: float | torch.Tensor,
        hc: torch.Tensor,
    ) -> torch.Tensor:
        """Velocity at states ``x``.

        Args:
            w: Weights with a leading draw axis K.
            x: States [K, N, M] (M values per object: thresholds, samples) or [1, N, M]
                broadcast over the draws.
            t: Time, a float shared by the batch or a tensor [N] (one per object).
            hc: Conditioning term [K, N, H] from :meth:`condition`.

        Returns:
            Velocities [K, N, M].
        """
        inplace = not torch.is_grad_enabled()
        e = self.embed(t).to(hc.device)
        if e.dim() == 1:
            base = hc + (w["t_w"] @ e).unsqueeze(1)
        else:
            base = hc + torch.einsum("ne,khe->knh", e, w["t_w"])
        k, n, h = base.shape
        m = x.shape[-1]
        z = torch.addcmul(base.unsqueeze(2), x.unsqueeze(-1), w["x_w"][:, None, None, :])
        z = F.silu(z, inplace=inplace).reshape(k, n * m, h)
        for i in range(self.depth - 1):
            z = torch.baddbmm(w[f"h{i}_b"].unsqueeze(1), z, w[f"h{i}_w"].transpose(1, 2))
            z = F.silu(z, inplace=inplace)
        z = z.mul_(w["out_w"].unsqueeze(1)) if inplace else z * w["out_w"].unsqueeze(1)
        return (z.sum(-1) + w["out_b"]).view(k, n, m)

    def solve_trunk(self, w: dict[str, torch.Tensor], hc: torch.Tensor, m: int) -> TrunkSolve:
        """The trunk of one graph-free solve of ``m`` values per object (:class:`TrunkSolve`)."""
        return TrunkSolve(self, w, hc, m)

    def value_and_dx(
        self,
        w: dict[str, torch.Tensor],
        x: torch.Tensor,
        t: float,
        hc: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocity and its derivative ``dv/dx`` (forward mode through the trunk).

        ``dv/dx`` is what the change of variables of the 1-D flow needs; it costs one more
        matmul per layer, differentiable in the weights (for likelihood-based posteriors).

        Args:
            w: Weights with a leading draw axis K.
            x: States [K, N, M].
            t: Time shared by the batch.
            hc: Conditioning term [K, N, H].

        Returns:
            (v, dv/dx), each [K, N, M].
        """
        base = hc + (w["t_w"] @ self.embed(t).to(hc.device)).unsqueeze(1)
        k, n, h = base.shape
        m = x.shape[-1]
        a = (base.unsqueeze(2) + x.unsqueeze(-1) * w["x_w"][:, None, None, :]).reshape(k, -1, h)
        da = w["x_w"].unsqueeze(1).expand(k, n * m, h)
        for i in range(self.depth):
            sig = torch.sigmoid(a)
            z, dz = a * sig, sig * (1 + a * (1 - sig)) * da
            if i == self.depth - 1:
                break
            wt = w[f"h{i}_w"].transpose(1, 2)
            a, da = torch.baddbmm(w[f"h{i}_b"].unsqueeze(1), z, wt), torch.bmm(dz, wt)
        out_w = w["out_w"].unsqueeze(1)
        v = (z * out_w).sum(-1) + w["out_b"]
        dv = (dz * out_w).sum(-1)
        return v.view(k, n, m), dv.view(k, n, m)


class TrunkSolve:
    """The velocity of one graph-free ODE solve, ``f(t, x)``, evaluated into reused buffers.

    Equal bit for bit to :meth:`VelocityField.__call__` at a float time (the same operations
    in the same order), for the states of one chunk of objects: ``[K, n, m]`` with the
    conditioning term ``hc`` [K, n, H] of those objects. The first layer's pre-activations
    and each hidden layer's outputs go into two [K, n m, H] buffers allocated once (a
    layer never reads the buffer it writes), and the time-dependent part of the first
    layer, ``hc + W_t emb(t)``, is kept for the last two distinct times (RK4's middle
    stages share one time, and a step ends where the next begins): 2 steps + 1 of them per
    RK4 solve instead of one per stage. Each returned velocity is a fresh tensor, so a
    solver may keep several stages alive.
    Not for autograd (in-place operations): graph-keeping solves call the field itself.

    Args:
        field: The architecture.
        w: Weights with a leading draw axis K.
        hc: Conditioning term [K, n, H] (:meth:`VelocityField.condition`).
        m: Values per object of the states to come.

    Example:
        >>> field = VelocityField(n_features=2, hidden=8, depth=3)
        >>> g = torch.Generator().manual_seed(0)
        >>> w = {k: v.unsqueeze(0).repeat(3, *(1,) * v.dim()) for k, v in
        ...      field.init_weights(g).items()}
        >>> hc = field.condition(w, torch.randn(5, 2, generator=g))
        >>> x = torch.randn(3, 5, 2, generator=g)
        >>> with torch.no_grad():
        ...     bool(torch.equal(TrunkSolve(field, w, hc, 2)(0.3, x), field(w, x, 0.3, hc)))
        True
    """

    def __init__(
        self, field: VelocityField, w: dict[str, torch.Tensor], hc: torch.Tensor, m: int
    ) -> None:
        k, n, h = hc.shape
        self.field, self.w, self.hc, self.shape = field, w, hc, (k, n, m)
        first = torch.empty((k, n, m, h), dtype=hc.dtype, device=hc.device)
        self._buffers = [first.view(k, n * m, h)]
        if field.depth > 1:
            self._buffers.append(torch.empty_like(self._buffers[0]))
        self._first = first
        self._x_w = w["x_w"][:, None, None, :]
        self._hidden = [
            (w[f"h{i}_b"].unsqueeze(1), w[f"h{i}_w"].transpose(1, 2))
            for i in range(field.depth - 1)
        ]
        self._out_w, self._out_b = w["out_w"].unsqueeze(1), w["out_b"]
        self._bases: dict[float, torch.Tensor] = {}

    def _base(self, t: float) -> torch.Tensor:
        """``hc + W_t emb(t)`` [K, n, 1, H]; the buffer of the older of two kept is reused."""
        base = self._bases.get(t)
        if base is None:
            spare = self._bases.pop(next(iter(self._bases))) if len(self._bases) == 2 else None
            term = (self.w["t_w"] @ self.field.embed(t).to(self.hc.device)).unsqueeze(1)
            base = self._bases[t] = torch.add(
                self.hc, term, out=torch.empty_like(self.hc) if spare is None else spare
            )
        return base.unsqueeze(2)

    def __call__(self, t: float, x: torch.Tensor) -> torch.Tensor:
        """Velocity [K, n, m] at the states ``x`` [K, n, m] (or [1, n, m]) and time ``t``."""
        k, n, m = self.shape
        a = torch.addcmul(self._base(t), x.unsqueeze(-1), self._x_w, out=self._first)
        F.silu(a, inplace=True)
        z = self._buffers[0]
        for i, (bias, weight) in enumerate(self._hidden):
            z = F.silu(torch.baddbmm(bias, z, weight, out=self._buffers[(i + 1) % 2]), inplace=True)
        return (z.mul_(self._out_w).sum(-1) + self._out_b).view(k, n, m)
