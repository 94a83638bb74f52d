"""Readers and writers of event files (see :mod:`surrotag.io.canonical` for the schema)."""

from surrotag.io.parquet import read_parquet, read_parquet_metadata, sha256_file, write_parquet

__all__ = ["read_parquet", "read_parquet_metadata", "sha256_file", "write_parquet"]
