"""Where generated reference samples live, and reuse of a sample whose settings match.

Generated data never goes into git: it is written under :func:`data_dir` (environment
variable ``SURROTAG_DATA``, default ``~/.cache/surrotag``). A sample's provenance records a
``settings_key`` (sha256 of everything that fixes its content); asking again for the same
settings returns the existing file instead of regenerating it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, NamedTuple

from surrotag.errors import SurrotagError
from surrotag.io.parquet import read_parquet_metadata

__all__ = [
    "EVENT_CLASSIFIER_NAME",
    "EVENT_TABLE_NAME",
    "PIPELINE_TAGGER",
    "TABLE_NAME",
    "TAGGER_NAME",
    "TRAINING_SET",
    "PlannedSample",
    "cached_sample",
    "data_dir",
    "reference_dir",
    "sample_path",
    "settings_key",
    "split_sample_path",
    "training_samples",
]

#: File name of the surrogate training table that ``surrotag reference pipeline`` writes.
TABLE_NAME = "top_tagger_table.parquet"
#: Folder name of the internal tagger that ``surrotag reference pipeline`` trains.
TAGGER_NAME = "tagger_pfn"
#: Folder name of the internal event classifier of the stop dilepton search (heavy stop).
EVENT_CLASSIFIER_NAME: Final = "event_classifier_heavy"
#: File name of the event table of its surrogate (``surrotag reference build-event-table``).
EVENT_TABLE_NAME: Final = "stop_event_table.parquet"
#: The training set of the shipped surrogates: process -> master seeds of train, val, test.
#: Seeds are disjoint across splits and processes (the table refuses shared seeds).
TRAINING_SET: Final = {"ttbar-allhad": (1, 3, 5), "qcd-dijet": (2, 4, 6)}
#: Settings of the internal tagger that ``surrotag reference pipeline`` trains (besides the
#: epochs): seed, torch device, batch size, early-stopping patience (epochs), CPU threads.
PIPELINE_TAGGER: Final = {
    "seed": 0,
    "device": "cpu",
    "batch_size": 256,
    "patience": 6,
    "threads": 1,
}


def data_dir() -> Path:
    """The data folder: ``$SURROTAG_DATA`` or ``~/.cache/surrotag`` (not created here)."""
    return Path(os.environ.get("SURROTAG_DATA") or Path.home() / ".cache" / "surrotag")


def reference_dir() -> Path:
    """``<data_dir>/reference``: the samples, tagger and table of the reference experiment."""
    return data_dir() / "reference"


def split_sample_path(process: str, split: str, folder: Path | None = None) -> Path:
    """The ``split`` (train, val, test) sample of ``process`` that ``surrotag reference
    pipeline`` writes: ``<folder>/<process>_<split>.parquet`` (default folder
    :func:`reference_dir`)."""
    return (folder if folder is not None else reference_dir()) / f"{process}_{split}.parquet"


class PlannedSample(NamedTuple):
    """One sample of :data:`TRAINING_SET` as ``surrotag reference pipeline`` generates it.

    Attributes:
        process: the process (``ttbar-allhad`` or ``qcd-dijet``).
        split: ``train``, ``val`` or ``test``.
        seed: the master seed.
        n_events: generated events.
        path: the sample's file (:func:`split_sample_path`).
    """

    process: str
    split: str
    seed: int
    n_events: int
    path: Path


def training_samples(folder: Path, train_events: int, eval_events: int) -> list[PlannedSample]:
    """The six samples of :data:`TRAINING_SET` in ``folder``, train, val, test per process.

    Args:
        folder: where the samples are written.
        train_events: generated events of each training sample.
        eval_events: generated events of each validation and test sample.
    """
    return [
        PlannedSample(
            process,
            split,
            seed,
            train_events if split == "train" else eval_events,
            split_sample_path(process, split, folder),
        )
        for process, seeds in TRAINING_SET.items()
        for split, seed in zip(("train", "val", "test"), seeds, strict=True)
    ]


def settings_key(settings: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of the settings that fix a sample's content."""
    text = json.dumps(dict(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def sample_path(
    process: str,
    n_events: int,
    seed: int,
    jobs: int,
    ecm: float,
    mass: float | None,
    key: str,
    lsp_mass: float | None = None,
    x_masses: tuple[float, float] | None = None,
) -> Path:
    """Default file of a sample, ``<data_dir>/reference/<process><masses>_<...>.parquet``.

    ``<masses>`` is ``[_m<M>][_lsp<M>][_mx<M>-<M>]``: the preset's mass parameters.

    Args:
        process: preset name.
        n_events: number of events.
        seed: master seed.
        jobs: worker processes.
        ecm: centre-of-mass energy (GeV).
        mass: Z' or stop mass (GeV), or None.
        key: the sample's ``settings_key`` (its first 10 characters end the name).
        lsp_mass: neutralino mass (GeV) of ``stop-pair``, or None.
        x_masses: (X, X') masses (GeV) of ``y-xx``, or None.
    """
    mass_tag = f"_m{mass:g}" if mass is not None else ""
    mass_tag += f"_lsp{lsp_mass:g}" if lsp_mass is not None else ""
    mass_tag += f"_mx{x_masses[0]:g}-{x_masses[1]:g}" if x_masses is not None else ""
    name = f"{process}{mass_tag}_{ecm / 1000:g}TeV_{n_events}ev_s{seed}_j{jobs}_{key[:10]}.parquet"
    return reference_dir() / name


def cached_sample(path: Path, key: str) -> Path | None:
    """``path`` if it exists and its provenance ``settings_key`` equals ``key``, else None."""
    if not path.exists():
        return None
    try:
        recorded = read_parquet_metadata(path).get("settings_key")
    except SurrotagError:
        return None
    return path if recorded == key else None
