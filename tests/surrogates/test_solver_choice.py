"""RK4 time grids and the measured choice of steps (issue 21: fewer solver steps).

The graded grid must be exact RK4 on known ODEs (fourth order on any grid, fewer steps for
the same error where the field bends near t = 1), equal steps must stay what they were, and
the choice must be the fewest steps that meet the tolerance, recorded in the card.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from surrotag.surrogates import SurrogateError
from surrotag.surrogates.ode import rk4, time_grid
from surrotag.surrogates.solver_choice import choose_solver, solver_error
from surrotag.surrogates.storage import load_surrogate, save_surrogate, set_solver

THRESHOLDS = np.array([-1.0, 0.0, 1.5])


def _steep(t: float, x: torch.Tensor) -> torch.Tensor:
    """dx/dt = 10 t^9 (1 + x): all of its change in the last tenth of the time."""
    return 10.0 * t**9 * (1.0 + x)


def _steep_exact(x0: float) -> float:
    return (1.0 + x0) * math.e - 1.0  # x(1) from x(0): 1 + x = (1 + x0) exp(t^10)


def test_time_grid_nodes() -> None:
    assert time_grid(0.0, 1.0, 4) == [0.0, 0.25, 0.5, 0.75, 1.0]
    graded = time_grid(0.0, 1.0, 5, power=2.0)
    steps = np.diff(graded)
    assert graded[0] == 0.0 and graded[-1] == 1.0 and np.all(np.diff(steps) < 0)
    assert time_grid(1.0, 0.0, 5, power=2.0) == graded[::-1]
    with pytest.raises(SurrogateError, match="grid power"):
        time_grid(0.0, 1.0, 4, power=0.5)


def test_equal_steps_are_the_classical_rk4() -> None:
    """grid_power 1 is the fixed-step RK4 of every surrogate before graded grids, bit for bit."""
    x = torch.linspace(-0.5, 0.5, 7, dtype=torch.float64)
    h = 1.0 / 6
    y = x.clone()
    for i in range(6):
        t = i * h
        k1 = _steep(t, y)
        k2 = _steep(t + 0.5 * h, y + (0.5 * h) * k1)
        k3 = _steep(t + 0.5 * h, y + (0.5 * h) * k2)
        k4 = _steep(t + h, y + h * k3)
        y = y + (h / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)
    assert torch.equal(rk4(_steep, x, 0.0, 1.0, 6), y)


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_rk4_is_fourth_order_on_any_grid(power: float) -> None:
    """Doubling the steps divides the error by about 2^4 on equal and graded grids."""
    x = torch.tensor([0.3], dtype=torch.float64)
    exact = _steep_exact(0.3)
    errors = [abs(float(rk4(_steep, x, 0.0, 1.0, n, power)) - exact) for n in (16, 32)]
    assert 12.0 < errors[0] / errors[1] < 20.0


def test_graded_grid_needs_fewer_steps_where_the_field_bends_late() -> None:
    x = torch.tensor([0.3], dtype=torch.float64)
    exact = _steep_exact(0.3)
    equal = abs(float(rk4(_steep, x, 0.0, 1.0, 8)) - exact)
    graded = abs(float(rk4(_steep, x, 0.0, 1.0, 8, 2.0)) - exact)
    assert graded < equal / 5
    back = rk4(_steep, torch.tensor([exact], dtype=torch.float64), 1.0, 0.0, 32, 2.0)
    assert float(back) == pytest.approx(0.3, abs=1e-5)  # backwards on the same nodes


def test_choose_solver_takes_the_fewest_steps_that_meet_the_tolerance(trained) -> None:
    model = trained["vi"]
    features = trained["features"][:200]
    check = choose_solver(model, features, THRESHOLDS, tolerance=1e-3)
    assert check.met and check.max_error <= 1e-3
    rows = {(row["steps"], row["grid_power"]): row["max_error"] for row in check.table}
    assert rows[(check.steps, check.grid_power)] == check.max_error
    assert all(row["steps"] <= check.steps for row in check.table)
    fewer = [error for (steps, _), error in rows.items() if steps < check.steps]
    assert all(error > 1e-3 for error in fewer)  # no fewer steps would have done
    again = solver_error(model, features, THRESHOLDS, check.steps, check.grid_power)
    assert again == pytest.approx(check.max_error, rel=1e-6)  # the same measurement
    assert (check.objects, check.draws, check.thresholds) == (200, 4, THRESHOLDS.tolist())


def test_choose_solver_says_when_nothing_meets_the_tolerance(trained) -> None:
    model = trained["vi"]
    check = choose_solver(
        model, trained["features"][:50], THRESHOLDS, tolerance=1e-12, steps=(2, 3)
    )
    assert not check.met and check.steps == 3 and check.max_error > 1e-12


def test_set_solver_rewrites_only_the_solver(trained, card_fields, tmp_path) -> None:
    folder = tmp_path / "s"
    save_surrogate(trained["vi"], card_fields, folder)
    before = json.loads((folder / "card.json").read_text())
    weights = (folder / "weights.safetensors").read_bytes()
    model, _ = load_surrogate(folder)
    check = choose_solver(model, trained["features"][:100], THRESHOLDS, tolerance=1e-3)
    forced = check.to_dict() | {"steps": 5, "grid_power": 1.5}
    card = set_solver(folder, 5, 1.5, forced)
    after = json.loads((folder / "card.json").read_text())
    assert (folder / "weights.safetensors").read_bytes() == weights
    assert after["solver"] == {"method": "rk4", "steps": 5, "grid_power": 1.5, "check": forced}
    assert after["model"]["solver"]["steps"] == 5 and after["model"]["solver"]["grid_power"] == 1.5
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed == {"solver", "model", "card_sha256"}
    assert card.solver["steps"] == 5
    loaded, _ = load_surrogate(folder)  # digest and config checks pass
    assert (loaded.steps, loaded.grid_power) == (5, 1.5)
    features = trained["features"][:30]
    assert torch.equal(
        loaded(features).prob_above(THRESHOLDS),
        model(features, steps=5, grid_power=1.5).prob_above(THRESHOLDS),
    )
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "weights.safetensors"]
