"""The analysis card: typed description of a recastable search, checked against a schema.

An analysis is described by a card (``card.json``), validated on every load against
``schemas/analysis.schema.json`` (JSON Schema 2020-12, shipped in this package, as cabinetry
validates its configuration); a failure is one :class:`~surrotag.errors.CardError` line
naming the card and the JSON path of the problem (as pyhf's validator re-raises
``InvalidSpecification``). The registry of installed analyses is :mod:`surrotag.analysis`.

Every file that changes a result is covered by a hash checked on load: a card read from a
file carries ``card_sha256`` (the sha256 of its canonical JSON without that key, as a
surrogate card) and ``files``, the sha256 of the package files it relies on (workspace,
official yields, example signal), which :meth:`surrotag.analysis.Analysis.resource` checks
before handing one out. The writers record both (:func:`seal_analysis_card`); an edit by
hand is refused with one :class:`~surrotag.errors.IntegrityError` line.

References:
    Classifier surrogates, arXiv:2402.15558; cabinetry configuration schema.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from surrotag.errors import AnalysisError, CardError, IntegrityError
from surrotag.surrogates.card import card_digest, parse_json_strict
from surrotag.surrogates.errors import one_line
from surrotag.surrogates.schema_check import check_document, schema_validator

__all__ = [
    "CARD_DIGEST_KEY",
    "CARD_FILENAME",
    "EVENT_COLLECTION",
    "SCHEMA_VERSION",
    "AnalysisCard",
    "Cut",
    "ObjectSpec",
    "Observable",
    "Region",
    "SelectionSpec",
    "StatisticsSpec",
    "SurrogateSpec",
    "TagCount",
    "TagRequirement",
    "TaggerSpec",
    "WorkingPointSpec",
    "analysis_schema",
    "check_file_digest",
    "load_analysis_card",
    "seal_analysis_card",
    "upgrade_card",
]

#: The analysis-card schema version this code reads (version 1 cards are upgraded on load).
SCHEMA_VERSION: Final = 2
#: File name of the card inside an analysis package.
CARD_FILENAME: Final = "card.json"
#: Key of the card's own digest, checked when a card is read from a file.
CARD_DIGEST_KEY: Final = "card_sha256"
#: The selection's ``collection`` of an analysis whose tagger decides on the whole event
#: (an event classifier): one candidate per event, fed event features, one row per event.
EVENT_COLLECTION: Final = "event"


Requirement = Literal["both", "exactly_one", "at_least_one", "none", "any"]


@dataclass(frozen=True)
class ObjectSpec:
    """A physics-object definition: a jet collection's ``algorithm`` and ``radius`` R
    (dimensionless); None for electrons, muons and photons, which only describe themselves.
    ``particle_response``: for jets, the analysis file with the detector's jet response
    applied to particle-level jets before the selection (:mod:`surrotag.jets.response`)."""

    algorithm: str | None = None
    radius: float | None = None
    description: str = ""
    particle_response: str | None = None


@dataclass(frozen=True)
class Cut:
    """One cut of a selection: a registered observable (:mod:`surrotag.observables`) bounded.

    Bounds present are all required: ``above`` (value > bound) and ``below`` (value < bound)
    are strict, ``at_least`` (>=) and ``at_most`` (<=) inclusive; units are the observable's
    (GeV, rad or none). A NaN value (a missing candidate) fails every bound.

    Attributes:
        name: the cut's name in the cutflow.
        observable: registered observable name.
        object: candidate index (0 = leading) or ``"each"`` (every candidate must pass), for
            object observables; None otherwise.
        collection: the collection an event observable reads, or whose ``object``-th leading
            object an object observable reads (None: the selection's candidates).
    """

    name: str
    observable: str
    object: int | Literal["each"] | None = None
    collection: str | None = None
    above: float | None = None
    below: float | None = None
    at_least: float | None = None
    at_most: float | None = None


@dataclass(frozen=True)
class TagCount:
    """How many of a further tagger's objects pass it at ``working_point``: between
    ``at_least`` and ``at_most`` (inclusive; None: no upper bound). The card's ``exactly: n``
    is ``at_least = at_most = n``."""

    tagger: str
    working_point: str
    at_least: int = 0
    at_most: int | None = None


@dataclass(frozen=True)
class SelectionSpec:
    """Declarative selection: ``cuts`` applied in order on events whose ``candidates``
    leading (pT-ordered) objects of ``collection`` are the ones the regions tag;
    ``tag_counts``: requirements on further taggers that every region makes."""

    collection: str
    candidates: int
    cuts: tuple[Cut, ...]
    tag_counts: tuple[TagCount, ...] = ()


@dataclass(frozen=True)
class TagRequirement:
    """How many of the selected candidates are tagged at ``working_point`` (None for
    ``any``: no requirement)."""

    requirement: Requirement
    working_point: str | None = None


@dataclass(frozen=True)
class Observable:
    """A binned observable: registered ``name`` (e.g. ``mjj``) and increasing ``bin_edges``
    in the observable's unit (:func:`surrotag.observables.get`)."""

    name: str
    bin_edges: tuple[float, ...]

    @property
    def n_bins(self) -> int:
        """Number of bins."""
        return len(self.bin_edges) - 1


@dataclass(frozen=True)
class Region:
    """A signal or control region: tag requirement on the candidates, binned observable, and
    its own ``tag_counts`` on further taggers (besides the selection's)."""

    name: str
    tag: TagRequirement
    observable: Observable
    description: str = ""
    tag_counts: tuple[TagCount, ...] = ()


@dataclass(frozen=True)
class WorkingPointSpec:
    """A tagger working point by name, with the nominal efficiency that defines it: eps_S on
    signal (a jet tagger's) or eps_B on background (an event classifier's); exactly one."""

    name: str
    signal_efficiency: float | None = None
    background_efficiency: float | None = None
    description: str = ""


@dataclass(frozen=True)
class SurrogateSpec:
    """Surrogate name per input level, working points, sha256 of the internal tagger and
    its folder under ``$SURROTAG_DATA/reference`` (None: the PFN top tagger's)."""

    names: Mapping[str, str]
    working_points: tuple[WorkingPointSpec, ...]
    tagger_sha256: str
    internal_tagger: str | None = None


@dataclass(frozen=True)
class TaggerSpec:
    """A further tagger: its ``surrogate`` (per input level) applied to the ``objects``-th
    leading objects (0 = leading) of ``collection``."""

    name: str
    collection: str
    objects: tuple[int, ...]
    surrogate: SurrogateSpec
    description: str = ""


@dataclass(frozen=True)
class StatisticsSpec:
    """Background-only workspace (file of the package), signal sample, channels, POI, and
    optionally the file of the official signal yields (``official_yields``, or None)."""

    workspace: str
    signal_sample: str
    channels: Mapping[str, str]
    poi: str
    official_yields: str | None = None


@dataclass(frozen=True)
class AnalysisCard:
    """A validated analysis card. Build it with :func:`load_analysis_card`.

    The fields mirror ``analysis.schema.json``; :meth:`to_dict` gives back the document.
    Energies and momenta in GeV, luminosity in fb^-1. ``files``: sha256 of the bytes of
    each package file the card covers, by relative name.
    """

    schema_version: int
    name: str
    description: str
    references: tuple[str, ...]
    sqrt_s_gev: float
    luminosity_ifb: float
    input_levels: tuple[str, ...]
    objects: Mapping[str, ObjectSpec]
    selection: SelectionSpec
    regions: tuple[Region, ...]
    surrogate: SurrogateSpec
    statistics: StatisticsSpec
    files: Mapping[str, str] = field(default_factory=dict)
    taggers: Mapping[str, TaggerSpec] = field(default_factory=dict)
    source: str = field(default="<card>", compare=False)
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The card as a JSON-able dict (a deep copy of the validated document)."""
        return copy.deepcopy(dict(self.document))

    def region(self, name: str) -> Region:
        """The region called ``name`` (AnalysisError naming the known ones otherwise)."""
        for region in self.regions:
            if region.name == name:
                return region
        known = ", ".join(region.name for region in self.regions)
        raise AnalysisError(f"analysis {self.name!r} has no region {name!r} (it has: {known})")

    def surrogate_name(self, level: str) -> str:
        """Registry name of the surrogate for input ``level`` (``delphes`` or ``parton``)."""
        if level not in self.surrogate.names:
            known = ", ".join(self.surrogate.names)
            raise AnalysisError(
                f"analysis {self.name!r} accepts no {level!r} input (it accepts: {known}); "
                "read the events at one of those levels"
            )
        return self.surrogate.names[level]

    def tag_counts(self, region: Region) -> tuple[TagCount, ...]:
        """Every tag-count requirement of ``region``: the selection's, then its own."""
        return self.selection.tag_counts + region.tag_counts

    def working_point(self, name: str) -> WorkingPointSpec:
        """The working point called ``name`` (validated cards only refer to known ones)."""
        for point in self.surrogate.working_points:
            if point.name == name:
                return point
        known = ", ".join(point.name for point in self.surrogate.working_points)
        raise AnalysisError(
            f"analysis {self.name!r} has no working point {name!r} (it has: {known})"
        )


@functools.cache
def analysis_schema() -> dict[str, Any]:
    """The analysis-card JSON schema shipped in ``surrotag/schemas``."""
    return json.loads((files("surrotag") / "schemas" / "analysis.schema.json").read_text("utf-8"))


@functools.cache
def _validator() -> Any:
    return schema_validator(analysis_schema())


def _check_consistency(document: dict[str, Any], source: str) -> None:
    """Rules a schema cannot say: unique names, increasing edges, cross references."""

    def fail(path: str, problem: str) -> None:
        raise CardError(f"{source}: invalid analysis card at {path}: {problem}")

    selection = document["selection"]
    if selection["collection"] == EVENT_COLLECTION:
        if selection["candidates"] != 1:
            fail("$.selection.candidates", "an event-level tagger has one candidate: the event")
    elif selection["collection"] not in document["objects"]:
        fail(
            "$.selection.collection",
            f"{selection['collection']!r} is not in objects "
            f"(have: {', '.join(document['objects'])}); define it there",
        )
    _check_cuts(selection, fail)
    _check_taggers(document, fail)
    surrogate = document["surrogate"]
    points = [point["name"] for point in surrogate["working_points"]]
    for index, name in enumerate(points):
        if points.index(name) != index:
            fail(f"$.surrogate.working_points[{index}].name", f"{name!r} is listed twice")
    for level in document["input_levels"]:
        if level not in surrogate["names"]:
            fail("$.surrogate.names", f"no surrogate for accepted input level {level!r}")
    for level in surrogate["names"]:
        if level not in document["input_levels"]:
            fail(f"$.surrogate.names.{level}", f"{level!r} is not in input_levels")
    names = [region["name"] for region in document["regions"]]
    for index, region in enumerate(document["regions"]):
        path = f"$.regions[{index}]"
        if names.index(region["name"]) != index:
            fail(f"{path}.name", f"region {region['name']!r} is listed twice")
        single = document["selection"]["candidates"] == 1
        if single and region["tag"]["requirement"] in ("both", "exactly_one"):
            fail(
                f"{path}.tag.requirement",
                f"{region['tag']['requirement']!r} counts two objects; with one candidate use "
                "'at_least_one' (tagged) or 'none' (not tagged)",
            )
        point = region["tag"].get("working_point")
        if region["tag"]["requirement"] == "any":
            if point is not None:
                fail(f"{path}.tag.working_point", "'any' tags nothing: drop the working point")
        elif point is None:
            fail(f"{path}.tag", "name the working_point of the requirement (or use 'any')")
        elif point not in points:
            fail(
                f"{path}.tag.working_point",
                f"{point!r} is not a working point of surrogate.working_points "
                f"(have: {', '.join(points)})",
            )
        observable = _observable(region["observable"]["name"], f"{path}.observable.name", fail)
        if observable.kind == "object":
            fail(
                f"{path}.observable.name",
                f"{observable.name!r} is one value per object; a region bins one value per "
                "event (a system or event observable, e.g. mjj)",
            )
        if selection["collection"] == EVENT_COLLECTION and not observable.reads:
            fail(f"{path}.observable.name", f"{observable.name!r} reads the candidates' "
                 "objects; with the event as the candidate, bin an event observable that "
                 "names what it reads (met, mt2_ll, ...)")  # fmt: skip
        edges = region["observable"]["bin_edges"]
        if any(b <= a for a, b in itertools.pairwise(edges)):
            fail(f"{path}.observable.bin_edges", "bin edges must increase")
        _check_overlaps(document, region, path, fail)
    channels = document["statistics"]["channels"]
    missing = [name for name in names if name not in channels]
    extra = [name for name in channels if name not in names]
    if missing:
        fail("$.statistics.channels", f"no channel for region(s) {', '.join(missing)}")
    if extra:
        fail(f"$.statistics.channels.{extra[0]}", f"{extra[0]!r} is not a region")


#: The object collection surrogate features are built from (:mod:`surrotag.features`);
#: an event-level tagger tags :data:`EVENT_COLLECTION`.
TAGGABLE_COLLECTION: Final = "fatjets"


def _check_taggers(document: dict[str, Any], fail: Callable[[str, str], None]) -> None:
    """Further taggers fit the card; every tag count names one and bounds its objects."""
    taggers = document.get("taggers", {})
    levels = document["input_levels"]
    for name, tagger in taggers.items():
        path = f"$.taggers.{name}"
        if tagger["collection"] == EVENT_COLLECTION:
            if tagger["objects"] != [0]:
                fail(f"{path}.objects", "an event-level tagger tags the one event: [0]")
        elif tagger["collection"] not in document["objects"]:
            fail(f"{path}.collection", f"{tagger['collection']!r} is not in objects; define it")
        elif tagger["collection"] != TAGGABLE_COLLECTION:
            fail(f"{path}.collection", f"{tagger['collection']!r}: surrogate features are "
                 f"built for large-R jets ({TAGGABLE_COLLECTION!r}) and events "
                 f"({EVENT_COLLECTION!r}) only")  # fmt: skip
        if "parton" in levels:
            fail(path, "further taggers tag reconstructed jets: drop 'parton' from input_levels")
        surrogate = tagger["surrogate"]
        if sorted(surrogate["names"]) != sorted(levels):
            fail(f"{path}.surrogate.names", f"needs one surrogate per input level "
                 f"({', '.join(levels)}), has {', '.join(surrogate['names'])}")  # fmt: skip
        wps = [point["name"] for point in surrogate["working_points"]]
        if len(set(wps)) != len(wps):
            fail(f"{path}.surrogate.working_points", "a working point is listed twice")
    located = [("$.selection", document["selection"])] + [
        (f"$.regions[{i}]", region) for i, region in enumerate(document["regions"])
    ]
    for where, entry in located:
        for index, count in enumerate(entry.get("tag_counts", ())):
            path = f"{where}.tag_counts[{index}]"
            tagger = taggers.get(count["tagger"])
            if tagger is None:
                fail(f"{path}.tagger", f"{count['tagger']!r} is not in taggers (have: "
                     f"{', '.join(taggers) or 'none'})")  # fmt: skip
            wps = [point["name"] for point in tagger["surrogate"]["working_points"]]
            if count["working_point"] not in wps:
                fail(f"{path}.working_point", f"{count['working_point']!r} is not a working "
                     f"point of tagger {count['tagger']!r} (have: {', '.join(wps)})")  # fmt: skip
            bounds = [key for key in ("at_least", "at_most") if key in count]
            if "exactly" in count and bounds:
                fail(path, f"'exactly' says both bounds: drop {', '.join(bounds)}")
            if "exactly" not in count and not bounds:
                fail(path, "say how many: at_least, at_most or exactly")
            least = count.get("exactly", count.get("at_least", 0))
            most = count.get("exactly", count.get("at_most", least))
            if most < least:
                fail(path, f"at_most {most} is below at_least {least}")
            if least > len(tagger["objects"]):
                fail(path, f"at least {least} tagged of the {len(tagger['objects'])} object(s) "
                     f"tagger {count['tagger']!r} tags: no event can pass")  # fmt: skip


def _check_overlaps(
    document: dict[str, Any], region: dict[str, Any], path: str, fail: Callable[[str, str], None]
) -> None:
    """No object is tagged twice in one region: the joint decision of two taggers (or two
    working points of one) on one object is not the product of their probabilities."""
    selection = document["selection"]
    owner: dict[tuple[str, int], str] = {}
    if region["tag"]["requirement"] != "any":
        for i in range(selection["candidates"]):
            owner[(selection["collection"], i)] = "the candidates' tag"
    counts = [*selection.get("tag_counts", ()), *region.get("tag_counts", ())]
    for count in counts:
        tagger = document["taggers"][count["tagger"]]
        what = f"tagger {count['tagger']!r} at {count['working_point']!r}"
        for i in tagger["objects"]:
            key = (tagger["collection"], i)
            if key in owner:
                fail(f"{path}.tag_counts", f"{what} and {owner[key]} both tag {key[0]}[{i}]: "
                     "their joint decision is not the product of two probabilities; tag other "
                     "objects, or require one tagger per object")  # fmt: skip
            owner[key] = what


def _observable(name: str, path: str, fail: Callable[[str, str], None]) -> Any:
    from surrotag.observables import get

    try:
        return get(name)
    except AnalysisError as error:
        fail(path, str(error))


def _check_cuts(selection: dict[str, Any], fail: Callable[[str, str], None]) -> None:
    """Cut names unique, observables registered, ``object`` and ``collection`` fitting them."""
    candidates = selection["candidates"]
    event = selection["collection"] == EVENT_COLLECTION
    seen: list[str] = []
    for index, cut in enumerate(selection["cuts"]):
        path = f"$.selection.cuts[{index}]"
        if cut["name"] in seen or cut["name"] == "all":
            fail(f"{path}.name", f"cut name {cut['name']!r} is used already (or is 'all')")
        seen.append(cut["name"])
        observable = _observable(cut["observable"], f"{path}.observable", fail)
        if (
            event
            and "collection" not in cut
            and (observable.kind != "event" or not observable.reads)
        ):
            fail(f"{path}.collection", f"{observable.name!r} reads objects: with the event as "
                 "the candidate, name the collection it reads (e.g. \"jets\")")  # fmt: skip
        if observable.kind == "object":
            where = cut.get("object")
            if where is None:
                fail(path, f"{observable.name!r} is per object: say which (\"object\": 0, "
                     "1, ... or \"each\")")  # fmt: skip
            if isinstance(where, int) and where >= candidates and "collection" not in cut:
                fail(f"{path}.object", f"candidate {where} of {candidates} (counted from 0)")
        elif "object" in cut:
            fail(f"{path}.object", f"{observable.name!r} is not per object: drop 'object'")
        if "collection" in cut and observable.kind == "system":
            fail(f"{path}.collection", f"{observable.name!r} reads the candidates only")
        if observable.kind == "object" and "collection" in cut and cut.get("object") == "each":
            fail(f"{path}.object", "'each' is for the candidates; name an index in another "
                 "collection (0 = its leading object)")  # fmt: skip
        if observable.pairs_only and candidates != 2:
            fail(f"{path}.observable", f"{observable.name!r} needs exactly two candidates")
    if not any(_requires_candidates(cut, selection) for cut in selection["cuts"]):
        fail(
            "$.selection.cuts",
            f"no cut requires the {candidates} candidate(s) the regions tag; add "
            f'{{"name": "objects", "observable": "count", "at_least": {candidates}}} (an '
            "event without them would be tagged on objects it does not have)",
        )


def _requires_candidates(cut: dict[str, Any], selection: dict[str, Any]) -> bool:
    """Whether ``cut`` fails every event with fewer than ``candidates`` objects: a count of
    the candidates' collection of at least k, a bound on the last (or each) candidate, or
    a bound on the candidates' system (NaN without all of them fails every bound)."""
    from surrotag.observables import get

    if selection["collection"] == EVENT_COLLECTION:
        return True  # every event has itself
    k = selection["candidates"]
    kind = get(cut["observable"]).kind  # every cut's observable is known by now
    if kind == "system":
        return True
    if kind == "object":
        return "collection" not in cut and cut.get("object") in ("each", k - 1)
    own = cut.get("collection", selection["collection"]) == selection["collection"]
    least = max(cut.get("at_least", -1), cut.get("above", -2) + 1)
    return cut["observable"] == "count" and own and least >= k


def upgrade_card(document: dict[str, Any]) -> dict[str, Any]:
    """A schema-version-1 card in the current language (other versions unchanged).

    Version 1 had a fixed dijet selection (``leading_pt_min_gev``, ``subleading_pt_min_gev``,
    ``abs_eta_max``, ``abs_delta_y_max``, all strict) and ``bin_edges_gev``; version 2 says
    the same with cuts on registered observables and ``bin_edges``: the numbers are equal.
    """
    if document.get("schema_version") != 1 or not isinstance(document.get("selection"), dict):
        return document
    old = document["selection"]
    keys = ("collection", "leading_pt_min_gev", "subleading_pt_min_gev", "abs_eta_max",
            "abs_delta_y_max")  # fmt: skip
    if set(old) != set(keys):
        return document  # the schema names what is wrong
    new = copy.deepcopy(document)
    new["schema_version"] = SCHEMA_VERSION
    new["selection"] = {
        "collection": old["collection"],
        "candidates": 2,
        "cuts": [
            {"name": "two_objects", "observable": "count", "at_least": 2},
            {"name": "leading_pt", "observable": "pt", "object": 0,
             "above": old["leading_pt_min_gev"]},
            {"name": "subleading_pt", "observable": "pt", "object": 1,
             "above": old["subleading_pt_min_gev"]},
            {"name": "abs_eta", "observable": "abs_eta", "object": "each",
             "below": old["abs_eta_max"]},
            {"name": "abs_delta_y", "observable": "abs_delta_y", "below": old["abs_delta_y_max"]},
        ],
    }  # fmt: skip
    for region in new.get("regions", []):
        observable = region.get("observable") if isinstance(region, dict) else None
        if isinstance(observable, dict) and "bin_edges_gev" in observable:
            observable["bin_edges"] = observable.pop("bin_edges_gev")
    new.pop(CARD_DIGEST_KEY, None)
    return new


def _validate(document: Any, source: str) -> None:
    if not isinstance(document, dict):
        raise CardError(
            f"{source}: an analysis card must be a JSON object, not {type(document).__name__}"
        )
    found = document.get("schema_version")
    if found != SCHEMA_VERSION:
        raise CardError(
            f"{source}: analysis card schema_version {found!r} is not supported (this surrotag "
            f"reads {SCHEMA_VERSION}); update the card or surrotag"
        )
    check_document(document, _validator(), CardError, f"{source}: invalid analysis card")
    try:
        json.dumps(document, allow_nan=False)
    except ValueError:
        raise CardError(
            f"{source}: invalid analysis card: it holds a non-finite number (NaN or infinity); "
            "a card holds finite numbers only"
        ) from None
    _check_consistency(document, source)


def _tag_counts(entry: Mapping[str, Any]) -> tuple[TagCount, ...]:
    """The typed ``tag_counts`` of a region or the selection (``exactly`` as both bounds)."""
    counts = []
    for count in entry.get("tag_counts", ()):
        exactly = count.get("exactly")
        at_least = exactly if exactly is not None else count.get("at_least", 0)
        at_most = exactly if exactly is not None else count.get("at_most")
        counts.append(TagCount(count["tagger"], count["working_point"], at_least, at_most))
    return tuple(counts)


def _build(document: dict[str, Any], source: str) -> AnalysisCard:
    """Typed card from a validated document."""

    def region(entry: dict[str, Any]) -> Region:
        observable = entry["observable"]
        return Region(
            name=entry["name"],
            tag=TagRequirement(**entry["tag"]),
            observable=Observable(
                observable["name"], tuple(float(e) for e in observable["bin_edges"])
            ),
            description=entry.get("description", ""),
            tag_counts=_tag_counts(entry),
        )

    def surrogate_spec(entry: dict[str, Any]) -> SurrogateSpec:
        return SurrogateSpec(
            names=MappingProxyType(dict(entry["names"])),
            working_points=tuple(WorkingPointSpec(**p) for p in entry["working_points"]),
            tagger_sha256=entry["tagger_sha256"],
            internal_tagger=entry.get("internal_tagger"),
        )

    selection = document["selection"]
    taggers = {
        name: TaggerSpec(name, entry["collection"], tuple(entry["objects"]),
                         surrogate_spec(entry["surrogate"]), entry.get("description", ""))
        for name, entry in document.get("taggers", {}).items()
    }  # fmt: skip
    surrogate = document["surrogate"]
    statistics = document["statistics"]
    return AnalysisCard(
        schema_version=document["schema_version"],
        name=document["name"],
        description=document["description"],
        references=tuple(document["references"]),
        sqrt_s_gev=float(document["sqrt_s_gev"]),
        luminosity_ifb=float(document["luminosity_ifb"]),
        input_levels=tuple(document["input_levels"]),
        objects=MappingProxyType(
            {name: ObjectSpec(**spec) for name, spec in document["objects"].items()}
        ),
        selection=SelectionSpec(
            collection=selection["collection"],
            candidates=int(selection["candidates"]),
            cuts=tuple(Cut(**cut) for cut in selection["cuts"]),
            tag_counts=_tag_counts(selection),
        ),
        regions=tuple(region(entry) for entry in document["regions"]),
        surrogate=surrogate_spec(surrogate),
        statistics=StatisticsSpec(
            workspace=statistics["workspace"],
            signal_sample=statistics["signal_sample"],
            channels=MappingProxyType(dict(statistics["channels"])),
            poi=statistics["poi"],
            official_yields=statistics.get("official_yields"),
        ),
        files=MappingProxyType(dict(document.get("files", {}))),
        taggers=MappingProxyType(taggers),
        source=source,
        document=copy.deepcopy(document),
    )


def load_analysis_card(
    source: str | os.PathLike[str] | Traversable | Mapping[str, Any], name: str | None = None
) -> AnalysisCard:
    """Read and validate an analysis card.

    Args:
        source: a ``card.json`` file, a folder holding one, a resource (``Traversable``), or
            the parsed document.
        name: how to call the card in messages (default: its path, or ``<dict>``).

    Returns:
        The typed, frozen :class:`AnalysisCard`.

    Raises:
        CardError: the file is missing or not JSON, or the card fails the schema or a
            cross-reference rule; the message names the JSON path of the problem.

    Example:
        >>> from importlib.resources import files
        >>> card = load_analysis_card(files("surrotag.analyses.zprime_ttbar_allhad") / "card.json")
        >>> card.name, card.luminosity_ifb
        ('zprime-ttbar-allhad', 139.0)
    """
    if isinstance(source, Mapping):
        document: Any = json.loads(json.dumps(source))
        where = name or "<dict>"
    else:
        path = source if isinstance(source, Traversable) else Path(source)
        if path.is_dir():
            path = path / CARD_FILENAME
        where = name or str(path)
        if not path.is_file():
            raise CardError(f"{where}: no such analysis card; an analysis holds {CARD_FILENAME}")
        try:
            document = parse_json_strict(path.read_text("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise CardError(f"{where}: not valid JSON ({one_line(str(error))})") from None
        current = upgrade_card(document)
        _validate(current, where)
        _check_card_digest(document, where)  # of the file as written, whatever its version
        return _build(current, where)
    document = upgrade_card(document)
    _validate(document, where)
    return _build(document, where)


def _check_card_digest(document: Mapping[str, Any], where: str) -> None:
    expected = document.get(CARD_DIGEST_KEY)
    if expected is None:
        raise IntegrityError(
            f"{where}: the analysis card has no {CARD_DIGEST_KEY}, so an edit could not be "
            "detected; record it with surrotag.analysis_card.seal_analysis_card(FOLDER)"
        )
    actual = card_digest(document)
    if actual != expected:
        raise IntegrityError(
            f"{where}: card content sha256 {actual[:12]}… differs from its {CARD_DIGEST_KEY} "
            f"{expected[:12]}…; the card was edited after it was sealed (reinstall the "
            "analysis, or seal a deliberate edit with seal_analysis_card)"
        )


def check_file_digest(card: AnalysisCard, name: str, data: bytes, where: str) -> None:
    """Check the bytes of package file ``name`` against the card's ``files`` entry.

    A file the card does not list passes, except the workspace and the official yields of
    a card read from a file (those change every result and must be covered).

    Raises:
        IntegrityError: the sha256 differs, or a required file is not listed.
    """
    expected = card.files.get(name)
    if expected is None:
        required = {card.statistics.workspace, card.statistics.official_yields}
        if name in required and CARD_DIGEST_KEY in card.document:
            raise IntegrityError(
                f"{where}: the card of analysis {card.name!r} records no sha256 of {name}; "
                "record it with surrotag.analysis_card.seal_analysis_card(FOLDER)"
            )
        return
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise IntegrityError(
            f"{where}: sha256 {actual[:12]}… differs from the card's {expected[:12]}…; the "
            "file was altered (reinstall the analysis or rebuild it with its build script)"
        )


def seal_analysis_card(
    folder: str | os.PathLike[str], names: tuple[str, ...] | None = None
) -> Path:
    """Record the sha256 of the analysis's files and the card's own digest, atomically.

    The writers of an analysis (its build script, or an author after a deliberate edit of
    the card) call this after their last write, so loading needs no manual step. A card
    of schema version 1 is written back in the current language (:func:`upgrade_card`).

    Args:
        folder: the analysis folder holding ``card.json``.
        names: files to cover (default: those the card lists already, plus the workspace,
            the official yields and the objects' particle-level responses when they exist).

    Returns:
        The path of the card written.

    Raises:
        CardError: the card is invalid (checked before anything is written).
        InputValueError: a named file does not exist.
    """
    from surrotag.errors import InputValueError
    from surrotag.io.atomic import write_json_atomic

    folder = Path(folder)
    path = folder / CARD_FILENAME
    try:
        document = parse_json_strict(path.read_text("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise CardError(f"{path}: cannot read the card ({one_line(str(error))})") from None
    document = upgrade_card(document)  # sealing writes the current language
    _validate(document, str(path))
    if names is None:
        statistics = document["statistics"]
        candidates = [*document.get("files", {}), statistics["workspace"]]
        candidates.append(statistics.get("official_yields"))
        candidates += [spec.get("particle_response") for spec in document["objects"].values()]
        names = tuple(n for n in dict.fromkeys(candidates) if n and (folder / n).is_file())
    digests = {}
    for name in names:
        target = folder / name
        if not target.is_file():
            raise InputValueError(f"{target}: no such file to record in {path}")
        digests[name] = hashlib.sha256(target.read_bytes()).hexdigest()
    document["files"] = dict(sorted(digests.items()))
    document[CARD_DIGEST_KEY] = card_digest(document)
    _validate(document, str(path))
    return write_json_atomic(path, document, indent=2)
