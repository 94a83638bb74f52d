"""Recast an analysis on signal events: read, select, tag, yields, patch, CLs.

:func:`recast` runs the whole chain of DESIGN.md on event files (or canonical events in
memory), one chunk at a time so that memory stays flat:

1. **inputs**: files, globs, MadGraph run folders (:func:`surrotag.io.inputs.resolve_inputs`);
   none given: the analysis's shipped example signal (``example_signal.parquet``);
2. **read** (:func:`surrotag.io.iter_events`, only the collections needed);
3. **select** (:func:`surrotag.selection.select`) on the card's collection: fat jets at
   detector level; at parton level the same cuts on the two leading top quarks (a
   documented approximation: the tops stand for the fat jets they would make, mjj is
   m(t tbar));
4. **features** of the two selected objects only (:func:`surrotag.features.build_features`);
5. **tag** (:mod:`surrotag.tagging`, a :class:`~surrotag.tagging.Tagger`): exact per-object
   probabilities per Bayesian weight draw (or the efficiency-map baseline), combined per
   event into the region probabilities, both tagged ``p1 p2`` and exactly one
   ``p1 (1 - p2) + p2 (1 - p1)`` (:func:`surrotag.tagging.event_probabilities`);
6. **yields** per region and mjj bin (:func:`surrotag.yields.region_yields`), each event
   weighted by ``sigma L w / sum(w)`` with the sum over *all* events read, so that the
   total is ``sigma L (sum of selected weights / sum of all weights)``;
7. **patch** (:func:`surrotag.stats.patch.build_patch`): signal with its own MC-statistics
   modifier, surrogate uncertainty as eigen histosys (>= 95 % of the draw variance, at most
   5 components) named ``<analysis>_<surrogate>_eig<i>``, and the out-of-support objects
   as the histosys ``<analysis>_<surrogate>_ood``;
8. **infer** (:mod:`surrotag.stats.infer`): CLs observed and expected at mu = 1, 95 % CL
   upper limits on mu.

Objects out of the tagger's training support (:meth:`Surrogate.ood_mask`: the joint support
score where the surrogate stores one, else the per-feature box; the efficiency map's pT
range) are never extrapolated with confidence. With ``ood="nuisance"`` (default) their tag
probability may be anything in its allowed range [0, 1]: the event combinatorics are
recomputed with the flagged probabilities all at 0 and all at 1
(:func:`surrotag.yields.ood_region_yields`), the likelihood's signal takes the smaller
region probability per event and the histosys ``<analysis>_<surrogate>_ood`` reaches the
larger (:func:`surrotag.stats.patch.build_patch`), so adding flagged objects never
strengthens a limit. The reported nominal yields stay the surrogate's; the report states
each region's OOD share (the share of its nominal yield carried by events with a flagged
selected object). With ``ood="strict"`` a run with any flagged selected object is refused
with one line.

The cross-section comes from ``xsec_pb``, else from the inputs (LHE ``<init>``, surrotag
Parquet provenance, MadGraph banner); several files of one sample are combined by their
event counts. A sqrt(s) different from the analysis's, or input files at different sqrt(s),
is a warning, not an error.

Zero selected events is an answer only for valid input: a collection the selection cannot do
without (:func:`required_collections`) that is empty in every event read is refused with one
line after the last chunk (:func:`_check_collections_seen`).

:func:`recast_many` runs several analyses on one pass (:func:`accumulate_runs`). The
per-chunk steps (:class:`YieldSums`, :class:`StageTimer`, :func:`load_tagger`,
:func:`selection_card`, :func:`collections_to_read`, :func:`process_chunk`,
:func:`normalised_yields`) are shared with :class:`~surrotag.recast.ChunkRecast`; they are
the package's own, not in ``__all__``.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558; Cowan et al.,
    arXiv:1007.1727; ATLAS arXiv:2005.05138.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.resources import as_file
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from surrotag.errors import (
    AnalysisError,
    EmptyCollectionError,
    FormatError,
    InputValueError,
    OutOfSupportError,
)
from surrotag.io.levels import input_level
from surrotag.io.stream import EventStream
from surrotag.recast.report import RecastReport, RegionResult
from surrotag.tagging import (
    TAGGERS,
    EfficiencyMapTagger,
    ObjectTags,
    SurrogateTagger,
    Tagger,
    check_surrogate,
    event_probabilities,
)
from surrotag.yields import OodYields, Yields, _draw_covariance

if TYPE_CHECKING:
    import awkward as ak

    from surrotag.analysis import Analysis, AnalysisCard, Region
    from surrotag.analysis_card import TaggerSpec
    from surrotag.io.inputs import CrossSection, InputFiles
    from surrotag.jets.response import JetResponse
    from surrotag.recast.further import FurtherTagger, FurtherTags

__all__ = [
    "EXAMPLE_SIGNAL",
    "OOD_POLICIES",
    "OOD_WARNING",
    "SQRT_S_TOLERANCE",
    "STAGES",
    "recast",
    "recast_many",
    "unusable_reason",
]

#: File name of an analysis's shipped example signal (used when no events are given).
EXAMPLE_SIGNAL: Final = "example_signal.parquet"
#: Fraction of out-of-distribution objects above which the report warns.
OOD_WARNING: Final = 0.05
#: Treatments of out-of-support objects: a [0, 1] nuisance (default), or refusal.
OOD_POLICIES: Final = ("nuisance", "strict")
#: Most Bayesian weight draws of a surrogate that samples them (VI); an MCMC surrogate gives
#: at most its stored posterior samples.
MAX_DRAWS: Final = 10_000
#: Largest signal cross-section accepted (pb; the total pp cross-section is ~1e11 pb).
MAX_XSEC_PB: Final = 1e12
#: Relative sqrt(s) difference above which input and analysis disagree.
SQRT_S_TOLERANCE: Final = 1e-3
#: Stages timed in :attr:`RecastReport.timings` (seconds).
STAGES: Final = ("resolve", "read", "select", "features", "tag", "yields", "patch", "infer")

_PARTON_COLLECTION: Final = "tops"

#: Event observables that count objects, and the collections they count (None: the cut's
#: ``collection``, else the selection's): a lower bound of at least one on them needs an
#: object of those collections.
_COUNTING: Final[Mapping[str, tuple[str, ...] | None]] = {
    "count": None,
    "n_btag": ("jets",),
    "n_leptons": ("electrons", "muons"),
}


@dataclass
class StageTimer:
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start


@dataclass
class YieldSums:
    """Running sums: per region the unnormalised yields of every draw ``[K, B]`` and the
    squared MC statistical errors ``[B]`` (additive over chunks, so memory stays flat in
    the number of events), event counts and the cutflow."""

    per_draw: dict[str, np.ndarray] = field(default_factory=dict)
    mc_stat2: dict[str, np.ndarray] = field(default_factory=dict)
    n_events: int = 0
    sum_weights: float = 0.0
    n_objects: int = 0
    n_ood: int = 0
    ood: dict[str, OodYields] = field(default_factory=dict)
    cutflow: dict[str, int] = field(default_factory=dict)
    cutflow_weighted: dict[str, float] = field(default_factory=dict)
    further_objects: dict[str, tuple[int, int]] = field(default_factory=dict)

    def add_further(self, name: str, n_objects: int, n_ood: int) -> None:
        """Count a further tagger's tagged objects and those out of its support."""
        have = self.further_objects.get(name, (0, 0))
        self.further_objects[name] = (have[0] + n_objects, have[1] + n_ood)

    def add_yields(self, region: str, yields: Yields) -> None:
        """Add one chunk's unnormalised yields of ``region``."""
        if region in self.per_draw:
            self.per_draw[region] = self.per_draw[region] + yields.per_draw
            self.mc_stat2[region] = self.mc_stat2[region] + yields.mc_stat_error**2
        else:
            self.per_draw[region] = yields.per_draw.copy()
            self.mc_stat2[region] = yields.mc_stat_error**2

    def add_ood(self, region: str, yields: OodYields) -> None:
        """Add one chunk's unnormalised yields of the events holding a flagged object."""
        self.ood[region] = self.ood[region] + yields if region in self.ood else yields

    def add_cutflow(self, counts: Any, weighted: Any) -> None:
        for name, value in counts.items():
            self.cutflow[name] = self.cutflow.get(name, 0) + int(value)
        for name, value in weighted.items():
            self.cutflow_weighted[name] = self.cutflow_weighted.get(name, 0.0) + float(value)

    def yields(self, region: Region, draws: int) -> Yields:
        """The running sums of ``region`` as :class:`Yields` of generator weights (zeros, with
        ``draws`` weight draws, before any of its events), out-of-support yields included."""
        edges = np.asarray(region.observable.bin_edges, dtype=np.float64)
        zeros = np.zeros(edges.size - 1)
        per_draw = self.per_draw.get(region.name, np.zeros((draws, zeros.size)))
        return Yields(
            edges,
            per_draw.mean(axis=0),
            per_draw,
            np.sqrt(self.mc_stat2.get(region.name, zeros)),
            _draw_covariance(per_draw),
            self.ood.get(region.name, OodYields(zeros, zeros, zeros)),
            region.observable.name,
        )


