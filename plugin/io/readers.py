"""One entry point for every event format: sniff, read in chunks, return canonical events.

:func:`iter_events` yields chunks of canonical events (schema in
:mod:`surrotag.io.canonical`) with ``vector`` ``Momentum4D`` behaviour; :func:`read_events`
concatenates them. The format is recognised from the file's content
(:func:`surrotag.io.sniff.sniff_format`), and only the branches of the requested
collections are read.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import awkward as ak

from surrotag.errors import (
    CorruptFileError,
    EmptyInputError,
    FormatError,
    MissingBranchError,
)
from surrotag.io.canonical import COLLECTIONS, check_finite, with_vector_behaviour
from surrotag.io.levels import InputLevel, input_level
from surrotag.io.sniff import existing_file, level_of, sniff_format

__all__ = ["PathLike", "cross_section", "iter_events", "read_events"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def _as_list(paths: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(paths, str | os.PathLike):
        return [Path(paths)]
    return [Path(path) for path in paths]


def _check_collections(collections: Sequence[str] | None) -> tuple[str, ...] | None:
    if collections is None:
        return None
    if isinstance(collections, str):
        collections = [collections]
    unknown = [name for name in collections if name not in COLLECTIONS]
    if unknown:
        raise FormatError(
            f"unknown collection(s) {', '.join(unknown)}; choose from {', '.join(COLLECTIONS)}"
        )
    return tuple(dict.fromkeys(collections))


def _iter_file(
    path: Path,
    fmt: str,
    file_level: str,
    level: InputLevel,
    collections: tuple[str, ...] | None,
    entry_stop: int | None,
    step_size: int,
) -> Iterator[dict[str, ak.Array]]:
    strict = collections is not None
    wanted = collections if collections is not None else level.collections
    if fmt not in level.formats or (level.name == "delphes" and file_level != "delphes"):
        raise FormatError(
            f"{path}: a {file_level}-level {fmt} file cannot be read at level "
            f"{level.name!r} ({level.description}); use level={file_level!r}"
        )
    if level.name == "particle":
        chunks = _iter_particle_level(path, fmt, wanted, strict, entry_stop, step_size)
    else:
        chunks = _iter_format(path, fmt, wanted, strict, entry_stop, step_size)
    for chunk in chunks:
        if level.objects in wanted and level.objects not in chunk:
            chunks.close()  # the file, before it is opened again for the error
            _missing_objects(path, fmt, level, step_size)
        yield chunk


def _missing_objects(path: Path, fmt: str, level: InputLevel, step_size: int) -> NoReturn:
    """Raise the error for a file without the objects that define its level.

    Reading "everything the level has" skips the collections a file lacks, except the
    level's objects (fat jets, or the truth record at parton level): without them there is
    nothing to read at that level. The file is asked for them alone, strictly, so the
    error is the reader's own one line, as when a command names the collection.
    """
    wanted = (level.objects,)
    if level.name == "particle":
        probe = _iter_particle_level(path, fmt, wanted, True, 1, step_size)
    else:
        probe = _iter_format(path, fmt, wanted, True, 1, step_size)
    try:
        next(probe, None)  # raises the reader's MissingBranchError
    finally:
        probe.close()
    raise MissingBranchError(
        f"{path}: no {level.objects} in this {fmt} file, and a {level.name}-level input "
        f"needs them ({level.description}); read it at another level"
    )


def _iter_format(
    path: Path,
    fmt: str,
    wanted: Sequence[str],
    strict: bool,
    entry_stop: int | None,
    step_size: int,
) -> Iterator[dict[str, ak.Array]]:
    """The collections ``wanted`` of one file, as its format's reader gives them."""
    if fmt == "delphes":
        from surrotag.io.delphes import iter_delphes

        yield from iter_delphes(
            path, wanted, strict=strict, entry_stop=entry_stop, step_size=step_size
        )
    elif fmt == "exroot":
        from surrotag.io.exroot import iter_exroot

        yield from iter_exroot(path, wanted, entry_stop=entry_stop, step_size=step_size)
    elif fmt == "lhe":
        from surrotag.io.lhe import iter_lhe

        yield from iter_lhe(path, wanted, entry_stop=entry_stop, step_size=step_size)
    elif fmt == "hepmc":
        from surrotag.io.hepmc import iter_hepmc

        yield from iter_hepmc(path, wanted, entry_stop=entry_stop, step_size=step_size)
    else:
        yield from _iter_parquet(path, wanted, strict, entry_stop, step_size)


