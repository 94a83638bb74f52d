"""The surrogate training table: public + truth features, the internal logit, label, split.

One row per fat jet of every input sample: the detector-level public and truth features of
:func:`surrotag.features.build_features` (``level="delphes"``), ``tagger_logit`` (the
internal tagger, :mod:`surrotag.reference.tagger`), ``label`` and ``sample_label``
(:mod:`surrotag.reference.samples`: 1 contained hadronic top / 0 QCD / -1 other top-sample
jet, and the label by sample), ``event_weight`` (float64: the jet's event weight, Pythia's
pTHat-bias compensating ``info.weight()`` normalised to mean 1 over each sample's events, see
:func:`surrotag.reference.samples.sample_weights`; weight every per-jet quantity, loss,
efficiency or quantile, with it), ``split`` (``train``, ``val``, ``test``) and
``sample_index`` (position in the provenance's ``samples`` list); for samples with
particle-level jets, ``particle_matched`` and the ``particle_<feature>`` columns of each
jet's matched particle-level jet (:func:`surrotag.reference.samples.particle_level_columns`).

Splits are whole samples, never random rows: every split is made of samples generated with
seeds (master seed and every job's Pythia seed) that no other split uses, so no event, and
no correlated random stream, is shared between splits. Samples the tagger was trained on may
sit in ``train`` (recorded in the provenance) but never in ``val`` or ``test``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import awkward as ak
import numpy as np

from surrotag.errors import SurrotagError
from surrotag.io.parquet import write_parquet
from surrotag.reference.samples import load_sample
from surrotag.reference.tagger import Tagger, load_tagger

__all__ = ["SPLITS", "assign_splits", "build_table"]

#: The splits of a table, in order.
SPLITS: Final = ("train", "val", "test")

Progress = Callable[[str], None]


def assign_splits(items: Sequence[str]) -> dict[str, list[str]]:
    """Parse ``SPLIT=PATH`` items (or exactly three plain paths: train, val, test in order).

    Raises:
        SurrotagError: an unknown split, a mix of plain and ``SPLIT=`` items, or plain paths
            that are not exactly three.
    """
    tagged = ["=" in item and item.split("=", 1)[0] in SPLITS for item in items]
    if any(tagged) and not all(tagged):
        raise SurrotagError(
            f"mix of SPLIT=PATH and plain paths in {list(items)}; give every "
            f"sample as SPLIT=PATH with SPLIT in {', '.join(SPLITS)}"
        )
    out: dict[str, list[str]] = {split: [] for split in SPLITS}
    if all(tagged) and items:
        for item in items:
            split, path = item.split("=", 1)
            out[split].append(path)
        return out
    if len(items) != len(SPLITS):
        raise SurrotagError(
            f"{len(items)} plain sample path(s) {list(items)}: give three (train, "
            "val, test, in that order) or tag each as SPLIT=PATH"
        )
    return {split: [path] for split, path in zip(SPLITS, items, strict=False)}


def _check_seeds(samples: list[Any], splits: list[str], tagger: Tagger) -> list[str]:
    """Refuse splits that share seeds; return the train samples the tagger was trained on."""
    seeds = {
        split: set().union(
            *(s.seeds for s, sp in zip(samples, splits, strict=False) if sp == split)
        )
        for split in SPLITS
    }
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            if seeds[a] & seeds[b]:
                raise SurrotagError(
                    f"splits {a} and {b} share generation seeds {sorted(seeds[a] & seeds[b])[:5]}; "
                    "generate the samples of each split with their own --seed"
                )
    trained = tagger.config.get("training", {}).get("samples", [])
    tagger_seeds = {
        int(x)
        for s in trained
        for x in [*s.get("pythia_seeds", []), s.get("seed")]
        if x is not None
    }
    tagger_shas = {s.get("sha256") for s in trained}
    for sample, split in zip(samples, splits, strict=False):
        if split != "train" and (sample.sha256 in tagger_shas or sample.seeds & tagger_seeds):
            raise SurrotagError(
                f"{sample.path}: the tagger was trained on this sample or its seeds, so it cannot "
                f"be in the {split} split; use it for train or generate a fresh sample"
            )
    return [
        sample.sha256
        for sample, split in zip(samples, splits, strict=False)
        if split == "train" and (sample.sha256 in tagger_shas or sample.seeds & tagger_seeds)
    ]


def build_table(
    top: Mapping[str, Sequence[str | Path]],
    qcd: Mapping[str, Sequence[str | Path]],
    tagger: str | Path | Tagger,
    *,
    out: str | Path | None = None,
    progress: Progress | None = None,
) -> tuple[ak.Array, dict[str, Any]]:
    """Build (and optionally write) the surrogate training table.

    Args:
        top: split -> top samples (``ttbar-allhad``, ``zprime-ttbar``).
        qcd: split -> ``qcd-dijet`` samples.
        tagger: the internal tagger (folder or loaded).
        out: Parquet file to write (with the provenance), or None.
        progress: called with each sample's path before it is read.

    Returns:
        The table (flat records) and its provenance.

    Raises:
        SurrotagError: unknown splits, an empty split, seeds shared between splits, or a
            tagger-training sample outside ``train``.
    """
    if not isinstance(tagger, Tagger):
        tagger = load_tagger(tagger)
    unknown = (set(top) | set(qcd)) - set(SPLITS)
    if unknown:
        raise SurrotagError(f"unknown split(s) {sorted(unknown)}; use {', '.join(SPLITS)}")
    requests = [
        (Path(p), role, split)
        for role, mapping in (("top", top), ("qcd", qcd))
        for split in SPLITS
        for p in mapping.get(split, [])
    ]
    for split in SPLITS:
        roles = {role for _, role, sp in requests if sp == split}
        if roles != {"top", "qcd"}:
            raise SurrotagError(
                f"split {split!r} needs at least one top and one QCD sample, "
                f"has {sorted(roles) or 'none'}"
            )
    samples, parts = [], []
    for index, (path, role, split) in enumerate(requests):
        if progress is not None:
            progress(str(path))
        sample = load_sample(path, role)
        samples.append(sample)
        columns = {name: np.asarray(sample.features[name]) for name in sample.features.fields}
        n = len(sample.label)
        columns.update(
            {
                "tagger_logit": tagger.logits(sample.jets),
                "label": sample.label,
                "sample_label": sample.sample_label,
                "event_weight": np.asarray(sample.event_weight, dtype=np.float64),
                "split": np.full(n, split),
                "sample_index": np.full(n, index, np.int16),
            }
        )
        parts.append(columns)
    overlap = _check_seeds(samples, [split for _, _, split in requests], tagger)
    table = ak.zip(
        {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}, depth_limit=1
    )
    provenance = {
        "kind": "surrogate-training-table",
        "tagger": {"sha256": tagger.sha256, "architecture": tagger.config.get("architecture")},
        "samples": [
            {**s.summary(), "split": split}
            for s, (_, _, split) in zip(samples, requests, strict=False)
        ],
        "splits": "whole samples with disjoint generation seeds (master and per-job Pythia)",
        "tagger_training_samples_in_train": overlap,
        "label": "1: top-sample jet matched to a hadronically decaying top with b, q, q' "
        "within dR < 0.8; 0: QCD jet; -1: other top-sample jet (top-matched not contained, "
        "unmatched, or near a leptonic top only; kept with truth features)",
        "event_weight": "Pythia's pTHat-bias compensating event weight (info.weight()) divided "
        "by its mean over the sample's events (mean 1 per sample); event cross-section = "
        "sigma_pb * event_weight / n_events",
        "sample_label": "1: jet of a top sample, 0: jet of a QCD sample",
        "n_rows": len(table),
        "n_rows_per_split": {sp: int(np.sum(np.asarray(table.split) == sp)) for sp in SPLITS},
    }
    if out is not None:
        write_parquet(table, out, provenance)
    return table, provenance
