"""The RK4 step count and time grid of a surrogate, chosen by the measured solver error.

A trained field is solved with fixed-step RK4 for speed. How many steps it needs, and
whether a time grid crowded towards the data end (:func:`~surrotag.surrogates.ode.time_grid`)
does better than equal steps, depends on how much the learnt paths bend, so both are
*measured*: the exact tag probabilities of a set of objects at a set of thresholds under a
few weight draws are computed once with adaptive Dormand-Prince (the reference) and then
with RK4 at every (steps, grid power) of :data:`STEP_CHOICES` x :data:`GRID_POWERS`; the
fewest steps whose best grid keeps ``max |P_rk4 - P_dopri5|`` within the tolerance win.
Where the best power grid misses by less than :data:`FIT_WITHIN` x the tolerance, the
nodes themselves are fitted to the surrogate's field (:func:`optimise_nodes`, on half of
the objects) and the fitted grid is measured on all of them, the other half held out: a
better fixed-step solver at the same cost per step. The whole table is kept
(:class:`SolverCheck`) and goes into the surrogate's card.

References:
    Hairer, Nørsett & Wanner, "Solving Ordinary Differential Equations I", Sect. II.4;
    Lipman et al., "Flow matching for generative modeling", arXiv:2210.02747.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from .flow import Surrogate
from .ode import time_grid

__all__ = [
    "FIT_WITHIN",
    "GRID_POWERS",
    "STEP_CHOICES",
    "SolverCheck",
    "check_thresholds",
    "choose_solver",
    "choose_solver_on_support",
    "optimise_nodes",
    "solver_error",
]

#: RK4 step counts tried, fewest first.
STEP_CHOICES = (3, 4, 5, 6, 7, 8, 10, 12, 16, 24, 32)
#: Time-grid powers tried at each step count (1: equal steps).
GRID_POWERS = (1.0, 1.25, 1.5, 1.75, 2.0)
#: Nodes are fitted at a step count whose best power grid misses the tolerance by less than
#: this factor: on the three top-tagger surrogates (2000 objects of their stored supports,
#: 4 draws; ``tests/surrogates/artefacts/solver_2026-12-02.log``) fitting cut the best power
#: grid's error by 1.1-2.5x at the five step counts where it was tried, never 3x.
FIT_WITHIN = 3.0
#: Objects of the stored support measured by :func:`choose_solver_on_support`, and their seed.
SUPPORT_CHECK_ROWS = 2000
SUPPORT_CHECK_SEED = 2121
#: Score quantiles (over the objects) used as thresholds besides the working points.
THRESHOLD_LEVELS = (0.1, 0.3, 0.5, 0.7, 0.9)


def check_thresholds(card: Any, scores: Any) -> np.ndarray:
    """Thresholds of a solver check: the card's working points, then the
    :data:`THRESHOLD_LEVELS` quantiles of ``scores`` (all in the modelled space).

    Args:
        card: the surrogate's :class:`~surrotag.surrogates.card.Card`.
        scores: scores [N] of the check objects in the modelled space.
    """
    return np.concatenate(
        [
            [card.model_threshold(point["name"]) for point in card.working_points],
            np.quantile(np.asarray(scores, dtype=np.float64), THRESHOLD_LEVELS),
        ]
    )


@dataclass
class SolverCheck:
    """The chosen solver and the measurement behind it.

    Attributes:
        steps: RK4 steps chosen.
        grid_power: time-grid power chosen (1: equal steps; the power grid the fitted
            nodes started from when ``nodes`` are given).
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
        nodes: fitted RK4 nodes in unit time (None: the power grid).
        held_out_max_error: with fitted nodes, ``max |P_rk4 - P_dopri5|`` on the half of
            the objects that took no part in the fit (``max_error`` is over all of them).
    """

    steps: int
    grid_power: float
    max_error: float
    tolerance: float
    objects: int
    thresholds: list[float]
    draws: int
    reference: str
    table: list[dict[str, Any]] = field(default_factory=list)
    met: bool = True
    nodes: list[float] | None = None
    held_out_max_error: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (the card's ``solver.check``)."""
        return asdict(self)