def _ident(name: str) -> str:
    """A pyhf-friendly identifier (letters, digits, ``_``)."""
    return re.sub(r"\W", "_", name)


def _check_xsec(xsec_pb: float | None) -> None:
    if xsec_pb is None:
        return
    ok = isinstance(xsec_pb, int | float) and math.isfinite(xsec_pb)
    if not ok or not 0 <= xsec_pb <= MAX_XSEC_PB:
        raise InputValueError(
            f"--xsec-pb {xsec_pb!r}: the cross-section must be a number in [0, {MAX_XSEC_PB:g}] pb"
        )


def _file_levels(inputs: InputFiles) -> str:
    from surrotag.io import level_of, sniff_format

    levels = {path: level_of(sniff_format(path), path) for path in inputs.paths}
    found = sorted(set(levels.values()))
    if len(found) > 1:
        first = {level: next(p for p, v in levels.items() if v == level) for level in found}
        raise FormatError(
            f"inputs mix levels: {first[found[0]]} is {found[0]}-level, {first[found[1]]} is "
            f"{found[1]}-level; recast each level separately"
        )
    return found[0]


def _check_objects(inputs: InputFiles, level: str, analysis: Analysis) -> None:
    """Parquet inputs must hold the level's objects and every collection the analysis's
    selection reads (leptons, small-R jets, MET), else one line naming the analysis."""
    lacking = _lacking_collections(inputs, level, analysis)
    if lacking is not None:
        path, missing, names = lacking
        raise FormatError(
            f"{path}: {level}-level events without {', '.join(missing)} (has: "
            f"{', '.join(names)}); analysis {analysis.name!r} reads them: write the events "
            "with them"
        )


def _lacking_collections(
    inputs: InputFiles, level: str, analysis: Analysis
) -> tuple[Path, list[str], list[str]] | None:
    """The first Parquet input without a collection the analysis reads at ``level``:
    ``(path, missing, present)``; None when every input has them (ROOT and LHE readers
    raise their own MissingBranchError, the particle-level reader checks its record)."""
    from surrotag.io import sniff_format
    from surrotag.io.parquet import _open
    from surrotag.selection import collections_read

    if input_level(level).jets_from_particles:
        return None
    need = {input_level(level).objects} if _tags_level_objects(analysis.card, level) else set()
    if input_level(level).has_jets:
        need |= collections_read(analysis)
    for path in inputs.paths:
        if sniff_format(path) != "parquet":
            continue
        names = _open(Path(path)).schema_arrow.names
        missing = sorted(need - set(names))
        if missing:
            return Path(path), missing, names
    return None


def unusable_reason(
    analysis: str | Path | Analysis, inputs: Sequence[str | Path], *, tagger: str | None = None
) -> str | None:
    """Why ``analysis`` cannot recast these event files, in one line (None: it can).

    What ``--all`` asks before it runs an analysis: the files' input level must be one the
    analysis accepts, Parquet files must hold what its selection reads, and with
    ``tagger="efficiency-map"`` its surrogate card must carry an efficiency map (the
    anomaly-score surrogates have none). Reads file headers and cards only.
    """
    from surrotag.analysis import Analysis, get_analysis
    from surrotag.io.inputs import resolve_inputs

    ana = analysis if isinstance(analysis, Analysis) else get_analysis(analysis)
    files = resolve_inputs(list(inputs))
    level = _file_levels(files)
    if level not in ana.card.input_levels:
        return f"it takes {', '.join(ana.card.input_levels)}-level events, these are {level}-level"
    lacking = _lacking_collections(files, level, ana)
    if lacking is not None:
        return f"{lacking[0].name} has no {', '.join(lacking[1])}"
    if tagger == "efficiency-map":
        from surrotag.surrogates.card import load_card
        from surrotag.surrogates.registry import resolve_surrogate

        name = ana.card.surrogate.names.get(level)
        if name is not None:
            card = load_card(resolve_surrogate(name) / "card.json")
            points = {p.name for p in ana.card.surrogate.working_points}
            if not points <= set(card.efficiency_map or {}):
                return f"its surrogate {name} has no efficiency map (--tagger efficiency-map)"
    return None


