"""The project's own Parquet files: canonical events and tables with JSON provenance.

Reference samples, feature tables and tag probabilities are written here, atomically (a
temporary file in the same folder, then ``os.replace``), with a ``surrotag`` JSON document in
the Parquet key-value metadata that records what the file was built from (sha256 of inputs,
cross-section, sum of weights, command).

Every Parquet read of surrotag goes through one opener and one column reader here
(:func:`read_parquet` for awkward arrays, :func:`read_columns` for numpy columns), so a
missing file, a missing column and a corrupt file are each one line, the same everywhere.

Files are checked where they are read, since anyone can write a Parquet file: the
provenance must be a JSON object whose keys that surrotag reads have their JSON types
(:func:`read_parquet_metadata`), and an event file's canonical columns must hold numbers
where the schema has numbers (:func:`check_event_schema`, after
:data:`surrotag.io.canonical.FIELD_TYPES`). Either failure is one
:class:`~surrotag.errors.FormatError` line naming the file, the key or column, the type
found and the type expected.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, cast

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from surrotag.errors import CorruptFileError, FormatError, InputFileError
from surrotag.io.atomic import atomic_output
from surrotag.io.canonical import FIELD_TYPES, StoredType, check_finite, with_vector_behaviour
from surrotag.surrogates.card import sha256_file  # the one file digest, re-exported here

__all__ = [
    "METADATA_KEY",
    "METADATA_TYPES",
    "check_event_file",
    "check_event_schema",
    "read_columns",
    "read_parquet",
    "read_parquet_metadata",
    "sha256_file",
    "write_parquet",
]

#: Key of the provenance JSON in the Parquet key-value metadata.
METADATA_KEY = b"surrotag"

#: JSON types of the provenance keys that surrotag reads (``settings.ecm``: a key of the
#: ``settings`` object), checked when present: the input level, the kind of file, the
#: process, the cross-section (pb), the sum of weights, the event count, the collision
#: energy (GeV) and the generation settings.
METADATA_TYPES: Final[Mapping[str, tuple[str, ...]]] = {
    "level": ("string",),
    "kind": ("string",),
    "process": ("string",),
    "settings": ("object",),
    "jobs": ("array",),
    "sigma_pb": ("number",),
    "sigma_err_pb": ("number",),
    "sum_weights": ("number",),
    "n_events": ("integer",),
    "settings.ecm": ("number",),
    "settings.mass": ("number", "null"),  # null for processes without a mass parameter
}

#: Stored columns of reference samples besides the canonical ones: their particle-level
#: fat jets (read at ``particle`` level as ``fatjets``).
_STORED_TYPES: Final = {**FIELD_TYPES, "particlejets": FIELD_TYPES["fatjets"]}


def write_parquet(
    array: ak.Array,
    path: str | os.PathLike[str],
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write an awkward array to Parquet atomically, with provenance metadata.

    Args:
        array: canonical events or a flat table (records).
        path: destination; its folder is created if needed.
        metadata: JSON-serialisable provenance stored under :data:`METADATA_KEY`.

    Returns:
        The path written.
    """
    path = Path(path)
    table = ak.to_arrow_table(array, extensionarray=False)
    existing = dict(table.schema.metadata or {})
    existing[METADATA_KEY] = json.dumps(dict(metadata or {}), sort_keys=True).encode()
    table = table.replace_schema_metadata(existing)
    with atomic_output(path) as temporary:
        pq.write_table(table, temporary, compression="zstd", write_page_checksum=True)
    return path


def _hinted(message: str, hint: str) -> str:
    return f"{message}; {hint}" if hint else message


def _open(path: Path, hint: str = "") -> pq.ParquetFile:
    """The file, page checksums verified on read; one line if it is missing or unreadable."""
    if not path.exists():
        raise InputFileError(_hinted(f"{path}: no such file", hint))
    try:
        return pq.ParquetFile(path, page_checksum_verification=True)
    except (pa.ArrowInvalid, OSError) as error:
        raise CorruptFileError(f"{path}: not a readable Parquet file ({error})") from None


