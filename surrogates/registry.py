"""Find surrogates by name: the shipped ones and those of third-party packages.

Shipped surrogates are folders ``shipped/<name>/`` of this package (``card.json`` +
``weights.safetensors``), read through :mod:`importlib.resources`. A third-party package
adds its own through the entry-point group ``surrotag.surrogates``; the entry point resolves
to a folder (a ``str`` or ``os.PathLike``) or to a callable returning one, e.g. in its
``pyproject.toml``::

    [project.entry-points."surrotag.surrogates"]
    my_tagger = "my_package.surrogates:folder"

Entry points are loaded lazily, only when a surrogate is listed or resolved. One that fails
to load (an exception or ``sys.exit`` at import) is listed with its problem in one line and
never ends the process; a name registered twice (two entry points, or an entry point and a
shipped surrogate) is refused, since which one a run would use is undefined.
"""

from __future__ import annotations

import os
from importlib.metadata import EntryPoint, entry_points
from importlib.resources import files
from pathlib import Path
from typing import NamedTuple

from surrotag.surrogates.card import CARD_FILENAME, load_card
from surrotag.surrogates.errors import SurrogateError, SurrogateNotFoundError, describe

__all__ = [
    "ENTRY_POINT_GROUP",
    "SurrogateInfo",
    "list_surrogates",
    "resolve_surrogate",
    "shipped_folder",
]

#: Entry-point group through which other packages register surrogates.
ENTRY_POINT_GROUP = "surrotag.surrogates"


class SurrogateInfo(NamedTuple):
    """One installed surrogate, as listed by :func:`list_surrogates`.

    Attributes:
        name: registry name (the card's ``name``, or the folder/entry-point name if the card
            is broken).
        version: the card's version ('' if the card is broken).
        tagger: name of the tagger the surrogate replaces.
        n_features: number of input features.
        bayes: Bayesian method, ``none``, ``vi`` or ``mcmc``.
        origin: ``shipped`` or ``entry point <name> (<distribution>)``.
        path: the surrogate folder.
        problem: why the card could not be read, or None when it is valid.
    """

    name: str
    version: str
    tagger: str
    n_features: int
    bayes: str
    origin: str
    path: Path
    problem: str | None = None


def shipped_folder() -> Path:
    """Folder of the surrogates shipped with surrotag (inside the installed package)."""
    return Path(str(files("surrotag.surrogates") / "shipped"))


def _shipped() -> list[tuple[str, Path, str]]:
    root = shipped_folder()
    if not root.is_dir():
        return []
    return [
        (folder.name, folder, "shipped")
        for folder in sorted(root.iterdir())
        if (folder / CARD_FILENAME).is_file()
    ]


def _entry_point_folder(entry: EntryPoint) -> Path:
    """Load an entry point and turn it into a folder path (SurrogateError otherwise)."""
    where = f"entry point {entry.name!r} ({entry.value}) of group {ENTRY_POINT_GROUP!r}"
    try:
        target = entry.load()
        if callable(target):
            target = target()
    except (Exception, SystemExit) as error:  # a broken package must not end the listing
        raise SurrogateError(f"{where} failed to load: {describe(error)}") from None
    if not isinstance(target, str | os.PathLike):
        raise SurrogateError(
            f"{where} gave {type(target).__name__}; it must be a folder path or a callable "
            "returning one"
        )
    return Path(target)


def _entry_points() -> list[EntryPoint]:
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda entry: entry.name)


def _duplicate(name: str) -> SurrogateError | None:
    """The error for a name registered more than once (None when it is registered once)."""
    origins = [origin for shipped, _, origin in _shipped() if shipped == name]
    origins += [
        f"{_origin(entry)} -> {entry.value}" for entry in _entry_points() if entry.name == name
    ]
    if len(origins) < 2:
        return None
    return SurrogateError(
        f"surrogate name {name!r} is registered {len(origins)} times ({'; '.join(origins)}); "
        f"uninstall or rename all but one (entry-point group {ENTRY_POINT_GROUP!r})"
    )


def _origin(entry: EntryPoint) -> str:
    distribution = getattr(entry, "dist", None)
    owner = f" ({distribution.name})" if distribution is not None else ""
    return f"entry point {entry.name}{owner}"


def _info(name: str, folder: Path, origin: str) -> SurrogateInfo:
    try:
        card = load_card(folder)
    except SurrogateError as error:
        return SurrogateInfo(name, "", "", 0, "", origin, folder, str(error))
    return SurrogateInfo(
        card.name,
        card.version,
        card.tagger["name"],
        len(card.features),
        card.bayes["method"],
        origin,
        folder,
    )


def list_surrogates() -> list[SurrogateInfo]:
    """Every installed surrogate: shipped ones first, then entry points, each sorted by name.

    A surrogate whose card is invalid, or an entry point that fails to load, is still listed
    with ``problem`` set, so one broken package does not hide the others.
    """
    infos = [_info(name, folder, origin) for name, folder, origin in _shipped()]
    for entry in _entry_points():
        try:
            duplicate = _duplicate(entry.name)
            if duplicate is not None:
                raise duplicate
            folder = _entry_point_folder(entry)
        except SurrogateError as error:
            infos.append(
                SurrogateInfo(entry.name, "", "", 0, "", _origin(entry), Path(), str(error))
            )
            continue
        infos.append(_info(entry.name, folder, _origin(entry)))
    return infos


def resolve_surrogate(name_or_dir: str | os.PathLike[str]) -> Path:
    """Folder of a surrogate given its registry name or a folder path.

    A path to an existing folder holding ``card.json`` wins; otherwise the name is looked up
    among the shipped surrogates, then the entry points (by entry-point name or card name).

    Raises:
        SurrogateNotFoundError: no such folder and no installed surrogate of that name; the
            message lists the installed names.
        SurrogateError: the name is registered more than once, or its entry point fails to
            load.
    """
    candidate = Path(name_or_dir)
    if (candidate / CARD_FILENAME).is_file():
        return candidate
    name = str(name_or_dir)
    duplicate = _duplicate(name)
    if duplicate is not None:
        raise duplicate
    for shipped_name, folder, _ in _shipped():
        if shipped_name == name:
            return folder
    for entry in _entry_points():
        if entry.name == name:
            return _entry_point_folder(entry)
    installed = list_surrogates()
    for info in installed:
        if info.name == name and info.problem is None:
            return info.path
    if candidate.is_dir():
        raise SurrogateNotFoundError(
            f"{candidate}: folder has no {CARD_FILENAME}; a surrogate folder holds "
            f"{CARD_FILENAME} and weights.safetensors"
        )
    known = ", ".join(sorted({info.name for info in installed})) or "none"
    raise SurrogateNotFoundError(
        f"no surrogate {name!r}: not a folder and not installed (installed: {known}); "
        "pass a surrogate folder or see 'surrotag surrogates'"
    )
