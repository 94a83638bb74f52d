"""ODE solvers on a closed-form ODE, and the score transform."""

from __future__ import annotations

import math

import numpy as np
import torch

from surrotag.surrogates import dopri5, logit_clip, rk4


def test_rk4_and_dopri5_exact_exponential() -> None:
    """dx/dt = -x t: x(t) = x0 exp(-t^2 / 2), forwards and backwards."""
    x0 = torch.linspace(-2, 2, 7, dtype=torch.float64)
    exact = x0 * math.exp(-0.5)
    f = lambda t, x: -x * t  # noqa: E731
    assert torch.allclose(rk4(f, x0, 0.0, 1.0, 16), exact, atol=1e-7)
    assert torch.allclose(dopri5(f, x0, 0.0, 1.0, rtol=1e-10, atol=1e-12), exact, atol=1e-10)
    assert torch.allclose(dopri5(f, exact, 1.0, 0.0, rtol=1e-10, atol=1e-12), x0, atol=1e-10)


def test_logit_clip_removes_float32_point_masses() -> None:
    """float32 sigmoid saturates at exactly 1.0; the clipped logit stays finite."""
    p = torch.sigmoid(torch.tensor([20.0, 0.0, -200.0]))
    assert p[0] == 1.0 and p[2] == 0.0
    z = logit_clip(p)
    assert torch.isfinite(z).all() and abs(float(z[0]) - math.log(1e6)) < 0.02  # float32 1-eps
    zn = logit_clip(np.array([1.0, 0.5, 0.0]))
    assert np.allclose(zn, [math.log((1 - 1e-6) / 1e-6), 0.0, -math.log((1 - 1e-6) / 1e-6)])