def _read(
    parquet: pq.ParquetFile, path: Path, columns: Sequence[str] | None, hint: str = ""
) -> pa.Table:
    """``columns`` of an open file (all when None); one line if one is missing or corrupt."""
    available = parquet.schema_arrow.names
    if columns is not None:
        missing = [name for name in columns if name not in available]
        if missing:
            raise FormatError(
                _hinted(
                    f"{path}: no column(s) {', '.join(missing)} (has {', '.join(available)})",
                    hint,
                )
            )
    try:
        return parquet.read(columns=None if columns is None else list(columns))
    except (pa.ArrowInvalid, OSError) as error:
        raise CorruptFileError(f"{path}: corrupt Parquet data ({error})") from None


def _json_type(value: object) -> str:
    """The JSON type name of a decoded value (``integer`` for whole numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _check_metadata(document: object, path: Path) -> dict[str, Any]:
    """The provenance as a dict, or one line naming the key of the wrong JSON type."""
    found = _json_type(document)
    if found != "object":
        raise FormatError(
            f"{path}: the {METADATA_KEY.decode()} Parquet metadata is a JSON {found}, expected "
            "an object; rewrite the file with surrotag.io.write_parquet or drop that key"
        )
    document = cast("dict[str, Any]", document)
    for key, expected in METADATA_TYPES.items():
        parent, _, child = key.rpartition(".")
        holder = document.get(parent) if parent else document
        if not isinstance(holder, dict) or child not in holder:
            continue
        found = _json_type(holder[child])
        if found not in expected and not (found == "integer" and "number" in expected):
            raise FormatError(
                f"{path}: key {key!r} of the {METADATA_KEY.decode()} Parquet metadata is a JSON "
                f"{found}, expected {' or '.join(expected)}; correct it or rewrite the file"
            )
    return document


def read_parquet_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the provenance JSON of a surrotag Parquet file ({} if it has none).

    Raises:
        FormatError: the metadata is not valid JSON, not a JSON object, or a key of
            :data:`METADATA_TYPES` has another JSON type.
    """
    path = Path(path)
    raw = (_open(path).schema_arrow.metadata or {}).get(METADATA_KEY)
    if raw is None:
        return {}
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise FormatError(f"{path}: provenance metadata is not valid JSON") from None
    return _check_metadata(document, path)


def _storage(arrow_type: pa.DataType) -> pa.DataType:
    """The stored type under extension (awkward's) and dictionary encodings."""
    while True:
        if isinstance(arrow_type, pa.ExtensionType):
            arrow_type = arrow_type.storage_type
        elif pa.types.is_dictionary(arrow_type):
            arrow_type = arrow_type.value_type
        else:
            return arrow_type


def _is_list(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_fixed_size_list(arrow_type)
    )


def _short(arrow_type: pa.DataType) -> str:
    """A one-word name of an Arrow type (``string``, ``list<double>``, ``struct``)."""
    arrow_type = _storage(arrow_type)
    if _is_list(arrow_type):
        return f"list<{_short(arrow_type.value_type)}>"
    if pa.types.is_struct(arrow_type):
        return "struct"
    return str(arrow_type).removeprefix("large_")  # large_string is a string to the user


def _type_problem(
    arrow_type: pa.DataType, expected: StoredType, name: str
) -> tuple[str, pa.DataType, StoredType] | None:
    """The first field (dotted name, its type, the type expected) that does not fit."""
    stored = _storage(arrow_type)
    if expected.kind == "number":
        fits = pa.types.is_integer(stored) or pa.types.is_floating(stored)
        return None if fits else (name, arrow_type, expected)
    if expected.kind == "list":
        if not _is_list(stored):
            return name, arrow_type, expected
        assert expected.item is not None
        problem = _type_problem(stored.value_type, expected.item, name)
        if problem is not None and problem[0] == name:  # the elements: name the whole list
            return name, arrow_type, expected
        return problem
    if not pa.types.is_struct(stored):
        return name, arrow_type, expected
    for index in range(stored.num_fields):
        child = stored.field(index)
        want = expected.item if expected.item is not None else expected.fields.get(child.name)
        if want is not None:
            problem = _type_problem(child.type, want, f"{name}.{child.name}")
            if problem is not None:
                return problem
    return None