def _probabilities(
    model: Surrogate, features: Any, thresholds: np.ndarray, draws: int, **solver: Any
) -> torch.Tensor:
    """Exact tag probabilities [K, N, M] in double precision."""
    with torch.inference_mode():
        return model(features, draws=draws, **solver).prob_above(thresholds).double()


def _unit_nodes(logits: np.ndarray) -> list[float]:
    """Rising nodes from 0 to 1 whose steps are ``softmax([logits, 0])`` (logits clipped
    to +-12, so that no step vanishes).

    Example:
        >>> [round(t, 3) for t in _unit_nodes(np.log([2.0, 1.0]))]
        [0.0, 0.5, 0.75, 1.0]
    """
    z = np.clip(np.concatenate([logits, [0.0]]), -12.0, 12.0)
    w = np.exp(z - z.max())
    inner = np.cumsum(w)[:-1] / w.sum()
    return [0.0, *(float(t) for t in inner), 1.0]


def optimise_nodes(
    model: Surrogate,
    features: Any,
    thresholds: np.ndarray,
    steps: int,
    start: list[float],
    reference: torch.Tensor,
    *,
    draws: int = 4,
    evaluations: int | None = None,
) -> tuple[list[float], float]:
    """RK4 nodes that minimise ``max |P_rk4 - P_dopri5|`` on the given objects.

    Nelder-Mead (derivative free: the objective is a maximum) over the logarithms of the
    step lengths relative to the last, from the nodes ``start``.

    Args:
        model: a trained surrogate.
        features: [N, F] objects of the fit.
        thresholds: score thresholds [M] in the modelled space.
        steps: RK4 steps (``steps + 1`` nodes).
        start: starting nodes in unit time (e.g. the best power grid).
        reference: dopri5 probabilities [K, N, M] of ``features``.
        draws: weight draws K.
        evaluations: most RK4 solves of the fit (default ``40 x steps``).

    Returns:
        ``(nodes, max_error)`` of the best grid found (``start`` when none beats it).
    """
    from scipy.optimize import minimize

    def error(logits: np.ndarray) -> float:
        p = _probabilities(model, features, thresholds, draws, nodes=_unit_nodes(logits))
        return float((p - reference).abs().max())

    h = np.diff(np.asarray(start, dtype=np.float64))
    x0 = np.log(h[:-1] / h[-1])
    if steps < 2:  # one step: nothing to move
        return list(start), error(x0)
    result = minimize(
        error,
        x0,
        method="Nelder-Mead",
        options={"maxfev": evaluations or 40 * steps, "xatol": 1e-3, "fatol": 1e-7},
    )
    if np.array_equal(result.x, x0):  # Nelder-Mead keeps its best vertex: the start won
        return list(start), float(result.fun)
    return _unit_nodes(result.x), float(result.fun)


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
    fit_nodes: bool = True,
    seed: int = 0,
) -> SolverCheck:
    """The fewest RK4 steps (and the best time grid there) with solver error <= ``tolerance``.

    Args:
        model: a trained surrogate (left unchanged: set ``model.steps``,
            ``model.grid_power`` and ``model.nodes`` from the result).
        features: [N, F] objects to check.
        thresholds: score thresholds [M] in the modelled space.
        tolerance: largest accepted ``max |P_rk4 - P_dopri5|``.
        draws: weight draws (at most the model's default).
        steps: step counts to try, fewest first.
        grid_powers: time-grid powers to try at each step count.
        fit_nodes: fit the nodes where the best power grid misses by less than
            :data:`FIT_WITHIN` x ``tolerance`` (:func:`optimise_nodes`).
        seed: seed of the split of the objects into the fit half and the held-out half.

    Returns:
        The :class:`SolverCheck`; where no choice meets the tolerance, the largest step
        count with its best grid and ``met`` False.
    """
    k = min(model.default_draws, draws)
    thresholds = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    reference = _probabilities(model, features, thresholds, k, solver="dopri5")
    n_objects = int(reference.shape[1])
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n_objects))
    fit, held_out = order[: n_objects // 2], order[n_objects // 2 :]
    x = features if torch.is_tensor(features) else torch.as_tensor(np.asarray(features))
    table: list[dict[str, Any]] = []
    best: dict[str, Any] = {}
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
        if fit_nodes and n >= 2 and n_objects >= 2 and best["max_error"] <= FIT_WITHIN * tolerance:
            start = time_grid(0.0, 1.0, n, best["grid_power"])
            nodes, fit_error = optimise_nodes(
                model, x[fit], thresholds, n, start, reference[:, fit], draws=k
            )
            p = _probabilities(model, features, thresholds, k, nodes=nodes)
            row = {
                "steps": n,
                "grid_power": best["grid_power"],
                "nodes": nodes,
                "max_error": float((p - reference).abs().max()),
                "fit_max_error": fit_error,
                "held_out_max_error": float((p - reference)[:, held_out].abs().max()),
            }
            table.append(row)
            if row["max_error"] <= tolerance:
                best = row
                break
    return SolverCheck(
        steps=int(best["steps"]),
        grid_power=float(best["grid_power"]),
        max_error=float(best["max_error"]),
        tolerance=float(tolerance),
        objects=n_objects,
        thresholds=[float(t) for t in thresholds],
        draws=k,
        reference=f"dopri5 rtol={model.rtol:g} atol={model.atol:g}",
        table=table,
        met=bool(best["max_error"] <= tolerance),
        nodes=best.get("nodes"),
        held_out_max_error=best.get("held_out_max_error"),
    )


def choose_solver_on_support(
    folder: str | os.PathLike[str],
    *,
    tolerance: float = 1e-3,
    rows: int = SUPPORT_CHECK_ROWS,
    seed: int = SUPPORT_CHECK_SEED,
    write: bool = True,
) -> SolverCheck:
    """Choose a surrogate folder's RK4 steps and grid on objects of its stored support.

    Needs nothing but the folder: the check objects are ``rows`` random rows (``seed``) of
    the training objects its support stores (:meth:`~surrotag.surrogates.support.Support.rows`),
    the thresholds are its working points and the 10, 30, 50, 70 and 90% quantiles of
    scores it samples for those objects (one per object, nominal solver), and every stored
    draw (up to 4) is measured (:func:`choose_solver`).

    Args:
        folder: a surrogate folder (checked as by
            :func:`~surrotag.surrogates.storage.load_surrogate`).
        tolerance: largest accepted ``max |P_rk4 - P_dopri5|``.
        rows: most objects measured.
        seed: seed of the objects and of the fit/held-out split.
        write: write the choice into the card (only the card changes).

    Returns:
        The measurement (the card's ``solver.check`` when written).

    Raises:
        SurrogateError: the surrogate stores no support (train it with this surrotag).
    """
    from .errors import SurrogateError
    from .storage import load_surrogate, set_solver

    model, card = load_surrogate(folder)
    if model.support is None:
        raise SurrogateError(
            f"{folder}: the surrogate stores no training support to measure its solver on; "
            "re-train it with this surrotag"
        )
    objects = model.support.rows()
    pick = torch.from_numpy(np.random.default_rng(seed).permutation(len(objects))[:rows])
    features = objects[pick]
    with torch.inference_mode():
        scores = model(features, draws=1).sample(torch.Generator().manual_seed(seed))
    thresholds = check_thresholds(card, scores.double().numpy().ravel())
    check = choose_solver(model, features, thresholds, tolerance, seed=seed)
    if write:
        record = check.to_dict() | {
            "source": f"{len(features)} objects of the stored training support (seed {seed}): "
            "surrotag surrogate solver"
        }
        set_solver(folder, check.steps, check.grid_power, record, check.nodes)
    return check
