"""Les Houches Event files (``.lhe``, ``.lhe.gz``) to canonical events, via pylhe >= 1.0.1.

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

import functools
import gzip
import math
import re
import warnings
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, NamedTuple

import awkward as ak
import numpy as np

from surrotag.errors import CorruptFileError, EmptyInputError, FormatError
from surrotag.io.decoding import decoding_errors
from surrotag.io.truth import make_particles

__all__ = [
    "LHE_COLLECTIONS",
    "LHECrossSection",
    "iter_lhe",
    "lhe_cross_section",
    "lhe_cross_section_info",
]

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


class LHECrossSection(NamedTuple):
    """The cross-section an LHE file carries, and which of its numbers gave it.

    Attributes:
        value_pb: sigma in pb.
        error_pb: its uncertainty in pb (0 when unknown).
        source: ``lhe-init`` (the ``<init>`` block's XSECUP) or ``lhe-weights`` (the mean
            event weight XWGTUP).
        warning: one line when the ``<init>`` block and the event weights disagree (it
            says which was used), else None.
    """

    value_pb: float
    error_pb: float
    source: str
    warning: str | None = None


class _Weights(NamedTuple):
    """Summary of the XWGTUP of every event of a file."""

    n: int
    total: float
    mean: float
    std_error: float  # of the mean
    unit: bool  # every |XWGTUP| is 1 (the LHA's unweighted events)


#: The event header line after ``<event ...>``: NUP IDPRUP XWGTUP (arXiv:hep-ph/0609017).
_EVENT_WEIGHT: Final = re.compile(rb"<event\b[^>]*>\s*\S+\s+\S+\s+(\S+)")
_GZIP_MAGIC: Final = b"\x1f\x8b"
_BLOCK: Final = 1 << 22
#: Relative difference below which two printed cross-sections are the same number.
XSEC_RTOL: Final = 1e-3
#: Standard errors of the mean weight within which it agrees with XSECUP.
_N_SIGMA: Final = 5.0


def _event_weights(path: Path) -> _Weights:
    """XWGTUP of every event, found with a regular expression in (decompressed) blocks.

    The events are not parsed (pylhe would take minutes for a large file); a damaged
    gzip stream or an unreadable weight raises :class:`CorruptFileError`.
    """
    found: list[np.ndarray] = []
    carry = b""
    try:
        with open(path, "rb") as head:
            compressed = head.read(2) == _GZIP_MAGIC
        with gzip.open(path, "rb") if compressed else open(path, "rb") as stream:
            while True:
                block = stream.read(_BLOCK)
                text = carry + block
                cut = len(text)
                if block:  # the last event's header may continue in the next block
                    last = text.rfind(b"<event")
                    cut = last if last >= 0 else max(len(text) - len(b"<event"), 0)
                words = [m.group(1) for m in _EVENT_WEIGHT.finditer(text, 0, cut)]
                if words:
                    numbers = b" ".join(words).replace(b"D", b"E").replace(b"d", b"e")
                    found.append(np.array(numbers.split(), dtype=np.float64))
                carry = text[cut:]
                if not block:
                    break
    except (OSError, EOFError, zlib.error) as error:
        raise CorruptFileError(
            f"{path}: corrupt gzip stream ({error}); re-copy or re-compress the file"
        ) from error
    except ValueError as error:
        raise CorruptFileError(
            f"{path}: unreadable event weight XWGTUP ({error}); the file is damaged"
        ) from error
    weights = np.concatenate(found) if found else np.zeros(0)
    if not np.all(np.isfinite(weights)):
        raise CorruptFileError(f"{path}: non-finite event weight XWGTUP")
    n = weights.size
    mean = float(weights.mean()) if n else 0.0
    spread = float(weights.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    unit = bool(n) and bool(np.all(np.abs(np.abs(weights) - 1.0) <= 1e-6))
    return _Weights(n, math.fsum(weights), mean, spread, unit)


def _agree(a: float, b: float, tolerance: float = 0.0) -> bool:
    return abs(a - b) <= XSEC_RTOL * max(abs(a), abs(b)) + tolerance


@functools.lru_cache(maxsize=64)
def _cross_section(path: Path, _size: int, _mtime: int) -> LHECrossSection | None:
    lhef = _open(path)
    lhef.events.close()
    processes = lhef.init.procInfo
    idwtup = int(lhef.init.initInfo.weightingStrategy)
    init = None
    if processes:
        sigma = math.fsum(process.xSection for process in processes)
        error = math.sqrt(math.fsum(process.error**2 for process in processes))
        if not math.isfinite(sigma) or not math.isfinite(error):
            raise CorruptFileError(f"{path}: non-finite cross-section in the <init> block")
        init = LHECrossSection(sigma, error, "lhe-init")
    weights = _event_weights(path)
    if weights.n == 0 or weights.unit:
        return init  # no weights to compare, or the LHA's unit weights: XSECUP decides
    mean = LHECrossSection(weights.mean, weights.std_error, "lhe-weights")
    if init is None:
        return mean
    if _agree(weights.mean, init.value_pb, _N_SIGMA * weights.std_error) or _agree(
        weights.total, init.value_pb, _N_SIGMA * weights.std_error * weights.n
    ):
        return init  # weights normalised to the average or to the sum: both agree
    said = (
        f"{path}: the <init> block gives XSECUP = {init.value_pb:.6g} pb, the {weights.n} "
        f"event weights average {weights.mean:.6g} pb (IDWTUP = {idwtup})"
    )
    if abs(idwtup) == 2:
        return init._replace(
            warning=f"{said}; used XSECUP, as IDWTUP = +-2 makes the weights relative only "
            "(give --xsec-pb if it is a placeholder)"
        )
    return mean._replace(
        warning=f"{said}; used the mean weight, the Les Houches convention for weighted "
        "events (give --xsec-pb if that is wrong)"
    )


def lhe_cross_section_info(path: str | Path) -> LHECrossSection | None:
    """The cross-section (pb) of an LHE file, from its ``<init>`` block or its event weights.

    The ``<init>`` total is the sum of ``XSECUP`` over the processes, its error their
    ``XERRUP`` added in quadrature (pb, arXiv:hep-ph/0609017). It is checked against the
    event weights ``XWGTUP`` (the whole file is scanned, without parsing the events):

    * unit weights (every ``|XWGTUP| = 1``, the LHA's unweighted events), or a mean weight
      (MadGraph's ``event_norm = average``, Sherpa) or a sum of weights (``event_norm =
      sum``) equal to XSECUP within 0.1 % plus 5 standard errors: XSECUP is used
      (``lhe-init``);
    * otherwise the weights carry another cross-section than XSECUP, e.g. the placeholder
      ``XSECUP = 1`` that some generators (Sherpa-style output) write while every event
      weighs 675.65 pb. A physicist reads the weights then: the mean weight is the
      cross-section of weighted events in the Les Houches conventions (IDWTUP = +-1, +-4,
      hep-ph/0109068), and it is used (``lhe-weights``, error = standard error of the
      mean), with a one-line warning that says so; only for IDWTUP = +-2, whose weights
      are relative within a process by definition, XSECUP is kept, with the warning;
    * an ``<init>`` block listing no process: the mean weight, unless the weights are unit
      weights (then None).

    Results are cached per file (path, size, modification time).

    Args:
        path: an ``.lhe`` or ``.lhe.gz`` file.

    Returns:
        :class:`LHECrossSection`, or None when the file carries no cross-section.

    Raises:
        CorruptFileError: a damaged file, a non-finite XSECUP or event weight.
    """
    from surrotag.io.sniff import existing_file

    path = existing_file(path)
    stat = path.stat()
    return _cross_section(path.resolve(), stat.st_size, stat.st_mtime_ns)


def lhe_cross_section(path: str | Path) -> tuple[float, float] | None:
    """Return the total cross-section and its error (pb) of an LHE file.

    The ``<init>`` block's ``XSECUP`` (summed over processes, ``XERRUP`` in quadrature),
    or the mean event weight when the weights contradict it: see
    :func:`lhe_cross_section_info`, which also says which was used.

    Args:
        path: an ``.lhe`` or ``.lhe.gz`` file.

    Returns:
        ``(sigma_pb, error_pb)``, or None if the file carries no cross-section.
    """
    found = lhe_cross_section_info(path)
    return None if found is None else (found.value_pb, found.error_pb)


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
