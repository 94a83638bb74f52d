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
from surrotag.surrogates.ode import check_nodes, rk4, time_grid
from surrotag.surrogates.solver_choice import (
    choose_solver,
    choose_solver_on_support,
    optimise_nodes,
    solver_error,
)
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
    powers = [row for row in check.table if "nodes" not in row]
    rows = {(row["steps"], row["grid_power"]): row["max_error"] for row in powers}
    if check.nodes is None:
        assert rows[(check.steps, check.grid_power)] == check.max_error
    else:  # fitted at the last step count tried
        assert (check.table[-1]["nodes"], check.table[-1]["max_error"]) == (
            check.nodes,
            check.max_error,
        )
    assert all(row["steps"] <= check.steps for row in check.table)
    fewer = [error for (steps, _), error in rows.items() if steps < check.steps]
    assert all(error > 1e-3 for error in fewer)  # no fewer steps would have done
    if check.nodes is None:
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


def test_time_grid_takes_nodes_of_its_own() -> None:
    nodes = [0.0, 0.5, 0.8, 1.0]
    assert time_grid(0.0, 2.0, 3, nodes=nodes) == [0.0, 1.0, 1.6, 2.0]
    assert time_grid(1.0, 0.0, 3, power=4.0, nodes=nodes) == nodes[::-1]  # nodes win
    for bad in ([0.0, 0.5, 1.0], [0.0, 0.6, 0.5, 1.0], [0.1, 0.5, 0.8, 1.0], [0, 0.5, 0.8, 0.9]):
        with pytest.raises(SurrogateError, match="must rise strictly from 0 to 1"):
            check_nodes(bad, 3)


def test_rk4_on_the_power_grid_nodes_is_the_power_grid_bit_for_bit() -> None:
    x = torch.linspace(-0.5, 0.5, 7, dtype=torch.float64)
    nodes = time_grid(0.0, 1.0, 6, power=1.75)
    assert torch.equal(rk4(_steep, x, 0.0, 1.0, 6, nodes=nodes), rk4(_steep, x, 0.0, 1.0, 6, 1.75))
    assert torch.equal(rk4(_steep, x, 1.0, 0.0, 6, nodes=nodes), rk4(_steep, x, 1.0, 0.0, 6, 1.75))


