"""MadGraph ExRootAnalysis parton-level ROOT files (tree ``LHEF``) to canonical events.

ExRootAnalysis converts an LHE file into a tree with ``Particle.PID/Status/Mother1/Mother2/
Px/Py/Pz/E/M`` and ``Event.Weight``. Its versions disagree on the mother indices: the old
``ExRootLHEFConverter`` copies LHE's 1-based ``MOTHUP`` (0 for none), the newer
``ExRootLHEFReader`` (shipped with MadGraph 5) stores ``MOTHUP - 1`` (0-based, -1 for none;
the file in ``shared/data`` is of this kind). Every LHE event has incoming particles
without mothers, so the convention is recognised per event: a minimum ``Mother1`` of -1
means 0-based, of 0 means 1-based (then shifted). Daughters are not stored; they are
derived from the mothers (:func:`surrotag.io.truth.daughters_from_mothers`, vectorised).
The tree carries no ``<init>`` block, hence no cross-section.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import awkward as ak

from surrotag.errors import FormatError
from surrotag.io.rootfile import RootTree, event_weight, unit_weight_chunks
from surrotag.io.truth import make_particles

__all__ = ["EXROOT_COLLECTIONS", "iter_exroot", "zero_based_mothers"]

log = logging.getLogger(__name__)

TREE: Final = "LHEF"

#: The canonical collections an ExRootAnalysis file can fill.
EXROOT_COLLECTIONS: Final = ("weight", "particles")

_PARTICLE_LEAVES: Final = ("PID", "Status", "Mother1", "Mother2", "Px", "Py", "Pz", "E")


def zero_based_mothers(mother1: ak.Array, mother2: ak.Array) -> tuple[ak.Array, ak.Array]:
    """Return 0-based mothers (-1 for none) from either ExRootAnalysis convention.

    Args:
        mother1: var * int, as stored.
        mother2: var * int, as stored.

    Returns:
        ``(mother1, mother2)`` 0-based, -1 for none.
    """
    one_based = ak.fill_none(ak.min(mother1, axis=1), -1) >= 0
    shift = ak.where(one_based, 1, 0)
    first = mother1 - shift
    second = mother2 - shift
    return ak.where(first < 0, -1, first), ak.where(second < 0, -1, second)


def iter_exroot(
    path: Path,
    collections: Sequence[str],
    *,
    entry_stop: int | None,
    step_size: int,
) -> Iterator[dict[str, ak.Array]]:
    """Yield chunks of canonical ``weight``/``particles`` from an ExRootAnalysis file.

    Args:
        path: the ROOT file.
        collections: subset of :data:`EXROOT_COLLECTIONS`.
        entry_stop: read at most this many entries.
        step_size: entries per chunk.

    Yields:
        ``{collection: array}`` per chunk.
    """
    unknown = [name for name in collections if name not in EXROOT_COLLECTIONS]
    if unknown:
        raise FormatError(
            f"{path}: ExRootAnalysis parton-level file has no {', '.join(unknown)}; "
            f"it holds {', '.join(EXROOT_COLLECTIONS)}"
        )
    tree = RootTree(path, TREE, "exroot")
    try:
        branches: list[str] = []
        if "particles" in collections:
            tree.require("Particle", "particles")
            for leaf in _PARTICLE_LEAVES:
                tree.require(f"Particle.{leaf}", "particles")
            branches += [f"Particle.{leaf}" for leaf in _PARTICLE_LEAVES]
        has_weight = tree.has("Event.Weight")
        if "weight" in collections and has_weight:
            branches.append("Event.Weight")
        if "weight" in collections and not branches:
            yield from unit_weight_chunks(tree.num_entries, entry_stop, step_size)
            return
        log.debug("%s: reading branches %s", path, branches)
        for chunk in tree.iterate(branches, entry_stop=entry_stop, step_size=step_size):
            out: dict[str, ak.Array] = {}
            if "weight" in collections:
                out["weight"] = event_weight(chunk)
            if "particles" in collections:
                mother1, mother2 = zero_based_mothers(
                    chunk["Particle.Mother1"], chunk["Particle.Mother2"]
                )
                out["particles"] = make_particles(
                    path,
                    px=chunk["Particle.Px"],
                    py=chunk["Particle.Py"],
                    pz=chunk["Particle.Pz"],
                    energy=chunk["Particle.E"],
                    pid=chunk["Particle.PID"],
                    status=chunk["Particle.Status"],
                    mother1=mother1,
                    mother2=mother2,
                )
            yield out
    finally:
        tree.close()