def check_event_schema(schema: pa.Schema, path: str | os.PathLike[str]) -> None:
    """Refuse an event file whose canonical columns do not hold numbers where they should.

    Every column named in :data:`surrotag.io.canonical.FIELD_TYPES` (and the reference
    samples' ``particlejets``) must have its stored type: integers or floats for the
    weights, kinematics, identifiers and truth indices, lists of records for collections.
    Other columns and fields are not looked at.

    Args:
        schema: the file's Arrow schema.
        path: the file, for the message.

    Raises:
        FormatError: one line naming the file, the (dotted) column, the type found and the
            type expected.
    """
    for column in schema:
        expected = _STORED_TYPES.get(column.name)
        if expected is None:
            continue
        problem = _type_problem(column.type, expected, column.name)
        if problem is not None:
            name, found, want = problem
            raise FormatError(
                f"{path}: column {name!r} has type {_short(found)}, expected {want.describe()}; "
                "write it with that type (e.g. with surrotag.io.write_parquet)"
            )


def check_event_file(path: str | os.PathLike[str]) -> None:
    """Check a Parquet event file's provenance types and canonical column types.

    Called by :func:`surrotag.io.sniff.sniff_format` on every Parquet input, so every
    command that reads events refuses such a file before reading any event.

    Raises:
        FormatError: see :func:`read_parquet_metadata` and :func:`check_event_schema`.
    """
    path = Path(path)
    read_parquet_metadata(path)
    check_event_schema(_open(path).schema_arrow, path)


def read_parquet(
    path: str | os.PathLike[str],
    columns: list[str] | None = None,
    *,
    events: bool = True,
) -> ak.Array:
    """Read a surrotag Parquet file into awkward.

    Args:
        path: the file.
        columns: top-level fields to read (all when None).
        events: the file holds canonical events: refuse non-finite kinematics
            (:func:`surrotag.io.canonical.check_finite`) and attach the ``Momentum4D``
            behaviour.

    Returns:
        The array; canonical events get ``vector`` behaviour.

    Raises:
        InputFileError: no such file.
        CorruptFileError: not a readable Parquet file, or corrupt data.
        FormatError: a requested column is missing; canonical events with a column of the
            wrong type (:func:`check_event_schema`).
        InputValueError: canonical events with non-finite or sentinel kinematics.
    """
    path = Path(path)
    parquet = _open(path)
    if events:
        check_event_schema(parquet.schema_arrow, path)
    array = ak.from_arrow(_read(parquet, path, columns))
    if not events:
        return array
    check_finite(array, path)
    return with_vector_behaviour(array)


def read_columns(
    path: str | os.PathLike[str],
    columns: Sequence[str],
    *,
    optional: Sequence[str] = (),
    text: Collection[str] = (),
    hint: str = "",
) -> dict[str, np.ndarray]:
    """Flat columns of a Parquet table as numpy arrays: the one column reader of surrotag.

    Args:
        path: the table.
        columns: columns that must be there.
        optional: columns read when the table has them (left out of the result otherwise).
        text: columns read as text (object arrays of ``str``, e.g. ``split``); every other
            column must be numeric (float, integer or boolean) and comes back as float64.
        hint: what to do, appended to the message of a missing file or column.

    Returns:
        Column name -> ``[N]`` array, in the order of ``columns`` then ``optional``.

    Raises:
        InputFileError: no such file.
        CorruptFileError: not a readable Parquet file, or corrupt data.
        FormatError: a column of ``columns`` is missing, or a numeric one is not numeric.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "t.parquet"
        >>> _ = write_parquet(ak.Array({"x": [1, 2], "split": ["train", "test"]}), path)
        >>> read_columns(path, ["x"], optional=["split", "label"], text={"split"})
        {'x': array([1., 2.]), 'split': array(['train', 'test'], dtype=object)}
        >>> read_columns(path, ["y"], hint="rebuild it")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        surrotag.errors.FormatError: ...t.parquet: no column(s) y (has x, split); rebuild it
    """
    path = Path(path)
    parquet = _open(path, hint)
    available = set(parquet.schema_arrow.names)
    wanted = list(dict.fromkeys([*columns, *(name for name in optional if name in available)]))
    table = _read(parquet, path, wanted, hint)
    out = {}
    for name in wanted:
        column = table.column(name)
        if name in text:
            out[name] = np.asarray(column.to_pylist(), dtype=object)
            continue
        if not (
            pa.types.is_floating(column.type)
            or pa.types.is_integer(column.type)
            or pa.types.is_boolean(column.type)
        ):
            raise FormatError(f"{path}: column {name!r} is {column.type}, not numeric")
        out[name] = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    return out
