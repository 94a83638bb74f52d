"""Features on the terminal (rich): what ``surrotag features`` prints.

:func:`print_registry` shows the feature registry (``--list``); :func:`print_table_summary`
the one line about a written feature table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sized
from pathlib import Path
from typing import Any

__all__ = ["REGISTRY_COLUMNS", "print_registry", "print_table_summary"]

#: Columns of :func:`print_registry`, keys of :func:`surrotag.features.describe_features`.
REGISTRY_COLUMNS = ("name", "unit", "dtype", "levels", "kind", "flags", "description")


def print_registry(level: str | None = None, console: Any | None = None) -> None:
    """The feature registry as a table, one row per feature.

    Args:
        level: only the features of this input level (all when None).
        console: a :class:`rich.console.Console` (default: stdout's).

    Raises:
        FeatureError: ``level`` is no input level.
    """
    from rich.console import Console
    from rich.table import Table

    from surrotag.features.registry import describe_features

    table = Table(title="surrotag features" + (f" (level {level})" if level else ""))
    for column in REGISTRY_COLUMNS:
        table.add_column(column, overflow="fold")
    for row in describe_features(level):
        table.add_row(*(row[key] for key in REGISTRY_COLUMNS))
    (console or Console()).print(table)


def print_table_summary(
    table: Sized, metadata: Mapping[str, Any], written: Path, console: Any | None = None
) -> None:
    """One line about a feature table: rows, events, rows per event, features, level, file.

    Args:
        table: the table (:func:`surrotag.features.files.file_features`).
        metadata: its provenance (``n_events``, ``row_kind``, ``features``, ``level``).
        written: the file it was written to.
        console: a :class:`rich.console.Console` (default: stdout's).
    """
    from rich.console import Console
    from rich.markup import escape

    n_events = metadata["n_events"]
    per_event = len(table) / n_events if n_events else 0.0
    (console or Console()).print(
        f"[bold]{len(table)}[/] {metadata['row_kind']} rows from [bold]{n_events}[/] events "
        f"({per_event:.2f} per event), {len(metadata['features'])} features, level "
        f"{metadata['level']} -> {escape(str(written))}"
    )
