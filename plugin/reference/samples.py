"""Read reference samples as labelled fat jets: the common input of tagger, BDT and table.

A top sample (``ttbar-allhad`` or ``zprime-ttbar``) and a QCD sample (``qcd-dijet``) give
jets with two labels:

* ``sample_label``: 1 for every jet of a top sample, 0 for every jet of a QCD sample
  ("label by sample");
* ``label``: the signal definition of top tagging (arXiv:1902.09914): 1 for jets of a top
  sample that are matched to a hadronically decaying top (Delta R < 0.8) whose b, q, q'
  all lie within Delta R < 0.8 of the jet axis (truth category ``contained`` of
  :func:`surrotag.features.truth.jet_truth_category`: ``truth_top_matched``,
  ``truth_top_hadronic == 1``, ``truth_top_n_contained == 3``), 0 for QCD jets, and -1 for
  the other jets of a top sample (top-matched but not contained, unmatched, or near a
  leptonic top only). Those are kept with their truth features; they are neither signal nor
  background for training and performance, but the surrogate sees them (it conditions on the
  truth features).

Every jet also carries its event's weight (:attr:`JetSample.event_weight`): Pythia's
pTHat-bias compensating weight (``info.weight()``, the samples' ``weight`` column),
divided by its mean over the sample's events, so that it averages to 1 per sample (an
event's cross-section is ``sigma_pb * event_weight / n_events``). Samples written without
weights read as weight 1, with a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import awkward as ak
import numpy as np

from surrotag.errors import FormatError
from surrotag.features import build_features
from surrotag.features.truth import jet_truth_category
from surrotag.io.parquet import read_parquet, read_parquet_metadata, sha256_file
from surrotag.reference.inputs import flat_fatjets

__all__ = [
    "PARTICLE_MATCH_RADIUS",
    "PARTICLE_PREFIX",
    "QCD_PROCESSES",
    "TOP_PROCESSES",
    "JetSample",
    "load_sample",
    "particle_level_columns",
    "sample_weights",
]

#: Reference presets whose jets are top candidates / QCD background.
TOP_PROCESSES: Final = ("ttbar-allhad", "zprime-ttbar")
QCD_PROCESSES: Final = ("qcd-dijet",)
#: Prefix of the feature columns of each detector jet's matched particle-level jet.
PARTICLE_PREFIX: Final = "particle_"
#: Delta R within which a particle-level jet is a detector jet's match (half of R = 0.8).
PARTICLE_MATCH_RADIUS: Final = 0.4


@dataclass(frozen=True)
class JetSample:
    """The fat jets of one reference sample with their public + truth features and labels.

    Attributes:
        path: the sample file.
        sha256: its hex sha256.
        role: ``top`` or ``qcd``.
        provenance: the sample's provenance JSON (``surrotag`` Parquet metadata).
        jets: flat fat jets (n_jets records with constituents).
        features: ``build_features(events, level="delphes")`` (n_jets rows), plus, for
            samples with particle-level jets, the columns of
            :func:`particle_level_columns`.
        label: int8 (n_jets,): 1 contained top, 0 QCD, -1 other top-sample jet.
        sample_label: int8 (n_jets,): 1 top sample, 0 QCD sample.
        event_weight: float64 (n_jets,): the weight of each jet's event, normalised to mean
            1 over the sample's events (:func:`sample_weights`).
    """

    path: Path
    sha256: str
    role: str
    provenance: dict[str, Any]
    jets: ak.Array
    features: ak.Array
    label: np.ndarray
    sample_label: np.ndarray
    event_weight: np.ndarray

    @property
    def seeds(self) -> set[int]:
        """Master seed and every job's Pythia seed of the sample (for disjointness checks)."""
        settings = self.provenance.get("settings", {})
        seeds = {int(job["pythia_seed"]) for job in self.provenance.get("jobs", [])}
        return seeds | ({int(settings["seed"])} if "seed" in settings else set())

    def summary(self) -> dict[str, Any]:
        """JSON-ready description for provenance."""
        settings = self.provenance.get("settings", {})
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "role": self.role,
            "process": self.provenance.get("process"),
            "seed": settings.get("seed"),
            "pythia_seeds": sorted(int(j["pythia_seed"]) for j in self.provenance.get("jobs", [])),
            "n_events": self.provenance.get("n_events"),
            "n_jets": len(self.label),
            "n_signal": int(np.sum(self.label == 1)),
            "n_background": int(np.sum(self.label == 0)),
            "sum_jet_weights": float(np.sum(self.event_weight)),
        }