#: Column of reference samples holding their particle-level fat jets.
_PARTICLE_JETS = "particlejets"


def _iter_particle_level(
    path: Path,
    fmt: str,
    wanted: Sequence[str],
    strict: bool,
    entry_stop: int | None,
    step_size: int,
) -> Iterator[dict[str, ak.Array]]:
    """Particle-level events: ``fatjets`` clustered from the visible stable particles.

    A reference sample (Parquet with ``particlejets``) already holds them; every other
    input has its generator record clustered (:func:`surrotag.jets.particle.particle_fatjets`).
    Only ``weight``, ``fatjets`` and ``particles`` exist at this level.
    """
    other = [name for name in wanted if name not in ("weight", "fatjets", "particles")]
    if other and strict:
        raise FormatError(
            f"{path}: particle level has no {', '.join(other)} (only weight, fatjets, "
            "particles); read at level 'delphes' for detector objects"
        )
    stored = fmt == "parquet" and _PARTICLE_JETS in _parquet_columns(path)
    read = ["weight", "particles"] if not stored else ["weight", _PARTICLE_JETS]
    if stored and "particles" in wanted:
        read.append("particles")
    for fields in _iter_format(path, fmt, read, True, entry_stop, step_size):
        if stored:
            jets = fields.pop(_PARTICLE_JETS)
        else:
            jets = _cluster_particles(path, fields["particles"])
        out = {"weight": fields["weight"], "fatjets": jets}
        if "particles" in wanted:
            out["particles"] = fields["particles"]
        yield {name: out[name] for name in ("weight", "fatjets", "particles") if name in out}


def _parquet_columns(path: Path) -> list[str]:
    from surrotag.io.parquet import _open

    return list(_open(path).schema_arrow.names)


def _cluster_particles(path: Path, particles: ak.Array) -> ak.Array:
    """Particle-level fat jets of a chunk's generator records (one line when impossible)."""
    if not ak.any(particles.status == 1):
        raise FormatError(
            f"{path}: no stable (status 1) particles in the generator record, so no "
            "particle-level jets; pass a showered file (HepMC after Pythia) or read it at "
            "level 'parton'"
        )
    from surrotag.jets.clustering import without_constituents
    from surrotag.jets.particle import particle_fatjets

    return without_constituents(particle_fatjets(particles))


def _iter_parquet(
    path: Path,
    wanted: Sequence[str],
    strict: bool,
    entry_stop: int | None,
    step_size: int,
) -> Iterator[dict[str, ak.Array]]:
    """Yield record batches of a surrotag Parquet file (pyarrow ``iter_batches``)."""
    import pyarrow as pa

    from surrotag.io.parquet import _open

    parquet = _open(path)
    available = parquet.schema_arrow.names
    missing = [name for name in wanted if name not in available]
    if strict and missing:
        raise FormatError(f"{path}: no column(s) {', '.join(missing)} (has {', '.join(available)})")
    columns = [name for name in wanted if name in available]
    if parquet.metadata.num_rows == 0:
        raise EmptyInputError(f"{path}: Parquet file holds 0 events")
    if not columns:
        return
    read = 0
    batches = parquet.iter_batches(batch_size=step_size, columns=columns)
    while entry_stop is None or read < entry_stop:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except (pa.ArrowException, OSError) as error:
            raise CorruptFileError(f"{path}: corrupt Parquet data ({error})") from error
        if entry_stop is not None and read + batch.num_rows > entry_stop:
            batch = batch.slice(0, entry_stop - read)
        read += batch.num_rows
        chunk = ak.from_arrow(batch)
        yield {name: chunk[name] for name in chunk.fields}


