"""ODE solvers on batched tensors: fixed-step RK4 and adaptive Dormand–Prince 5(4).

The state is one tensor of any shape; time is a Python float shared by the whole batch, so
the velocity field can precompute everything that depends on t once per stage. Both solvers
integrate forwards (t1 > t0) or backwards (t1 < t0).

RK4 takes equal steps, a graded grid or nodes of its own (:func:`time_grid`): learnt
flow-matching fields bend most near the data end t = 1, and crowding the steps there cuts
the error at a fixed step count (the card of ``top-tagger-delphes`` records, 7 steps: max
|dP| 1.0e-2 on equal steps, 1.2e-3 with ``grid_power`` 2). Nodes fitted to a surrogate
(:func:`surrotag.surrogates.solver_choice.optimise_nodes`) do better still (there: 4.8e-4);
``surrotag reference ship-solver`` measures every choice against adaptive Dormand-Prince.

References:
    Dormand & Prince, J. Comput. Appl. Math. 6 (1980) 19; Hairer, Nørsett & Wanner,
    "Solving Ordinary Differential Equations I", Sect. II.4-5.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch

from .errors import SurrogateError

__all__ = ["check_nodes", "dopri5", "rk4", "time_grid"]

Field = Callable[[float, torch.Tensor], torch.Tensor]


def check_nodes(nodes: Sequence[float], steps: int) -> tuple[float, ...]:
    """Validate RK4 nodes in unit time: ``steps + 1`` increasing values from 0 to 1.

    Example:
        >>> check_nodes([0, 0.5, 1], 2)
        (0.0, 0.5, 1.0)
        >>> check_nodes([0, 0.7, 0.6, 1], 3)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        surrotag.surrogates.errors.SurrogateError: rk4: nodes [0.0, 0.7, 0.6, 1.0] must rise ...
    """
    out = tuple(float(t) for t in nodes)
    rising = all(b > a for a, b in itertools.pairwise(out))
    if len(out) != steps + 1 or not rising or out[0] != 0.0 or out[-1] != 1.0:
        raise SurrogateError(
            f"rk4: nodes {list(out)} must rise strictly from 0 to 1 "
            f"({steps} steps: {steps + 1} nodes)"
        )
    return out


def time_grid(
    t0: float,
    t1: float,
    steps: int,
    power: float = 1.0,
    nodes: Sequence[float] | None = None,
) -> list[float]:
    """Times of the ``steps + 1`` RK4 nodes from ``t0`` to ``t1``, crowded towards the later time.

    With ``a, b = min(t0, t1), max(t0, t1)`` and unit-time nodes ``tau_j`` the times are
    ``a + (b - a) tau_j``, visited from ``t0`` to ``t1``. By default
    ``tau_j = 1 - (1 - j / steps)^power``: equal steps for ``power`` 1, steps shrinking
    towards ``b`` (the flow's data end t = 1) for ``power`` > 1. ``nodes`` gives the
    ``tau_j`` instead (e.g. fitted to one surrogate's field).

    Args:
        t0: Start time.
        t1: End time.
        steps: Number of steps, >= 1.
        power: Grading, >= 1 (ignored when ``nodes`` are given).
        nodes: Unit-time nodes ``tau_0 = 0 < ... < tau_steps = 1`` (:func:`check_nodes`).

    Returns:
        The node times, first ``t0``, last ``t1``.

    Example:
        >>> [round(t, 3) for t in time_grid(0.0, 1.0, 4, power=2.0)]
        [0.0, 0.438, 0.75, 0.938, 1.0]
        >>> [round(t, 3) for t in time_grid(1.0, 0.0, 2)]
        [1.0, 0.5, 0.0]
        >>> time_grid(1.0, 0.0, 2, nodes=[0.0, 0.75, 1.0])
        [1.0, 0.75, 0.0]
    """
    if steps < 1:
        raise SurrogateError(f"rk4: steps={steps} must be >= 1")
    if nodes is not None:
        tau = check_nodes(nodes, steps)
    elif not power >= 1.0:
        raise SurrogateError(f"rk4: grid power {power} must be >= 1")
    else:
        tau = tuple(1.0 - (1.0 - j / steps) ** power for j in range(steps + 1))
    a, b = min(t0, t1), max(t0, t1)
    times = [a + (b - a) * t for t in tau]
    times[0], times[-1] = a, b
    return times if t1 >= t0 else times[::-1]


def rk4(
    f: Field,
    x: torch.Tensor,
    t0: float,
    t1: float,
    steps: int,
    grid_power: float = 1.0,
    nodes: Sequence[float] | None = None,
) -> torch.Tensor:
    """Classical fourth-order Runge–Kutta with ``steps`` steps from t0 to t1.

    Args:
        f: Velocity ``f(t, x)`` returning a tensor shaped like ``x``.
        x: State at ``t0`` (any shape).
        t0: Start time.
        t1: End time (smaller than ``t0`` for a backward solve).
        steps: Number of steps (4 field evaluations each).
        grid_power: 1 for equal steps, > 1 for steps crowded towards the later time
            (:func:`time_grid`).
        nodes: Unit-time nodes of the steps instead of ``grid_power`` (:func:`time_grid`).

    Returns:
        The state at ``t1``.
    """
    if steps < 1:
        raise SurrogateError(f"rk4: steps={steps} must be >= 1")
    if grid_power == 1.0 and nodes is None:  # equal steps, as every surrogate before grids
        h = (t1 - t0) / steps
        for i in range(steps):
            x = _rk4_step(f, x, t0 + i * h, h)
        return x
    for t, t_next in itertools.pairwise(time_grid(t0, t1, steps, grid_power, nodes)):
        x = _rk4_step(f, x, t, t_next - t)
    return x


def _rk4_step(f: Field, x: torch.Tensor, t: float, h: float) -> torch.Tensor:
    k1 = f(t, x)
    k2 = f(t + 0.5 * h, x + (0.5 * h) * k1)
    k3 = f(t + 0.5 * h, x + (0.5 * h) * k2)
    k4 = f(t + h, x + h * k3)
    return x + (h / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)


# Dormand–Prince 5(4) Butcher tableau (FSAL).
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)


def dopri5(
    f: Field,
    x: torch.Tensor,
    t0: float,
    t1: float,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    max_steps: int = 10_000,
) -> torch.Tensor:
    """Adaptive Dormand–Prince 5(4) with one step size for the whole batch.

    A step is accepted when the largest scaled error over all batch elements,
    ``|err| / (atol + rtol * max(|x|, |x_new|))``, is at most 1: the batch is solved to the
    requested tolerance element by element (the reference for the RK4 step count).

    Args:
        f: Velocity ``f(t, x)``.
        x: State at ``t0``.
        t0: Start time.
        t1: End time (may be smaller than ``t0``).
        rtol: Relative tolerance.
        atol: Absolute tolerance.
        max_steps: Attempted steps before giving up.

    Returns:
        The state at ``t1``.

    Raises:
        SurrogateError: If the solve does not finish within ``max_steps``.
    """
    direction = 1.0 if t1 >= t0 else -1.0
    span = abs(t1 - t0)
    if span == 0.0:
        return x
    h = min(0.05, span)
    t = t0
    k1 = f(t, x)
    for _ in range(max_steps):
        if abs(t1 - t) <= 1e-12 * span:
            return x
        h = min(h, abs(t1 - t))
        hs = direction * h
        ks = [k1]
        for i in range(1, 7):
            dx = sum(a * k for a, k in zip(_A[i], ks, strict=False) if a != 0.0)
            ks.append(f(t + _C[i] * hs, x + hs * dx))
        x5 = x + hs * sum(b * k for b, k in zip(_B5, ks, strict=True) if b != 0.0)
        err = hs * sum((b5 - b4) * k for b5, b4, k in zip(_B5, _B4, ks, strict=True))
        scale = atol + rtol * torch.maximum(x.abs(), x5.abs())
        ratio = float((err.abs() / scale).max())
        if ratio <= 1.0:
            t = t + hs
            x = x5
            k1 = ks[6]
        factor = 0.9 * (1.0 / max(ratio, 1e-10)) ** 0.2
        h = h * min(5.0, max(0.2, factor))
    raise SurrogateError(
        f"dopri5: no convergence in {max_steps} steps (rtol={rtol}, atol={atol}); "
        "loosen the tolerances or check the velocity field for non-finite values"
    )
