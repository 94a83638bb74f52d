"""The classifier surrogate: a conditional flow over the tagger score (arXiv:2402.15558).

``surrogate(features, draws=K)`` returns a :class:`ScoreDistribution` over the score in the
modelled (unbounded, e.g. logit) space, for N objects and K Bayesian weight draws. In 1-D the
flow map from the base N(0, 1) at t=0 to the score at t=1 is monotone, so

    P(score > w | c) = 1 - Phi(z_w),

with z_w the threshold integrated *backwards* from t=1 to t=0: an exact tag probability with
one ODE solve per (object, draw, threshold), no sampling noise, all thresholds in one batched
solve. Sampling (forward ODE) gives one score per object that serves every working point.

Out of support: the surrogate stores each feature's training range (0.1% and 99.9%
quantiles) and, attached by :meth:`Surrogate.set_support`, a joint support score
(:mod:`surrotag.surrogates.support`: per truth-category cell, a kNN distance to training
rows). :meth:`Surrogate.ood_mask` flags every object outside either, and
:attr:`ScoreDistribution.ood` carries the flags with each result, so callers treat flagged
objects conservatively. Surrogates saved without a joint support check the box only
(:data:`~surrotag.surrogates.support.BOX_ONLY_NOTE`). The Bayesian spread is no substitute
for the flag: beyond the support the tag probability can fall to zero and its absolute
spread with it.

Example:
    >>> s = Surrogate(["pt"], hidden=8, depth=2)
    >>> s(torch.zeros(3, 1)).prob_above([0.0]).shape
    torch.Size([1, 3, 1])

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558; Chen et al., "Neural
    ordinary differential equations", arXiv:1806.07366 (change of variables).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from .bayes import METHODS, MeanFieldWeights, PointWeights, SampleStack, WeightPosterior
from .errors import SurrogateError, SurrogateInputError
from .ode import check_nodes, dopri5, rk4
from .support import BOX_ONLY_NOTE, Support, SupportResult
from .threads import solve_workers
from .velocity import VelocityField

__all__ = [
    "CHUNK_ROWS",
    "CHUNK_ROWS_THREADED",
    "CHUNK_ROWS_WORKERS",
    "FORMAT",
    "ScoreDistribution",
    "Surrogate",
    "chunk_rows",
]

FORMAT = "surrotag-surrogate/1"
_SOLVERS = ("rk4", "dopri5")

#: Rows (draws x objects x values) solved together on one CPU thread outside
#: :func:`~surrotag.surrogates.threads.solve_threads`, and on other devices.
CHUNK_ROWS = 2048
#: Rows solved together on torch's own intra-op threads (more than one, outside
#: ``solve_threads``): every parallel operation ends at an OpenMP barrier, so fewer, larger
#: chunks win (16,384 rows were 1.6-12x faster than 2048 with 2 threads on a loaded machine).
CHUNK_ROWS_THREADED = 16_384
#: Rows of one chunk that a worker thread of ``solve_threads`` solves on one intra-op thread.
#: Measured with 2 workers on 2 cores (``tests/benchmarks/bench_threads.py``; artefact
#: ``bench_threads_chunks_2026-11-30.json``): 8192 rows beat 2048, 4096 and 16,384, quiet
#: (0.32 s against 0.44, 0.34, 0.41) and under the benchmark's own background load (0.59 s
#: against 0.71, 0.74, 0.65).
CHUNK_ROWS_WORKERS = 8192
#: Objects per block of the out-of-support check, always (the verdicts do not depend on
#: the number of workers); the blocks go to the workers of ``solve_threads``.
OOD_CHUNK_OBJECTS = 16_384
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_T = TypeVar("_T")


def chunk_rows(device: torch.device | str = "cpu", threads: int | None = None) -> int:
    """Rows per chunk of a solve on ``device`` with ``threads`` torch threads.

    Inside :func:`~surrotag.surrogates.threads.solve_threads` on the CPU:
    :data:`CHUNK_ROWS_WORKERS`, whatever the number of workers (so the chunks, and the
    probabilities bit for bit, do not depend on it). Otherwise :data:`CHUNK_ROWS_THREADED`
    on the CPU with several torch threads, else :data:`CHUNK_ROWS`. Chunking never changes a
    probability beyond float rounding: the rows are independent.

    Args:
        device: device of the solve (only the CPU has threads to synchronise).
        threads: torch intra-op threads (default: ``torch.get_num_threads()``).

    Returns:
        Rows (draws x objects x values) per chunk.
    """
    if torch.device(device).type != "cpu":
        return CHUNK_ROWS
    if solve_workers() is not None:
        return CHUNK_ROWS_WORKERS
    threads = torch.get_num_threads() if threads is None else threads
    return CHUNK_ROWS_THREADED if threads > 1 else CHUNK_ROWS


def _graph(grad: bool) -> contextlib.AbstractContextManager[Any]:
    """``torch.no_grad()`` unless ``grad`` (then autograd runs as the caller set it)."""
    return contextlib.nullcontext() if grad else torch.no_grad()


def _in_workers(solve_chunk: Callable[[int], _T], starts: range, workers: int) -> list[_T]:
    """``[solve_chunk(start) for start in starts]`` on ``workers`` threads, in order.

    torch releases the GIL inside its kernels, so the threads run on separate cores; grad
    mode is per thread, hence the explicit ``no_grad`` (only graph-free solves come here).
    """

    def run(start: int) -> torch.Tensor:
        with torch.no_grad():
            return solve_chunk(start)

    with ThreadPoolExecutor(max_workers=min(workers, len(starts))) as pool:
        return list(pool.map(run, starts))


def _map_chunks(fn: Callable[[int], _T], starts: range, workers: int | None) -> list[_T]:
    """``[fn(start) for start in starts]``, on :func:`_in_workers` when there are several
    workers (graph-free work only) and several chunks."""
    if workers is not None and workers > 1 and len(starts) > 1:
        return _in_workers(fn, starts, workers)
    return [fn(start) for start in starts]


def _std_normal_sf(z: torch.Tensor) -> torch.Tensor:
    """1 - Phi(z), accurate in the tails."""
    return 0.5 * torch.erfc(z / math.sqrt(2.0))


class ScoreDistribution:
    """Conditional score distribution of N objects under K weight draws.

    Built by :meth:`Surrogate.__call__`. The conditioning term of the velocity field is
    computed per chunk of objects, once per solve, and reused at every solver step of that
    chunk: memory stays bounded however large K x N is (a [K, N, H] term for 1e5 jets and
    20 draws alone would take half a GiB).

    Attributes:
        k: Number of weight draws.
        n: Number of objects.
        ood: Bool [N], True where the object is out of the training support
            (:meth:`Surrogate.ood_mask`; evaluated on first access).
        steps: RK4 steps of the solves.
        solver: ``"rk4"`` or ``"dopri5"``.
        grid_power: RK4 time grid (1: equal steps; > 1: crowded towards the data end,
            :func:`~surrotag.surrogates.ode.time_grid`).
        nodes: RK4 nodes in unit time instead of ``grid_power`` (None: the power grid).
    """

    def __init__(
        self,
        surrogate: Surrogate,
        weights: dict[str, torch.Tensor],
        c: torch.Tensor,
        ood: torch.Tensor | Callable[[], torch.Tensor],
        steps: int,
        solver: str,
        grid_power: float = 1.0,
        nodes: tuple[float, ...] | None = None,
    ) -> None:
        self.surrogate = surrogate
        self.weights = weights
        self.c = c
        self._ood = ood
        self.k, self.n = next(iter(weights.values())).shape[0], c.shape[0]
        self.steps = steps
        self.solver = solver
        self.grid_power = float(grid_power)
        self.nodes = nodes

    @property
    def ood(self) -> torch.Tensor:
        """Bool [N]: out of the training support (computed once, on first access)."""
        if callable(self._ood):
            self._ood = self._ood()
        return self._ood

    def condition(
        self, start: int = 0, stop: int | None = None, *, grad: bool = False
    ) -> torch.Tensor:
        """Conditioning term [K, n, H] of objects ``start:stop`` (the conditioner MLP).

        Args:
            start, stop: the objects (rows of the features).
            grad: keep the autograd graph to the features (else computed under
                ``torch.no_grad``).
        """
        with _graph(grad):
            return self.surrogate.field.condition(self.weights, self.c[start:stop])

    def _solve(self, x: torch.Tensor, t0: float, t1: float, grad: bool = False) -> torch.Tensor:
        """Solve the ODE for states x [K, N, M], in chunks of objects of ~:func:`chunk_rows`
        (``grad``: the conditioning terms keep their graph to the features).

        Inside :func:`~surrotag.surrogates.threads.solve_threads` the chunks go to that
        many worker threads, each running torch on one thread: no operation waits at a
        parallel barrier for a core another process holds, and the chunks (hence the
        probabilities, bit for bit) do not depend on the number of workers.
        """
        s = self.surrogate
        k, n, m = x.shape
        per_chunk = max(1, chunk_rows(x.device) // (k * m))
        starts = range(0, n, per_chunk)

        def solve_chunk(start: int) -> torch.Tensor:
            hc = self.condition(start, start + per_chunk, grad=grad)
            xc = x[:, start : start + per_chunk]
            if grad:

                def field(t: float, y: torch.Tensor) -> torch.Tensor:
                    return s.field(self.weights, y, t, hc)

            else:
                field = s.field.solve_trunk(self.weights, hc, m)
            if self.solver == "dopri5":
                return dopri5(field, xc, t0, t1, rtol=s.rtol, atol=s.atol)
            return rk4(field, xc, t0, t1, self.steps, self.grid_power, self.nodes)

        out = _map_chunks(
            solve_chunk, starts, solve_workers() if x.device.type == "cpu" and not grad else None
        )
        return out[0] if len(out) == 1 else torch.cat(out, dim=1)

    def _thresholds(self, thresholds: Any) -> torch.Tensor:
        w = torch.as_tensor(
            np.asarray(thresholds, dtype=np.float32)
            if not isinstance(thresholds, torch.Tensor)
            else thresholds,
            dtype=self.c.dtype,
            device=self.c.device,
        )
        if w.dim() == 0:
            w = w.view(1)
        if w.dim() == 1:
            w = w.unsqueeze(0).expand(self.n, -1)
        if w.dim() != 2 or w.shape[0] != self.n:
            raise SurrogateInputError(
                f"thresholds of shape {tuple(w.shape)}: expected [M] or [N={self.n}, M]"
            )
        if not torch.isfinite(w).all():
            raise SurrogateInputError("thresholds hold NaN or inf: pass finite score values")
        return w

    def _to_base(self, score: torch.Tensor, grad: bool = False) -> torch.Tensor:
        """Score [N, M] -> base-space values z_w [K, N, M] by the backward ODE (t=1 -> 0)."""
        s = self.surrogate
        x = ((score - s.score_loc) / s.score_scale).unsqueeze(0).expand(self.k, -1, -1)
        return self._solve(x.contiguous(), 1.0, 0.0, grad)

    def prob_above(self, thresholds: Any, *, grad: bool = False) -> torch.Tensor:
        """Exact P(score > w | c) per draw, object and threshold.

        Args:
            thresholds: Thresholds w in the modelled score space, [M] (shared) or [N, M]
                (a tensor keeps its precision; other values pass through float32).
            grad: keep the autograd graph from the features given to the surrogate (a
                tensor with ``requires_grad``) to the probabilities: the same solve, not
                run under ``torch.no_grad`` (the weight draws stay constants). Default:
                no graph.

        Returns:
            Probabilities [K, N, M].

        Example:
            >>> s = Surrogate(["pt"], hidden=8, depth=2)
            >>> x = torch.zeros(2, 1, requires_grad=True)
            >>> p = s(x).prob_above([0.0], grad=True)
            >>> p.requires_grad, s(x).prob_above([0.0]).requires_grad
            (True, False)
        """
        with _graph(grad):
            return _std_normal_sf(self._to_base(self._thresholds(thresholds), grad))

    def nominal_prob_above(self, thresholds: Any) -> torch.Tensor:
        """Mean over the weight draws of :meth:`prob_above`, [N, M]."""
        return self.prob_above(thresholds).mean(0)

    def spread(self, thresholds: Any) -> torch.Tensor:
        """Standard deviation over the weight draws of :meth:`prob_above`, [N, M] (0 if K=1)."""
        p = self.prob_above(thresholds)
        return p.std(0, correction=1) if self.k > 1 else torch.zeros_like(p[0])

    @torch.no_grad()
    def quantile(self, q: Any) -> torch.Tensor:
        """Score quantiles per draw and object, exact up to the solver error.

        The 1-D flow map is monotone, so the q-quantile of the score is the base quantile
        Phi^-1(q) carried forward from t=0 to t=1.

        Args:
            q: Probabilities in (0, 1), [Q].

        Returns:
            Scores [K, N, Q] in the modelled space.
        """
        s = self.surrogate
        q = torch.as_tensor(np.asarray(q, dtype=np.float64).reshape(-1), dtype=self.c.dtype)
        if not bool(((q > 0) & (q < 1)).all()):
            raise SurrogateInputError(f"quantile levels {q.tolist()} must lie in (0, 1)")
        z = math.sqrt(2.0) * torch.erfinv(2 * q - 1)
        x0 = z.to(self.c.device).view(1, 1, -1).expand(self.k, self.n, -1).contiguous()
        return self._solve(x0, 0.0, 1.0) * s.score_scale + s.score_loc

    @torch.no_grad()
    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One score per object and draw by the forward ODE (t=0 -> 1), [K, N].

        One sample serves every working point (the cuts are nested).
        """
        s = self.surrogate
        x0 = torch.randn((self.k, self.n, 1), generator=generator, dtype=self.c.dtype)
        x1 = self._solve(x0.to(self.c.device), 0.0, 1.0)[..., 0]
        return x1 * s.score_scale + s.score_loc

    def log_prob(self, score: Any) -> torch.Tensor:
        """Log density of the score by the instantaneous change of variables.

        ``log p(score) = log N(z_0) - int_0^1 dv/dx(x_t, t) dt - log(score_scale)`` with the
        1-D divergence dv/dx exact by autograd, integrated along the backward ODE.

        Args:
            score: Scores [N] or [N, M] in the modelled space.

        Returns:
            Log densities [K, N] or [K, N, M] (per unit of score).
        """
        w = torch.as_tensor(score, dtype=self.c.dtype, device=self.c.device)
        squeeze = w.dim() == 1
        w = self._thresholds(w.unsqueeze(-1) if squeeze else w)
        s = self.surrogate
        x = ((w - s.score_loc) / s.score_scale).unsqueeze(0).expand(self.k, -1, -1)
        state = torch.stack([x, torch.zeros_like(x)], dim=-1)
        hc = self.condition()

        def aug(t: float, y: torch.Tensor) -> torch.Tensor:
            with torch.enable_grad():
                xi = y[..., 0].detach().requires_grad_(True)
                v = s.field(self.weights, xi, t, hc)
                (div,) = torch.autograd.grad(v.sum(), xi)
            return torch.stack([v.detach(), div], dim=-1)

        with torch.no_grad():
            if self.solver == "dopri5":
                y0 = dopri5(aug, state, 1.0, 0.0, rtol=s.rtol, atol=s.atol)
            else:
                y0 = rk4(aug, state, 1.0, 0.0, self.steps, self.grid_power, self.nodes)
        z, a = y0[..., 0], y0[..., 1]
        out = -0.5 * z**2 - _LOG_SQRT_2PI + a - torch.log(s.score_scale)
        return out[..., 0] if squeeze else out


