"""The stop dilepton search's internal event classifier and its surrogate's table, in one command.

``surrotag reference event-pipeline`` regenerates, into ``$SURROTAG_DATA/reference``, what
the event-level analysis ``stop-dilepton-nn`` and the surrogate ``stop-classifier-delphes``
are built from (each step is skipped when its output is there):

1. the samples of :data:`TABLE_SAMPLES` (Pythia 8, ``ttbar-dilepton`` and
   ``stop-pair-dilepton``, fixed seeds, one job each);
2. the internal event classifier of the heavy-stop benchmark
   (:func:`surrotag.reference.event_classifier.train_event_classifier`: the (700, 50) GeV
   stop sample against the 60k t tbar sample, seed :data:`CLASSIFIER_SEED`), into
   ``event_classifier_heavy``;
3. the event table (:func:`surrotag.reference.event_table.build_event_training_table`):
   ``train`` the t tbar sample and the three 20k stop benchmarks (heavy, compressed
   three-body, stealth), ``val`` the three 10k stop benchmarks, into
   ``stop_event_table.parquet``.

Then ``surrotag reference ship-event-surrogate --table ...`` trains the surrogate and
``surrotag reference validate-event-surrogate`` runs its pre-registered validation
(:data:`surrotag.reference.ship_event.VALIDATION_PLAN`). The analysis's background,
``ttbar-dilepton`` with seed 5102, is the build's (:mod:`surrotag.analyses.stop_dilepton_nn.
build`).

References:
    T. Roxlo, M. Reece, arXiv:1804.09278; classifier surrogates, arXiv:2402.15558.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from surrotag.reference.publish import Sample

__all__ = ["CLASSIFIER_SEED", "TABLE_SAMPLES", "run_event_pipeline"]

#: The samples, by role: the classifier trains on ``ttbar`` and ``heavy``; the table's
#: ``train`` split is ``ttbar``, ``heavy``, ``compressed``, ``stealth``; its ``val`` split the
#: ``*_val`` samples. (m_stop, m_neutralino) in GeV: heavy (700, 50) stop -> t neutralino,
#: compressed (250, 150) stop -> b W neutralino, stealth (190, 10).
TABLE_SAMPLES: Final = {
    "ttbar": Sample("ttbar", "ttbar-dilepton", 60_000, 5101),
    "heavy": Sample("heavy", "stop-pair-dilepton", 20_000, 5111, 700.0, 50.0),
    "compressed": Sample("compressed", "stop-pair-dilepton", 20_000, 5112, 250.0, 150.0),
    "stealth": Sample("stealth", "stop-pair-dilepton", 20_000, 5113, 190.0, 10.0),
    "heavy_val": Sample("heavy_val", "stop-pair-dilepton", 10_000, 5114, 700.0, 50.0),
    "compressed_val": Sample("compressed_val", "stop-pair-dilepton", 10_000, 5115, 250.0, 150.0),
    "stealth_val": Sample("stealth_val", "stop-pair-dilepton", 10_000, 5116, 190.0, 10.0),
}
#: Seed of the heavy-stop classifier's split, initialisation and batch order.
CLASSIFIER_SEED: Final = 6101
_TRAIN: Final = ("ttbar", "heavy", "compressed", "stealth")
_VAL: Final = ("heavy_val", "compressed_val", "stealth_val")


def run_event_pipeline(progress: Callable[[str], None] = print) -> dict[str, Path]:
    """Samples, classifier and event table of the stop dilepton search (skipping what exists).

    Returns:
        ``{"classifier": folder, "table": file}`` in ``$SURROTAG_DATA/reference``.
    """
    from surrotag.reference.cache import EVENT_CLASSIFIER_NAME, EVENT_TABLE_NAME, reference_dir
    from surrotag.reference.event_classifier import (
        CONFIG_NAME,
        ClassifierConfig,
        load_dilepton_events,
        save_event_classifier,
        train_event_classifier,
    )
    from surrotag.reference.event_table import build_event_training_table

    paths = {}
    for role, sample in TABLE_SAMPLES.items():
        paths[role] = sample.generate(1)
        progress(f"sample {role}: {paths[role].name}")
    folder = reference_dir() / EVENT_CLASSIFIER_NAME
    if not (folder / CONFIG_NAME).is_file():
        signal, signal_sha = load_dilepton_events([paths["heavy"]])
        background, background_sha = load_dilepton_events([paths["ttbar"]])
        model, report = train_event_classifier(
            signal, background, config=ClassifierConfig(), seed=CLASSIFIER_SEED,
            inputs_sha256=signal_sha | background_sha,
        )  # fmt: skip
        save_event_classifier(model, report, folder)
        progress(f"classifier: test AUC {report.auc:.4f} ({folder})")
    table = reference_dir() / EVENT_TABLE_NAME
    if not table.is_file():
        splits = {"train": [paths[r] for r in _TRAIN], "val": [paths[r] for r in _VAL]}
        build_event_training_table(splits, folder, table)
        progress(f"event table: {table}")
    return {"classifier": folder, "table": table}
