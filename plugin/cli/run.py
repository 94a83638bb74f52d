"""``surrotag run``: recast an analysis on signal events, from events to CLs.

Thin layer over :func:`surrotag.recast.recast` (several analyses, or ``--all``:
:func:`surrotag.recast.recast_many`, one pass over the events, then one report per analysis
and a summary table; ``-o``, ``--patch-out`` and ``--plot`` then name folders): parse, run,
print the summary
(:func:`surrotag.recast.summary.print_summary`), and write the JSON report (validated
against ``report.schema.json``, then written atomically), the signal patch and the mjj plot.
Any :class:`~surrotag.errors.SurrotagError` becomes one line and exit code 1, and no report
is written; ``--ood strict`` makes a selected object outside the tagger's training support
such an error (default ``--ood nuisance``: it enters the likelihood at the least signal its
allowed tag probabilities give, with a nuisance to the most). Heavy imports happen inside
the command.
"""

from __future__ import annotations

from pathlib import Path

import click

from surrotag.cli import options

__all__ = ["run"]


@click.command("run")
@click.argument("arguments", nargs=-1, metavar="ANALYSIS... [EVENTS...]")
@click.option("--all", "every", is_flag=True,
              help="Every installed analysis (then every argument is an event input).")  # fmt: skip
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A YAML/JSON run configuration (analyses, events, these options); options "
              "given on the command line win.")  # fmt: skip
@click.option("--xsec-pb", type=float, default=None,
              help="Signal cross-section in pb (default: from the LHE <init> "
              "block, surrotag provenance or the MadGraph banner).")  # fmt: skip
@options.draws
@click.option("--device", default="cpu", show_default=True, help="Torch device (cpu, cuda).")
@options.stochastic
@options.tagger("Classifier surrogate, or the card's binned efficiency map (today's recast tools).")
@options.score_seed
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write the full JSON report here (atomically; a folder of one "
              "<analysis>.json each for several analyses).")  # fmt: skip
@click.option("--patch-out", type=click.Path(path_type=Path), default=None,
              help="Write the signal's pyhf JSON patch here (a folder for several).")  # fmt: skip
@click.option("--plot", type=click.Path(path_type=Path), default=None,
              help="Draw the binned observable per region (background stack, signal, "
              "pseudo-data) to this image (several analyses: a folder).")  # fmt: skip
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
    arguments: tuple[str, ...],
    every: bool,
    config: Path | None,
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
    """Recast ANALYSIS (one or several, read in one pass) on signal EVENTS (files, globs,
    MadGraph run folders; none, for one analysis: its example signal): yields, CLs at
    mu = 1 and 95% CL upper limits."""
    from rich.console import Console

    from surrotag.analysis import split_analyses
    from surrotag.recast.command import merge_config, run_and_write, usable_analyses
    from surrotag.recast.summary import print_profile, print_summary, print_table

    options = {"xsec_pb": xsec_pb, "draws": draws, "device": device, "stochastic": stochastic,
               "tagger": tagger, "seed": seed, "ood": ood, "level": level, "threads": threads,
               "output": output, "patch_out": patch_out, "plot": plot,
               "surrogate": surrogate_path, "workspace": workspace}  # fmt: skip
    if config is not None:
        source = click.get_current_context().get_parameter_source
        explicit = {k for k in options if source(k) is click.core.ParameterSource.COMMANDLINE}
        arguments, every, options = merge_config(config, arguments, every, options, explicit)
    analyses, events = split_analyses(list(arguments), every)
    console = Console()
    if every:  # --all: the analyses these events cannot serve are skipped, one line each
        analyses = usable_analyses(analyses, events, console, tagger=options.get("tagger"))
    reports, written, timings = run_and_write(analyses, events, options, many=every)
    for report in reports:
        print_summary(report, console)
    if len(reports) > 1:
        print_table(reports, console)
    if written:
        console.print(
            f"wrote {', '.join(map(str, written))}", highlight=False, soft_wrap=True, markup=False
        )
    if profile:
        print_profile(timings, console)