def sample_weights(events: ak.Array, path: str | Path = "<sample>") -> np.ndarray:
    """Per-event weights of a reference sample, normalised to mean 1 over its events.

    Args:
        events: the sample's canonical events (``weight``: Pythia's ``info.weight()``).
        path: the sample file, for messages.

    Returns:
        float64 (n_events,): ``weight / mean(weight)``; ones, with a warning, when the
        sample has no ``weight`` column (written before weights were recorded).

    Raises:
        FormatError: a weight is not finite, or their mean is not positive.
    """
    n = len(events)
    if "weight" not in events.fields:
        warnings.warn(
            f"{path}: reference sample without event weights; its jets get weight 1 (the "
            "pTHat bias is not compensated); regenerate it with surrotag reference generate",
            UserWarning,
            stacklevel=2,
        )
        return np.ones(n, dtype=np.float64)
    weight = np.asarray(ak.to_numpy(ak.fill_none(events.weight, np.nan)), dtype=np.float64)
    mean = float(np.mean(weight)) if n else 1.0
    if not np.all(np.isfinite(weight)) or not mean > 0:
        raise FormatError(
            f"{path}: event weights are not finite or do not have a positive mean; "
            "regenerate the sample with surrotag reference generate"
        )
    return weight / mean


def load_sample(path: str | Path, role: str) -> JetSample:
    """Read a reference sample and label its fat jets.

    Args:
        path: canonical Parquet written by ``surrotag reference generate``.
        role: ``top`` or ``qcd``: what the caller uses the sample as.

    Returns:
        The sample's jets, features and labels.

    Raises:
        FormatError: the file is not a reference sample, or its process does not fit ``role``.
    """
    path = Path(path)
    meta = read_parquet_metadata(path)
    process = meta.get("process")
    if meta.get("kind") != "reference-sample":
        raise FormatError(
            f"{path}: not a reference sample (no 'reference-sample' provenance); write one with "
            "surrotag reference generate"
        )
    allowed = TOP_PROCESSES if role == "top" else QCD_PROCESSES
    if process not in allowed:
        raise FormatError(
            f"{path}: process {process!r} cannot be a {role} sample (use {', '.join(allowed)})"
        )
    events = read_parquet(path, events=False)
    jets = flat_fatjets(events)
    features = build_features(events, level="delphes")
    if "particlejets" in events.fields:
        extra = particle_level_columns(events, features)
        features = ak.zip(
            {**{name: features[name] for name in features.fields}, **extra}, depth_limit=1
        )
    if role == "top":
        category = jet_truth_category(
            ak.to_numpy(features.truth_top_matched),
            ak.to_numpy(features.truth_top_hadronic),
            ak.to_numpy(features.truth_top_n_contained),
        )
        label = np.where(category == 0, 1, -1).astype(np.int8)
    else:
        label = np.zeros(len(jets), np.int8)
    sample_label = np.full(len(jets), 1 if role == "top" else 0, np.int8)
    weight = sample_weights(events, path)[ak.to_numpy(features.event_index)]
    return JetSample(
        path, sha256_file(path), role, meta, jets, features, label, sample_label, weight
    )


def particle_level_columns(events: ak.Array, features: ak.Array) -> dict[str, np.ndarray]:
    """The particle-level features of each detector jet's matched particle-level jet.

    Every detector-level fat jet is matched to the nearest particle-level jet of its event
    (``particlejets``: the visible stable particles clustered alike, no detector) within
    Delta R < :data:`PARTICLE_MATCH_RADIUS`. The particle-level surrogate learns the
    internal tagger's logit of the detector jet as a function of these columns.

    Args:
        events: reference-sample events with ``fatjets``, ``particlejets``, ``particles``.
        features: the detector-level features of the same events (one row per fat jet).

    Returns:
        ``particle_matched`` (bool) and ``particle_<feature>`` (float64, NaN for detector
        jets without a match) for every feature of level ``particle``, aligned with the
        rows of ``features``.
    """
    from surrotag.features import features_for_level
    from surrotag.features._common import delta_r
    from surrotag.io.canonical import with_vector_behaviour

    names = [n for n in features_for_level("particle") if n != "event_weight"]
    level = with_vector_behaviour(
        ak.zip({"fatjets": events.particlejets, "particles": events.particles}, depth_limit=1)
    )
    table = build_features(level, level="particle", features=names)
    pairs = ak.cartesian([events.fatjets, events.particlejets], axis=1, nested=True)
    dr = delta_r(pairs["0"].eta, pairs["0"].phi, pairs["1"].eta, pairs["1"].phi)
    nearest = ak.argmin(dr, axis=2, keepdims=True)
    best = ak.fill_none(ak.flatten(dr[nearest], axis=2), np.inf)
    matched = ak.to_numpy(ak.flatten(best < PARTICLE_MATCH_RADIUS)).astype(bool)
    # row of the matched particle jet in ``table`` (its events are in order)
    offsets = np.cumsum(ak.to_numpy(ak.num(events.particlejets))) - ak.to_numpy(
        ak.num(events.particlejets)
    )
    local = ak.fill_none(ak.flatten(nearest, axis=2), 0)
    event_of_jet = ak.to_numpy(features.event_index)
    row = offsets[event_of_jet] + ak.to_numpy(ak.flatten(local)).astype(np.int64)
    columns: dict[str, np.ndarray] = {f"{PARTICLE_PREFIX}matched": matched}
    for name in names:
        values = np.asarray(ak.to_numpy(table[name]), dtype=np.float64)
        column = np.full(len(matched), np.nan)
        if values.size:
            column[matched] = values[row[matched]]
        columns[f"{PARTICLE_PREFIX}{name}"] = column
    return columns
