"""The closed-form case of the surrogate tests: x | c ~ N(c1, 0.5 + 0.3 |c2|), c ~ N(0, 1)^2."""

from __future__ import annotations

import numpy as np

__all__ = ["closed_form", "sigma"]


def closed_form(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(features [n, 2], scores [n]) of the closed-form case."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(n, 2))
    return c, rng.normal(c[:, 0], sigma(c))


def sigma(c: np.ndarray) -> np.ndarray:
    """Analytic width sigma(c) = 0.5 + 0.3 |c2|."""
    return 0.5 + 0.3 * np.abs(c[:, 1])
