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

from surrotag.io.levels import LEVEL_NAMES

__all__ = ["scan"]


@click.command("scan")
@click.argument("analysis")
@click.argument("grid", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder: points/<name>/, summary.csv/.json, patchset.json, contour.png.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Local worker processes, one thread each [default: 1].",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Address of an existing Dask scheduler (tcp://host:8786) instead of a local cluster.",
)
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="Torch device of the surrogate on the workers.",
)
@click.option(
    "--draws",
    type=click.IntRange(min=1),
    default=None,
    help="Bayesian weight draws K (default: the card's).",
)
@click.option("--stochastic", is_flag=True, help="Sample one score per object (0/1 tags).")
@click.option(
    "--tagger",
    type=click.Choice(["surrogate", "efficiency-map"]),
    default="surrogate",
    show_default=True,
    help="Tag with the surrogate or the card's binned efficiency maps.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0, max=2**63 - 1),
    default=0,
    show_default=True,
    help="Seed of sampled scores.",
)
@click.option(
    "--ood",
    type=click.Choice(["nuisance", "strict"]),
    default="nuisance",
    show_default=True,
    help="Objects outside the tagger's training support: a [0, 1] nuisance, or fail the point.",
)
@click.option(
    "--level",
    type=click.Choice(LEVEL_NAMES),
    default=None,
    help="Input level of every point's events (default: each file's own).",
)
@click.option(
    "--hepdata",
    default=None,
    metavar="insNNNNNNN",
    help="INSPIRE id written in the patchset metadata [default: ins0000000, no record].",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def scan(
    analysis: str,
    grid: Path,
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
    """Recast ANALYSIS at every signal point of GRID (YAML, CSV or JSON)."""
    from rich.console import Console
    from rich.markup import escape

    from surrotag.errors import ScanError
    from surrotag.scan import ScanOptions
    from surrotag.scan import scan as run
    from surrotag.scan.summary import NO_HEPDATA

    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers or --scheduler, not both")
    outputs = run(
        analysis,
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
    result = outputs.result
    console = Console()
    console.print(
        f"[bold]{len(result.outcomes)}[/] points: {result.count('done')} recast, "
        f"{result.count('skipped')} already finished, {result.count('failed')} failed "
        f"({result.wall_seconds:.1f} s on {result.workers} worker(s)) -> {escape(str(directory))}",
        highlight=False,
        soft_wrap=True,
    )
    for row in outputs.rows:
        if row["status"] == "done":
            cls_obs, mu_exp = row.get("cls_obs"), row.get("mu_up_exp")
            console.print(
                f"  {row['name']}: CLs obs {cls_obs:.3g}"
                + (f", mu_up exp {mu_exp:.3g}" if mu_exp is not None else "")
                if cls_obs is not None
                else f"  {row['name']}: done",
                highlight=False,
                soft_wrap=True,
            )
    written = [outputs.summary, outputs.patchset, outputs.contour]
    console.print(
        "wrote " + ", ".join(str(p) for p in written if p is not None),
        highlight=False,
        markup=False,
    )
    if result.failed:
        names = ", ".join(o.name for o in result.failed)
        first = result.failed[0]
        raise ScanError(
            f"{len(result.failed)} of {len(result.outcomes)} point(s) failed ({names}); "
            f"first: {first.name}: {first.error}; see {directory}/points/<name>/error.json "
            "and rerun to retry them"
        )
