"""HepMC ASCII event files (HepMC3 ``Asciiv3`` and HepMC2 ``IO_GenEvent``) to canonical events.

HepMC (arXiv:1912.08005 for HepMC3) is the generator-level record that Pythia 8 and other
showers write, e.g. MadGraph's ``tag_1_pythia8_events.hepmc.gz``. The events are parsed by
pyhepmc (the HepMC3 C++ readers), one event at a time; each event is exported in one call
(``GenEvent.write_data``) as numpy arrays (particles, vertex links), and the mother and
daughter indices of a whole chunk are derived from the links with numpy, without a Python
loop over particles.

Fields: ``weight`` is the first event weight (1.0 when the event has none). ``particles``
holds every particle of the record (Momentum4D, GeV: MeV files are converted) with
``mother1`` the first incoming particle of its production vertex, ``mother2`` the last one
when the vertex has several (-1 otherwise), and ``daughter1``/``daughter2`` the smallest and
largest index of the outgoing particles of its end vertex (they bound the daughters; follow
the vertices for the exact set). All indices are 0-based positions in the event's list, -1
for none.

The readers of HepMC3 report a damaged event by stopping early; here a file that does not
end with its ``END_EVENT_LISTING`` line is a :class:`CorruptFileError`, so a truncated file
never gives a silently short result.
"""

from __future__ import annotations

import gzip
import io
import math
import re
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import awkward as ak
import numpy as np

from surrotag.errors import CorruptFileError, EmptyInputError, FormatError
from surrotag.io.decoding import decoding_errors
from surrotag.io.truth import make_particles

__all__ = [
    "HEPMC_COLLECTIONS",
    "HEPMC_LISTINGS",
    "hepmc_cross_section",
    "hepmc_version",
    "iter_hepmc",
]

#: The canonical collections a HepMC file can fill.
HEPMC_COLLECTIONS: Final = ("weight", "particles")

#: Listing header of each supported HepMC ASCII version (pyhepmc format name: header).
HEPMC_LISTINGS: Final = {
    "hepmc3": b"HepMC::Asciiv3-START_EVENT_LISTING",
    "hepmc2": b"HepMC::IO_GenEvent-START_EVENT_LISTING",
}

_GZIP_MAGIC: Final = b"\x1f\x8b"
#: How far into the (decompressed) text the listing header is looked for.
_HEAD_WINDOW: Final = 1 << 16
_LISTING: Final = re.compile(rb"HepMC::([A-Za-z0-9_]+)-START_EVENT_LISTING")
_END: Final = b"-END_EVENT_LISTING"
#: Bytes kept of the end of the stream to check for the end-of-listing line.
_TAIL: Final = 512
_BUFFER: Final = 1 << 20
#: Cross-section lines: HepMC3 ``A 0 GenCrossSection sigma error ...``, HepMC2 ``C sigma
#: error`` (pb in both).
_XSEC: Final = re.compile(rb"^(?:A\s+\d+\s+GenCrossSection|C)\s+(\S+)\s+(\S+)", re.MULTILINE)
#: momentum_unit value of pyhepmc's MEV (0) to GeV factor.
_MEV_TO_GEV: Final = 1e-3


def _open_binary(path: Path) -> io.BufferedIOBase:
    """Open ``path`` for reading, decompressing gzip recognised by its magic bytes."""
    with open(path, "rb") as stream:
        compressed = stream.read(2) == _GZIP_MAGIC
    if compressed:
        return gzip.open(path, "rb")
    return open(path, "rb", buffering=_BUFFER)


def _head(path: Path) -> bytes:
    try:
        with _open_binary(path) as stream:
            return stream.read(_HEAD_WINDOW)
    except (OSError, EOFError, zlib.error) as error:
        raise CorruptFileError(
            f"{path}: corrupt gzip stream ({error}); re-copy or re-compress the file"
        ) from error


