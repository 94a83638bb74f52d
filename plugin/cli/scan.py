"""``surrotag scan``: recast a grid of signal points on Dask.

Thin layer over :func:`surrotag.scan.scan`: parse, run, print a summary. The grid format
is described in :mod:`surrotag.scan.grid`, the output folder in :mod:`surrotag.scan.run`
and :mod:`surrotag.scan.summary`. Exit code 0 when every point finished, 1 (with one line
naming the failed points and their ``error.json``) when some failed; a rerun retries them
and skips the finished ones.
"""

from __future__ import annotations

from pathlib import Path

import click

from surrotag.cli import options

__all__ = ["scan"]


@click.command("scan")
@click.argument("arguments", nargs=-1, required=True, metavar="ANALYSIS... GRID")
@click.option(
    "-o",
    "--output",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder: points/<name>/, summary.csv/.json, patchset.json, contour.png "
    "(several analyses: one such folder per analysis inside).",
)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local worker processes, one thread each [default: 1].")  # fmt: skip
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Address of an existing Dask scheduler "
              "(tcp://host:8786) instead of a local cluster.")  # fmt: skip
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Torch device of the surrogate on the workers.")  # fmt: skip
@options.draws
@options.stochastic
@options.tagger("Tag with the surrogate or the card's binned efficiency maps.")
@options.score_seed
@options.ood("Objects outside the tagger's training support: a [0, 1] nuisance, or fail the point.")
@options.level("Input level of every point's events (default: each file's own).")
@click.option("--hepdata", default=None, metavar="insNNNNNNN",
              help="INSPIRE id written in the patchset metadata "
              "[default: ins0000000, no record].")  # fmt: skip
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def scan(
    arguments: tuple[str, ...],
    directory: Path,
    workers: int | None,
    scheduler: str | None,
    device: str,
    draws: int | None,
    stochastic: bool,
    tagger: str,
    seed: int,
    ood: str,
    level: str | None,
    hepdata: str | None,
    no_progress: bool,
) -> None:
    """Recast ANALYSIS (one or several) at every signal point of GRID (YAML, CSV or JSON)."""
    from rich.console import Console

    from surrotag.scan import ScanOptions, scan_analyses
    from surrotag.scan.console import print_scan
    from surrotag.scan.summary import NO_HEPDATA

    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers or --scheduler, not both")
    if len(arguments) < 2:
        raise click.UsageError("give at least one ANALYSIS and the GRID")
    *analyses, grid = arguments
    outputs = scan_analyses(
        analyses,
        grid,
        directory,
        options=ScanOptions(
            device=device,
            draws=draws,
            stochastic=stochastic,
            tagger=tagger,
            seed=seed,
            ood=ood,
            level=level,
        ),
        workers=workers or 1,
        scheduler=scheduler,
        hepdata=hepdata or NO_HEPDATA,
        progress=not no_progress,
    )
    console = Console()
    for one in outputs:
        print_scan(one, console)
    for one in outputs:
        one.result.raise_for_failures()
