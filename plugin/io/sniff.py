"""Recognise an event file's format from its content (magic bytes, ROOT tree names).

Formats: ``"delphes"`` (Delphes ROOT, tree ``Delphes``), ``"exroot"`` (MadGraph
ExRootAnalysis parton-level ROOT, tree ``LHEF``), ``"lhe"`` (Les Houches Event text, plain
or gzip-compressed; arXiv:hep-ph/0609017, arXiv:1405.1067 for LHEF v3), ``"hepmc"`` (HepMC3
``Asciiv3`` or HepMC2 ``IO_GenEvent`` text, plain or gzip-compressed; read at the
``"particle"`` level by default) and ``"parquet"`` (surrotag's own files). File
names are never trusted: a ``.root`` that holds text is reported as such. A Parquet file's
provenance and column types are checked here, so that every command refuses a mistyped one
before it reads events.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Final

from surrotag.errors import (
    CorruptFileError,
    EmptyInputError,
    FormatError,
    InputFileError,
    SurrotagError,
)
from surrotag.io.levels import INPUT_LEVELS

__all__ = [
    "FORMATS",
    "ROOT_TREES",
    "check_root_length",
    "existing_file",
    "level_of",
    "sniff_format",
]

#: Every format :func:`sniff_format` can return.
FORMATS: Final = ("delphes", "exroot", "lhe", "hepmc", "parquet")

#: Tree name of each ROOT format.
ROOT_TREES: Final = {"delphes": "Delphes", "exroot": "LHEF"}

_ROOT_MAGIC: Final = b"root"
_PARQUET_MAGIC: Final = b"PAR1"
_GZIP_MAGIC: Final = b"\x1f\x8b"
_LHE_TAG: Final = b"<LesHouchesEvents"
#: How far into the (decompressed) text the ``<LesHouchesEvents`` root tag is looked for.
_LHE_WINDOW: Final = 1 << 16


def existing_file(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path`, or raise if it is not a readable file.

    Raises:
        InputFileError: no such file, or a directory.
        EmptyInputError: the file has 0 bytes.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such file; check the path")
    if not path.is_file():
        raise InputFileError(f"{path}: not a regular file (a directory?); give an event file")
    if path.stat().st_size == 0:
        raise EmptyInputError(f"{path}: empty file (0 bytes); no events to read")
    return path


def check_root_length(path: Path) -> None:
    """Raise :class:`CorruptFileError` if a ROOT file is shorter than its header says.

    The ROOT file header stores ``fEND``, the offset of the file's end (4 bytes, or 8 for
    files larger than 2 GB, signalled by ``fVersion >= 1000000``). A truncated file is
    shorter than ``fEND``; this is checked before uproot touches the file so that a cut
    file never gives a silently short result.
    """
    with open(path, "rb") as stream:
        header = stream.read(20)
    size = path.stat().st_size
    if len(header) < 16 or header[:4] != _ROOT_MAGIC:
        raise CorruptFileError(f"{path}: truncated ROOT header ({size} bytes); re-copy the file")
    version = int.from_bytes(header[4:8], "big")
    if version >= 1_000_000:
        if len(header) < 20:
            raise CorruptFileError(f"{path}: truncated ROOT header; re-copy the file")
        end = int.from_bytes(header[12:20], "big")
    else:
        end = int.from_bytes(header[12:16], "big")
    if size < end:
        raise CorruptFileError(
            f"{path}: truncated ROOT file ({size} bytes, header says {end}); re-copy or "
            "regenerate it"
        )


def _root_format(path: Path) -> str:
    import uproot

    check_root_length(path)
    try:
        with uproot.open(path) as file:
            names = {key.split(";")[0] for key in file.keys(recursive=False)}
            classes = {
                key.split(";")[0]: cls for key, cls in file.classnames(recursive=False).items()
            }
    except SurrotagError:
        raise
    except Exception as error:  # uproot raises many types on damaged bytes
        raise CorruptFileError(
            f"{path}: corrupt ROOT file, cannot list its keys ({type(error).__name__}: "
            f"{error}); re-copy or regenerate it"
        ) from error
    for fmt, tree in ROOT_TREES.items():
        if tree in names:
            if not classes.get(tree, "").startswith("TTree"):
                raise FormatError(
                    f"{path}: '{tree}' is a {classes.get(tree)}, not a TTree; surrotag reads "
                    "Delphes/ExRootAnalysis TTrees"
                )
            return fmt
    raise FormatError(
        f"{path}: ROOT file without tree 'Delphes' (Delphes) or 'LHEF' (ExRootAnalysis); "
        f"it holds {sorted(names) or 'nothing'}"
    )


def _text_head(path: Path, compressed: bool) -> bytes:
    try:
        if compressed:
            with gzip.open(path, "rb") as stream:
                head = stream.read(_LHE_WINDOW)
        else:
            with open(path, "rb") as stream:
                head = stream.read(_LHE_WINDOW)
    except (OSError, EOFError, zlib.error) as error:
        raise CorruptFileError(
            f"{path}: corrupt gzip stream ({error}); re-copy or re-compress the file"
        ) from error
    return head


def _is_lhe_text(path: Path, compressed: bool) -> bool:
    return _LHE_TAG in _text_head(path, compressed)


def _text_format(path: Path, compressed: bool) -> str | None:
    """``"lhe"``, ``"hepmc"`` or None from the first (decompressed) bytes of a text file."""
    from surrotag.io.hepmc import hepmc_version

    head = _text_head(path, compressed)
    if _LHE_TAG in head:
        return "lhe"
    if hepmc_version(path, head) is not None:
        return "hepmc"
    return None


def sniff_format(path: str | os.PathLike[str]) -> str:
    """Return the format of an event file from its content.

    Args:
        path: the file.

    Returns:
        One of :data:`FORMATS`.

    Raises:
        InputFileError: missing file.
        FormatError: not a ROOT, LHE, HepMC or Parquet file, a ROOT file without a known
            tree, a HepMC version surrotag does not read, or a Parquet file whose provenance
            or canonical columns have the wrong type
            (:func:`surrotag.io.parquet.check_event_file`).
        CorruptFileError: a ROOT or gzip file whose bytes are damaged.
    """
    path = existing_file(path)
    with open(path, "rb") as stream:
        magic = stream.read(4)
    if magic == _ROOT_MAGIC:
        return _root_format(path)
    if magic == _PARQUET_MAGIC:
        from surrotag.io.parquet import check_event_file

        check_event_file(path)  # provenance and canonical column types, one line each
        return "parquet"
    if magic[:2] == _GZIP_MAGIC:
        fmt = _text_format(path, compressed=True)
        if fmt is not None:
            return fmt
        raise FormatError(
            f"{path}: gzip file that does not hold LHE text (<LesHouchesEvents>) or HepMC text"
        )
    fmt = _text_format(path, compressed=False)
    if fmt is not None:
        return fmt
    raise FormatError(
        f"{path}: not an event file surrotag reads (Delphes or ExRootAnalysis ROOT, LHE, "
        "LHE.gz, HepMC, HepMC.gz, surrotag Parquet); starts with "
        f"{magic!r}"
    )


def level_of(fmt: str, path: str | os.PathLike[str] | None = None) -> str:
    """Return the input level a file of a format is read at by default.

    Delphes files are read at ``delphes`` level, HepMC at ``particle`` level, LHE and
    ExRootAnalysis at ``parton`` level (:attr:`surrotag.io.levels.InputLevel.default_format_of`).

    Args:
        fmt: one of :data:`FORMATS`.
        path: needed for ``"parquet"`` only: the level is read from the provenance
            metadata (key ``level``) or, without it, from the fields (``fatjets`` present
            means ``"delphes"``).

    Returns:
        A name of :data:`surrotag.io.levels.LEVEL_NAMES`.
    """
    for level in INPUT_LEVELS.values():
        if fmt in level.default_format_of:
            return level.name
    if fmt != "parquet":
        raise FormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if path is None:
        raise FormatError("the level of a Parquet file needs its path (level_of('parquet', p))")
    from surrotag.io.parquet import _open, read_parquet_metadata

    level = read_parquet_metadata(path).get("level")
    if level in INPUT_LEVELS:
        return level
    names = _open(Path(path)).schema_arrow.names
    return "delphes" if "fatjets" in names else "parton"
