"""The training table of an event-level surrogate: event features, the classifier's logit, split.

One row per dilepton event (two leptons, finite MET) of every input sample: the public and
truth event features of :func:`surrotag.features.build_event_table` (:data:`EVENT_FEATURES`:
lepton kinematics, MET, m_T2(ll), the azimuths the classifier of arXiv:1804.09278 learns,
jets and b-tags; the invisible pT of neutralinos and W neutrinos and the number of top
quarks, truth that carries over between signal points), ``classifier_logit`` (the internal
event classifier, :mod:`surrotag.reference.event_classifier`), ``event_weight`` (the event's
cross-section in pb, :func:`~surrotag.reference.event_classifier.load_dilepton_events`),
``split``, ``sample_index`` and the sample's ``m_stop`` / ``m_lsp`` (GeV; NaN for t tbar).

Splits are whole samples, never random rows, as in the jet table (:mod:`surrotag.reference.
table`): every split is made of samples whose seeds no other split uses. The provenance
records each sample's sha256, process, masses and split, and the classifier's sha256.

References:
    Classifier surrogates, arXiv:2402.15558; T. Roxlo, M. Reece, arXiv:1804.09278.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import awkward as ak
import numpy as np

from surrotag.errors import SurrotagError
from surrotag.reference.table import SPLITS

__all__ = ["EVENT_FEATURES", "LOGIT_COLUMN", "build_event_training_table"]

#: The event features of the table (flags added by the feature builder).
EVENT_FEATURES: Final = (
    "event_lep1_pt",
    "event_lep2_pt",
    "event_met",
    "event_mt2_ll",
    "event_mll",
    "event_dphi_met_lep1",
    "event_dphi_met_lep2",
    "event_dphi_ll",
    "event_jet1_pt",
    "event_ht",
    "event_n_jets",
    "event_n_btag",
    "truth_invisible_pt",
    "truth_n_tops",
)
#: Column of the internal classifier's logit (the score the surrogate learns).
LOGIT_COLUMN: Final = "classifier_logit"


def build_event_training_table(
    splits: Mapping[str, Sequence[str | Path]],
    classifier: str | Path,
    out: str | Path,
    features: Sequence[str] = EVENT_FEATURES,
) -> Path:
    """Write the event table of reference samples, scored by the internal classifier.

    Args:
        splits: split name (``train``, ``val``, ``test``) -> reference sample files; a
            split may be left out (a validation table of fresh samples is all ``test``).
        classifier: the internal event classifier's folder.
        out: the Parquet file to write (atomically, with provenance).
        features: event features (registry names).

    Returns:
        ``out``.

    Raises:
        SurrotagError: an unknown split, a sample in two splits, or no sample; reading and
            feature errors of the samples.
    """
    from surrotag.features import build_event_table
    from surrotag.io.parquet import read_parquet_metadata, write_parquet
    from surrotag.reference.event_classifier import (
        classifier_scores,
        load_dilepton_events,
        load_event_classifier,
    )

    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise SurrotagError(f"unknown split(s) {unknown}; use {', '.join(SPLITS)}")
    paths = [Path(p) for split in SPLITS for p in splits.get(split, ())]
    if len({p.resolve() for p in paths}) != len(paths):
        raise SurrotagError("a sample is listed twice: every sample belongs to one split")
    if not paths:
        raise SurrotagError("no sample given; give at least one split with samples")
    model, document = load_event_classifier(classifier)  # its weights' sha256 verified
    parts, samples = [], []
    for split in SPLITS:
        for path in map(Path, splits.get(split, ())):
            events, sha = load_dilepton_events([path])
            twin = next((s for s in samples if s["sha256"] == sha[path.name]), None)
            if twin is not None:
                raise SurrotagError(
                    f"{path} is the same sample as {twin['file']} (sha256 "
                    f"{twin['sha256'][:12]}...): every sample belongs to one split"
                )
            settings = read_parquet_metadata(path).get("settings", {})
            table = build_event_table(events, level="delphes", features=features)
            columns: dict[str, Any] = {name: table[name] for name in table.fields}
            columns[LOGIT_COLUMN] = classifier_scores(model, events)
            columns["event_weight"] = np.asarray(ak.to_numpy(events.weight), dtype=np.float64)
            n = len(events)
            columns["split"] = np.full(n, split)
            columns["sample_index"] = np.full(n, len(samples), dtype=np.int64)
            for key, name in (("mass", "m_stop"), ("lsp_mass", "m_lsp")):
                value = settings.get(key)
                columns[name] = np.full(n, np.nan if value is None else float(value))
            parts.append(ak.zip(columns, depth_limit=1))
            samples.append(
                {"file": path.name, "sha256": sha[path.name], "split": split,
                 "process": settings.get("process"), "m_stop": settings.get("mass"),
                 "m_lsp": settings.get("lsp_mass"), "events": n}
            )  # fmt: skip
    provenance = {
        "kind": "event-surrogate-table",
        "features": list(features),
        "score": LOGIT_COLUMN,
        "classifier": {"folder": Path(classifier).name, "sha256": document["sha256"]},
        "samples": samples,
        "weight_convention": "event_weight = the event's cross-section (pb)",
    }
    return write_parquet(ak.concatenate(parts), out, provenance)
