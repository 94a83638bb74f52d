"""Readers and writers of event files (see :mod:`surrotag.io.canonical` for the schema)."""

from surrotag.io.lhe import lhe_cross_section
from surrotag.io.parquet import read_parquet, read_parquet_metadata, sha256_file, write_parquet
from surrotag.io.readers import cross_section, iter_events, read_events
from surrotag.io.sniff import FORMATS, level_of, sniff_format

__all__ = [
    "FORMATS",
    "cross_section",
    "iter_events",
    "level_of",
    "lhe_cross_section",
    "read_events",
    "read_parquet",
    "read_parquet_metadata",
    "sha256_file",
    "sniff_format",
    "write_parquet",
]
