"""A synthetic scan result with a known answer, for the contour tests.

log10(CLs) is linear in the two parameters, so linear interpolation reproduces CLs
exactly and the exclusion contour is known; the expected band's edges are fixed multiples
of the expected CLs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["log_linear_cls", "log_linear_cls_rows"]


def log_linear_cls(mass: np.ndarray | float, coupling: np.ndarray | float) -> np.ndarray:
    """CLs = 10^(-4 g + (m - 1000 GeV) / 1000 GeV)."""
    return 10.0 ** (-4.0 * np.asarray(coupling) + (np.asarray(mass) - 1000) / 1000)


def log_linear_cls_rows(scale_m1: float = 1.0, scale_p1: float = 1.0) -> list[dict]:
    """Scan rows on a 5 x 4 grid (m 1-3 TeV, g 0.1-1): observed, expected and its -1/+1
    sigma edges (0.3 and 2.0 x expected/0.8, times ``scale_m1`` / ``scale_p1``)."""
    mass, coupling = np.meshgrid(np.linspace(1000, 3000, 5), np.linspace(0.1, 1.0, 4))
    return [
        {
            "name": f"p{i}",
            "mass_gev": m,
            "coupling": g,
            "status": "done",
            "cls_obs": log_linear_cls(m, g),
            "cls_exp": log_linear_cls(m, g) * 0.8,
            "cls_exp_m1": log_linear_cls(m, g) * 0.3 * scale_m1,
            "cls_exp_p1": log_linear_cls(m, g) * 2.0 * scale_p1,
        }
        for i, (m, g) in enumerate(zip(mass.ravel(), coupling.ravel(), strict=True))
    ]
