"""The RK4 step count and time grid of a surrogate, chosen by the measured solver error.

A trained field is solved with fixed-step RK4 for speed. How many steps it needs, and
whether a time grid crowded towards the data end (:func:`~surrotag.surrogates.ode.time_grid`)
does better than equal steps, depends on how much the learnt paths bend, so both are
*measured*: the exact tag probabilities of a set of objects at a set of thresholds under a
few weight draws are computed once with adaptive Dormand-Prince (the reference) and then
with RK4 at every (steps, grid power) of :data:`STEP_CHOICES` x :data:`GRID_POWERS`; the
fewest steps whose best grid keeps ``max |P_rk4 - P_dopri5|`` within the tolerance win.
The whole table is kept (:class:`SolverCheck`) and goes into the surrogate's card.

References:
    Hairer, Nørsett & Wanner, "Solving Ordinary Differential Equations I", Sect. II.4;
    Lipman et al., "Flow matching for generative modeling", arXiv:2210.02747.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from .flow import Surrogate

__all__ = ["GRID_POWERS", "STEP_CHOICES", "SolverCheck", "choose_solver", "solver_error"]

#: RK4 step counts tried, fewest first.
STEP_CHOICES = (3, 4, 5, 6, 7, 8, 10, 12, 16, 24, 32)
#: Time-grid powers tried at each step count (1: equal steps).
GRID_POWERS = (1.0, 1.25, 1.5, 1.75, 2.0)


@dataclass
class SolverCheck:
    """The chosen solver and the measurement behind it.

    Attributes:
        steps: RK4 steps chosen.
        grid_power: time-grid power chosen (1: equal steps).
        max_error: ``max |P_rk4 - P_dopri5|`` at the choice, over objects x thresholds x
            draws (probability units).
        tolerance: the largest error accepted.
        objects: objects measured.
        thresholds: thresholds in the modelled score space.
        draws: weight draws measured.
        reference: the reference solve (method and tolerances).
        table: every (steps, grid_power, max_error) measured, in order.
        met: whether the choice meets the tolerance (False: the largest step count of
            :data:`STEP_CHOICES`, the best grid there).
    """

    steps: int
    grid_power: float
    max_error: float
    tolerance: float
    objects: int
    thresholds: list[float]
    draws: int
    reference: str
    table: list[dict[str, float]] = field(default_factory=list)
    met: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (the card's ``solver.check``)."""
        return asdict(self)


def _probabilities(
    model: Surrogate, features: Any, thresholds: np.ndarray, draws: int, **solver: Any
) -> torch.Tensor:
    with torch.inference_mode():
        return model(features, draws=draws, **solver).prob_above(thresholds).double()


def solver_error(
    model: Surrogate,
    features: Any,
    thresholds: np.ndarray,
    steps: int,
    grid_power: float = 1.0,
    *,
    draws: int = 4,
) -> float:
    """``max |P_rk4 - P_dopri5|`` of the exact tag probability over objects, thresholds, draws.

    Args:
        model: a trained surrogate.
        features: [N, F] objects to check (e.g. validation rows).
        thresholds: score thresholds [M] in the modelled space.
        steps: RK4 steps.
        grid_power: RK4 time grid.
        draws: weight draws (at most the model's default).
    """
    k = min(model.default_draws, draws)
    reference = _probabilities(model, features, thresholds, k, solver="dopri5")
    fixed = _probabilities(
        model, features, thresholds, k, solver="rk4", steps=steps, grid_power=grid_power
    )
    return float((fixed - reference).abs().max())


def choose_solver(
    model: Surrogate,
    features: Any,
    thresholds: np.ndarray,
    tolerance: float = 1e-3,
    *,
    draws: int = 4,
    steps: tuple[int, ...] = STEP_CHOICES,
    grid_powers: tuple[float, ...] = GRID_POWERS,
) -> SolverCheck:
    """The fewest RK4 steps (and the best time grid there) with solver error <= ``tolerance``.

    Args:
        model: a trained surrogate (left unchanged: set ``model.steps`` and
            ``model.grid_power`` from the result).
        features: [N, F] objects to check.
        thresholds: score thresholds [M] in the modelled space.
        tolerance: largest accepted ``max |P_rk4 - P_dopri5|``.
        draws: weight draws (at most the model's default).
        steps: step counts to try, fewest first.
        grid_powers: time-grid powers to try at each step count.

    Returns:
        The :class:`SolverCheck`; where no choice meets the tolerance, the largest step
        count with its best grid and ``met`` False.
    """
    k = min(model.default_draws, draws)
    thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    reference = _probabilities(model, features, thresholds, k, solver="dopri5")
    table: list[dict[str, float]] = []
    best: dict[str, float] = {}
    for n in steps:
        for power in grid_powers:
            p = _probabilities(
                model, features, thresholds, k, solver="rk4", steps=n, grid_power=power
            )
            table.append(
                {"steps": n, "grid_power": power, "max_error": float((p - reference).abs().max())}
            )
        best = min(table[-len(grid_powers) :], key=lambda row: row["max_error"])
        if best["max_error"] <= tolerance:
            break
    return SolverCheck(
        steps=int(best["steps"]),
        grid_power=float(best["grid_power"]),
        max_error=float(best["max_error"]),
        tolerance=float(tolerance),
        objects=int(reference.shape[1]),
        thresholds=[float(t) for t in thresholds],
        draws=k,
        reference=f"dopri5 rtol={model.rtol:g} atol={model.atol:g}",
        table=table,
        met=bool(best["max_error"] <= tolerance),
    )
