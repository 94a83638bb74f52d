"""Small real reference samples (Pythia 8 + detector + jets), generated once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from surrotag.io.parquet import read_parquet
from surrotag.reference.generate import generate
from surrotag.reference.table import build_table
from surrotag.reference.tagger import train_tagger


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


@pytest.fixture(scope="session")
def small_tagger(
    tmp_path_factory: pytest.TempPathFactory, ttbar_file: Path, qcd_file: Path
) -> Path:
    """A tiny PFN trained for two epochs on the 150-event session samples."""
    out = tmp_path_factory.mktemp("tagger")
    train_tagger(
        [ttbar_file],
        [qcd_file],
        epochs=2,
        seed=3,
        out=out,
        phi_sizes=(16, 16, 16),
        f_sizes=(16,),
        batch_size=128,
    )
    return out


@pytest.fixture(scope="session")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small val and test samples with their own seeds (31 .. 34)."""
    folder = tmp_path_factory.mktemp("heldout")
    return {
        name: generate(process, 60, seed=seed, jobs=1, out=folder / f"{name}.parquet")
        for name, process, seed in (
            ("top_val", "ttbar-allhad", 31),
            ("qcd_val", "qcd-dijet", 32),
            ("top_test", "ttbar-allhad", 33),
            ("qcd_test", "qcd-dijet", 34),
        )
    }


@pytest.fixture(scope="session")
def table(
    tmp_path_factory: pytest.TempPathFactory,
    small_tagger: Path,
    ttbar_file: Path,
    qcd_file: Path,
    held_out: dict[str, Path],
):
    """The reference table of the session samples: (path, table, provenance)."""
    out = tmp_path_factory.mktemp("table") / "table.parquet"
    top = {"train": [ttbar_file], "val": [held_out["top_val"]], "test": [held_out["top_test"]]}
    qcd = {"train": [qcd_file], "val": [held_out["qcd_val"]], "test": [held_out["qcd_test"]]}
    built, provenance = build_table(top, qcd, small_tagger, out=out)
    return out, built, provenance