def hepmc_version(path: Path, head: bytes | None = None) -> str | None:
    """Return ``"hepmc3"`` or ``"hepmc2"`` from a file's listing header, None if not HepMC.

    Args:
        path: the file (plain or gzip).
        head: its first (decompressed) bytes, if already read.

    Raises:
        FormatError: a HepMC listing of another version (HepMC1 ``IO_Ascii``, a future
            ``Asciiv4``...).
    """
    head = _head(path) if head is None else head
    match = _LISTING.search(head)
    if match is None:
        if b"HepMC::" in head:
            raise FormatError(
                f"{path}: HepMC text without a START_EVENT_LISTING line; surrotag reads "
                "HepMC3 Asciiv3 and HepMC2 IO_GenEvent files"
            )
        return None
    for version, header in HEPMC_LISTINGS.items():
        if match.group(0) == header:
            return version
    raise FormatError(
        f"{path}: unsupported HepMC listing '{match.group(1).decode(errors='replace')}'; "
        "surrotag reads HepMC3 (Asciiv3) and HepMC2 (IO_GenEvent); convert the file with "
        "HepMC3's convert_example or regenerate it"
    )


class _TailRecorder(io.BufferedIOBase):
    """A binary stream over another one that keeps the last bytes handed out.

    pyhepmc's stream adapter pulls small blocks with ``readinto1``; the bytes it has
    taken are exactly those the HepMC3 reader has seen (plus its own small buffer), so
    what :meth:`drain` finds afterwards tells whether the reader stopped at the end.
    """

    def __init__(self, stream: io.BufferedIOBase) -> None:
        super().__init__()
        self._stream = stream
        self.tail = b""

    def readable(self) -> bool:
        return True

    def _keep(self, block: bytes | memoryview) -> None:
        self.tail = (self.tail + bytes(block))[-_TAIL:]

    def readinto(self, buffer: Any) -> int:
        size = self._stream.readinto(buffer)
        if size:
            self._keep(memoryview(buffer)[:size])
        return size

    readinto1 = readinto

    def read(self, size: int | None = -1) -> bytes:
        block = self._stream.read(size)
        self._keep(block)
        return block

    read1 = read

    def drain(self) -> bytes:
        """Read what is left of the stream; return (the start of) it without blanks."""
        left = bytearray()
        while block := self._stream.read(_BUFFER):
            self._keep(block)
            if len(left) <= _TAIL:
                left += block
        return bytes(left).strip()

    def close(self) -> None:
        self._stream.close()
        super().close()


@contextmanager
def _decoding(path: Path, doing: str) -> Iterator[None]:
    """Silence HepMC3's own messages; every decoding exception becomes one error."""
    import pyhepmc

    errors, warnings = pyhepmc.Setup.print_errors, pyhepmc.Setup.print_warnings
    pyhepmc.Setup.print_errors = False
    pyhepmc.Setup.print_warnings = False
    try:
        with decoding_errors(path, "HepMC", doing):
            yield
    finally:
        pyhepmc.Setup.print_errors = errors
        pyhepmc.Setup.print_warnings = warnings


def hepmc_cross_section(path: str | Path) -> tuple[float, float] | None:
    """Return the cross-section and its error (pb) of the last event that records one.

    HepMC3 stores it as the ``GenCrossSection`` attribute (``A 0 GenCrossSection sigma
    error accepted attempted``), HepMC2 as the ``C sigma error`` line, both in pb; a
    generator updates its estimate with every event, so the last one is the best. The
    decompressed text is scanned in blocks with a regular expression, without parsing the
    events.

    Args:
        path: a HepMC3 or HepMC2 ASCII file, plain or gzip.

    Returns:
        ``(sigma_pb, error_pb)``, or None when no event records a cross-section.

    Raises:
        CorruptFileError: a damaged gzip stream or a non-finite cross-section.
    """
    from surrotag.io.sniff import existing_file

    path = existing_file(path)
    last: tuple[bytes, bytes] | None = None
    carry = b""
    try:
        with _open_binary(path) as stream:
            while True:
                block = stream.read(_BUFFER)
                text = carry + block
                cut = text.rfind(b"\n") + 1 if block else len(text)
                for match in _XSEC.finditer(text, 0, cut):
                    last = (match.group(1), match.group(2))
                carry = text[cut:]
                if not block:
                    break
    except (OSError, EOFError, zlib.error) as error:
        raise CorruptFileError(
            f"{path}: corrupt gzip stream ({error}); re-copy or re-compress the file"
        ) from error
    if last is None:
        return None
    try:
        sigma, error = float(last[0]), float(last[1])
    except ValueError as err:
        raise CorruptFileError(f"{path}: unreadable cross-section {last!r}") from err
    if not math.isfinite(sigma) or not math.isfinite(error):
        raise CorruptFileError(f"{path}: non-finite cross-section ({sigma} +- {error} pb)")
    return sigma, error


