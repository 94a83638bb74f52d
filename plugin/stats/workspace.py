"""Load and describe a background-only pyhf workspace.

A search's published likelihood (HistFactory JSON, arXiv:2109.04981) is a background-only
workspace plus one patch per signal point. :func:`load_workspace` reads one from a path or a
dict, validates it against pyhf's JSON schema and returns a :class:`BackgroundWorkspace`
that lists the channels, samples and bins a signal patch must match.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyhf

from surrotag.errors import InputFileError, StatisticsError

__all__ = ["BackgroundWorkspace", "ChannelInfo", "load_workspace"]


@dataclass(frozen=True)
class ChannelInfo:
    """One channel (region) of a workspace.

    Attributes:
        index: position in the workspace's ``channels`` list (JSON-patch paths use it).
        name: channel name, e.g. ``SR_meff``.
        n_bins: number of bins.
        samples: names of the samples in the channel.
    """

    index: int
    name: str
    n_bins: int
    samples: tuple[str, ...]


@dataclass(frozen=True)
class BackgroundWorkspace:
    """A schema-valid pyhf workspace and where it came from.

    Attributes:
        spec: the workspace JSON (not to be mutated).
        workspace: the validated :class:`pyhf.Workspace`.
        source: the file it was read from, or ``"<dict>"``.
    """

    spec: Mapping[str, Any]
    workspace: pyhf.Workspace
    source: str

    @property
    def channels(self) -> tuple[ChannelInfo, ...]:
        """The channels in workspace order."""
        return tuple(
            ChannelInfo(
                index=i,
                name=ch["name"],
                n_bins=len(ch["samples"][0]["data"]) if ch["samples"] else 0,
                samples=tuple(s["name"] for s in ch["samples"]),
            )
            for i, ch in enumerate(self.spec["channels"])
        )

    def channel(self, name: str) -> ChannelInfo:
        """The channel called ``name``.

        Raises:
            StatisticsError: no such channel (the message lists the existing ones).
        """
        for info in self.channels:
            if info.name == name:
                return info
        names = ", ".join(c.name for c in self.channels)
        raise StatisticsError(f"workspace {self.source} has no channel {name!r}; it has: {names}")

    @property
    def measurement(self) -> str:
        """Name of the first (default) measurement."""
        return str(self.spec["measurements"][0]["name"])

    @property
    def poi(self) -> str:
        """Parameter of interest of the default measurement (e.g. ``mu_SIG``)."""
        return str(self.spec["measurements"][0]["config"]["poi"])

    @property
    def modifier_names(self) -> frozenset[str]:
        """Names of all modifiers of all samples (a new modifier must not reuse one by accident)."""
        return frozenset(
            m["name"] for ch in self.spec["channels"] for s in ch["samples"] for m in s["modifiers"]
        )

    def modifiers_of_type(self, modifier_type: str) -> tuple[str, ...]:
        """Sorted names of the modifiers of one type (e.g. ``"lumi"``)."""
        return tuple(
            sorted(
                {
                    m["name"]
                    for ch in self.spec["channels"]
                    for s in ch["samples"]
                    for m in s["modifiers"]
                    if m["type"] == modifier_type
                }
            )
        )


def load_workspace(
    source: str | Path | Mapping[str, Any] | BackgroundWorkspace,
) -> BackgroundWorkspace:
    """Read and validate a background-only pyhf workspace.

    Args:
        source: a JSON file path, the workspace dict, or an already loaded workspace
            (returned unchanged).

    Returns:
        :class:`BackgroundWorkspace`.

    Raises:
        InputFileError: the file is missing.
        StatisticsError: the file is not JSON, or the workspace fails pyhf's schema.
    """
    if isinstance(source, BackgroundWorkspace):
        return source
    if isinstance(source, Mapping):
        spec, where = dict(source), "<dict>"
    else:
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise InputFileError(f"{path}: workspace file not found; pass a pyhf JSON workspace")
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StatisticsError(
                f"{path}: not valid JSON ({exc}); pass a pyhf workspace"
            ) from None
        if not isinstance(spec, dict):
            raise StatisticsError(f"{path}: the JSON is a {type(spec).__name__}, not a workspace")
    try:
        with warnings.catch_warnings():  # pyhf 0.7 uses jsonschema's deprecated RefResolver
            warnings.simplefilter("ignore", DeprecationWarning)
            ws = pyhf.Workspace(spec)
    except pyhf.exceptions.InvalidSpecification as exc:
        first = str(exc).splitlines()[0]
        raise StatisticsError(
            f"{where}: not a valid pyhf workspace ({first}); check it with `pyhf inspect`"
        ) from None
    except (pyhf.exceptions.InvalidWorkspaceOperation, KeyError, TypeError, ValueError) as exc:
        raise StatisticsError(f"{where}: pyhf cannot build the workspace: {exc}") from None
    return BackgroundWorkspace(spec=spec, workspace=ws, source=where)
