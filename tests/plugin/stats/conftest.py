"""Fixtures on the published ATLAS-SUSY-2018-31 likelihood (RegionA, sbottom 1300/850/60),
and pyhf converged as the reference of the statistics tests."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyhf
import pytest

from surrotag.stats import BackgroundWorkspace, load_workspace
from surrotag.yields import Yields

POINT = "patch.sbottom_1300_850_60.json"


@contextmanager
def _pyhf_converged() -> Iterator[None]:
    """pyhf on its JAX backend (64-bit, autodiff gradients), its scipy optimizer converged to
    ``tolerance=1e-10``; the previous backend is restored. With scipy's default tolerance
    (1e-6) pyhf's own fits stop early: its CLs then move by up to 1.3e-3 relative.

    pyhf's JAX backend compiles each eager operation on first use (~200 per workspace, most
    of its time here); XLA's optimisations are off meanwhile (``jax_disable_most_optimizations``,
    restored afterwards), which saves a fifth of it. Rounding then differs, and pyhf's
    converged CLs and limits move by up to ~4e-6 relative: inside the tests' 1e-4.
    """
    import jax

    previous = pyhf.get_backend()
    optimizations = jax.config.read("jax_disable_most_optimizations")
    pyhf.set_backend("jax", pyhf.optimize.scipy_optimizer(tolerance=1e-10), precision="64b")
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        jax.config.update("jax_disable_most_optimizations", optimizations)
        pyhf.set_backend(*previous)


@pytest.fixture(scope="session")
def pyhf_converged() -> Callable[[], AbstractContextManager[None]]:
    """``with pyhf_converged(): ...`` runs pyhf as the tests' reference (``_pyhf_converged``)."""
    return _pyhf_converged


@pytest.fixture(scope="session")
def atlas_workspace(atlas_sbottom_dir: Path) -> BackgroundWorkspace:
    return load_workspace(atlas_sbottom_dir / "BkgOnly.json")


@pytest.fixture(scope="session")
def official_patch(atlas_sbottom_dir: Path) -> list[dict[str, Any]]:
    return json.loads((atlas_sbottom_dir / POINT).read_text())


@pytest.fixture(scope="session")
def official_signal(
    official_patch: list[dict[str, Any]], atlas_workspace: BackgroundWorkspace
) -> dict[str, np.ndarray]:
    """Nominal signal yields per channel name, read from the official patch."""
    names = [c.name for c in atlas_workspace.channels]
    out = {}
    for op in official_patch:
        if op["op"] == "add":
            index = int(op["path"].split("/")[2])
            out[names[index]] = np.asarray(op["value"]["data"], dtype=np.float64)
    return out


@pytest.fixture(scope="session")
def official_removed(
    official_patch: list[dict[str, Any]], atlas_workspace: BackgroundWorkspace
) -> tuple[str, ...]:
    """Channels the official patch removes (the validation region)."""
    names = [c.name for c in atlas_workspace.channels]
    return tuple(
        names[int(op["path"].split("/")[2])] for op in official_patch if op["op"] == "remove"
    )


@pytest.fixture(scope="session")
def surrogate_draws(official_signal: dict[str, np.ndarray]) -> dict[str, Yields]:
    """Seeded multivariate-normal draws around the nominal yields, correlated across channels."""
    nominal, k, seed = official_signal, 400, 1
    joint = np.concatenate(list(nominal.values()))
    rel = 0.15
    corr = 0.6 + 0.4 * np.eye(joint.size)
    cov = np.outer(rel * joint, rel * joint) * corr
    draws = np.random.default_rng(seed).multivariate_normal(joint, cov, size=k)
    out, start = {}, 0
    for name, nom in nominal.items():
        d = draws[:, start : start + nom.size]
        out[name] = Yields(
            np.arange(nom.size + 1.0),
            d.mean(axis=0),
            d,
            0.05 * nom,
            np.cov(d, rowvar=False),
        )
        start += nom.size
    return out
