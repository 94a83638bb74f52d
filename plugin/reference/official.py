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
point's threshold is the shipped surrogates' own (:func:`working_point`). An event-level card
(candidates ``event``) is decided by the internal event classifier instead
(:class:`InternalEventClassifier`: one logit per event with two leptons); which one, and its
working point, checked against the card, is :func:`internal_decisions`, the one loader of
the build and the closure.

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
from typing import TYPE_CHECKING, Any, Final

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
    "InternalDecisions",
    "InternalEventClassifier",
    "OfficialSample",
    "cached_jet_logits",
    "internal_decisions",
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


@dataclass(frozen=True)
class InternalEventClassifier:
    """The internal event classifier of an event-level analysis, with its verified sha256.

    Attributes:
        model: the network (:class:`surrotag.reference.event_classifier.EventClassifier`).
        sha256: sha256 of its weights, as its folder records and the card's
            ``tagger_sha256`` must.
        folder: where it was loaded from.
    """

    model: Any
    sha256: str
    folder: Path

    @classmethod
    def load(cls, folder: str | Path) -> InternalEventClassifier:
        """Load a classifier folder (weights' sha256 verified)."""
        from surrotag.reference.event_classifier import load_event_classifier

        model, document = load_event_classifier(folder)
        return cls(model=model, sha256=str(document["sha256"]), folder=Path(folder))

    def event_logits(self, events: ak.Array) -> np.ndarray:
        """Logit ``[N, 1]`` per event: the classifier's for events with two leptons and a
        finite MET (the events it was trained on), NaN (never tagged) for the others."""
        from surrotag.reference.event_classifier import classifier_scores, has_two_leptons

        scored = has_two_leptons(events) & np.isfinite(ak.to_numpy(events.met.met))
        logits = np.full(len(events), np.nan)
        if scored.any():
            logits[scored] = classifier_scores(self.model, events[scored])
        return logits[:, None]


@dataclass(frozen=True)
class InternalDecisions:
    """What makes an analysis's official decisions: the internal tagger (or event classifier)
    the card names, and the working point's threshold.

    Attributes:
        tagger: the loaded :class:`~surrotag.reference.tagger.Tagger` of a jet-tagged card,
            or :class:`InternalEventClassifier` of an event-level one.
        point: the working point (``name``, ``threshold`` on the logit, ``efficiency``,
            ``definition``), computed by the function that wrote the surrogates' cards.
        folder: the tagger's folder; table: the table that fixed the working point.
    """

    tagger: Any
    point: Mapping[str, Any]
    folder: Path
    table: Path

    @property
    def threshold(self) -> float:
        """The working point's threshold on the internal logit."""
        return float(self.point["threshold"])

    def inputs(self) -> dict[str, Any]:
        """JSON record of the tagger's folder and sha256 and the table's sha256."""
        return {
            "tagger": {"folder": self.folder.name, "sha256": self.tagger.sha256},
            "table": {"file": self.table.name, "sha256": sha256_file(self.table)},
        }


def internal_decisions(
    card: AnalysisCard,
    working_point_name: str,
    *,
    folder: str | Path | None = None,
    table: str | Path | None = None,
) -> InternalDecisions:
    """Load the internal tagger a card names and its working point, checked against the card.

    An event-level card (candidates ``event``) is decided by the internal event classifier
    (default ``$SURROTAG_DATA/reference/event_classifier_heavy``, working point from the
    event table ``stop_event_table.parquet``:
    :func:`surrotag.reference.ship_event.event_working_point`); a card whose surrogate names
    an ``internal_tagger`` folder holding an anomaly tagger by that tagger
    (:func:`surrotag.reference.anomaly_tagger.load_anomaly_tagger`, working point from
    ``anomaly_table.parquet``:
    :func:`surrotag.reference.anomaly_surrogates.anomaly_working_point`); any other by the
    internal jet tagger (``tagger_pfn``, working point from ``top_tagger_table.parquet``:
    :func:`working_point`).

    Args:
        card: the analysis card.
        working_point_name: the working point its regions use.
        folder, table: the tagger's folder and the table (None: the cache's).

    Raises:
        InputFileError: the folder or the table is absent.
        IntegrityError: the tagger's sha256 differs from the card's ``tagger_sha256``.
    """
    from surrotag.analysis_card import EVENT_COLLECTION
    from surrotag.errors import InputFileError, IntegrityError
    from surrotag.reference import cache
    from surrotag.reference.anomaly_surrogates import TABLE_NAME as ANOMALY_TABLE_NAME
    from surrotag.reference.anomaly_surrogates import anomaly_working_point
    from surrotag.reference.anomaly_tagger import is_anomaly_tagger, load_anomaly_tagger
    from surrotag.reference.ship_event import event_working_point
    from surrotag.reference.tagger import load_tagger

    events = card.selection.collection == EVENT_COLLECTION
    reference = cache.reference_dir()
    if events:
        default_folder, default_table = cache.EVENT_CLASSIFIER_NAME, cache.EVENT_TABLE_NAME
    elif card.surrogate.internal_tagger is not None:
        default_folder, default_table = card.surrogate.internal_tagger, ANOMALY_TABLE_NAME
    else:
        default_folder, default_table = cache.TAGGER_NAME, cache.TABLE_NAME
    folder = Path(folder) if folder is not None else reference / default_folder
    table = Path(table) if table is not None else reference / default_table
    missing = [str(p) for p in (folder, table) if not p.exists()]
    if missing:
        if events:
            how = (
                "surrotag reference train-event-classifier and build-event-table (README, "
                "stop-dilepton-nn)"
            )
        elif card.surrogate.internal_tagger is not None:
            how = "surrotag reference anomaly-study and anomaly-surrogates"
        else:
            how = "surrotag reference pipeline"
        raise InputFileError(
            f"internal tagger inputs absent ({', '.join(missing)}): regenerate them with "
            f"{how} (SURROTAG_DATA selects the data folder)"
        )
    anomaly = not events and is_anomaly_tagger(folder)
    if events:
        tagger = InternalEventClassifier.load(folder)
    else:
        tagger = load_anomaly_tagger(folder) if anomaly else load_tagger(folder)
    if tagger.sha256 != card.surrogate.tagger_sha256:
        raise IntegrityError(
            f"{folder}: sha256 {tagger.sha256[:12]}... differs from the card's tagger_sha256 "
            f"{card.surrogate.tagger_sha256[:12]}...; use the internal "
            f"{'classifier' if events else 'tagger'} the surrogates were built with"
        )
    if events:
        point = event_working_point(table, working_point_name)
    elif anomaly:
        point = anomaly_working_point(table, working_point_name, tagger.sha256)
    else:
        point = working_point(table, working_point_name)
    return InternalDecisions(tagger=tagger, point=point, folder=folder, table=table)