def load_tagger(
    analysis: Analysis,
    level: str,
    kind: str,
    surrogate: str | Path | None,
    draws: int | None,
    stochastic: bool,
    seed: int,
    device: str,
    threads: int | str | None = None,
    further: tuple[TaggerSpec, tuple[str, ...]] | None = None,
) -> Tagger:
    """The tagger of a recast of ``analysis`` at ``level``: its surrogate (the card's for the
    level, or ``surrogate``) checked against the analysis, as a surrogate or efficiency map.
    ``further``: a further tagger of the card and the working points its tag counts use,
    loaded instead (:mod:`surrotag.recast.further`).
    """
    import torch

    from surrotag.surrogates.card import load_card
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import load_surrogate

    card_spec = analysis.card
    if further is None:
        name = card_spec.surrogate_name(level)
        points = tuple(
            dict.fromkeys(
                region.tag.working_point
                for region in card_spec.regions
                if region.tag.working_point is not None
            )
        ) or (card_spec.surrogate.working_points[0].name,)
        sha256 = card_spec.surrogate.tagger_sha256
    else:
        name, points = further[0].surrogate.names[level], further[1]
        sha256 = further[0].surrogate.tagger_sha256
    folder = resolve_surrogate(surrogate if surrogate is not None else name)
    card = load_card(folder)
    collection = card_spec.selection.collection if further is None else further[0].collection
    check_surrogate(card, card_spec, level, points, features=kind == "surrogate",
                    tagger_sha256=sha256, collection=collection)  # fmt: skip
    spec = input_level(level)
    if kind == "efficiency-map":
        from surrotag.analysis_card import EVENT_COLLECTION

        if collection == EVENT_COLLECTION:
            raise InputValueError(
                f"--tagger efficiency-map: {card.name} decides on whole events; the "
                "efficiency-map baseline bins jets in pT and has no event-level map"
            )
        features = tuple(dict.fromkeys((*spec.efficiency_map_features, *spec.taggable_features)))
        return EfficiencyMapTagger(card, folder, points, features, device)
    model, card = load_surrogate(folder, device=device)
    k = model.default_draws if draws is None else int(draws)
    stored = getattr(model.weights, "n_samples", None)  # MCMC: the posterior samples
    most = stored if stored is not None else MAX_DRAWS
    if not 1 <= k <= most:
        raise InputValueError(
            f"--draws {k}: {card.name} gives 1 to {most} weight draws"
            + (" (its stored posterior samples)" if stored is not None else "")
            + ("; every surrogate of the analysis gives the same draws" if further else "")
        )
    features = tuple(dict.fromkeys((*card.feature_names, *spec.taggable_features)))
    generator = torch.Generator().manual_seed(int(seed)) if stochastic else None
    return SurrogateTagger(
        card, folder, model, points, features, k, stochastic, generator, device, threads
    )


def collections_to_read(
    level: str, features: Sequence[str], analysis: Analysis | None = None
) -> list[str]:
    """The collections to read: the level's objects, what the features need, and at a jet
    level what the analysis's cuts read (e.g. ``jets`` for a jet count, ``met``)."""
    from surrotag.features import FEATURES
    from surrotag.selection import collections_read

    needed = {"weight"}
    if analysis is None or _tags_level_objects(analysis.card, level):
        needed.add(input_level(level).objects)
    for name in features:
        needed.update(FEATURES[name].requires)
    if analysis is not None and input_level(level).has_jets:
        needed |= collections_read(analysis)
    return sorted(needed)


def _tags_level_objects(card: AnalysisCard, level: str) -> bool:
    """Whether a tagger of the analysis tags the level's objects (fat jets, tops): not when
    its candidate is the event and no further tagger tags them."""
    from surrotag.analysis_card import EVENT_COLLECTION

    if card.selection.collection != EVENT_COLLECTION:
        return True
    return any(t.collection == input_level(level).objects for t in card.taggers.values())


def required_collections(card: AnalysisCard, level: str) -> tuple[tuple[str, ...], ...]:
    """The groups of collections of which the input must hold at least one object.

    A collection that is empty in every event of the input makes the selection pass no
    event, and "no signal, no exclusion" would be reported for what is really a file
    written without it (a Delphes card without ``FatJet``, a slimming that dropped it).
    But an empty collection is not always a broken file (no leptons anywhere is right for
    an all-hadronic sample, and a lepton-veto analysis wants exactly that), so the rule is
    restricted to what the selection cannot do without:

    * the selection's candidate collection (``selection.collection``), whose objects are
      tagged; at ``parton`` level, where the candidates are the top quarks of the truth
      record, the level's objects (``particles``);
    * at a jet level, each collection a cut requires at least one object of: a counting
      observable (``count`` of the cut's collection, ``n_btag`` of ``jets``, ``n_leptons``
      of ``electrons`` and ``muons`` together: one group, since an electron-only sample is
      valid) whose lower bound (``at_least``, or ``above``) demands one object or more.

    Other cuts, and observables of plugins, are not looked at.

    Args:
        card: the analysis card (its selection as given, not the parton-level one).
        level: the input level.

    Returns:
        Groups of collection names, each a tuple; the input is refused when every
        collection of a group is empty in all events.
    """
    if not input_level(level).has_jets:
        return ((input_level(level).objects,),)
    from surrotag.analysis_card import EVENT_COLLECTION

    selection = card.selection
    groups: dict[tuple[str, ...], None] = (
        {} if selection.collection == EVENT_COLLECTION else {(selection.collection,): None}
    )
    for cut in selection.cuts:
        if cut.observable not in _COUNTING:
            continue
        needs_one = (cut.at_least is not None and cut.at_least > 0) or (
            cut.above is not None and cut.above >= 0
        )
        if needs_one:
            counted = _COUNTING[cut.observable] or (cut.collection or selection.collection,)
            groups[tuple(counted)] = None
    return tuple(groups)


def _count_objects(chunk: ak.Array, names: set[str], seen: dict[str, int]) -> None:
    """Add the chunk's number of objects of each collection not yet seen non-empty."""
    import awkward as ak

    for name in names:
        if seen.get(name, 0) == 0 and name in chunk.fields:
            seen[name] = int(ak.sum(ak.num(chunk[name], axis=1)))


def _check_collections_seen(
    run: _Run, stream: EventStream, n_events: int, seen: Mapping[str, int]
) -> None:
    """Refuse the run when a group of :func:`required_collections` was empty in all events.

    Raises:
        EmptyCollectionError: one line naming the input, the collection(s), the number of
            events and the analysis, and how to fix it.
    """
    for group in required_collections(run.analysis.card, run.level):
        if any(seen.get(name, 1) for name in group):  # not read: its reader checks it
            continue
        paths = [str(path) for path in stream.paths] or ["events in memory"]
        where = paths[0] if len(paths) == 1 else f"{len(paths)} input files ({paths[0]}, ...)"
        what = (
            f"collection {group[0]!r} is"
            if len(group) == 1
            else f"collections {' and '.join(map(repr, group))} are"
        )
        raise EmptyCollectionError(
            f"{where}: {what} empty in all {n_events} events; the analysis "
            f"{run.analysis.name!r} needs {'it' if len(group) == 1 else 'one of them'}: check "
            f"how the events were made (a detector card without {'/'.join(group)}, a slimming "
            "step that dropped them) and pass events that hold them"
        )


