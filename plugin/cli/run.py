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

from surrotag.io.levels import LEVEL_NAMES

__all__ = ["run"]


@click.command("run")
@click.argument("analysis")
@click.argument("events", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--xsec-pb",
    type=float,
    default=None,
    help="Signal cross-section in pb (default: from the LHE <init> block, surrotag "
    "provenance or the MadGraph banner).",
)
@click.option("--draws", type=click.IntRange(min=1), default=None, help="Bayesian weight draws K.")
@click.option("--device", default="cpu", show_default=True, help="Torch device (cpu, cuda).")
@click.option("--stochastic", is_flag=True, help="Sample one score per jet instead of P exactly.")
@click.option(
    "--tagger",
    type=click.Choice(["surrogate", "efficiency-map"]),
    default="surrogate",
    show_default=True,
    help="Classifier surrogate, or the card's binned efficiency map (today's recast tools).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0, max=2**63 - 1),
    default=0,
    show_default=True,
    help="Seed of sampled scores.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the full JSON report here (atomically).",
)
@click.option(
    "--patch-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the signal's pyhf JSON patch here.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Draw mjj per region (background stack, signal, pseudo-data) to this image.",
)
@click.option(
    "--ood",
    type=click.Choice(["nuisance", "strict"]),
    default="nuisance",
    show_default=True,
    help="Objects outside the tagger's training support: vary their tag probability over "
    "[0, 1] (least signal in the fit, a nuisance to the most), or refuse the run (strict).",
)
@click.option(
    "--level",
    type=click.Choice(LEVEL_NAMES),
    default=None,
    help="Input level (default: the files' own: Delphes 'delphes', HepMC 'particle', LHE "
    "'parton'); 'particle' on a Delphes file uses its generator particles, no detector.",
)
@click.option(
    "--threads",
    default=None,
    metavar="N|auto",
    help="Torch threads of the surrogate solve: N, or auto (default: SURROTAG_THREADS, else "
    "1 thread when other processes hold the cores, else all usable cores).",
)
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

    from surrotag.recast import recast, validate_report, write_report
    from surrotag.recast.summary import print_profile, print_summary

    if plot is not None:  # fail before the work, not after it
        import importlib.util

        from surrotag.errors import MissingDependencyError

        if not all(importlib.util.find_spec(name) for name in ("matplotlib", "mplhep")):
            raise MissingDependencyError(
                "--plot needs matplotlib and mplhep: pip install 'surrotag[plot]'"
            )
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
    timings = dict(report.timings)
    start = time.perf_counter()
    document = report.to_dict()
    validate_report(document)
    if plot is not None:
        from surrotag.analysis import get_analysis
        from surrotag.recast.plot import plot_mjj

        ws = workspace if workspace is not None else get_analysis(analysis).workspace()
        plot_mjj(report, ws, plot)
    if patch_out is not None:
        from surrotag.stats.patch import write_patchset

        write_patchset(patch_out, report.patch.ops)
    if output is not None:
        write_report(document, output)
    timings["output"] = time.perf_counter() - start
    console = Console()
    print_summary(report, console)
    written = [str(p) for p in (output, patch_out, plot) if p is not None]
    if written:
        console.print(f"wrote {', '.join(written)}", highlight=False, soft_wrap=True, markup=False)
    if profile:
        print_profile(timings, console)