def _links_to_indices(
    n_particles: np.ndarray,
    n_vertices: np.ndarray,
    n_links: np.ndarray,
    links1: np.ndarray,
    links2: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mother and daughter indices (flat, 0-based within each event) of a chunk.

    HepMC's ``GenEventData`` links: ``links1 > 0`` is particle id ``links1`` entering vertex
    ``-links2``; ``links1 < 0`` is vertex ``-links1`` emitting particle ``links2`` (ids are
    1-based within an event).
    """
    total = int(n_particles.sum())
    total_vertices = int(n_vertices.sum())
    p_offset = np.cumsum(n_particles) - n_particles
    v_offset = np.cumsum(n_vertices) - n_vertices
    event = np.repeat(np.arange(len(n_links)), n_links)
    incoming = (links1 > 0) & (links2 < 0)
    outgoing = (links1 < 0) & (links2 > 0)
    in_particle = p_offset[event[incoming]] + links1[incoming] - 1
    in_vertex = v_offset[event[incoming]] - links2[incoming] - 1
    out_vertex = v_offset[event[outgoing]] - links1[outgoing] - 1
    out_particle = p_offset[event[outgoing]] + links2[outgoing] - 1

    # per-vertex tables with one spare slot (index total_vertices) for "no vertex"
    slots = total_vertices + 1
    first_parent = np.full(slots, -1, np.int64)
    last_parent = np.full(slots, -1, np.int64)
    vertices, first = np.unique(in_vertex, return_index=True)
    first_parent[vertices] = in_particle[first]
    vertices, last = np.unique(in_vertex[::-1], return_index=True)
    last_parent[vertices] = in_particle[::-1][last]
    n_parents = np.bincount(in_vertex, minlength=slots)
    first_child = np.full(slots, -1, np.int64)
    last_child = np.full(slots, -1, np.int64)
    if len(out_vertex):
        first_child[:] = np.iinfo(np.int64).max
        np.minimum.at(first_child, out_vertex, out_particle)
        first_child[first_child == np.iinfo(np.int64).max] = -1
        np.maximum.at(last_child, out_vertex, out_particle)

    production = np.full(total, total_vertices, np.int64)
    production[out_particle] = out_vertex
    end = np.full(total, total_vertices, np.int64)
    end[in_particle] = in_vertex

    own_offset = np.repeat(p_offset, n_particles)
    mother1 = first_parent[production]
    mother2 = np.where(n_parents[production] > 1, last_parent[production], -1)
    daughter1 = first_child[end]
    daughter2 = last_child[end]

    def local(index: np.ndarray) -> np.ndarray:
        return np.where(index >= 0, index - own_offset, -1)

    return local(mother1), local(mother2), local(daughter1), local(daughter2)


def _chunk_to_arrays(
    path: Path,
    data: list[tuple[np.ndarray, np.ndarray, np.ndarray, int, float, float]],
    collections: Sequence[str],
    first_event: int,
) -> dict[str, ak.Array]:
    """Turn the per-event arrays of a chunk into canonical fields."""
    particles = np.concatenate([item[0] for item in data])
    n_particles = np.array([len(item[0]) for item in data], np.int64)
    weight = np.array([item[4] for item in data], np.float64)
    if not np.all(np.isfinite(weight)):
        bad = first_event + int(np.flatnonzero(~np.isfinite(weight))[0])
        raise CorruptFileError(f"{path}: non-finite weight in event {bad}")
    final = np.add.reduceat((particles["status"] == 1).astype(np.int64), _starts(n_particles))
    final = np.where(n_particles > 0, final, 0)
    if np.any(final == 0):
        bad = first_event + int(np.flatnonzero(final == 0)[0])
        raise FormatError(
            f"{path}: event {bad} has no final-state (status 1) particle; surrotag needs a "
            "generator-level HepMC record with final states"
        )
    out: dict[str, ak.Array] = {}
    if "weight" in collections:
        out["weight"] = ak.Array(weight)
    if "particles" in collections:
        n_vertices = np.array([item[3] for item in data], np.int64)
        n_links = np.array([len(item[1]) for item in data], np.int64)
        links1 = np.concatenate([item[1] for item in data]).astype(np.int64)
        links2 = np.concatenate([item[2] for item in data]).astype(np.int64)
        mother1, mother2, daughter1, daughter2 = _links_to_indices(
            n_particles, n_vertices, n_links, links1, links2
        )
        scale = np.repeat(np.array([item[5] for item in data], np.float64), n_particles)
        momenta = {name: particles[name] * scale for name in ("px", "py", "pz", "e")}
        if not all(np.all(np.isfinite(values)) for values in momenta.values()):
            raise CorruptFileError(
                f"{path}: non-finite particle momentum in events from {first_event}"
            )

        def jagged(values: np.ndarray) -> ak.Array:
            return ak.unflatten(values, n_particles)

        out["particles"] = make_particles(
            path,
            px=jagged(momenta["px"]),
            py=jagged(momenta["py"]),
            pz=jagged(momenta["pz"]),
            energy=jagged(momenta["e"]),
            pid=jagged(particles["pid"]),
            status=jagged(particles["status"]),
            mother1=jagged(mother1),
            mother2=jagged(mother2),
            daughter1=jagged(daughter1),
            daughter2=jagged(daughter2),
        )
    return out


def _starts(counts: np.ndarray) -> np.ndarray:
    """Start offsets for ``np.add.reduceat`` (clipped so that empty events stay valid)."""
    starts = np.cumsum(counts) - counts
    return np.minimum(starts, max(int(counts.sum()) - 1, 0))


def iter_hepmc(
    path: Path,
    collections: Sequence[str],
    *,
    entry_stop: int | None,
    step_size: int,
) -> Iterator[dict[str, ak.Array]]:
    """Yield chunks of canonical ``weight`` and ``particles`` from a HepMC ASCII file.

    Args:
        path: HepMC3 or HepMC2 ASCII, plain or gzip (recognised by content).
        collections: subset of :data:`HEPMC_COLLECTIONS`.
        entry_stop: read at most this many events.
        step_size: events per chunk.

    Yields:
        ``{field: array}`` per chunk.

    Raises:
        FormatError: not HepMC, an unsupported version, a collection HepMC lacks, or an event
            without final-state particles.
        CorruptFileError: a truncated or damaged file.
        EmptyInputError: a listing without events.
    """
    import pyhepmc

    unknown = [name for name in collections if name not in HEPMC_COLLECTIONS]
    if unknown:
        raise FormatError(
            f"{path}: HepMC generator-level file has no {', '.join(unknown)}; it holds "
            f"{', '.join(HEPMC_COLLECTIONS)}"
        )
    version = hepmc_version(path)
    if version is None:
        raise FormatError(f"{path}: not a HepMC file (no HepMC::...START_EVENT_LISTING line)")
    stream = _TailRecorder(_open_binary(path))
    mev = pyhepmc.Units.MEV
    total = 0
    finished = False
    reader = None
    try:
        with _decoding(path, "opening it"):
            reader = pyhepmc.open(stream, format=version)
        while entry_stop is None or total < entry_stop:
            size = step_size if entry_stop is None else min(step_size, entry_stop - total)
            data: list[tuple[np.ndarray, np.ndarray, np.ndarray, int, float, float]] = []
            with _decoding(path, f"parsing the events from index {total}"):
                while len(data) < size:
                    event = reader.read()
                    if event is None:
                        finished = True
                        break
                    record = pyhepmc.GenEventData()
                    event.write_data(record)
                    weights = record.weights
                    data.append(
                        (
                            record.particles,
                            record.links1,
                            record.links2,
                            len(record.vertices),
                            float(weights[0]) if len(weights) else 1.0,
                            _MEV_TO_GEV if record.momentum_unit == mev else 1.0,
                        )
                    )
            if data:
                yield _chunk_to_arrays(path, data, collections, total)
                total += len(data)
            if finished:
                break
        if finished:
            with _decoding(path, "reading its end"):
                left = stream.drain()
            stopped_early = bool(left) and (b"\n" in left or not left.endswith(_END))
            if _END not in stream.tail or stopped_early:
                raise CorruptFileError(
                    f"{path}: truncated or damaged HepMC file: reading stopped after {total} "
                    "events, before the END_EVENT_LISTING line; re-copy or regenerate it"
                )
    finally:
        if reader is not None:
            reader.close()
        stream.close()
    if total == 0 and entry_stop != 0:
        raise EmptyInputError(f"{path}: HepMC file holds no events; no events to read")
