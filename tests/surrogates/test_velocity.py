"""The trunk of graph-free solves (TrunkSolve) against the velocity field it stands for."""

from __future__ import annotations

import pytest
import torch

from surrotag.surrogates.ode import rk4
from surrotag.surrogates.velocity import TrunkSolve, VelocityField


def _weights(field: VelocityField, k: int, seed: int) -> dict[str, torch.Tensor]:
    """K different draws (each weight perturbed per draw), as a posterior stack holds them."""
    g = torch.Generator().manual_seed(seed)
    base = field.init_weights(g)
    return {
        name: value.unsqueeze(0) + 0.1 * torch.randn((k, *value.shape), generator=g)
        for name, value in base.items()
    }


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("m", [1, 3])
def test_trunk_solve_equals_the_field_bit_for_bit(depth: int, m: int) -> None:
    """Stage after stage, with repeated, new and evicted times and broadcast states."""
    field = VelocityField(n_features=4, hidden=16, depth=depth, cond_hidden=12, cond_depth=1)
    w = _weights(field, k=3, seed=depth)
    g = torch.Generator().manual_seed(10 + m)
    hc = field.condition(w, torch.randn(37, 4, generator=g))
    trunk = TrunkSolve(field, w, hc, m)
    with torch.no_grad():
        for t in (1.0, 0.75, 0.75, 0.5, 1.0, 0.5, 0.25, 0.0):
            x = torch.randn(3, 37, m, generator=g)
            assert torch.equal(trunk(t, x), field(w, x, t, hc)), t
        x1 = torch.randn(1, 37, m, generator=g)
        assert torch.equal(trunk(0.3, x1), field(w, x1, 0.3, hc))


def test_a_solve_keeps_every_stage_it_was_given() -> None:
    """Velocities are fresh tensors: an RK4 solve through the trunk equals one through the
    field (a returned stage overwritten by the next evaluation would change the result)."""
    field = VelocityField(n_features=2, hidden=8, depth=2)
    w = _weights(field, k=2, seed=7)
    g = torch.Generator().manual_seed(8)
    hc = field.condition(w, torch.randn(50, 2, generator=g))
    x = torch.randn(2, 50, 2, generator=g)
    with torch.no_grad():
        through_trunk = rk4(TrunkSolve(field, w, hc, 2), x, 1.0, 0.0, 5, 1.75)
        through_field = rk4(lambda t, y: field(w, y, t, hc), x, 1.0, 0.0, 5, 1.75)
    assert torch.equal(through_trunk, through_field)


@pytest.mark.parametrize("depth", [1, 2])
def test_a_row_does_not_depend_on_the_rest_of_its_chunk(depth: int) -> None:
    """The same objects solved in chunks of other sizes and company give the same bits (so
    yields do not depend on how the events were chunked)."""
    field = VelocityField(n_features=3, hidden=64, depth=depth, cond_hidden=32, cond_depth=1)
    w = _weights(field, k=4, seed=11)
    g = torch.Generator().manual_seed(12)
    c, x = torch.randn(500, 3, generator=g), torch.randn(4, 500, 1, generator=g)
    with torch.no_grad():
        whole = rk4(field.solve_trunk(w, field.condition(w, c), 1), x, 1.0, 0.0, 4)
        parts = [
            rk4(field.solve_trunk(w, field.condition(w, c[s:e]), 1), x[:, s:e], 1.0, 0.0, 4)
            for s, e in ((0, 77), (77, 409), (409, 500))
        ]
    assert torch.equal(torch.cat(parts, dim=1), whole)
