"""``surrotag tag``: per-object and per-event tag probabilities of event files.

Thin layer over :func:`surrotag.tag_files.tag_files` (chunked reading, features, tagging;
the columns and provenance of both files are described there): parse, tag, write Parquet
atomically with provenance, print a one-line summary and warn when many objects lie outside
the surrogate's training support. Heavy imports (torch, awkward, uproot) happen inside the
command.
"""

from __future__ import annotations

from pathlib import Path

import click

from surrotag.cli import options

__all__ = ["tag"]


@click.command("tag")
@click.argument("events", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--surrogate", "surrogate_name", required=True, metavar="NAME|DIR",
              help="Installed surrogate name or surrogate folder "
              "(card.json + weights.safetensors).")  # fmt: skip
@click.option("--wp", "working_points", multiple=True, metavar="NAME",
              help="Working point of the card (repeatable; default: all).")  # fmt: skip
@options.draws
@options.stochastic
@options.score_seed
@options.level()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Per-object probabilities (Parquet, written atomically).")  # fmt: skip
@click.option("--events-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write per-event probabilities to this Parquet file.")  # fmt: skip
@options.max_events
@options.step_size
@click.option("--device", default="cpu", show_default=True, help="Torch device (cpu, cuda).")
@options.threads
def tag(
    events: tuple[Path, ...],
    surrogate_name: str,
    working_points: tuple[str, ...],
    draws: int | None,
    stochastic: bool,
    seed: int,
    level: str | None,
    output: Path,
    events_out: Path | None,
    max_events: int | None,
    step_size: int,
    device: str,
    threads: str | None,
) -> None:
    """Tag probabilities of every object of EVENTS with a classifier surrogate."""
    from surrotag.tag_files import tag_files

    tagged = tag_files(
        events,
        surrogate_name,
        working_points=working_points,
        draws=draws,
        stochastic=stochastic,
        seed=seed,
        level=level,
        event_table=events_out is not None,
        max_events=max_events,
        step_size=step_size,
        device=device,
        threads=threads,
        progress=True,
    )
    tagged.print_summary(tagged.write(output, events_out), events_out)