def test_fitted_nodes_beat_their_start_and_are_measured_on_held_out_objects(trained) -> None:
    """Node fitting lowers the error on the fit objects, and the choice records the error on
    the other half, measured again here with the chosen nodes."""
    model = trained["vi"]
    features = torch.as_tensor(trained["features"][:120])
    start = time_grid(0.0, 1.0, 3, 1.0)
    reference = model(features, draws=4, solver="dopri5").prob_above(THRESHOLDS).double()
    start_error = solver_error(model, features, THRESHOLDS, 3, 1.0)
    nodes, fitted = optimise_nodes(model, features, THRESHOLDS, 3, start, reference, draws=4)
    assert check_nodes(nodes, 3) and fitted <= start_error
    again = model(features, draws=4, nodes=nodes).prob_above(THRESHOLDS).double() - reference
    assert float(again.abs().max()) == pytest.approx(fitted, rel=1e-6)

    # a tolerance between the fitted and the start error forces a fit at 3 steps
    tolerance = 0.5 * (fitted + start_error) if fitted < start_error else start_error / 2
    check = choose_solver(model, features, THRESHOLDS, tolerance, steps=(3,), grid_powers=(1.0,))
    row = check.table[-1]
    assert "nodes" in row and row["fit_max_error"] <= start_error
    p = model(features, draws=4, nodes=row["nodes"]).prob_above(THRESHOLDS).double()
    order = np.random.default_rng(0).permutation(len(features))
    held_out = torch.from_numpy(order[len(features) // 2 :])
    assert row["held_out_max_error"] == pytest.approx(
        float((p - reference)[:, held_out].abs().max()), rel=1e-6
    )
    assert row["max_error"] == pytest.approx(float((p - reference).abs().max()), rel=1e-6)
    assert check.met == (row["max_error"] <= tolerance)
    if check.met:
        assert check.nodes == row["nodes"] and check.held_out_max_error == row["held_out_max_error"]


def test_nodes_go_into_the_card_and_back(trained, card_fields, tmp_path) -> None:
    folder = tmp_path / "s"
    model = trained["mcmc"]
    save_surrogate(model, card_fields, folder)
    nodes = [0.0, 0.4, 0.75, 1.0]
    set_solver(folder, 3, 1.0, {"steps": 3, "grid_power": 1.0, "nodes": nodes,
                                "max_error": 0.0, "tolerance": 1e-3, "objects": 1, "draws": 1,
                                "reference": "test"}, nodes)  # fmt: skip
    card = json.loads((folder / "card.json").read_text())
    assert card["solver"]["nodes"] == nodes and card["model"]["solver"]["nodes"] == nodes
    loaded, _ = load_surrogate(folder)
    assert loaded.nodes == tuple(nodes) and loaded.steps == 3
    features = trained["features"][:20]
    assert torch.equal(
        loaded(features).prob_above(THRESHOLDS),
        model(features, steps=3, nodes=nodes).prob_above(THRESHOLDS),
    )
    # asking for steps or a power grid leaves the fitted nodes aside
    assert torch.equal(
        loaded(features, steps=5).prob_above(THRESHOLDS),
        model(features, steps=5, grid_power=1.0).prob_above(THRESHOLDS),
    )
    edited = dict(card)
    edited["solver"] = {**card["solver"], "nodes": [0.0, 0.5, 0.75, 1.0]}
    (folder / "card.json").write_text(json.dumps(edited))
    with pytest.raises(Exception, match="nodes"):
        load_surrogate(folder)


def test_support_rows_are_the_stored_training_objects(trained) -> None:
    support = trained["mcmc"].support
    rows = support.rows()
    assert rows.shape == (support.reference.shape[0], len(support.feature_names))
    assert torch.allclose(support._standardised(rows), support.reference, atol=1e-5)
    verdict = support.evaluate(rows)
    assert not verdict.unseen_category.any()  # every row is in a seen truth cell
    assert float(verdict.flag.double().mean()) < 0.05  # and nearly all within the support


def test_choose_solver_on_support_needs_only_the_folder(trained, card_fields, tmp_path) -> None:
    folder = tmp_path / "s"
    save_surrogate(trained["mcmc"], card_fields, folder)
    before = (folder / "card.json").read_bytes()
    dry = choose_solver_on_support(folder, rows=80, write=False)
    assert (folder / "card.json").read_bytes() == before
    check = choose_solver_on_support(folder, rows=80)
    assert check.to_dict()["steps"] == dry.steps and check.objects == 80
    card = json.loads((folder / "card.json").read_text())
    assert card["solver"]["steps"] == check.steps
    assert "stored training support" in card["solver"]["check"]["source"]
    loaded, _ = load_surrogate(folder)
    assert loaded.nodes == (None if check.nodes is None else tuple(check.nodes))


def test_shipped_delphes_solver_meets_its_tolerance_on_jets_it_never_saw() -> None:
    """The card's RK4 grid of ``top-tagger-delphes`` (chosen on objects of its support: fitted
    nodes or a power grid) stays within the card's tolerance of adaptive Dormand-Prince on the
    fat jets of the shipped Z' example of ``zprime-ttbar-allhad`` at its working points (all
    of them, the surrogate of 2026-12-01: 4.1e-4 on 7 fitted nodes,
    ``study_solver_on_example.py``)."""
    import awkward as ak

    from surrotag.analysis import get_analysis
    from surrotag.features.files import file_features
    from surrotag.surrogates.registry import resolve_surrogate

    model, card = load_surrogate(resolve_surrogate("top-tagger-delphes"))
    example = get_analysis("zprime-ttbar-allhad").resource("example_signal.parquet")
    table = file_features([str(example)], features=model.feature_names).table
    x = np.column_stack([ak.to_numpy(table[n]).astype(np.float64) for n in model.feature_names])
    x = x[np.isfinite(x).all(1)][::2]
    thresholds = [card.model_threshold(point["name"]) for point in card.working_points]
    assert card.solver.get("nodes") == (None if model.nodes is None else list(model.nodes))
    fitted = model(x, draws=4).prob_above(thresholds).double()
    reference = model(x, draws=4, solver="dopri5").prob_above(thresholds).double()
    assert float((fitted - reference).abs().max()) <= card.solver["check"]["tolerance"]
