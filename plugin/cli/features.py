"""``surrotag features``: write the public feature table of event files to Parquet.

Thin layer over :func:`surrotag.features.files.file_features` (chunked reading, one
:func:`surrotag.features.build_features` call per chunk, provenance): parse, build, write
atomically with provenance, print a one-line summary; ``--list`` prints the feature registry.
Heavy imports (awkward, uproot) happen inside the command.
"""

from __future__ import annotations

from pathlib import Path

import click

from surrotag.cli import options

__all__ = ["features"]


@click.command("features")
@click.argument("events", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Parquet file to write (written atomically).")  # fmt: skip
@options.level()
@click.option("--features", "feature_list", default=None, metavar="F1,F2",
              help="Comma-separated feature names (default: all of the level).")  # fmt: skip
@options.max_events
@click.option(
    "--radius",
    type=click.FloatRange(min=0, min_open=True),
    default=0.8,
    show_default=True,
    help="Delta R of truth matching and containment.",
)
@options.step_size
@click.option("--list", "list_only", is_flag=True,
              help="Print the feature registry (of --level if given) and exit.")  # fmt: skip
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
        from surrotag.features.console import print_registry

        print_registry(level)
        return
    if not events:
        raise click.UsageError("give at least one events file (or --list)")
    if output is None:
        raise click.UsageError("give the output Parquet file with -o/--output")
    if output.exists() and any(path.exists() and path.samefile(output) for path in events):
        raise click.ClickException(f"-o {output} is an input file: write to another file")

    requested = None
    if feature_list is not None:
        requested = [name.strip() for name in feature_list.split(",") if name.strip()]
        if not requested:
            raise click.UsageError(f"--features {feature_list!r}: name at least one feature")

    from surrotag.features.console import print_table_summary
    from surrotag.features.files import file_features
    from surrotag.io import write_parquet

    table, meta = file_features(
        events,
        level=level,
        features=requested,
        radius=radius,
        max_events=max_events,
        step_size=step_size,
        progress=True,
    )
    print_table_summary(table, meta, write_parquet(table, output, meta))
