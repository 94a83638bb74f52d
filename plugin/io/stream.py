"""One event stream: chunked reading with per-file provenance and a progress bar.

Every command that reads events (``run``, ``tag``, ``features``, the scan through the recast)
goes through :class:`EventStream`: the inputs are resolved once (files, globs, MadGraph run
folders: :func:`surrotag.io.inputs.resolve_inputs`), read in chunks at one input level
(:func:`surrotag.io.iter_events`, only the collections asked for), and each file's
provenance (path, sha256, format, events read, sum of weights) is recorded when it is done.
Canonical events already in memory stream the same way, in slices.

Example:
    >>> import awkward as ak
    >>> events = ak.Array({"weight": [1.0, 2.0, 0.5]})
    >>> stream = EventStream(events, level="delphes", step_size=2)
    >>> [len(chunk) for chunk in stream]
    [2, 1]
    >>> stream.files[0]["n_events"], stream.files[0]["sum_weights"]
    (3, 3.5)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import awkward as ak

from surrotag.io.inputs import InputFiles, resolve_inputs

__all__ = ["EventStream"]

#: A context manager factory wrapped around every read (e.g. the recast's stage timer).
ReadTimer = Callable[[], AbstractContextManager[Any]]


class EventStream:
    """Chunks of canonical events from files or memory, with per-file provenance.

    Args:
        source: event files, globs or MadGraph run folders (resolved once), an already
            resolved :class:`~surrotag.io.inputs.InputFiles`, or canonical events in memory.
        level: input level (:data:`surrotag.io.levels.LEVEL_NAMES`).
        collections: canonical collections to read (None: everything of the level).
        step_size: events per chunk (at most; a chunk never spans two files).
        entry_stop: read at most this many events in total.
        progress: show a ``rich`` progress bar of the files and events read.
        read_timer: called around every read (``with read_timer(): ...``).

    Attributes:
        files: one provenance record per finished file: ``path``, ``sha256``, ``format``,
            ``n_events``, ``sum_weights`` (None when ``weight`` was not read; ``<memory>`` /
            ``awkward`` for events in memory).
        n_events: events yielded so far.
    """

    def __init__(
        self,
        source: Sequence[str | os.PathLike[str]] | InputFiles | ak.Array,
        *,
        level: str,
        collections: Sequence[str] | None = None,
        step_size: int = 50_000,
        entry_stop: int | None = None,
        progress: bool = False,
        read_timer: ReadTimer | None = None,
    ) -> None:
        if isinstance(source, ak.Array):
            self.inputs: InputFiles | None = None
            self._memory: ak.Array | None = source
        else:
            self.inputs = source if isinstance(source, InputFiles) else resolve_inputs(source)
            self._memory = None
        self.level = level
        self.collections = None if collections is None else list(collections)
        self.step_size = int(step_size)
        self.entry_stop = entry_stop
        self.progress = progress
        self._timer = read_timer or contextlib.nullcontext
        self.files: list[dict[str, Any]] = []
        self.n_events = 0

    @property
    def paths(self) -> tuple[Path, ...]:
        """The resolved event files (empty for events in memory)."""
        return () if self.inputs is None else self.inputs.paths

    def with_offsets(self) -> Iterator[tuple[int, ak.Array]]:
        """Each chunk with the position of its first event in the whole stream."""
        for chunk in self:
            yield self.n_events - len(chunk), chunk

    def __iter__(self) -> Iterator[ak.Array]:
        if self._memory is not None:
            yield from self._from_memory(self._memory)
            return
        if not self.progress:
            yield from self._from_files(None)
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("file {task.completed}/{task.total}, {task.fields[events]} events"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("reading", total=len(self.paths), events=0)

            def advance(events: int, file_done: bool) -> None:
                bar.update(task, advance=int(file_done), events=events)

            yield from self._from_files(advance)

    def _from_memory(self, events: ak.Array) -> Iterator[ak.Array]:
        stop = len(events) if self.entry_stop is None else min(len(events), self.entry_stop)
        for start in range(0, stop, self.step_size):
            chunk = events[start : min(start + self.step_size, stop)]
            self.n_events += len(chunk)
            yield chunk
        self.files.append(
            {
                "path": "<memory>",
                "sha256": None,
                "format": "awkward",
                "n_events": stop,
                "sum_weights": float(ak.sum(events.weight[:stop])),
            }
        )

    def _from_files(self, advance: Callable[[int, bool], None] | None) -> Iterator[ak.Array]:
        from surrotag.io import iter_events, sha256_file, sniff_format

        for path in self.paths:
            if self.entry_stop is not None and self.n_events >= self.entry_stop:
                return
            record = {"path": str(path), "sha256": sha256_file(path), "format": sniff_format(path)}
            remaining = None if self.entry_stop is None else self.entry_stop - self.n_events
            chunks = iter_events(
                path,
                level=self.level,
                collections=self.collections,
                entry_stop=remaining,
                step_size=self.step_size,
            )
            n, total = 0, 0.0
            weighted = True
            while True:
                with self._timer():
                    chunk = next(chunks, None)
                if chunk is None:
                    break
                n += len(chunk)
                weighted = weighted and "weight" in chunk.fields
                total += float(ak.sum(chunk.weight)) if weighted else 0.0
                self.n_events += len(chunk)
                if advance is not None:
                    advance(self.n_events, False)
                yield chunk
            self.files.append({**record, "n_events": n, "sum_weights": total if weighted else None})
            if advance is not None:
                advance(self.n_events, True)