def iter_events(
    paths: PathLike | Sequence[PathLike],
    *,
    level: str | None = None,
    collections: Sequence[str] | None = None,
    entry_stop: int | None = None,
    step_size: int = 100_000,
) -> Iterator[ak.Array]:
    """Yield chunks of canonical events from one or more event files.

    Args:
        paths: one file or a list (Delphes ROOT, ExRootAnalysis ROOT, LHE, LHE.gz, HepMC2/3
            ASCII (plain or gzip), surrotag Parquet; recognised by content, formats may be
            mixed if the levels agree).
        level: a name of :data:`surrotag.io.levels.LEVEL_NAMES` (``delphes``, ``particle``,
            ``parton``); None takes the first file's level. Reading a Delphes file at
            ``particle`` level clusters its ``Particle`` branch, at ``parton`` level gives
            its truth record only; a HepMC file is read at ``particle`` level by default.
        collections: subset of :data:`~surrotag.io.canonical.COLLECTIONS` to read; only the
            branches they need are read. None reads everything the level has (collections a
            file lacks are skipped, except the level's objects: fat jets, or the truth
            record at parton level); an explicit collection a file lacks is an error.
        entry_stop: read at most this many events in total over all files.
        step_size: events per chunk (at most; a chunk never spans two files).

    Yields:
        ak.Array of canonical events with ``Momentum4D`` behaviour, one chunk at a time.

    Raises:
        InputFileError: a missing file, or one of its subclasses: FormatError (unknown
            format, wrong tree, mixed levels), MissingBranchError, EmptyInputError,
            CorruptFileError.
        InputValueError: objects with non-finite or sentinel kinematics
            (:func:`surrotag.io.canonical.check_finite`).
    """
    chosen = None if level is None else input_level(level)
    if step_size <= 0:
        raise ValueError(f"step_size must be positive, got {step_size}")
    wanted = _check_collections(collections)
    files = _as_list(paths)
    if not files:
        raise EmptyInputError("no event file given")
    for path in files:
        existing_file(path)
    read = 0
    explicit = chosen is not None
    for path in files:
        if entry_stop is not None and read >= entry_stop:
            return
        fmt = sniff_format(path)
        file_level = level_of(fmt, path)
        if chosen is None:
            chosen = input_level(file_level)
        elif not explicit and fmt != "delphes" and file_level != chosen.name:
            raise FormatError(
                f"{path}: {file_level}-level file mixed with {chosen.name}-level input; read "
                "each level separately"
            )
        remaining = None if entry_stop is None else entry_stop - read
        log.debug("%s: format %s, level %s, collections %s", path, fmt, chosen.name, wanted)
        parts = _iter_file(path, fmt, file_level, chosen, wanted, remaining, step_size)
        for fields in parts:
            chunk = ak.zip(fields, depth_limit=1)
            check_finite(chunk, path)
            read += len(chunk)
            yield with_vector_behaviour(chunk)


def read_events(
    paths: PathLike | Sequence[PathLike],
    *,
    level: str | None = None,
    collections: Sequence[str] | None = None,
    entry_stop: int | None = None,
    step_size: int = 100_000,
) -> ak.Array:
    """Read canonical events from one or more files into one array.

    Same arguments as :func:`iter_events`; the chunks are concatenated.

    Returns:
        ak.Array of canonical events with ``Momentum4D`` behaviour.
    """
    chunks = list(
        iter_events(
            paths,
            level=level,
            collections=collections,
            entry_stop=entry_stop,
            step_size=step_size,
        )
    )
    if not chunks:
        raise EmptyInputError(f"no events read from {paths}")
    events = chunks[0] if len(chunks) == 1 else ak.concatenate(chunks)
    return with_vector_behaviour(events)


def cross_section(path: PathLike) -> tuple[float, float] | None:
    """Return ``(sigma_pb, error_pb)`` stored in an event file, or None.

    LHE: the ``<init>`` block (:func:`surrotag.io.lhe.lhe_cross_section`). ExRootAnalysis
    ``LHEF`` trees do not keep the ``<init>`` block, and Delphes' ``Event.CrossSection`` is
    not filled reliably (it depends on the input reader), so both give None. HepMC: the
    cross-section of the last event that records one
    (:func:`surrotag.io.hepmc.hepmc_cross_section`). Parquet: the
    ``sigma_pb`` (and ``sigma_err_pb``) provenance keys that reference samples record.
    """
    fmt = sniff_format(path)
    if fmt == "lhe":
        from surrotag.io.lhe import lhe_cross_section

        return lhe_cross_section(path)
    if fmt == "hepmc":
        from surrotag.io.hepmc import hepmc_cross_section

        return hepmc_cross_section(path)
    if fmt == "parquet":
        from surrotag.io.parquet import read_parquet_metadata

        meta = read_parquet_metadata(path)
        if "sigma_pb" in meta:
            return float(meta["sigma_pb"]), float(meta.get("sigma_err_pb", 0.0))
    return None
