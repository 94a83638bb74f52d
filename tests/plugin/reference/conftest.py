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
def wprime_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 wprime-wz events (M = 1300 GeV, both bosons to quarks), seed 13, one job."""
    return generate(
        "wprime-wz", 120, seed=13, jobs=1, mass=1300.0,
        out=tmp_path_factory.mktemp("ref") / "wprime.parquet",
    )  # fmt: skip


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


@pytest.fixture(scope="session")
def dilepton_samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Dilepton samples, one job each: stop (400, 100) GeV 300 events (seed 41), t tbar 600
    (seed 42) and 300 (seed 43) events: about 150 and 75 dilepton t tbar events."""
    pytest.importorskip("pythia8mc")
    root = tmp_path_factory.mktemp("dilepton")
    return {
        "stop": generate("stop-pair-dilepton", 300, seed=41, jobs=1, mass=400.0,
                         lsp_mass=100.0, out=root / "stop.parquet"),
        "ttbar_a": generate("ttbar-dilepton", 600, seed=42, jobs=1, out=root / "tt_a.parquet"),
        "ttbar_b": generate("ttbar-dilepton", 300, seed=43, jobs=1, out=root / "tt_b.parquet"),
    }  # fmt: skip


@pytest.fixture(scope="session")
def dilepton_classifier(
    dilepton_samples: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A tiny event classifier (one hidden layer of 8, 2 epochs) of the stop sample against
    the 600-event t tbar sample, seed 1."""
    from surrotag.reference.event_classifier import (
        ClassifierConfig,
        load_dilepton_events,
        save_event_classifier,
        train_event_classifier,
    )

    signal, _ = load_dilepton_events([dilepton_samples["stop"]])
    background, _ = load_dilepton_events([dilepton_samples["ttbar_a"]])
    config = ClassifierConfig(hidden=(8,), epochs=2, batch_size=64, fractions=(0.5, 0.25, 0.25))
    model, report = train_event_classifier(signal, background, config=config, seed=1)
    return save_event_classifier(model, report, tmp_path_factory.mktemp("clf") / "classifier")
