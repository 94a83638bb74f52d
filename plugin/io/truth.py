"""The canonical truth record (``particles``): mother/daughter indices, vectorised.

Indices are 0-based positions in the same event's list, -1 for none. LHE files store
1-based mothers and no daughters (arXiv:hep-ph/0609017); the daughters are derived here
from the mothers with a per-event pairwise comparison (no Python loop over events).
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np

from surrotag.errors import CorruptFileError

__all__ = ["check_indices", "daughters_from_mothers", "make_particles"]


def daughters_from_mothers(mother1: ak.Array, mother2: ak.Array) -> tuple[ak.Array, ak.Array]:
    """Derive first and last daughter indices from 0-based mother indices.

    Particle ``i`` is a daughter of ``j`` when ``j`` lies in its mother range
    ``[mother1, mother2]`` (LHE convention: ``mother2 == -1`` means the single mother
    ``mother1``). ``daughter1``/``daughter2`` are the smallest and largest such ``i``
    (-1 when none); like Delphes' D1/D2 they bound the daughters, which in LHE are
    usually but not always contiguous: follow the mothers for the exact set.

    Args:
        mother1: var * int, 0-based, -1 for none.
        mother2: var * int, 0-based, -1 for none.

    Returns:
        ``(daughter1, daughter2)``, var * int32 each.
    """
    low = mother1
    high = ak.where(mother2 >= 0, np.maximum(mother1, mother2), mother1)
    index = ak.local_index(mother1, axis=1)
    children = ak.zip({"i": index, "low": low, "high": high})
    pairs = ak.cartesian({"j": index, "child": children}, axis=1, nested=True)
    j = pairs.j
    child = pairs.child
    is_daughter = (child.low >= 0) & (child.low <= j) & (j <= child.high)
    big = np.iinfo(np.int64).max
    first = ak.min(ak.where(is_daughter, child.i, big), axis=2)
    last = ak.max(ak.where(is_daughter, child.i, -1), axis=2)
    first = ak.fill_none(first, -1)
    first = ak.where(first == big, -1, first)
    last = ak.fill_none(last, -1)
    return ak.values_astype(first, np.int32), ak.values_astype(last, np.int32)


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
