"""Small real reference samples (Pythia 8 + detector + jets), generated once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from surrotag.io.parquet import read_parquet
from surrotag.reference.generate import generate


@pytest.fixture(scope="session")
def ttbar_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 ttbar-allhad events, seed 11, one job."""
    return generate(
        "ttbar-allhad", 150, seed=11, jobs=1, out=tmp_path_factory.mktemp("ref") / "ttbar.parquet"
    )


@pytest.fixture(scope="session")
def qcd_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 qcd-dijet events, seed 12, one job."""
    return generate(
        "qcd-dijet", 150, seed=12, jobs=1, out=tmp_path_factory.mktemp("ref") / "qcd.parquet"
    )


@pytest.fixture(scope="session")
def ttbar_events(ttbar_file: Path):
    return read_parquet(ttbar_file, events=False)


@pytest.fixture(scope="session")
def qcd_events(qcd_file: Path):
    return read_parquet(qcd_file, events=False)
