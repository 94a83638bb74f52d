"""The feature table of event files, with provenance (``surrotag features``).

:func:`file_features` reads the files in chunks through the one event stream
(:class:`~surrotag.io.stream.EventStream`, only the collections the requested features
need), calls :func:`surrotag.features.build_features` per chunk and joins the chunks into one
table. Its provenance (:attr:`FileFeatures.metadata`, the Parquet key-value metadata
``surrotag`` once written): command, surrotag_version, inputs (per events file read: path,
sha256, format, events read, their sum of weights), level, row_kind, features (the table's
columns but ``event_index``), radius (the matching Delta R), n_events, n_rows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import awkward as ak

if TYPE_CHECKING:
    from surrotag.io.inputs import InputFiles
    from surrotag.io.stream import EventStream

__all__ = ["FileFeatures", "feature_stream", "file_features"]


class FileFeatures(NamedTuple):
    """The feature table of event files and its provenance.

    Attributes:
        table: one row per object (:func:`surrotag.features.build_features` columns).
        metadata: the provenance (module docstring).
    """

    table: ak.Array
    metadata: dict[str, Any]


def feature_stream(
    inputs: InputFiles,
    level: str,
    names: Sequence[str] | None,
    *,
    max_events: int | None = None,
    step_size: int = 50_000,
    progress: bool = False,
) -> EventStream:
    """The event stream of ``inputs`` that reads only the collections ``names`` need.

    Args:
        inputs: the resolved event files.
        level: input level.
        names: resolved feature names (:func:`surrotag.features.resolve_features`); None:
            every collection of the level.
        max_events: stop after this many events in total.
        step_size: events per chunk.
        progress: show a progress bar of the files read.
    """
    from surrotag.features.registry import FEATURES
    from surrotag.io.stream import EventStream

    collections = None
    if names is not None:
        from surrotag.io.levels import input_level

        rows = input_level(level).objects  # the table's rows
        collections = sorted({rows, *(c for name in names for c in FEATURES[name].requires)})
    return EventStream(
        inputs,
        level=level,
        collections=collections,
        entry_stop=max_events,
        step_size=step_size,
        progress=progress,
    )


def file_features(
    events: Sequence[str | os.PathLike[str]],
    *,
    level: str | None = None,
    features: Sequence[str] | None = None,
    radius: float = 0.8,
    max_events: int | None = None,
    step_size: int = 50_000,
    progress: bool = False,
) -> FileFeatures:
    """Build the public feature table of event files (one row per fat jet or top quark).

    Args:
        events: event files, globs or MadGraph run folders.
        level: input level (None: sniffed from the first file; the reader checks the others
            agree).
        features: feature names (None: every feature of the level).
        radius: Delta R of truth matching and containment.
        max_events: stop after this many events in total.
        step_size: events per chunk.
        progress: show a progress bar of the files read.

    Raises:
        EmptyInputError: the files hold no events.
        FeatureError: a feature is unknown or cannot be built at ``level``.
    """
    import surrotag
    from surrotag.errors import EmptyInputError
    from surrotag.features.registry import ROW_KIND
    from surrotag.features.table import build_features, resolve_features
    from surrotag.io import level_of, sniff_format
    from surrotag.io.inputs import resolve_inputs

    inputs = resolve_inputs(list(events))
    level = level or level_of(sniff_format(inputs.paths[0]), inputs.paths[0])
    requested = None if features is None else list(features)
    names = None if requested is None else resolve_features(level, requested)
    stream = feature_stream(
        inputs, level, names, max_events=max_events, step_size=step_size, progress=progress
    )
    tables = [
        build_features(chunk, level=level, features=requested, radius=radius, event_offset=offset)
        for offset, chunk in stream.with_offsets()
    ]
    if not tables:
        paths = ", ".join(map(str, inputs.paths))
        raise EmptyInputError(f"{paths}: no events to build features from")
    table = ak.concatenate(tables) if len(tables) > 1 else tables[0]
    metadata = {
        "command": "surrotag features",
        "surrotag_version": surrotag.__version__,
        "inputs": stream.files,
        "level": level,
        "row_kind": ROW_KIND[level],
        "features": [name for name in table.fields if name != "event_index"],
        "radius": radius,
        "n_events": stream.n_events,
        "n_rows": len(table),
    }
    return FileFeatures(table, metadata)
