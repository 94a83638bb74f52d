"""``surrotag run``: recast an analysis on signal events, from events to CLs.

Thin layer over :func:`surrotag.recast.recast`: parse, run, print the summary
(:func:`surrotag.recast.summary.print_summary`), and write the JSON report (validated
against ``report.schema.json``, then written atomically), the signal patch and the mjj plot.
Any :class:`~surrotag.errors.SurrotagError` becomes one line and exit code 1, and no report
is written; ``--ood strict`` makes a selected object outside the tagger's training support
such an error (default ``--ood nuisance``: it enters the likelihood at the least signal its
allowed tag probabilities give, with a nuisance to the most). Heavy imports happen inside
the command.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from surrotag.cli import options

__all__ = ["run"]


@click.command("run")
@click.argument("analysis")
@click.argument("events", nargs=-1, type=click.Path(path_type=Path))
@click.option("--xsec-pb", type=float, default=None,
              help="Signal cross-section in pb (default: from the LHE <init> "
              "block, surrotag provenance or the MadGraph banner).")  # fmt: skip
@options.draws
@click.option("--device", default="cpu", show_default=True, help="Torch device (cpu, cuda).")
@options.stochastic
@options.tagger("Classifier surrogate, or the card's binned efficiency map (today's recast tools).")
@options.score_seed
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the full JSON report here (atomically).")  # fmt: skip
@click.option("--patch-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the signal's pyhf JSON patch here.")  # fmt: skip
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Draw mjj per region (background stack, "
              "signal, pseudo-data) to this image.")  # fmt: skip
@options.ood(
    "Objects outside the tagger's training support: vary their tag probability over "
    "[0, 1] (least signal in the fit, a nuisance to the most), or refuse the run (strict)."
)
@options.level(
    "Input level (default: the files' own: Delphes 'delphes', HepMC 'particle', LHE "
    "'parton'); 'particle' on a Delphes file uses its generator particles, no detector."
)
@options.threads
@click.option("--profile", is_flag=True, help="Print the seconds spent in each stage.")
@click.option("--surrogate", "surrogate_path", default=None, hidden=True, metavar="NAME|DIR")
@click.option(
    "--workspace",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    hidden=True,
    help="Background-only workspace replacing the analysis's.",
)
def run(
    analysis: str,
    events: tuple[Path, ...],
    xsec_pb: float | None,
    draws: int | None,
    device: str,
    stochastic: bool,
    tagger: str,
    seed: int,
    output: Path | None,
    patch_out: Path | None,
    plot: Path | None,
    ood: str,
    level: str | None,
    profile: bool,
    threads: str | None,
    surrogate_path: str | None,
    workspace: Path | None,
) -> None:
    """Recast ANALYSIS on signal EVENTS (files, globs, MadGraph run folders; none: the
    analysis's example signal): yields, CLs at mu = 1 and 95% CL upper limits."""
    from rich.console import Console

    from surrotag.recast import recast
    from surrotag.recast.plot import check_plot_dependencies
    from surrotag.recast.report import write_outputs
    from surrotag.recast.summary import print_profile, print_summary

    if plot is not None:  # fail before the work, not after it
        check_plot_dependencies()
    report = recast(
        analysis,
        list(events),
        xsec_pb=xsec_pb,
        draws=draws,
        device=device,
        stochastic=stochastic,
        tagger=tagger,
        seed=seed,
        surrogate=surrogate_path,
        workspace=workspace,
        ood=ood,
        level=level,
        threads=threads,
    )
    start = time.perf_counter()
    written = write_outputs(
        report, analysis, output=output, patch_out=patch_out, plot=plot, workspace=workspace
    )
    timings = {**report.timings, "output": time.perf_counter() - start}
    console = Console()
    print_summary(report, console)
    if written:
        console.print(
            f"wrote {', '.join(map(str, written))}", highlight=False, soft_wrap=True, markup=False
        )
    if profile:
        print_profile(timings, console)
