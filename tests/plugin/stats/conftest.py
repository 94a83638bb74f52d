"""Fixtures on the published ATLAS-SUSY-2018-31 likelihood (RegionA, sbottom 1300/850/60)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from surrotag.stats import BackgroundWorkspace, load_workspace
from surrotag.yields import Yields

POINT = "patch.sbottom_1300_850_60.json"


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