def selection_card(analysis: Analysis, level: str) -> AnalysisCard:
    """The analysis's card, its selection applied at parton level to the leading top quarks."""
    card = analysis.card
    if input_level(level).has_jets:
        return card
    return replace(card, selection=replace(card.selection, collection=_PARTON_COLLECTION))


def _parton_objects(events: ak.Array) -> ak.Array:
    """Events whose ``tops`` collection holds the last top copies (Momentum4D)."""
    import awkward as ak

    from surrotag.features.truth import top_decays

    decays = top_decays(events.particles)
    tops = ak.with_name(events.particles[decays.index], "Momentum4D")
    return ak.zip({"weight": events.weight, _PARTON_COLLECTION: tops}, depth_limit=1)


def object_table(
    events: ak.Array,
    collection: str,
    index: ak.Array | None,
    level: str,
    features: Sequence[str],
) -> Any:
    """Feature table of the objects ``events[collection][index]`` (``index``: per event, the
    positions of its objects to tag), one row per object, event by event; for
    :data:`~surrotag.analysis_card.EVENT_COLLECTION` one row of event features per event
    (``index`` unused)."""
    import awkward as ak

    from surrotag.analysis_card import EVENT_COLLECTION
    from surrotag.features import build_event_table, build_features
    from surrotag.io.canonical import with_vector_behaviour

    if collection == EVENT_COLLECTION:
        return build_event_table(events, level=level, features=features)

    fields = {"weight": events.weight, "fatjets": events[collection][index]}
    if "particles" in events.fields:
        fields["particles"] = events.particles
    return build_features(
        with_vector_behaviour(ak.zip(fields, depth_limit=1)), level=level, features=features
    )


def _pair_table(
    events: ak.Array,
    lead: np.ndarray,
    level: str,
    features: Sequence[str],
    collection: str = "fatjets",
) -> tuple[Any, np.ndarray]:
    """Feature table of the selected events' candidates (of ``collection``) and their rows
    ``[n, k]``."""
    import awkward as ak

    from surrotag.features import build_features

    n = len(events)
    if input_level(level).has_jets:
        index = ak.from_regular(ak.Array(lead))
        table = object_table(events, collection, index, level, features)
        k = lead.shape[1]
        return table, np.arange(k * n, dtype=np.int64).reshape(n, k)
    table = build_features(events, level=level, features=features)
    counts = np.bincount(ak.to_numpy(table["event_index"]), minlength=n)
    starts = np.cumsum(counts) - counts
    return table, starts[:, None] + lead


#: Stream of the recast's seed reserved for the particle-level jet response.
RESPONSE_STREAM: Final = 0x7E59


def response_generator(seed: int) -> np.random.Generator:
    """The random stream of the particle-level jet response of a recast with ``seed``
    (its own stream of the seed, independent of the sampled scores'; the factors are drawn
    jet by jet in reading order, so they do not depend on the chunk size)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), RESPONSE_STREAM]))


@dataclass(frozen=True)
class _Job:
    """One analysis in a pass over the events: its selection card at the input level, its
    tagger (shared between jobs that tag alike), and the running sums of its yields."""

    analysis: Analysis
    card: AnalysisCard
    tagger: Tagger
    acc: YieldSums
    response: JetResponse | None = None
    generator: np.random.Generator | None = None
    further: tuple[FurtherTagger, ...] = ()

    def selection_events(self, chunk: ak.Array) -> ak.Array:
        """The events its selection sees: at particle level with a jet response, the chunk
        with each selected-collection jet scaled by its drawn response factor."""
        if self.response is None or self.generator is None:
            return chunk
        return self.response.apply(chunk, self.generator)


def process_chunk(
    chunk: ak.Array,
    analysis: Analysis,
    level: str,
    spec: AnalysisCard,
    tagger: Tagger,
    acc: YieldSums,
    timer: StageTimer,
    ood: str = "nuisance",
    response: JetResponse | None = None,
    generator: np.random.Generator | None = None,
    further: tuple[FurtherTagger, ...] = (),
) -> None:
    """One chunk through one analysis (see :func:`_process_jobs`); ``response`` and
    ``generator``: the particle-level jet response and its random stream; ``further``: the
    analysis's further taggers (:class:`_Job`)."""
    job = _Job(analysis, spec, tagger, acc, response, generator, further)
    _process_jobs(chunk, [job], level, timer, ood)


def _process_jobs(
    chunk: ak.Array, jobs: Sequence[_Job], level: str, timer: StageTimer, ood: str = "nuisance"
) -> None:
    """One chunk through every job: each selects, then the jobs with the same tagger and
    candidates tag the union of their selected events once (the tag stage is most of the
    time), and each adds its own events' yields."""
    import awkward as ak

    from surrotag.selection import select

    weight = np.asarray(ak.to_numpy(chunk.weight), dtype=np.float64)
    with timer("select"):
        if input_level(level).has_jets:
            selections = [select(job.selection_events(chunk), job.card) for job in jobs]
        else:
            objects = _parton_objects(chunk)
            selections = [select(objects, job.card) for job in jobs]
    groups: dict[tuple[int, str, int, int], list[int]] = {}
    for index, (job, selection) in enumerate(zip(jobs, selections, strict=True)):
        job.acc.n_events += len(chunk)
        job.acc.sum_weights += float(weight.sum())
        job.acc.add_cutflow(selection.cutflow, selection.cutflow_weighted)
        spec = job.card.selection
        # a job with its own response draws its own jets: it shares no candidates
        own = index if job.response is not None else -1
        groups.setdefault((id(job.tagger), spec.collection, spec.candidates, own), []).append(index)
    for index, selection in enumerate(selections):  # a validated card makes this impossible
        if np.any(selection.indices[selection.mask] < 0):
            spec = jobs[index].card.selection
            raise AnalysisError(
                f"analysis {jobs[index].analysis.name!r} selects events with fewer than "
                f"{spec.candidates} {spec.collection}: add a count cut (at_least "
                f"{spec.candidates}) so that no event is tagged on objects it does not have"
            )
    for members in groups.values():
        union = np.logical_or.reduce([selections[i].mask for i in members])
        events = np.flatnonzero(union)
        if events.size == 0:
            continue
        tagger = jobs[members[0]].tagger
        with timer("features"):
            lead = selections[members[0]].indices[events]  # the same candidates in the group
            collection = jobs[members[0]].card.selection.collection
            table, rows = _pair_table(chunk[events], lead, level, tagger.features, collection)
        with timer("tag"):
            tags = tagger.probabilities(table, level)
        for index in members:
            job, selection = jobs[index], selections[index]
            passed = np.flatnonzero(selection.mask)
            if passed.size:
                further = _further_tags(job, chunk, passed, level, timer)
                _add_job_yields(job, selection, passed, rows[np.searchsorted(events, passed)],
                                tags, weight, len(chunk), timer, ood, further)  # fmt: skip


