"""Official results of the reference experiment: an analysis card's yields from the internal tagger.

What an experiment publishes for a tagged search (signal yields per region and bin, the
background estimates its likelihood holds) comes from its own tagger, never a surrogate.
For any analysis card this module applies the card's selection
(:func:`surrotag.selection.select`) to a reference sample, attaches the internal tagger's
logit to each of the ``k`` candidates (one or two, as the card says), and turns the 0/1
decisions at a working point into region yields with the very functions the recast uses
(:func:`surrotag.tagging.event_probabilities`, :func:`surrotag.yields.region_yields`), so an
official number and a recast number differ only in the tag probabilities.

The internal tagger's logits are cached next to each sample
(:func:`cached_jet_logits`, keyed by the sample's and the tagger's sha256) and the working
point's threshold is the shipped surrogates' own (:func:`working_point`).

Example:
    >>> import numpy as np
    >>> sample = OfficialSample.from_arrays(
    ...     weight=np.ones(3), selected=np.array([True, True, False]),
    ...     logits=np.array([[2.0], [-1.0], [5.0]]),
    ...     values={"m": np.array([1.5, 2.5, 1.5])}, sigma_pb=1.0, sum_weights=3.0)
    >>> sample.decisions(0.0)[:, 0].tolist()   # tagged where the logit exceeds 0
    [1.0, 0.0, 1.0]
    >>> sample.n_events, int(sample.selected.sum())  # the yields count selected events only
    (3, 2)

References:
    Classifier surrogates, arXiv:2402.15558 (the official-versus-surrogate closure).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import awkward as ak
import numpy as np

from surrotag.errors import AnalysisError, FormatError
from surrotag.io.parquet import read_parquet_metadata, sha256_file
from surrotag.reference.classifier_metrics import kish_effective

if TYPE_CHECKING:
    from surrotag.analysis_card import AnalysisCard
    from surrotag.reference.tagger import Tagger
    from surrotag.yields import Yields

__all__ = [
    "OfficialSample",
    "cached_jet_logits",
    "load_official_sample",
    "working_point",
]


def working_point(table: str | Path, name: str) -> dict[str, Any]:
    """The working point ``name`` of the shipped surrogates, from the reference table.

    Uses :func:`surrotag.reference.ship.working_points` (the function that writes the
    shipped cards' working points), so the threshold is identical.

    Returns:
        ``{"name", "threshold", "efficiency", "definition", ...}`` (threshold on the logit).

    Raises:
        AnalysisError: no working point of that name.
    """
    from surrotag.reference.ship import read_table, working_points

    columns = read_table(table, ["split", "label", "jet_pt", "tagger_logit", "event_weight"])
    for point in working_points(columns):
        if point["name"] == name:
            return point
    raise AnalysisError(f"{table}: no working point {name!r} among the shipped ones")


def cached_jet_logits(sample: str | Path, tagger: Tagger) -> tuple[np.ndarray, Path]:
    """Internal-tagger logits of every fat jet of a sample, flat in event order.

    Reuses the scores file next to the sample
    (:func:`surrotag.reference.score.default_scores_path`) when its provenance names this
    sample's and this tagger's sha256; otherwise scores the sample
    (:func:`surrotag.reference.score.score_sample`) and writes it.

    Returns:
        ``(logits [n_jets] float64, scores file)``.
    """
    from surrotag.reference.score import default_scores_path, score_sample

    sample = Path(sample)
    path = default_scores_path(sample, tagger.sha256)
    digest = sha256_file(sample)
    fresh = False
    if path.exists():
        meta = read_parquet_metadata(path)
        fresh = (
            meta.get("sample", {}).get("sha256") == digest
            and meta.get("tagger", {}).get("sha256") == tagger.sha256
        )
    if not fresh:
        score_sample(sample, tagger, out=path)
    table = ak.from_parquet(path, columns=["tagger_logit"])
    return np.asarray(ak.to_numpy(table.tagger_logit), dtype=np.float64), path


@dataclass(frozen=True)
class OfficialSample:
    """A reference sample after a card's selection, with its candidates' internal logits.

    Attributes:
        weight: generator weight per event ``[N]``.
        selected: the event passes the card's selection ``[N]``.
        logits: the internal tagger's logit of each candidate ``[N, k]`` (NaN where absent).
        values: each region observable of the card ``[N]`` by name (NaN where undefined).
        sigma_pb: the sample's cross-section (pb).
        sum_weights: sum of the generator weights of all generated events.
        cutflow: the selection's cutflow (events passing each cut and all before).
        path, sha256, provenance: the sample file, its digest and its metadata.
        scores: the scores file the logits came from.
    """

    weight: np.ndarray
    selected: np.ndarray
    logits: np.ndarray
    values: Mapping[str, np.ndarray]
    sigma_pb: float
    sum_weights: float
    cutflow: Mapping[str, int] = field(default_factory=dict)
    path: Path | None = None
    sha256: str = ""
    provenance: Mapping[str, Any] = field(default_factory=dict, repr=False)
    scores: Path | None = None

    @classmethod
    def from_arrays(cls, **fields: Any) -> OfficialSample:
        """From plain arrays (tests and documentation); ``values`` by observable name."""
        fields["values"] = MappingProxyType(dict(fields["values"]))
        return cls(**fields)

    @property
    def n_events(self) -> int:
        """Events N."""
        return int(self.weight.size)

    def decisions(self, threshold: float) -> np.ndarray:
        """Tag decisions ``[N, k]``: 1.0 where the logit exceeds ``threshold``, else 0.0."""
        with np.errstate(invalid="ignore"):
            return (self.logits > threshold).astype(np.float64)

    def yields(
        self, card: AnalysisCard, threshold: float, index: np.ndarray | None = None
    ) -> dict[str, Yields]:
        """Region yields at mu = 1 of all events, or of the events ``index`` (a resample).

        The normalisation is ``sigma L / sum w``: the full sample's sum of generator
        weights, scaled on a resample by the resampled events' share so that the
        acceptance fluctuates with it.

        Args:
            card: the analysis card (regions, binning, luminosity).
            threshold: the working point's logit threshold.
            index: event indices of a bootstrap resample (None: every event once).
        """
        from surrotag.tagging import event_probabilities
        from surrotag.yields import normalisation, region_yields

        if card.taggers:
            raise AnalysisError(
                f"analysis {card.name!r} has further taggers ({', '.join(card.taggers)}): "
                "official yields here run the candidates' internal tagger only; its build "
                "script must tag the further objects with their own internal taggers"
            )
        pick = slice(None) if index is None else index
        weight = self.weight[pick]
        total = self.sum_weights * (weight.sum() / self.weight.sum() if index is not None else 1)
        factor = normalisation(self.sigma_pb, card.luminosity_ifb, total)
        selected = self.selected[pick]
        event_weight = np.where(selected, weight * factor, 0.0)
        tags = self.decisions(threshold)[pick]
        second = tags[:, 1] if tags.shape[1] > 1 else np.zeros(len(tags))
        probabilities = event_probabilities(tags[:, 0], second)
        out = {}
        for region in card.regions:
            observable = np.where(selected, self.values[region.observable.name][pick], np.nan)
            out[region.name] = region_yields(
                event_weight,
                probabilities.of(region.tag.requirement) * selected,
                observable,
                region.observable.bin_edges,
                name=region.observable.name,
            )
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-ready description: file, sha256, settings, cross-section, weights, cutflow."""
        settings = self.provenance.get("settings", {})
        return {
            "file": None if self.path is None else self.path.name,
            "sha256": self.sha256,
            "process": self.provenance.get("process"),
            "mass_gev": settings.get("mass"),
            "seed": settings.get("seed"),
            "jobs": settings.get("jobs"),
            "n_events": self.n_events,
            "settings_key": self.provenance.get("settings_key"),
            "sigma_pb": self.sigma_pb,
            "sigma_err_pb": self.provenance.get("sigma_err_pb"),
            "sum_weights": self.sum_weights,
            "n_selected": int(np.count_nonzero(self.selected)),
            "sum_weights_selected": float(self.weight[self.selected].sum()),
            "effective_events_selected": kish_effective(self.weight[self.selected]),
            "cutflow": dict(self.cutflow),
            "scores_file": None if self.scores is None else self.scores.name,
        }


def load_official_sample(path: str | Path, card: AnalysisCard, tagger: Tagger) -> OfficialSample:
    """Read a reference sample, apply the card's selection and attach the candidates' logits.

    Reads only what the selection needs: the candidates' kinematics (not their
    constituents) and the collections the cuts and region observables read.

    Args:
        path: reference sample written by :func:`surrotag.reference.generate.generate`.
        card: the analysis card (selection, regions).
        tagger: the loaded internal tagger (the one whose sha256 the card records).

    Raises:
        FormatError: the file is not a reference sample, lacks a collection the card
            reads, or its scores do not match its jets.
    """
    from surrotag.io.canonical import with_vector_behaviour
    from surrotag.selection import collections_read, select

    path = Path(path)
    meta = read_parquet_metadata(path)
    if meta.get("kind") != "reference-sample":
        raise FormatError(
            f"{path}: not a reference sample; generate it with surrotag reference generate"
        )
    candidates = card.selection.collection
    collections = collections_read(card)
    columns = ["weight", *(f"{candidates}.{key}" for key in ("pt", "eta", "phi", "mass"))]
    columns += sorted(collections - {candidates})
    events = with_vector_behaviour(ak.from_parquet(path, columns=columns))
    missing = sorted(collections - set(ak.fields(events)))
    if missing:
        raise FormatError(
            f"{path}: no {', '.join(missing)} (analysis {card.name!r} reads them); generate "
            "the sample with a preset that stores physics objects (surrotag reference generate)"
        )
    selection = select(events, card)
    logits, scores = cached_jet_logits(path, tagger)
    counts = ak.to_numpy(ak.num(events[candidates], axis=1)).astype(np.int64)
    if counts.sum() != logits.size:
        raise FormatError(
            f"{scores}: {logits.size} jet scores for {counts.sum()} jets of {path}; delete the "
            "scores file and rebuild"
        )
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    have = selection.indices >= 0
    position = np.where(have, offsets[:, None] + selection.indices, 0)
    padded = np.append(logits, np.nan)  # position 0 of an event-less file stays valid
    return OfficialSample(
        weight=np.asarray(ak.to_numpy(events.weight), dtype=np.float64),
        selected=np.asarray(selection.mask),
        logits=np.where(have, padded[position], np.nan),
        values=MappingProxyType({k: np.asarray(v) for k, v in selection.values.items()}),
        sigma_pb=float(meta["sigma_pb"]),
        sum_weights=float(meta["sum_weights"]),
        cutflow=selection.cutflow,
        path=path,
        sha256=sha256_file(path),
        provenance=meta,
        scores=scores,
    )
