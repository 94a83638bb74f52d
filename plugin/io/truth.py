"""The canonical truth record (``particles``): mother/daughter indices, vectorised.

Indices are 0-based positions in the same event's list, -1 for none. LHE files store
1-based mothers and no daughters (arXiv:hep-ph/0609017); the daughters are derived here
from the mothers on the flat arrays of a whole chunk (no Python loop over events or
particles; linear in the number of particles for the usual mother ranges).
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np

from surrotag.errors import CorruptFileError

__all__ = ["check_indices", "daughters_from_mothers", "make_particles"]


def _cover(
    low: np.ndarray, high: np.ndarray, values: np.ndarray, size: int, reduce: np.ufunc, fill: int
) -> np.ndarray:
    """``out[j] = reduce(values[c] for the intervals c with low[c] <= j <= high[c])``.

    Each interval ``[low, high]`` is covered by two (overlapping) blocks of length
    ``2**k``, ``k = floor(log2(high - low + 1))``, written into a table per ``k``; the
    tables are then pushed down level by level (a block of ``2**k`` is its two halves of
    ``2**(k-1)``). ``reduce`` must be idempotent (min or max), so overlaps do not matter.
    Time and memory are O(size) per level, O(size log L) in all for intervals of length
    at most L, and no Python loop runs over particles.

    Args:
        low, high: interval bounds, indices into ``out`` with ``low <= high``.
        values: the value each interval contributes.
        size: length of ``out``.
        reduce: ``np.minimum`` or ``np.maximum``.
        fill: the value where no interval covers ``j``.
    """
    out = np.full(size, fill, dtype=np.int64)
    if low.size == 0:
        return out
    level = np.frexp((high - low + 1).astype(np.float64))[1].astype(np.int64) - 1
    above: np.ndarray | None = None  # the table of level k + 1
    for k in range(int(level.max()), -1, -1):
        table = out if k == 0 else np.full(size, fill, dtype=np.int64)
        chosen = level == k
        reduce.at(table, low[chosen], values[chosen])
        reduce.at(table, high[chosen] - (1 << k) + 1, values[chosen])
        if above is not None:  # a block p of 2**(k+1) is the blocks p and p + 2**k
            half = 1 << k
            reduce(table, above, out=table)
            reduce(table[half:], above[: size - half], out=table[half:])
        above = table
    return out


def daughters_from_mothers(mother1: ak.Array, mother2: ak.Array) -> tuple[ak.Array, ak.Array]:
    """Derive first and last daughter indices from 0-based mother indices.

    Particle ``i`` is a daughter of ``j`` when ``j`` lies in its mother range
    ``[mother1, mother2]`` (LHE convention: ``mother2 == -1`` or ``mother2 < mother1``
    means the single mother ``mother1``). ``daughter1``/``daughter2`` are the smallest and
    largest such ``i`` (-1 when none); like Delphes' D1/D2 they bound the daughters, which
    in LHE are usually but not always contiguous: follow the mothers for the exact set.
    Mother indices outside the event are ignored here (:func:`check_indices` reports them).

    The whole chunk is handled at once on flat arrays: O(n log L) time and memory for n
    particles whose mother ranges span at most L particles (O(n) for the usual ranges of
    one or two mothers), so an event of 12,000 particles costs a few hundred kB, not the
    n x n pairs (~1 GiB) of a pairwise comparison.

    Args:
        mother1: var * int, 0-based, -1 for none.
        mother2: var * int, 0-based, -1 for none.

    Returns:
        ``(daughter1, daughter2)``, var * int32 each.
    """
    counts = ak.to_numpy(ak.num(mother1, axis=1)).astype(np.int64)
    first1 = ak.to_numpy(ak.flatten(mother1, axis=None)).astype(np.int64)
    first2 = ak.to_numpy(ak.flatten(mother2, axis=None)).astype(np.int64)
    size = first1.size
    starts = np.repeat(np.cumsum(counts) - counts, counts)  # event offset of each particle
    low = first1
    high = np.minimum(
        np.where(first2 >= 0, np.maximum(first1, first2), first1), np.repeat(counts, counts) - 1
    )
    child = np.flatnonzero((low >= 0) & (low <= high))
    local = child - starts[child]  # the daughter's index in its event
    low, high = low[child] + starts[child], high[child] + starts[child]
    big = np.iinfo(np.int64).max
    first = _cover(low, high, local, size, np.minimum, big)
    last = _cover(low, high, local, size, np.maximum, -1)
    first[first == big] = -1
    return (
        ak.unflatten(first.astype(np.int32), counts),
        ak.unflatten(last.astype(np.int32), counts),
    )


def check_indices(path: Path, particles: ak.Array, fields: tuple[str, ...]) -> None:
    """Raise :class:`CorruptFileError` if an index points outside its event's list."""
    size = ak.num(particles, axis=1)
    for name in fields:
        values = particles[name]
        bad = ak.any((values < -1) | (values >= size), axis=1)
        if ak.any(bad):
            event = int(np.flatnonzero(ak.to_numpy(bad))[0])
            raise CorruptFileError(
                f"{path}: particle {name} index out of range in event {event} of the chunk; "
                "the truth record is damaged"
            )


def make_particles(
    path: Path,
    *,
    px: ak.Array,
    py: ak.Array,
    pz: ak.Array,
    energy: ak.Array,
    pid: ak.Array,
    status: ak.Array,
    mother1: ak.Array,
    mother2: ak.Array,
    daughter1: ak.Array | None = None,
    daughter2: ak.Array | None = None,
) -> ak.Array:
    """Zip a canonical ``particles`` collection (Momentum4D records) and check its indices.

    Indices must already be 0-based (-1 for none); daughters are derived from the mothers
    when not given.
    """
    mother1 = ak.values_astype(mother1, np.int32)
    mother2 = ak.values_astype(mother2, np.int32)
    if daughter1 is None or daughter2 is None:
        daughter1, daughter2 = daughters_from_mothers(mother1, mother2)
    particles = ak.zip(
        {
            "px": px,
            "py": py,
            "pz": pz,
            "E": energy,
            "pid": ak.values_astype(pid, np.int32),
            "status": ak.values_astype(status, np.int32),
            "mother1": mother1,
            "mother2": mother2,
            "daughter1": ak.values_astype(daughter1, np.int32),
            "daughter2": ak.values_astype(daughter2, np.int32),
        },
        with_name="Momentum4D",
    )
    check_indices(path, particles, ("mother1", "mother2", "daughter1", "daughter2"))
    return particles
