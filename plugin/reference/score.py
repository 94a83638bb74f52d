"""Score the fat jets of reference samples with the internal tagger.

The scores file is a flat Parquet table, one row per fat jet in event order: ``event_index``
(int64), ``jet_index`` (int32, position in the event's pT-ordered ``fatjets``) and
``tagger_logit`` (float32). Its provenance records the sample's and the tagger's sha256, so
that a scores file can be matched to exactly one (sample, tagger) pair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from surrotag.io.parquet import read_parquet, read_parquet_metadata, sha256_file, write_parquet
from surrotag.reference.inputs import flat_fatjets
from surrotag.reference.tagger import Tagger, load_tagger

__all__ = ["default_scores_path", "score_events", "score_sample"]


def score_events(events: ak.Array, tagger: Tagger) -> ak.Array:
    """Per-jet tagger logits of canonical events with constituents.

    Returns:
        Flat records {event_index (int64), jet_index (int32), tagger_logit (float32)}.
    """
    counts = ak.to_numpy(ak.num(events.fatjets, axis=1))
    logits = tagger.logits(flat_fatjets(events))
    return ak.zip(
        {
            "event_index": np.repeat(np.arange(len(events), dtype=np.int64), counts),
            "jet_index": ak.to_numpy(ak.flatten(ak.local_index(events.fatjets.pt, axis=1))).astype(
                np.int32
            ),
            "tagger_logit": logits,
        },
        depth_limit=1,
    )


def default_scores_path(sample: str | Path, tagger_sha256: str) -> Path:
    """``<sample stem>.scores-<tagger sha256[:10]>.parquet`` next to the sample."""
    sample = Path(sample)
    return sample.with_name(f"{sample.stem}.scores-{tagger_sha256[:10]}.parquet")


def score_sample(
    sample: str | Path, tagger: str | Path | Tagger, out: str | Path | None = None
) -> tuple[Path, dict[str, Any]]:
    """Score every fat jet of a reference sample and write the scores next to it.

    Args:
        sample: canonical Parquet with ``fatjets.constituents``.
        tagger: a tagger folder or a loaded tagger (:class:`~surrotag.reference.tagger.Tagger`
            or :class:`~surrotag.reference.anomaly_tagger.AnomalyTagger`).
        out: output file (default :func:`default_scores_path`).

    Returns:
        The scores file and its provenance.
    """
    sample = Path(sample)
    if isinstance(tagger, str | Path):
        tagger = load_tagger(tagger)
    events = read_parquet(sample, columns=["fatjets"], events=False)
    scores = score_events(events, tagger)
    meta = read_parquet_metadata(sample)
    provenance = {
        "kind": "tagger-scores",
        "sample": {
            "path": str(sample),
            "sha256": sha256_file(sample),
            "process": meta.get("process"),
            "settings_key": meta.get("settings_key"),
        },
        "tagger": {"sha256": tagger.sha256, "architecture": tagger.config.get("architecture")},
        "n_events": len(events),
        "n_jets": len(scores),
        "columns": {
            "event_index": "event position in the sample",
            "jet_index": "position in the event's pT-ordered fatjets",
            "tagger_logit": "internal tagger output: logit of P(top | jet) of the PFN top "
            "tagger, log of the anomaly score of an anomaly tagger",
        },
    }
    path = Path(out) if out is not None else default_scores_path(sample, tagger.sha256)
    write_parquet(scores, path, provenance)
    return path, provenance