class Surrogate(nn.Module):
    """Conditional flow-matching surrogate of a tagger score with Bayesian weights.

    Args:
        feature_names: Names of the conditioning features, in column order.
        hidden: Width of the velocity trunk (evaluated at every solver stage).
        depth: Number of hidden SiLU layers of the trunk.
        n_freq: Frequency pairs of the time embedding.
        cond_hidden: Width of the conditioner MLP (evaluated once per object and draw).
        cond_depth: Hidden layers of the conditioner (0: a linear conditioning term).
        bayes: ``"none"``, ``"vi"`` or ``"mcmc"``.
        bayes_options: Method options: ``prior_std`` and ``init_std`` (vi: prior width and
            initial posterior width of every weight), ``n_samples`` (mcmc).
        draws: Default number of weight draws of :meth:`__call__`.
        solver: ``"rk4"`` (default) or ``"dopri5"``.
        steps: RK4 steps.
        grid_power: RK4 time grid: 1 for equal steps, > 1 for steps crowded towards the
            data end t = 1 (:func:`~surrotag.surrogates.ode.time_grid`).
        nodes: RK4 nodes in unit time, ``steps + 1`` rising from 0 to 1, instead of
            ``grid_power`` (fitted by :func:`~surrotag.surrogates.solver_choice.choose_solver`).
        rtol: dopri5 relative tolerance.
        atol: dopri5 absolute tolerance.
        seed: Seed of the default generator of the VI weight draws (reproducible results).
    """

    def __init__(
        self,
        feature_names: list[str],
        *,
        hidden: int = 64,
        depth: int = 2,
        n_freq: int = 3,
        cond_hidden: int = 128,
        cond_depth: int = 2,
        bayes: str = "none",
        bayes_options: dict | None = None,
        draws: int = 1,
        solver: str = "rk4",
        steps: int = 8,
        grid_power: float = 1.0,
        nodes: Sequence[float] | None = None,
        rtol: float = 1e-6,
        atol: float = 1e-7,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if bayes not in METHODS:
            raise SurrogateError(f"bayes={bayes!r} unknown: choose one of {', '.join(METHODS)}")
        if solver not in _SOLVERS:
            raise SurrogateError(f"solver={solver!r} unknown: choose one of {', '.join(_SOLVERS)}")
        self.feature_names = list(feature_names)
        nf = len(self.feature_names)
        self.field = VelocityField(
            nf,
            hidden=hidden,
            depth=depth,
            n_freq=n_freq,
            cond_hidden=cond_hidden,
            cond_depth=cond_depth,
        )
        opts = dict(bayes_options or {})
        shapes = self.field.shapes()
        init = self.field.init_weights(torch.Generator().manual_seed(seed))
        self.weights: WeightPosterior
        if bayes == "none":
            self.weights = PointWeights(shapes, init)
        elif bayes == "vi":
            self.weights = MeanFieldWeights(
                shapes,
                prior_std=opts.get("prior_std", 1.0),
                init=init,
                init_std=opts.get("init_std", 1e-3),
            )
        else:
            self.weights = SampleStack(shapes, n_samples=int(opts.get("n_samples", max(draws, 1))))
        self.bayes = bayes
        self.default_draws = 1 if bayes == "none" else int(draws)
        self.solver, self.steps, self.rtol, self.atol = solver, int(steps), rtol, atol
        self.grid_power = float(grid_power)
        if not self.grid_power >= 1.0:
            raise SurrogateError(f"grid_power={grid_power} must be >= 1 (1: equal steps)")
        self.nodes = None if nodes is None else check_nodes(nodes, self.steps)
        self.seed = int(seed)
        self.register_buffer("feature_mean", torch.zeros(nf))
        self.register_buffer("feature_std", torch.ones(nf))
        self.register_buffer("feature_low", torch.full((nf,), -math.inf))
        self.register_buffer("feature_high", torch.full((nf,), math.inf))
        self.register_buffer("score_loc", torch.zeros(()))
        self.register_buffer("score_scale", torch.ones(()))
        self.support: Support | None = None

    # -- data statistics -------------------------------------------------------------------
    def set_statistics(self, features: np.ndarray, scores: np.ndarray) -> None:
        """Set standardisation and training support (0.1%, 99.9% quantiles) from data."""
        f = np.asarray(features, dtype=np.float64)
        s = np.asarray(scores, dtype=np.float64)
        std = f.std(0)
        self.feature_mean.copy_(torch.as_tensor(f.mean(0)))
        self.feature_std.copy_(torch.as_tensor(np.where(std > 0, std, 1.0)))
        self.feature_low.copy_(torch.as_tensor(np.quantile(f, 0.001, axis=0)))
        self.feature_high.copy_(torch.as_tensor(np.quantile(f, 0.999, axis=0)))
        self.score_loc.fill_(float(s.mean()))
        self.score_scale.fill_(float(s.std()) if s.std() > 0 else 1.0)

    def _features(self, features: Any) -> torch.Tensor:
        c = torch.as_tensor(
            np.asarray(features) if not isinstance(features, torch.Tensor) else features,
            dtype=self.feature_mean.dtype,
        )
        c = c.to(self.feature_mean.device)
        nf = len(self.feature_names)
        if c.dim() != 2 or c.shape[1] != nf:
            raise SurrogateInputError(
                f"features of shape {tuple(c.shape)}: expected [N, {nf}] with columns "
                f"{', '.join(self.feature_names)}"
            )
        bad = ~torch.isfinite(c).all(0)
        if bad.any():
            names = [n for n, b in zip(self.feature_names, bad.tolist(), strict=True) if b]
            raise SurrogateInputError(
                f"features {', '.join(names)} hold NaN or inf: drop or fill those objects first"
            )
        return c

    def standardise(self, features: Any) -> torch.Tensor:
        """Features [N, F] -> standardised tensor [N, F] (validated)."""
        return (self._features(features) - self.feature_mean) / self.feature_std

    # -- training support ------------------------------------------------------------------
    def set_support(self, support: Support | None) -> None:
        """Attach the joint training support (:func:`~surrotag.surrogates.support.fit_support`
        on the training rows), saved with the model; None detaches it."""
        if support is not None and list(support.feature_names) != self.feature_names:
            raise SurrogateError(
                f"support features {support.feature_names} differ from the model's "
                f"{self.feature_names}: fit it on the training table's feature columns"
            )
        self.support = None if support is None else support.to(self.feature_mean.device)

    @property
    def ood_method(self) -> str:
        """``joint`` (box, truth categories and kNN distance) or ``box`` (old surrogates)."""
        return "box" if self.support is None else "joint"

    @property
    def ood_note(self) -> str | None:
        """What the out-of-support check misses (None when the joint support is stored)."""
        return BOX_ONLY_NOTE if self.support is None else None

    def out_of_support(self, features: Any) -> SupportResult:
        """Out-of-support verdict per object: box, unseen category, kNN score, flag.

        The surrogate's own box (card ``support``) always applies; the joint score only when
        a support is attached (``score`` is NaN and no category is unseen otherwise).
        """
        x = self._features(features)
        box = ((x < self.feature_low) | (x > self.feature_high)).any(1)
        if self.support is None:
            score = torch.full_like(x[:, 0], math.nan)
            return SupportResult(box, score, box, torch.zeros_like(box))
        support = self.support
        parts = _map_chunks(
            lambda start: support.evaluate(x[start : start + OOD_CHUNK_OBJECTS]),
            range(0, max(1, x.shape[0]), OOD_CHUNK_OBJECTS),
            solve_workers() if x.device.type == "cpu" else None,
        )
        joint = (
            parts[0]
            if len(parts) == 1
            else SupportResult(*map(torch.cat, zip(*parts, strict=True)))
        )
        return joint._replace(flag=joint.flag | box, outside_box=joint.outside_box | box)

    def ood_mask(self, features: Any) -> torch.Tensor:
        """Bool [N]: True where the object is out of the training support."""
        return self.out_of_support(features).flag

    # -- the distribution ------------------------------------------------------------------
    def forward(
        self,
        features: Any,
        draws: int | None = None,
        *,
        generator: torch.Generator | None = None,
        steps: int | None = None,
        solver: str | None = None,
        grid_power: float | None = None,
        nodes: Sequence[float] | None = None,
    ) -> ScoreDistribution:
        """Score distribution of N objects under K weight draws.

        Args:
            features: [N, F] in the columns of ``feature_names`` (numpy or tensor).
            draws: Number of weight draws K (default: the trained default; 1 for ``none``).
            generator: Generator of the VI draws; default a fresh one seeded with ``seed``,
                so repeated calls give identical draws.
            steps: RK4 steps (default ``self.steps``).
            solver: ``"rk4"`` or ``"dopri5"`` (default ``self.solver``).
            grid_power: RK4 time grid (default ``self.grid_power``).
            nodes: RK4 nodes in unit time, ``steps + 1`` of them (default ``self.nodes``
                unless ``steps`` or ``grid_power`` is given: those ask for a power grid).
        """
        k = self.default_draws if draws is None else int(draws)
        if nodes is not None and steps is None:
            steps = len(nodes) - 1
        if k < 1:
            raise SurrogateInputError(f"draws={k} must be >= 1")
        solver = solver or self.solver
        if solver not in _SOLVERS:
            raise SurrogateError(f"solver={solver!r} unknown: choose one of {', '.join(_SOLVERS)}")
        x = self._features(features)
        c = (x - self.feature_mean) / self.feature_std
        if generator is None:
            generator = torch.Generator().manual_seed(self.seed)
        with torch.no_grad():
            w = self.weights.draws(k, generator)
        return ScoreDistribution(
            self,
            w,
            c,
            lambda: self.ood_mask(x),
            steps or self.steps,
            solver,
            self.grid_power if grid_power is None else grid_power,
            self._nodes(steps, grid_power, nodes),
        )

    def _nodes(
        self, steps: int | None, grid_power: float | None, nodes: Sequence[float] | None
    ) -> tuple[float, ...] | None:
        """The RK4 nodes of one call: given, the model's own, or None (a power grid)."""
        if nodes is not None:
            return check_nodes(nodes, steps or self.steps)
        return self.nodes if steps is None and grid_power is None else None

    # -- persistence -----------------------------------------------------------------------
    def config(self) -> dict:
        """JSON-able description: architecture, Bayesian method, features, solver defaults."""
        return {
            "format": FORMAT,
            "feature_names": list(self.feature_names),
            "architecture": {k: v for k, v in self.field.config().items() if k != "n_features"},
            "bayes": {**self.weights.config(), "draws": self.default_draws},
            "solver": {
                "method": self.solver,
                "steps": self.steps,
                **({} if self.grid_power == 1.0 else {"grid_power": self.grid_power}),
                **({} if self.nodes is None else {"nodes": list(self.nodes)}),
                "rtol": self.rtol,
                "atol": self.atol,
            },
            "seed": self.seed,
            **({} if self.support is None else {"support": self.support.config()}),
        }

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor of the model (weights, VI mu/rho or MCMC stacks, buffers), on CPU."""
        return {k: v.detach().cpu().clone().contiguous() for k, v in self.state_dict().items()}

    @classmethod
    def from_parts(cls, config: dict, tensors: dict[str, torch.Tensor]) -> Surrogate:
        """Rebuild a surrogate from :meth:`config` and :meth:`tensors` (exact round trip)."""
        if config.get("format") != FORMAT:
            raise SurrogateError(
                f"surrogate config format {config.get('format')!r}: this surrotag reads {FORMAT}"
            )
        bayes = dict(config["bayes"])
        method = bayes.pop("method")
        draws = bayes.pop("draws")
        sol = config["solver"]
        model = cls(
            config["feature_names"],
            **config["architecture"],
            bayes=method,
            bayes_options=bayes,
            draws=draws,
            solver=sol["method"],
            steps=sol["steps"],
            grid_power=sol.get("grid_power", 1.0),
            nodes=sol.get("nodes"),
            rtol=sol["rtol"],
            atol=sol["atol"],
            seed=config["seed"],
        )
        if "support" in config:
            prefix = "support."
            parts = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            model.set_support(Support(config["support"], parts))
        try:
            model.load_state_dict(tensors, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "mismatch"
            raise SurrogateError(
                f"surrogate tensors do not match the config ({first}): weights and card are from "
                "different models; re-export both together"
            ) from exc
        return model