def _further_tags(
    job: _Job, chunk: ak.Array, passed: np.ndarray, level: str, timer: StageTimer
) -> dict[str, FurtherTags]:
    """The job's further taggers' tags of the objects of its selected events (counted)."""
    if not job.further:
        return {}
    from surrotag.recast.further import tag_further_objects

    with timer("tag"):
        tags = tag_further_objects(chunk[passed], job.further, level)
    for name, entry in tags.items():
        job.acc.add_further(name, int(entry.present.sum()), int(entry.ood.sum()))
    return tags


def _add_job_yields(
    job: _Job,
    selection: Any,
    passed: np.ndarray,
    rows: np.ndarray,
    tags: ObjectTags,
    weight: np.ndarray,
    n_chunk: int,
    timer: StageTimer,
    ood: str,
    further: Mapping[str, FurtherTags] | None = None,
) -> None:
    """Add one job's selected events (``passed``, tag rows ``[n, k]``) to its regions.

    A single candidate (k = 1) is the pair's first object with a second one that is never
    tagged and never out of support, so "at least one" is its tag probability and "none"
    one minus it. ``further``: the further taggers' tags of the same events.
    """
    flags = tags.ood[rows]  # [n, k]
    if ood == "strict" and flags.any():
        _refuse(job.tagger, flags, passed + job.acc.n_events - n_chunk)
    if ood == "strict":
        for entry in job.further:
            flagged = (further or {})[entry.spec.name].ood
            if flagged.any():
                _refuse(entry.tagger, flagged, passed + job.acc.n_events - n_chunk)
    first = tags.probabilities[:, rows[:, 0], :]
    second = tags.probabilities[:, rows[:, 1], :] if rows.shape[1] > 1 else np.zeros_like(first)
    pair_flags = (
        flags if flags.shape[1] > 1 else np.column_stack([flags[:, 0], np.zeros_like(flags[:, 0])])
    )
    with timer("yields"):
        _fill_regions(
            job.analysis,
            job.tagger,
            job.acc,
            weight[passed],
            {name: values[passed] for name, values in selection.values.items()},
            first,
            second,
            pair_flags,
            further,
        )
    job.acc.n_objects += rows.size
    job.acc.n_ood += int(flags.sum())


def _refuse(tagger: Tagger, flags: np.ndarray, events: np.ndarray) -> None:
    """``--ood strict``: one line naming how many selected objects are out of support."""
    first = int(events[np.flatnonzero(flags.any(1))[0]])
    raise OutOfSupportError(
        f"{int(flags.sum())} of {flags.size} selected objects in events {int(events[0])}.."
        f"{int(events[-1])} (first: event {first}) lie outside the training support of "
        f"{tagger.card.name} ({tagger.ood_method} check): --ood strict refuses them; use "
        "--ood nuisance to vary their tag probability over [0, 1] as a nuisance parameter"
    )


def _cross_section(
    xsec_pb: float | None, inputs: InputFiles | None, n_events: Sequence[int] | None = None
) -> CrossSection:
    from surrotag.io.inputs import CrossSection, input_cross_section

    if xsec_pb is not None:
        return CrossSection(float(xsec_pb), 0.0, "option", "--xsec-pb")
    found = None if inputs is None else input_cross_section(inputs, n_events)
    if found is None:
        where = (
            "the events given in memory" if inputs is None else ", ".join(map(str, inputs.paths))
        )
        raise InputValueError(
            f"no cross-section: {where} carry none (no LHE <init> block, surrotag provenance "
            "or MadGraph banner); give it with --xsec-pb (pb)"
        )
    return found


def _fill_regions(
    analysis: Analysis,
    tagger: Tagger,
    acc: YieldSums,
    weight: np.ndarray,
    values: Mapping[str, np.ndarray],
    p1: np.ndarray,
    p2: np.ndarray,
    flags: np.ndarray,
    further: Mapping[str, FurtherTags] | None = None,
) -> None:
    """Add the selected events of one chunk to every region's running yields.

    A region's probability is the candidates' requirement, times the further taggers' tag
    counts where it has some (:func:`surrotag.recast.further.tag_count_factor`); with
    flagged objects its range is the product of the ranges (:func:`surrotag.tagging.counts.
    pair_bounds` for the candidates).

    Args:
        weight: generator weights ``[n]`` (normalised at the end: yields are linear in them).
        values: each region observable ``[n]`` by name (e.g. ``mjj`` in GeV).
        p1, p2: tag probabilities of the two objects ``[K, n, W]``.
        flags: ``[n, 2]`` bool, the object is out of the tagger's support.
        further: the further taggers' tags (:mod:`surrotag.recast.further`), for regions
            with tag counts.
    """
    from surrotag.recast.further import tag_count_factor
    from surrotag.tagging.counts import pair_bounds
    from surrotag.yields import bounded_region_yields, region_yields

    card = analysis.card
    for region in card.regions:  # a few regions
        requirement, edges = region.tag.requirement, region.observable.bin_edges
        observable = values[region.observable.name]
        if requirement == "any":
            a = b = np.zeros(p1.shape[:2])
        else:
            j = tagger.working_points.index(region.tag.working_point)
            a, b = p1[:, :, j], p2[:, :, j]
        prob = event_probabilities(a, b).of(requirement)
        counted = bool(card.tag_counts(region))
        total, flagged = prob, np.zeros(weight.size, dtype=bool)
        if counted:
            factor, low, high, flagged = tag_count_factor(
                card, region, further or {}, weight.size, prob.shape[0]
            )
            total = prob * factor
        acc.add_yields(region.name, region_yields(weight, total, observable, edges))
        own = flags if requirement != "any" else np.zeros_like(flags)
        if not (own.any() or flagged.any()):
            continue
        least, most = pair_bounds(a, b, own, requirement, prob)
        if counted:
            least, most = low * least, high * most
        acc.add_ood(region.name, bounded_region_yields(weight, total, least, most,
                                                       own.any(axis=1) | flagged,
                                                       observable, edges))  # fmt: skip


def normalised_yields(
    yields: Yields, norm: float, region: str, warning_lines: list[str] | None = None
) -> Yields:
    """``yields`` of generator weights times ``norm`` (``sigma L / sum w``), negative bins
    clipped to 0 with one line in ``warning_lines`` (see :func:`_region_yields`)."""
    per_draw = norm * yields.per_draw
    negative = per_draw < 0
    if negative.any():
        n_neg = int(negative.any(axis=0).sum())
        if warning_lines is not None:
            warning_lines.append(
                f"region {region}: {n_neg} of {yields.n_bins} {yields.observable} bin(s) with a "
                "negative signal yield (negative generator weights, most "
                f"{float(per_draw.min()):.3g} events) clipped to 0; the sum of weights stays signed"
            )
        per_draw = np.where(negative, 0.0, per_draw)
    return Yields(
        yields.bin_edges,
        per_draw.mean(axis=0),
        per_draw,
        abs(norm) * yields.mc_stat_error,
        _draw_covariance(per_draw),
        None if yields.ood is None else yields.ood.scaled(norm),
        yields.observable,
    )