#: Collections the event classifier reads (its inputs: surrotag.reference.event_classifier).
_CLASSIFIER_COLLECTIONS: Final = ("electrons", "muons", "jets", "met")


def load_official_sample(
    path: str | Path, card: AnalysisCard, tagger: Tagger | InternalEventClassifier
) -> OfficialSample:
    """Read a reference sample, apply the card's selection and attach the candidates' logits.

    Reads only what the selection needs: the candidates' kinematics (not their
    constituents) and the collections the cuts and region observables read; an event-level
    card (candidates ``event``) also reads what the event classifier reads.

    Args:
        path: reference sample written by :func:`surrotag.reference.generate.generate`.
        card: the analysis card (selection, regions).
        tagger: the loaded internal tagger (the one whose sha256 the card records), or the
            internal event classifier of an event-level card.

    Raises:
        FormatError: the file is not a reference sample, lacks a collection the card
            reads, or its scores do not match its jets.
        AnalysisError: an event-level card with a jet tagger, or the reverse.
    """
    from surrotag.analysis_card import EVENT_COLLECTION
    from surrotag.io.canonical import with_vector_behaviour
    from surrotag.selection import collections_read, select

    path = Path(path)
    meta = read_parquet_metadata(path)
    if meta.get("kind") != "reference-sample":
        raise FormatError(
            f"{path}: not a reference sample; generate it with surrotag reference generate"
        )
    candidates = card.selection.collection
    event_level = candidates == EVENT_COLLECTION
    if event_level != isinstance(tagger, InternalEventClassifier):
        raise AnalysisError(
            f"analysis {card.name!r} tags {candidates!r}: its official yields need "
            + ("the internal event classifier" if event_level else "the internal jet tagger")
        )
    collections = collections_read(card)
    if event_level:
        collections |= set(_CLASSIFIER_COLLECTIONS)
        columns = ["weight"]
    else:
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
    if event_level:
        logits, scores = tagger.event_logits(events), None
    else:
        logits, scores = _candidate_logits(path, events, candidates, selection.indices, tagger)
    return OfficialSample(
        weight=np.asarray(ak.to_numpy(events.weight), dtype=np.float64),
        selected=np.asarray(selection.mask),
        logits=logits,
        values=MappingProxyType({k: np.asarray(v) for k, v in selection.values.items()}),
        sigma_pb=float(meta["sigma_pb"]),
        sum_weights=float(meta["sum_weights"]),
        cutflow=selection.cutflow,
        path=path,
        sha256=sha256_file(path),
        provenance=meta,
        scores=scores,
    )


def _candidate_logits(
    path: Path, events: ak.Array, candidates: str, indices: np.ndarray, tagger: Tagger
) -> tuple[np.ndarray, Path]:
    """The internal tagger's logit ``[N, k]`` of each selected candidate (NaN where absent)."""
    logits, scores = cached_jet_logits(path, tagger)
    counts = ak.to_numpy(ak.num(events[candidates], axis=1)).astype(np.int64)
    if counts.sum() != logits.size:
        raise FormatError(
            f"{scores}: {logits.size} jet scores for {counts.sum()} jets of {path}; delete the "
            "scores file and rebuild"
        )
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    have = indices >= 0
    position = np.where(have, offsets[:, None] + indices, 0)
    padded = np.append(logits, np.nan)  # position 0 of an event-less file stays valid
    return np.where(have, padded[position], np.nan), scores
