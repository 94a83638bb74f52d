"""Analyses as plugins: the entry-point registry and the files of an analysis.

An analysis is a search that surrotag can recast, described by a schema-checked card
(:mod:`surrotag.analysis_card`, re-exported here).

**Registering an analysis (the one convention).** A distribution adds an entry point to the
group ``surrotag.analyses`` whose name is the analysis name and whose value is a *package*
(no ``:attribute``) that ships ``card.json`` as package data, beside its other files
(``workspace.json``, reference results), e.g. in its ``pyproject.toml``::

    [project.entry-points."surrotag.analyses"]
    my-search = "my_package.my_search"

The package is imported only when the analyses are listed or the name is looked up. The
card's ``name`` must equal the entry-point name. Files of the analysis are read with
:mod:`importlib.resources` through :meth:`Analysis.resource`, never by path, so the same code
works from a wheel and an editable install. surrotag never imports an analysis module by
name (layering: analyses -> plugin -> surrogates); a folder holding ``card.json`` can be
used directly with :func:`get_analysis` while developing one.

References:
    Classifier surrogates, arXiv:2402.15558; cabinetry configuration schema; spey plugins.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import EntryPoint, entry_points
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from surrotag.analysis_card import (
    CARD_FILENAME,
    SCHEMA_VERSION,
    AnalysisCard,
    ObjectSpec,
    Observable,
    Region,
    SelectionSpec,
    StatisticsSpec,
    SurrogateSpec,
    TagCount,
    TaggerSpec,
    TagRequirement,
    WorkingPointSpec,
    analysis_schema,
    check_file_digest,
    load_analysis_card,
)
from surrotag.errors import AnalysisError, CardError, FormatError
from surrotag.surrogates.errors import describe

if TYPE_CHECKING:
    from surrotag.jets.response import JetResponse
    from surrotag.stats.workspace import BackgroundWorkspace

__all__ = [
    "CARD_FILENAME",
    "ENTRY_POINT_GROUP",
    "SCHEMA_VERSION",
    "Analysis",
    "AnalysisCard",
    "AnalysisInfo",
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
    "get_analysis",
    "list_analyses",
    "load_analysis_card",
    "split_analyses",
]

#: Entry-point group through which packages register analyses.
ENTRY_POINT_GROUP: Final = "surrotag.analyses"


class Analysis:
    """An analysis: its card and the files shipped beside it.

    Args:
        card: the validated card.
        root: the folder of its files (a package's ``importlib.resources.files`` or a path).
        origin: where it came from, e.g. ``entry point zprime-ttbar-allhad (surrotag)``.
    """

    def __init__(self, card: AnalysisCard, root: Traversable, origin: str = "") -> None:
        self.card, self.root, self.origin = card, root, origin

    @property
    def name(self) -> str:
        """The analysis name (the card's ``name``)."""
        return self.card.name

    def __repr__(self) -> str:
        return f"Analysis({self.name!r}, origin={self.origin!r})"

    def has_resource(self, name: str) -> bool:
        """Whether the analysis ships the file ``name`` (relative, '/'-separated)."""
        return self._traverse(name).is_file()

    def _traverse(self, name: str) -> Traversable:
        parts = [part for part in name.split("/") if part]
        if not parts or ".." in parts or name.startswith("/"):
            raise AnalysisError(
                f"analysis {self.name!r}: resource name {name!r} must be a relative path "
                "inside the analysis package"
            )
        return self.root.joinpath(*parts)

    def resource(self, name: str) -> Traversable:
        """A file of the analysis package (open it with ``.open()`` / ``.read_text()``).

        A file the card covers (its ``files``) is checked against its sha256 first.

        Raises:
            AnalysisError: the analysis ships no such file.
            IntegrityError: the file differs from the sha256 the card records, or it is the
                workspace or the official yields and the card records none.
        """
        resource = self._traverse(name)
        if not resource.is_file():
            raise AnalysisError(
                f"analysis {self.name!r} ships no file {name!r} (in {self.root}); "
                "check the name or reinstall the package that provides it"
            )
        parts = "/".join(part for part in name.split("/") if part)
        if parts in self.card.files or parts in (
            self.card.statistics.workspace,
            self.card.statistics.official_yields,
        ):
            check_file_digest(self.card, parts, resource.read_bytes(), f"{resource}")
        return resource

    def particle_response(self) -> JetResponse | None:
        """The detector's response of the selection's jets at particle level, or None.

        The card's object of the selection's collection names the file
        (``particle_response``); it must be covered by the card's ``files`` (sha256).

        Raises:
            AnalysisError: the file is named but absent or not covered by ``files``.
            IntegrityError: the file differs from its recorded sha256.
            FormatError: the file is not a jet response.
        """
        collection = self.card.selection.collection
        spec = self.card.objects.get(collection)
        name = getattr(spec, "particle_response", None)
        if name is None:
            return None
        if name not in self.card.files:
            raise AnalysisError(
                f"analysis {self.name!r}: {name} (the particle-level response of "
                f"{collection}) is not covered by the card's files; seal the card again"
            )
        from surrotag.jets.response import JetResponse

        text = self.resource(name).read_text("utf-8")
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise FormatError(f"{self.root / name}: not JSON ({error.msg})") from None
        response = JetResponse.from_dict(document, f"{self.root / name}")
        if response.collection != collection:
            raise AnalysisError(
                f"analysis {self.name!r}: {name} is the response of {response.collection}, "
                f"the selection's objects are {collection}"
            )
        return response

    def workspace(self) -> BackgroundWorkspace:
        """The background-only pyhf workspace named in ``statistics.workspace``.

        Returns:
            :class:`surrotag.stats.workspace.BackgroundWorkspace`, checked to hold the
            card's channels and POI.

        Raises:
            AnalysisError: the file is absent (not built yet) or lacks a channel or the POI.
            StatisticsError: the file is not a valid pyhf workspace.
        """
        filename = self.card.statistics.workspace
        if not self.has_resource(filename):
            raise AnalysisError(
                f"analysis {self.name!r} has no background workspace {filename!r} yet (in "
                f"{self.root}); build it with the analysis's build script, then reinstall"
            )
        from surrotag.stats.workspace import load_workspace  # imports pyhf: only when needed

        document = json.loads(self.resource(filename).read_text("utf-8"))
        workspace = load_workspace(document)
        have = {channel.name for channel in workspace.channels}
        missing = [c for c in self.card.statistics.channels.values() if c not in have]
        if missing:
            raise AnalysisError(
                f"analysis {self.name!r}: {filename} lacks channel(s) {', '.join(missing)} "
                f"named in the card (it has: {', '.join(sorted(have))})"
            )
        if workspace.poi != self.card.statistics.poi:
            raise AnalysisError(
                f"analysis {self.name!r}: {filename} has POI {workspace.poi!r}, the card says "
                f"{self.card.statistics.poi!r}; make them agree"
            )
        return workspace


class AnalysisInfo(NamedTuple):
    """One installed analysis, as listed by :func:`list_analyses`.

    Attributes:
        name: the entry-point name.
        origin: ``entry point <name> (<distribution>)``.
        analysis: the loaded analysis, or None when it is broken.
        problem: why it could not be loaded (one line), or None.
    """

    name: str
    origin: str
    analysis: Analysis | None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Name, origin, problem and the full card (None when broken), JSON-able."""
        card = self.analysis.card.to_dict() if self.analysis is not None else None
        return {"name": self.name, "origin": self.origin, "problem": self.problem, "card": card}

    def summary(self) -> str:
        """One line: name, first sentence of the description, sqrt(s) (TeV), luminosity
        (fb^-1), regions (tag requirement, working point, observable bins) and surrogates; or
        why the analysis is broken."""
        if self.analysis is None:
            return f"{self.name}  BROKEN ({self.origin}): {self.problem}"
        card = self.analysis.card
        regions = ", ".join(
            f"{r.name}[{_requirements(card, r)}, {r.observable.name} {r.observable.n_bins} bins]"
            for r in card.regions
        )
        surrogates = ", ".join(f"{level}: {name}" for level, name in card.surrogate.names.items())
        for tagger in card.taggers.values():
            names = ", ".join(f"{level}: {name}" for level, name in tagger.surrogate.names.items())
            surrogates += f"; {tagger.name}: {names}"
        return (
            f"{card.name}  {_first_sentence(card.description)}  sqrt(s) = "
            f"{card.sqrt_s_gev / 1000:g} TeV  L = {card.luminosity_ifb:g} fb^-1  regions: "
            f"{regions}  surrogate: {surrogates}"
        )


def _requirements(card: AnalysisCard, region: Region) -> str:
    """A region's tag requirements in one phrase, e.g. ``both@wp50 + w:1..2@wp50``."""
    tag = region.tag
    parts = [] if tag.requirement == "any" else [f"{tag.requirement}@{tag.working_point}"]
    for count in card.tag_counts(region):
        most = "" if count.at_most is None else count.at_most
        span = f"{count.at_least}" if most == count.at_least else f"{count.at_least}..{most}"
        parts.append(f"{count.tagger}:{span}@{count.working_point}")
    return " + ".join(parts) or "any"


def _first_sentence(text: str, limit: int = 60) -> str:
    """The first sentence of ``text``, cut to ``limit`` characters."""
    first = " ".join(text.split()).split(". ")[0].rstrip(".")
    return first if len(first) <= limit else first[: limit - 3] + "..."


def _entry_points() -> list[EntryPoint]:
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda entry: entry.name)


def _origin(entry: EntryPoint) -> str:
    distribution = getattr(entry, "dist", None)
    owner = f" ({distribution.name})" if distribution is not None else ""
    return f"entry point {entry.name}{owner}"


def _duplicate(entries: list[EntryPoint]) -> AnalysisError:
    """The error for one analysis name registered by several entry points (one line)."""
    name = entries[0].name
    where = "; ".join(f"{_origin(entry)} -> {entry.value}" for entry in entries)
    return AnalysisError(
        f"analysis name {name!r} is registered {len(entries)} times in entry-point group "
        f"{ENTRY_POINT_GROUP!r} ({where}); uninstall or rename all but one"
    )


def _from_entry_point(entry: EntryPoint) -> Analysis:
    """Load an entry point into an Analysis (CardError / AnalysisError when broken)."""
    where = f"entry point {entry.name!r} ({entry.value}) of group {ENTRY_POINT_GROUP!r}"
    try:
        target = entry.load()
    except (Exception, SystemExit) as error:  # a broken package must not end surrotag
        raise AnalysisError(f"{where} failed to load: {describe(error)}") from None
    if not isinstance(target, ModuleType) or not hasattr(target, "__path__"):
        raise AnalysisError(
            f"{where} gave {type(target).__name__}; it must name a package that ships "
            f"{CARD_FILENAME} (no ':attribute')"
        )
    root = files(target)
    card = load_analysis_card(root / CARD_FILENAME, name=f"{target.__name__}/{CARD_FILENAME}")
    if card.name != entry.name:
        raise AnalysisError(
            f"{where}: its card is named {card.name!r}; rename the entry point or the card "
            "so that they agree"
        )
    return Analysis(card, root, _origin(entry))


def list_analyses() -> list[AnalysisInfo]:
    """Every analysis registered in the entry-point group ``surrotag.analyses``, by name.

    An entry point that fails to import (an exception or ``sys.exit`` at import), is not a
    package, or whose card is invalid is still listed, with ``problem`` set (one line), so
    one broken package does not hide the others; a name that several entry points
    register is listed once per entry point, each with the conflict as its problem.
    """
    entries = _entry_points()
    by_name: dict[str, list[EntryPoint]] = {}
    for entry in entries:
        by_name.setdefault(entry.name, []).append(entry)
    infos = []
    for entry in entries:
        try:
            if len(by_name[entry.name]) > 1:
                raise _duplicate(by_name[entry.name])
            infos.append(AnalysisInfo(entry.name, _origin(entry), _from_entry_point(entry)))
        except (AnalysisError, CardError) as error:
            infos.append(AnalysisInfo(entry.name, _origin(entry), None, str(error)))
    return infos


def get_analysis(name_or_path: str | os.PathLike[str]) -> Analysis:
    """The analysis with this registry name, or the one in this folder.

    Args:
        name_or_path: an entry-point name of group ``surrotag.analyses``, or a folder (or
            its ``card.json``) holding an analysis being developed.

    Raises:
        AnalysisError: no installed analysis of that name (the message lists the installed
            ones), several entry points register the name, or its entry point is broken.
        CardError: its card is invalid.
    """
    path = Path(name_or_path)
    if path.is_dir() or (path.is_file() and path.suffix == ".json"):
        folder = path if path.is_dir() else path.parent
        card = load_analysis_card(folder if path.is_dir() else path)
        return Analysis(card, folder, f"folder {folder}")
    name = str(name_or_path)
    found = [entry for entry in _entry_points() if entry.name == name]
    if not found:
        installed = ", ".join(dict.fromkeys(entry.name for entry in _entry_points())) or "none"
        raise AnalysisError(
            f"unknown analysis {name!r}; installed: {installed} (entry-point group "
            f"{ENTRY_POINT_GROUP!r}); see 'surrotag analyses' or pass a folder holding "
            f"{CARD_FILENAME}"
        )
    if len(found) > 1:
        raise _duplicate(found)
    return _from_entry_point(found[0])


def _names_an_analysis(argument: str) -> bool:
    path = Path(argument)
    if path.is_dir():
        return (path / CARD_FILENAME).is_file()
    if path.exists():
        return False  # an event file, whatever its name
    return any(entry.name == argument for entry in _entry_points())


def split_analyses(arguments: list[str], every: bool = False) -> tuple[list[str], list[str]]:
    """Split ``surrotag run`` arguments into the analyses and the event inputs.

    The leading arguments that name an installed analysis or a folder holding
    ``card.json`` are analyses (the first always is, so that a misspelt name gets the
    registry's message); the rest are event files, globs and run folders.

    Args:
        arguments: the command's positional arguments, in order.
        every: ``--all``: every installed analysis, and every argument is an input.

    Returns:
        ``(analyses, inputs)``.

    Raises:
        AnalysisError: no analysis given, or ``--all`` with no analysis installed.

    Example:
        >>> split_analyses(["zprime-ttbar-allhad", "signal.root"])
        (['zprime-ttbar-allhad'], ['signal.root'])
    """
    if every:
        names = list(dict.fromkeys(entry.name for entry in _entry_points()))
        if not names:
            raise AnalysisError(f"--all: no analysis is installed ({ENTRY_POINT_GROUP!r})")
        return names, list(arguments)
    if not arguments:
        raise AnalysisError("no analysis given; name one (surrotag analyses lists them) or --all")
    count = 1
    while count < len(arguments) and _names_an_analysis(arguments[count]):
        count += 1
    return list(arguments[:count]), list(arguments[count:])