def _region_yields(
    analysis: Analysis,
    acc: YieldSums,
    tagger: Tagger,
    norm: float,
    warning_lines: list[str] | None = None,
) -> tuple[RegionResult, ...]:
    """Normalised yields per region from the running sums (``norm = sigma L / sum w``).

    NLO samples carry negative event weights (MC@NLO): the sum of weights stays signed (it
    normalises), but a bin whose yield is negative in a weight draw is clipped to 0 there, as
    HEPData signal patches do, with one line in ``warning_lines`` per region.
    """
    results = []
    for region in analysis.card.regions:
        yields = normalised_yields(
            acc.yields(region, tagger.draws), norm, region.name, warning_lines
        )
        results.append(
            RegionResult(
                name=region.name,
                channel=analysis.card.statistics.channels[region.name],
                requirement=region.tag.requirement,
                working_point=region.tag.working_point,
                observable=region.observable.name,
                yields=yields,
                tag_counts=analysis.card.tag_counts(region),
            )
        )
    return tuple(results)


@dataclass
class _Run:
    """What :func:`resolve` fixes before any event is read."""

    analysis: Analysis
    source: InputFiles | ak.Array
    files: InputFiles | None
    level: str
    xsec: CrossSection
    tagger: Tagger
    sqrt_s: float | None
    warnings: list[str]
    response: JetResponse | None = None
    seed: int = 0
    further: tuple[FurtherTagger, ...] = ()

    def surrogate_names(self) -> str:
        """The surrogates' names for the patch's modifiers (``effmap`` for efficiency maps)."""
        if self.tagger.kind != "surrogate":
            return "effmap"
        return "_".join([self.tagger.card.name, *(f.tagger.card.name for f in self.further)])


@dataclass
class _Statistics:
    """What :func:`infer` makes of the accumulated yields."""

    normalisation: float
    regions: list[RegionResult]
    patch: Any
    cls: Any
    limit: Any


#: Largest split-R-hat of the tag probabilities at which MCMC chains count as converged.
RHAT_CONVERGED: Final = 1.1


def _posterior_warnings(card: Any) -> list[str]:
    """One line when the surrogate card's MCMC diagnostics say the chains did not converge.

    The Bayesian spread of such a surrogate reflects where the chains started, not the
    posterior; the card records the diagnostics (``bayes.diagnostics``) and so does this line.
    The bound is :data:`RHAT_CONVERGED`, or what exactly independent draws of the same shape
    reach in 95% of cases (``iid_rhat_max_95``, recorded by newer cards) when that is larger:
    4 chains x 10 samples of 3 summaries give up to 1.19 without any correlation.
    """
    diagnostics = (card.bayes or {}).get("diagnostics") or {}
    probability = diagnostics.get("tag_probability") or {}
    rhat, ess = probability.get("rhat_max"), probability.get("ess_min")
    bound = max(RHAT_CONVERGED, probability.get("iid_rhat_max_95") or 0.0)
    if rhat is None or rhat <= bound:
        return []
    n = probability.get("chains", 0) * probability.get("samples_per_chain", 0)
    acceptance = ", ".join(f"{a:.2f}" for a in diagnostics.get("acceptance") or [])
    return [
        f"{card.name}: its posterior chains did not converge (tag-probability split-R-hat "
        f"{rhat:.3g} > {bound:.3g}, ESS {ess:.1f} of {n} samples, acceptance per chain "
        f"{acceptance or 'n/a'}): the surrogate uncertainty is not a posterior spread; the "
        "nominal yields are unaffected"
    ]


def check_options(tagger: str, ood: str, xsec_pb: float | None, threads: Any) -> None:
    """Refuse bad options before any work (one line each)."""
    from surrotag.surrogates.errors import SurrogateInputError
    from surrotag.surrogates.threads import parse_threads

    try:
        parse_threads(threads)
    except SurrogateInputError as error:
        raise InputValueError(f"--threads: {error}") from None
    if tagger not in TAGGERS:
        raise InputValueError(f"unknown tagger {tagger!r}; choose from {', '.join(TAGGERS)}")
    if ood not in OOD_POLICIES:
        raise InputValueError(f"--ood {ood!r} unknown; choose from {', '.join(OOD_POLICIES)}")
    _check_xsec(xsec_pb)


def resolve(
    analysis: str | Path | Analysis,
    inputs: Sequence[str | Path] | ak.Array | None,
    stack: contextlib.ExitStack,
    *,
    xsec_pb: float | None,
    level: str | None,
    tagger: str,
    surrogate: str | Path | None,
    draws: int | None,
    stochastic: bool,
    seed: int,
    device: str,
    threads: int | str | None,
) -> _Run:
    """The analysis, the inputs and their level, the cross-section and the loaded tagger.

    Everything that can be refused without reading events is refused here (see
    :func:`recast` for the arguments; ``stack`` keeps the example signal's file open).
    """
    import awkward as ak

    from surrotag.analysis import Analysis, get_analysis

    ana = analysis if isinstance(analysis, Analysis) else get_analysis(analysis)
    files: InputFiles | None
    if isinstance(inputs, ak.Array):
        from surrotag.features.table import infer_level
        from surrotag.io.canonical import check_finite

        check_finite(inputs, "events in memory")  # as every reader's output
        source, files = inputs, None
        level = input_level(level or infer_level(inputs)).name
    else:
        from surrotag.io.inputs import resolve_inputs

        specs = [] if inputs is None else list(inputs)
        if not specs:
            if not ana.has_resource(EXAMPLE_SIGNAL):
                raise AnalysisError(
                    f"no events given and analysis {ana.name!r} ships no example "
                    f"signal ({EXAMPLE_SIGNAL}); pass event files"
                )
            specs = [stack.enter_context(as_file(ana.resource(EXAMPLE_SIGNAL)))]
        files = resolve_inputs(specs)
        source = files
        level = input_level(level or _file_levels(files)).name
    ana.card.surrogate_name(level)  # refuses a level the analysis does not accept
    if files is not None:
        _check_objects(files, level, ana)
    elif _tags_level_objects(ana.card, level):
        objects = input_level(level).objects
        if objects not in inputs.fields:  # type: ignore[union-attr]
            raise FormatError(f"events in memory have no {objects!r}")
    xsec = _cross_section(xsec_pb, files)  # fails early when there is none
    tag = load_tagger(ana, level, tagger, surrogate, draws, stochastic, seed, device, threads)
    from surrotag.recast.further import load_further_taggers

    further = load_further_taggers(ana, level, tagger, tag.draws, stochastic, seed, device, threads)
    warning_lines: list[str] = list(xsec.warnings)  # the cross-section's doubts, one line each
    if tag.kind == "surrogate":
        cards = {card.name: card for card in [tag.card, *(f.tagger.card for f in further)]}
        for card in cards.values():
            warning_lines += _posterior_warnings(card)
    sqrt_s = None
    if files is not None:
        from surrotag.io.inputs import input_collision_energy

        energy = input_collision_energy(files)  # the same whatever the order of the files
        sqrt_s = energy.value_gev
        warning_lines += [
            f"{line} (analysis {ana.name!r} is at {ana.card.sqrt_s_gev:g} GeV)"
            for line in energy.warnings
        ]
    if sqrt_s is not None and abs(sqrt_s / ana.card.sqrt_s_gev - 1) > SQRT_S_TOLERANCE:
        warning_lines.append(
            f"the inputs are at sqrt(s) = {sqrt_s:g} GeV, analysis {ana.name!r} at "
            f"{ana.card.sqrt_s_gev:g} GeV: the recast assumes the signal is the same"
        )
    particle = input_level(level).jets_from_particles
    response = ana.particle_response() if particle else None
    if particle and response is None:
        warning_lines.append(
            f"analysis {ana.name!r} ships no particle-level jet response: its selection sees "
            "particle-level jets without the detector's resolution (acceptance near a pT "
            "threshold is biased)"
        )
    return _Run(
        ana, source, files, level, xsec, tag, sqrt_s, warning_lines, response, seed, further
    )


