"""The project's own Parquet files: canonical events and tables with JSON provenance.

Reference samples, feature tables and tag probabilities are written here, atomically (a
temporary file in the same folder, then ``os.replace``), with a ``surrotag`` JSON document in
the Parquet key-value metadata that records what the file was built from (sha256 of inputs,
cross-section, sum of weights, command).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import pyarrow as pa
import pyarrow.parquet as pq

from surrotag.errors import CorruptFileError, FormatError, InputFileError
from surrotag.io.atomic import atomic_output
from surrotag.io.canonical import check_finite, with_vector_behaviour

__all__ = [
    "METADATA_KEY",
    "read_parquet",
    "read_parquet_metadata",
    "sha256_file",
    "write_parquet",
]

#: Key of the provenance JSON in the Parquet key-value metadata.
METADATA_KEY = b"surrotag"


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, read in chunks of ``chunk_size`` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


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


def _open(path: Path) -> pq.ParquetFile:
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    try:
        return pq.ParquetFile(path, page_checksum_verification=True)
    except (pa.ArrowInvalid, OSError) as error:
        raise CorruptFileError(f"{path}: not a readable Parquet file ({error})") from None


def read_parquet_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the provenance JSON of a surrotag Parquet file ({} if it has none)."""
    path = Path(path)
    raw = (_open(path).schema_arrow.metadata or {}).get(METADATA_KEY)
    if raw is None:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise FormatError(f"{path}: provenance metadata is not valid JSON") from None


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
        InputValueError: canonical events with non-finite or sentinel kinematics.
    """
    path = Path(path)
    parquet = _open(path)
    available = parquet.schema_arrow.names
    if columns is not None:
        missing = [name for name in columns if name not in available]
        if missing:
            raise FormatError(
                f"{path}: no column(s) {', '.join(missing)} (has {', '.join(available)})"
            )
    try:
        table = parquet.read(columns=columns)
    except (pa.ArrowInvalid, OSError) as error:
        raise CorruptFileError(f"{path}: corrupt Parquet data ({error})") from None
    array = ak.from_arrow(table)
    if not events:
        return array
    check_finite(array, path)
    return with_vector_behaviour(array)
