"""Closed-form cases of the surrogate tests, where P(x > w | c) is known exactly.

* ``closed_form``: x | c ~ N(c1, 0.5 + 0.3 |c2|), c ~ N(0, 1)^2;
* ``skewed``: four features, one of them irrelevant, a non-linear location and a skewed
  noise: x = c1 + 0.5 sin(2 c3) + (0.4 + 0.3 |c2|) g with g a standard Gumbel variable,
  c ~ N(0, 1)^4.
"""

from __future__ import annotations

import numpy as np

__all__ = ["closed_form", "sigma", "skewed", "skewed_exceedance"]


def closed_form(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(features [n, 2], scores [n]) of the closed-form case."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(n, 2))
    return c, rng.normal(c[:, 0], sigma(c))


def sigma(c: np.ndarray) -> np.ndarray:
    """Analytic width sigma(c) = 0.5 + 0.3 |c2|."""
    return 0.5 + 0.3 * np.abs(c[:, 1])


def skewed(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(features [n, 4], scores [n]) of the skewed four-feature case."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(n, 4))
    return c, _location(c) + _scale(c) * rng.gumbel(size=n)


def skewed_exceedance(c: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Exact P(x > w | c) [n, L] of the skewed case (Gumbel CDF exp(-exp(-z)))."""
    z = (np.asarray(thresholds)[None, :] - _location(c)[:, None]) / _scale(c)[:, None]
    return -np.expm1(-np.exp(-z))


def _location(c: np.ndarray) -> np.ndarray:
    return c[:, 0] + 0.5 * np.sin(2 * c[:, 2])


def _scale(c: np.ndarray) -> np.ndarray:
    return 0.4 + 0.3 * np.abs(c[:, 1])
