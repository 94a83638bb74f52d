"""``surrotag features``: write the public feature table of event files to Parquet.

Thin layer: parse, read in chunks with :func:`surrotag.io.iter_events`, call
:func:`surrotag.features.build_features` per chunk, write atomically with provenance.
Heavy imports (awkward, uproot) happen inside the command.
"""

from __future__ import annotations

from pathlib import Path

import click

from surrotag.io.levels import LEVEL_NAMES

__all__ = ["features"]


def _print_registry(level: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from surrotag.features import describe_features

    table = Table(title="surrotag features" + (f" (level {level})" if level else ""))
    for column in ("name", "unit", "dtype", "levels", "kind", "flags", "description"):
        table.add_column(column, overflow="fold")
    for row in describe_features(level):
        table.add_row(
            *(
                row[key]
                for key in ("name", "unit", "dtype", "levels", "kind", "flags", "description")
            )
        )
    Console().print(table)


def _input_level(path: Path) -> str:
    """The input level of the first file, sniffed from its content (the reader checks the
    others agree)."""
    from surrotag.io import level_of, sniff_format

    return level_of(sniff_format(path), path)


@click.command("features")
@click.argument("events", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Parquet file to write (written atomically).",
)
@click.option(
    "--level",
    type=click.Choice(LEVEL_NAMES),
    default=None,
    help="Input level (default: sniffed from the files).",
)
@click.option(
    "--features",
    "feature_list",
    default=None,
    metavar="F1,F2",
    help="Comma-separated feature names (default: all of the level).",
)
@click.option(
    "--max-events",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many events in total.",
)
@click.option(
    "--radius",
    type=click.FloatRange(min=0, min_open=True),
    default=0.8,
    show_default=True,
    help="Delta R of truth matching and containment.",
)
@click.option(
    "--step-size",
    type=click.IntRange(min=1),
    default=50_000,
    show_default=True,
    help="Events per chunk.",
)
@click.option(
    "--list",
    "list_only",
    is_flag=True,
    help="Print the feature registry (of --level if given) and exit.",
)
def features(
    events: tuple[Path, ...],
    output: Path | None,
    level: str | None,
    feature_list: str | None,
    max_events: int | None,
    radius: float,
    step_size: int,
    list_only: bool,
) -> None:
    """Build the public feature table of EVENTS (one row per fat jet or top quark)."""
    if list_only:
        _print_registry(level)
        return
    if not events:
        raise click.UsageError("give at least one events file (or --list)")
    if output is None:
        raise click.UsageError("give the output Parquet file with -o/--output")
    if output.exists() and any(path.exists() and path.samefile(output) for path in events):
        raise click.ClickException(f"-o {output} is an input file: write to another file")

    import awkward as ak
    from rich.console import Console
    from rich.markup import escape

    import surrotag
    from surrotag.errors import EmptyInputError
    from surrotag.features import FEATURES, ROW_KIND, build_features, resolve_features
    from surrotag.io import write_parquet
    from surrotag.io.inputs import resolve_inputs
    from surrotag.io.stream import EventStream

    inputs = resolve_inputs(list(events))
    level = level or _input_level(inputs.paths[0])
    requested = None
    collections = None
    if feature_list is not None:
        requested = [name.strip() for name in feature_list.split(",") if name.strip()]
        if not requested:
            raise click.UsageError(f"--features {feature_list!r}: name at least one feature")
        names = resolve_features(level, requested)
        collections = sorted({c for name in names for c in FEATURES[name].requires})
    stream = EventStream(
        inputs,
        level=level,
        collections=collections,
        entry_stop=max_events,
        step_size=step_size,
        progress=True,
    )
    tables = [
        build_features(chunk, level=level, features=requested, radius=radius, event_offset=offset)
        for offset, chunk in stream.with_offsets()
    ]
    n_events = stream.n_events
    paths = inputs.paths
    if not tables:
        raise EmptyInputError(f"{', '.join(map(str, paths))}: no events to build features from")
    table = ak.concatenate(tables) if len(tables) > 1 else tables[0]
    columns = [name for name in table.fields if name != "event_index"]
    metadata = {
        "command": "surrotag features",
        "surrotag_version": surrotag.__version__,
        "inputs": stream.files,
        "level": level,
        "row_kind": ROW_KIND[level],
        "features": columns,
        "radius": radius,
        "n_events": n_events,
        "n_rows": len(table),
    }
    written = write_parquet(table, output, metadata)
    per_event = len(table) / n_events if n_events else 0.0
    Console().print(
        f"[bold]{len(table)}[/] {metadata['row_kind']} rows from [bold]{n_events}[/] events "
        f"({per_event:.2f} per event), {len(columns)} features, level {level} -> "
        f"{escape(str(written))}"
    )