def accumulate(
    run: _Run, *, step_size: int, ood: str, timer: StageTimer
) -> tuple[YieldSums, EventStream]:
    """Stream the events once: select, build features, tag, and add up the region yields."""
    (acc,), stream = accumulate_runs([run], step_size=step_size, ood=ood, timer=timer)
    return acc, stream


def accumulate_runs(
    runs: Sequence[_Run], *, step_size: int, ood: str, timer: StageTimer
) -> tuple[list[YieldSums], EventStream]:
    """Stream the events once for several analyses of the same inputs (see :func:`accumulate`);
    runs that share a tagger object tag each object once (:func:`_process_jobs`)."""
    first = runs[0]
    jobs = [
        _Job(
            run.analysis,
            selection_card(run.analysis, run.level),
            run.tagger,
            YieldSums(),
            run.response,
            None if run.response is None else response_generator(run.seed),
            run.further,
        )
        for run in runs
    ]
    collections = {
        c
        for run in runs
        for tagger in [run.tagger, *(entry.tagger for entry in run.further)]
        for c in collections_to_read(run.level, tagger.features, run.analysis)
    }
    stream = EventStream(
        first.source,
        level=first.level,
        collections=sorted(collections),
        step_size=step_size,
        read_timer=lambda: timer("read"),
    )
    watched = {
        name
        for run in runs
        for group in required_collections(run.analysis.card, run.level)
        for name in group
    }
    seen: dict[str, int] = {}  # objects read per watched collection (0: none so far)
    for chunk in stream:
        _count_objects(chunk, watched, seen)
        _process_jobs(chunk, jobs, first.level, timer, ood)
    if jobs[0].acc.n_events == 0:
        raise InputValueError("no events read from the inputs")
    for run in runs:
        _check_collections_seen(run, stream, jobs[0].acc.n_events, seen)
    for run in runs:
        if run.files is not None and len(run.files.paths) > 1 and run.xsec.source != "option":
            counts = [entry["n_events"] for entry in stream.files]
            run.xsec = _cross_section(None, run.files, counts)
    return [job.acc for job in jobs], stream


def infer(
    run: _Run,
    acc: YieldSums,
    stream: EventStream,
    workspace: str | Path | None,
    max_components: int,
    timer: StageTimer,
) -> _Statistics:
    """Normalised region yields, the signal patch, CLs and the upper limits."""
    ana, tag = run.analysis, run.tagger
    with timer("yields"):
        from surrotag.yields import normalisation

        norm = normalisation(run.xsec.value_pb, ana.card.luminosity_ifb, acc.sum_weights)
        regions = _region_yields(ana, acc, tag, norm, run.warnings)
    with timer("patch"):
        from surrotag.stats.patch import build_patch
        from surrotag.stats.workspace import load_workspace

        ws = ana.workspace() if workspace is None else load_workspace(workspace)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            patch = build_patch(
                ws,
                {region.channel: region.yields for region in regions},
                signal=ana.card.statistics.signal_sample,
                analysis=_ident(ana.name),
                surrogate=_ident(run.surrogate_names()),
                max_components=max_components,
            )
        run.warnings += [str(w.message) for w in caught]
    with timer("infer"):
        from surrotag.stats.infer import cls_and_upper_limit

        cls_result, limit = cls_and_upper_limit(ws, patch, mu=1.0)
    run.warnings += sorted({*cls_result.warnings, *limit.warnings})
    return _Statistics(norm, regions, patch, cls_result, limit)


def _response_record(run: _Run) -> dict[str, Any] | None:
    """What the report says of the particle-level jet response (None when none applied)."""
    if run.response is None:
        return None
    card = run.analysis.card
    name = card.objects[card.selection.collection].particle_response
    return {
        "collection": run.response.collection,
        "file": name,
        "sha256": card.files.get(name),
        "seed": int(run.seed),
        "stream": RESPONSE_STREAM,
    }


def _tagger_record(run: _Run, acc: YieldSums, seed: int) -> dict[str, Any]:
    """The report's ``tagger`` block; with further taggers, their records in ``further``."""
    record = run.tagger.describe(seed)
    if run.further:
        from surrotag.recast.further import describe_further

        record["further"] = describe_further(run.further, seed, acc.further_objects)
    return record


def make_report(
    run: _Run,
    acc: YieldSums,
    stream: EventStream,
    statistics: _Statistics,
    *,
    seed: int,
    ood: str,
    timer: StageTimer,
) -> RecastReport:
    """The :class:`~surrotag.recast.report.RecastReport` of a finished recast."""
    ana, tag, regions = run.analysis, run.tagger, statistics.regions
    ood_fraction = acc.n_ood / acc.n_objects if acc.n_objects else 0.0
    if ood_fraction > OOD_WARNING:
        shares = ", ".join(f"{r.name} {100 * r.yields.ood_share:.1f}%" for r in regions)
        run.warnings.append(
            f"{100 * ood_fraction:.1f}% of the tagged objects lie outside the support of "
            f"{tag.card.name} ({tag.kind}, {tag.ood_method} check); their tag probabilities "
            f"enter at the least signal of [0, 1], with the nuisance "
            f"{statistics.patch.ood_modifier or '(none: no bin changes)'} to the most; OOD "
            f"share of the signal yield: {shares}"
        )
    return RecastReport(
        analysis=ana.name,
        analysis_info={
            "origin": ana.origin,
            "sqrt_s_gev": ana.card.sqrt_s_gev,
            "luminosity_ifb": ana.card.luminosity_ifb,
            "poi": ana.card.statistics.poi,
        },
        level=run.level,
        inputs=stream.files,
        n_events=acc.n_events,
        sum_weights=acc.sum_weights,
        cross_section=run.xsec,
        sqrt_s_gev=run.sqrt_s,
        tagger=_tagger_record(run, acc, seed),
        jet_response=_response_record(run),
        cutflow=acc.cutflow,
        cutflow_weighted=acc.cutflow_weighted,
        normalisation=statistics.normalisation,
        regions=regions,
        ood_fraction=ood_fraction,
        n_objects=acc.n_objects,
        patch=statistics.patch,
        cls=statistics.cls,
        limit=statistics.limit,
        timings=dict(timer.seconds),
        warnings=tuple(run.warnings),
        ood_policy=ood,
        ood_method=tag.ood_method,
        ood_note=tag.ood_note,
        n_ood=acc.n_ood,
    )


