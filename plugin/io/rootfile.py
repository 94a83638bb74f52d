"""ROOT plumbing shared by the Delphes and ExRootAnalysis readers.

Opens a tree (the highest cycle: Delphes files often hold ``Delphes;1`` and ``Delphes;2``),
checks that the branches a request needs exist (naming the missing one), and iterates over
exactly those branches in chunks with :meth:`uproot.TTree.iterate`, so memory stays flat.
Every exception uproot raises on damaged bytes becomes a :class:`CorruptFileError` naming
the file, never a traceback and never a silently short result.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from surrotag.errors import (
    CorruptFileError,
    EmptyInputError,
    FormatError,
    MissingBranchError,
    SurrotagError,
)
from surrotag.io.sniff import check_root_length

__all__ = ["RootTree", "corrupt", "event_weight", "unit_weight_chunks"]


def event_weight(chunk: ak.Array) -> ak.Array:
    """The generator weight per event (float64) from ``Event.Weight``; 1.0 where absent."""
    if "Event.Weight" not in chunk.fields:
        return ak.Array(np.ones(len(chunk), dtype=np.float64))
    first = ak.firsts(chunk["Event.Weight"], axis=1)
    return ak.values_astype(ak.fill_none(first, 1.0), np.float64)


def unit_weight_chunks(
    num_entries: int, entry_stop: int | None, step_size: int
) -> Iterator[dict[str, ak.Array]]:
    """``{"weight": ones}`` chunks, for a tree from which only absent weights were asked."""
    stop = num_entries if entry_stop is None else min(entry_stop, num_entries)
    for start in range(0, stop, step_size):
        yield {"weight": ak.Array(np.ones(min(step_size, stop - start), dtype=np.float64))}


def corrupt(path: Path, doing: str, error: BaseException) -> CorruptFileError:
    """Return the :class:`CorruptFileError` for an exception raised while ``doing``."""
    return CorruptFileError(
        f"{path}: corrupt or truncated file while {doing} ({type(error).__name__}: "
        f"{str(error).splitlines()[0] if str(error) else 'no detail'}); re-copy or regenerate it"
    )


class RootTree:
    """One TTree of one ROOT file, opened for chunked reading.

    Args:
        path: the ROOT file.
        tree_name: name of the tree without cycle; the highest cycle is used.
        fmt: format name for messages (``"delphes"``, ``"exroot"``).

    Raises:
        FormatError: the file has no such tree.
        EmptyInputError: the tree has 0 entries.
        CorruptFileError: the file is truncated or its metadata cannot be decoded.
    """

    def __init__(self, path: Path, tree_name: str, fmt: str) -> None:
        import uproot

        self.path = path
        self.tree_name = tree_name
        check_root_length(path)
        try:
            self._file = uproot.open(path)
        except Exception as error:
            raise corrupt(path, "opening it", error) from error
        try:
            names = {key.split(";")[0] for key in self._file.keys(recursive=False)}
            if tree_name not in names:
                raise FormatError(
                    f"{path}: no tree '{tree_name}' ({fmt} format); it holds "
                    f"{sorted(names) or 'nothing'}"
                )
            self.tree = self._file[tree_name]  # uproot picks the highest cycle
            if not isinstance(self.tree, uproot.TTree):
                raise FormatError(f"{path}: '{tree_name}' is a {self.tree.classname}, not a TTree")
            self.num_entries = int(self.tree.num_entries)
            self.branches = {branch.name for branch in self.tree.itervalues(recursive=True)}
        except SurrotagError:
            self.close()
            raise
        except Exception as error:
            self.close()
            raise corrupt(path, f"reading the header of tree '{tree_name}'", error) from error
        if self.num_entries == 0:
            self.close()
            raise EmptyInputError(f"{path}: tree '{tree_name}' has 0 entries; no events to read")

    def close(self) -> None:
        """Close the underlying file."""
        self._file.close()

    def has(self, branch: str) -> bool:
        """Whether the tree has a branch of this name (e.g. ``FatJet.PT``)."""
        return branch in self.branches

    def require(self, branch: str, collection: str, hint: str = "") -> None:
        """Raise :class:`MissingBranchError` if ``branch`` is absent."""
        if branch not in self.branches:
            raise MissingBranchError(
                f"{self.path}: tree '{self.tree_name}' has no branch '{branch}' needed for "
                f"{collection}; {hint or 'read another collection or a file that has it'}"
            )

    def iterate(
        self,
        branches: Collection[str],
        *,
        entry_start: int = 0,
        entry_stop: int | None = None,
        step_size: int = 100_000,
    ) -> Iterator[ak.Array]:
        """Yield chunks of exactly ``branches`` (records with the branch names as fields).

        Args:
            branches: branch names (``FatJet.PT``, ``FatJet.Tau[5]``); nothing else is read.
            entry_start: first entry.
            entry_stop: one past the last entry (None: the tree's end).
            step_size: entries per chunk.

        Yields:
            awkward records, one per entry, with one field per branch.
        """
        wanted = frozenset(branches)
        absent = sorted(wanted - self.branches)
        if absent:
            raise MissingBranchError(
                f"{self.path}: tree '{self.tree_name}' has no branch(es) {', '.join(absent)}"
            )
        stop = self.num_entries if entry_stop is None else min(entry_stop, self.num_entries)
        if not wanted or stop <= entry_start:
            return
        # Exact branch names as expressions (each is looked up as a branch first, so
        # "FatJet.Tau[5]" is not parsed as a subscript); faster than a filter_name callable,
        # which walks every branch of a Delphes tree (~400) per call.
        options: dict[str, Any] = {
            "expressions": sorted(wanted),
            "entry_start": entry_start,
            "entry_stop": stop,
            "step_size": step_size,
            "library": "ak",
        }
        expected = entry_start
        chunks = self.tree.iterate(**options)
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except SurrotagError:
                raise
            except Exception as error:
                raise corrupt(
                    self.path, f"reading entries from {expected} of tree '{self.tree_name}'", error
                ) from error
            if set(chunk.fields) != wanted:
                missing = sorted(wanted - set(chunk.fields))
                raise CorruptFileError(
                    f"{self.path}: uproot returned no data for {missing} of tree "
                    f"'{self.tree_name}'; the file is damaged"
                )
            expected += len(chunk)
            yield chunk
        if expected != stop:
            raise CorruptFileError(
                f"{self.path}: tree '{self.tree_name}' gave {expected - entry_start} entries, "
                f"expected {stop - entry_start}; the file is truncated or damaged"
            )
