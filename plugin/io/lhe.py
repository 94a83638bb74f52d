"""Les Houches Event files (``.lhe``, ``.lhe.gz``) to canonical events, via pylhe >= 2.

LHE (arXiv:hep-ph/0609017; v3 weights arXiv:1405.1067) is XML text, so the events are
parsed one by one by pylhe (``pylhe.LHEFile.fromfile``); the parsed values of a chunk are
gathered into flat columns and turned into awkward arrays in one go.

Fields: ``weight`` is the nominal event weight ``XWGTUP``; when events carry LHEF v3
named weights (``<rwgt><wgt id=...>`` or ``<weights>`` with ``<initrwgt>``) they are kept
in a record field ``weights`` with one float64 field per weight id (NaN where an event
lacks one). ``particles`` holds the ``HEPEUP`` record with LHE's 1-based mothers shifted
to 0-based and daughters derived from them.

pylhe turns an XML parse error (a truncated file) into a ``RuntimeWarning`` and stops
early; here that warning is an error, so a truncated file raises
:class:`CorruptFileError` instead of giving a silently short result.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import awkward as ak
import numpy as np

from surrotag.errors import CorruptFileError, EmptyInputError, FormatError
from surrotag.io.decoding import decoding_errors
from surrotag.io.truth import make_particles

__all__ = ["LHE_COLLECTIONS", "iter_lhe", "lhe_cross_section"]

#: The canonical collections an LHE file can fill (``weights`` comes with ``weight``).
LHE_COLLECTIONS: Final = ("weight", "particles")


@contextmanager
def _decoding(path: Path, doing: str) -> Iterator[None]:
    """Turn pylhe's parse warnings and every decoding exception into CorruptFileError."""
    with warnings.catch_warnings(), decoding_errors(path, "LHE", doing):
        warnings.filterwarnings("error", message="Parse Error", category=RuntimeWarning)
        yield


def _open(path: Path) -> Any:
    import pylhe

    with _decoding(path, "reading the <init> block"):
        return pylhe.LHEFile.fromfile(path, with_attributes=True, generator=True)


def lhe_cross_section(path: str | Path) -> tuple[float, float] | None:
    """Return the total cross-section and its error (pb) from an LHE ``<init>`` block.

    The total is the sum of ``XSECUP`` over the processes, the error their ``XERRUP``
    added in quadrature (LHE standard: pb, arXiv:hep-ph/0609017).

    Args:
        path: an ``.lhe`` or ``.lhe.gz`` file.

    Returns:
        ``(sigma_pb, error_pb)``, or None if the block lists no process.
    """
    from surrotag.io.sniff import existing_file

    path = existing_file(path)
    lhef = _open(path)
    lhef.events.close()
    processes = lhef.init.procInfo
    if not processes:
        return None
    sigma = math.fsum(process.xSection for process in processes)
    error = math.sqrt(math.fsum(process.error**2 for process in processes))
    if not math.isfinite(sigma):
        raise CorruptFileError(f"{path}: non-finite cross-section in the <init> block")
    return sigma, error


def _chunk_to_arrays(
    path: Path,
    infos: list[tuple[int, float]],
    rows: list[tuple[float, ...]],
    named: list[dict[str, float]],
    names: dict[str, None],
    collections: Sequence[str],
    first_event: int,
) -> dict[str, ak.Array]:
    counts = np.array([count for count, _ in infos], dtype=np.int64)
    out: dict[str, ak.Array] = {}
    if "weight" in collections:
        weight = np.array([value for _, value in infos], dtype=np.float64)
        if not np.all(np.isfinite(weight)):
            bad = first_event + int(np.flatnonzero(~np.isfinite(weight))[0])
            raise CorruptFileError(f"{path}: non-finite weight in event {bad}")
        out["weight"] = ak.Array(weight)
        if names:
            out["weights"] = ak.zip(
                {
                    name: np.array([event.get(name, np.nan) for event in named], np.float64)
                    for name in names
                }
            )
    if "particles" in collections:
        table = np.array(rows, dtype=np.float64).reshape(-1, 8)
        if not np.all(np.isfinite(table)):
            raise CorruptFileError(
                f"{path}: non-finite particle value in events from {first_event}"
            )

        def column(index: int, dtype: type) -> ak.Array:
            return ak.unflatten(table[:, index].astype(dtype), counts)

        # LHE mothers are 1-based, 0 for none: shift to 0-based, -1 for none.
        mother1 = column(2, np.int64) - 1
        mother2 = column(3, np.int64) - 1
        out["particles"] = make_particles(
            path,
            px=column(4, np.float64),
            py=column(5, np.float64),
            pz=column(6, np.float64),
            energy=column(7, np.float64),
            pid=column(0, np.int64),
            status=column(1, np.int64),
            mother1=mother1,
            mother2=mother2,
        )
    return out


def iter_lhe(
    path: Path,
    collections: Sequence[str],
    *,
    entry_stop: int | None,
    step_size: int,
) -> Iterator[dict[str, ak.Array]]:
    """Yield chunks of canonical ``weight`` (+ ``weights``) and ``particles`` from LHE.

    Args:
        path: ``.lhe`` or ``.lhe.gz`` (gzip recognised by content).
        collections: subset of :data:`LHE_COLLECTIONS`.
        entry_stop: read at most this many events.
        step_size: events per chunk.

    Yields:
        ``{field: array}`` per chunk.
    """
    unknown = [name for name in collections if name not in LHE_COLLECTIONS]
    if unknown:
        raise FormatError(
            f"{path}: LHE parton-level file has no {', '.join(unknown)}; it holds "
            f"{', '.join(LHE_COLLECTIONS)}"
        )
    lhef = _open(path)
    events = lhef.events
    names: dict[str, None] = {}  # weight ids in order of first appearance
    total = 0
    try:
        while entry_stop is None or total < entry_stop:
            size = step_size if entry_stop is None else min(step_size, entry_stop - total)
            infos: list[tuple[int, float]] = []
            rows: list[tuple[float, ...]] = []
            named: list[dict[str, float]] = []
            with _decoding(path, f"parsing the events from index {total}"):
                for event in events:
                    particles = event.particles
                    info = event.eventinfo
                    if info.nparticles != len(particles):
                        raise CorruptFileError(
                            f"{path}: event {total + len(infos)} declares {info.nparticles} "
                            f"particles but lists {len(particles)}; the file is damaged"
                        )
                    infos.append((len(particles), info.weight))
                    rows.extend(
                        (p.id, p.status, p.mother1, p.mother2, p.px, p.py, p.pz, p.e)
                        for p in particles
                    )
                    named.append(event.weights)
                    names.update(dict.fromkeys(event.weights))
                    if len(infos) == size:
                        break
            if not infos:
                break
            yield _chunk_to_arrays(path, infos, rows, named, names, collections, total)
            total += len(infos)
            if len(infos) < size:
                break
    finally:
        events.close()
    if total == 0 and entry_stop != 0:
        raise EmptyInputError(f"{path}: LHE file holds no <event>; no events to read")