def recast(
    analysis: str | Path | Analysis,
    inputs: Sequence[str | Path] | ak.Array | None = None,
    *,
    xsec_pb: float | None = None,
    draws: int | None = None,
    device: str = "cpu",
    stochastic: bool = False,
    tagger: str = "surrogate",
    seed: int = 0,
    surrogate: str | Path | None = None,
    workspace: str | Path | None = None,
    step_size: int = 50_000,
    max_components: int = 5,
    ood: str = "nuisance",
    level: str | None = None,
    threads: int | str | None = None,
) -> RecastReport:
    """Recast an analysis on signal events: yields, patch, CLs and upper limits.

    Args:
        analysis: installed analysis name, analysis folder, or :class:`~surrotag.analysis.Analysis`.
        inputs: event files, globs or MadGraph run folders; or canonical events in memory
            (an awkward array, then ``xsec_pb`` is required); None or empty: the analysis's
            shipped example signal.
        xsec_pb: signal cross-section in pb (default: from the inputs).
        draws: Bayesian weight draws K (default: the surrogate card's).
        device: torch device of the surrogate (``cpu``, ``cuda``).
        stochastic: sample one score per object and draw (0/1 tags) instead of the exact
            probability.
        tagger: ``surrogate`` or ``efficiency-map`` (binned efficiencies of the card, the
            baseline of today's recast tools; one draw).
        seed: seed of the sampled scores (``stochastic``).
        surrogate: surrogate name or folder replacing the analysis's (must replace the same
            tagger and take the analysis's features).
        workspace: background-only workspace replacing the analysis's ``workspace.json``.
        step_size: events per chunk.
        max_components: most eigen-variations of the surrogate uncertainty (0: none).
        ood: treatment of selected objects out of the tagger's training support:
            ``nuisance`` (their tag probability varied over [0, 1]: least signal in the
            likelihood, the histosys ``<analysis>_<surrogate>_ood`` to the most) or
            ``strict`` (refuse).
        level: input level (:data:`surrotag.io.levels.LEVEL_NAMES`); default: the files'
            own (Delphes ``delphes``, HepMC ``particle``, LHE ``parton``). ``particle`` on a
            Delphes file or a reference sample uses its generator particles, no detector.
        threads: worker threads of the surrogate solves: a count, or None / ``"auto"`` for
            ``SURROTAG_THREADS``, else one per usable core
            (:mod:`surrotag.surrogates.threads`); recorded with the load in the report's
            ``tagger.threads``.

    Returns:
        :class:`~surrotag.recast.report.RecastReport`.

    Raises:
        SurrotagError: one subclass per kind of bad input (unknown analysis, missing or
            unreadable files, events without the analysis's objects, a surrogate of another
            tagger or lacking a feature, a negative or missing cross-section, ...);
            :class:`~surrotag.errors.OutOfSupportError` under ``ood="strict"``.
    """
    check_options(tagger, ood, xsec_pb, threads)
    timer = StageTimer()
    with contextlib.ExitStack() as stack:
        with timer("resolve"):
            run = resolve(
                analysis, inputs, stack, xsec_pb=xsec_pb, level=level, tagger=tagger,
                surrogate=surrogate, draws=draws, stochastic=stochastic, seed=seed,
                device=device, threads=threads,
            )  # fmt: skip
        acc, stream = accumulate(run, step_size=step_size, ood=ood, timer=timer)
        statistics = infer(run, acc, stream, workspace, max_components, timer)
    return make_report(run, acc, stream, statistics, seed=seed, ood=ood, timer=timer)


def recast_many(
    analyses: Sequence[str | Path | Analysis],
    inputs: Sequence[str | Path] | ak.Array,
    *,
    xsec_pb: float | None = None,
    draws: int | None = None,
    device: str = "cpu",
    stochastic: bool = False,
    tagger: str = "surrogate",
    seed: int = 0,
    step_size: int = 50_000,
    max_components: int = 5,
    ood: str = "nuisance",
    level: str | None = None,
    threads: int | str | None = None,
) -> list[RecastReport]:
    """Recast several analyses on the same signal events, reading them once.

    Each analysis selects on its own; analyses whose taggers agree (same surrogate, working
    points, draws and options) tag each selected object once, so the tag stage, most of a
    recast's time, is shared. Every report equals that of :func:`recast` of the analysis
    alone (bit for bit for exact probabilities; sampled tags draw from one generator per
    shared tagger), except ``timings``, which are those of the shared pass.

    Args:
        analyses: installed analysis names, analysis folders or
            :class:`~surrotag.analysis.Analysis` objects, each once.
        inputs: event files, globs or MadGraph run folders, or canonical events in memory.
        Others: as :func:`recast`.

    Returns:
        One :class:`~surrotag.recast.report.RecastReport` per analysis, in the given order.

    Raises:
        SurrotagError: as :func:`recast`, before any event is read; no analysis, an analysis
            named twice, or no inputs.
    """
    check_options(tagger, ood, xsec_pb, threads)
    if not len(analyses):
        raise InputValueError("no analysis given; name at least one (surrotag analyses lists them)")
    import awkward as ak

    if not isinstance(inputs, ak.Array) and not list(inputs):
        raise InputValueError("no events given: several analyses need event files")
    timer = StageTimer()
    with contextlib.ExitStack() as stack:
        with timer("resolve"):
            options = {"xsec_pb": xsec_pb, "level": level, "tagger": tagger, "draws": draws,
                       "stochastic": stochastic, "seed": seed, "device": device,
                       "threads": threads}  # fmt: skip
            runs = [resolve(a, inputs, stack, surrogate=None, **options) for a in analyses]
        names = [run.analysis.name for run in runs]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise InputValueError(f"analysis {', '.join(twice)} named more than once")
        shared: dict[tuple[Any, ...], Tagger] = {}
        for run in runs:
            run.tagger = shared.setdefault(run.tagger.key(), run.tagger)
        accs, stream = accumulate_runs(runs, step_size=step_size, ood=ood, timer=timer)
        statistics = [
            infer(run, acc, stream, None, max_components, timer)
            for run, acc in zip(runs, accs, strict=True)
        ]
    return [
        make_report(run, acc, stream, stats, seed=seed, ood=ood, timer=timer)
        for run, acc, stats in zip(runs, accs, statistics, strict=True)
    ]
