"""``surrotag surrogate validate NAME TABLE -o DIR``: a surrogate's validation report.

Thin layer over :func:`surrotag.validation.validate_surrogate`: evaluates the surrogate on the
held-out split of the reference table, writes ``DIR/report.json`` and PNG figures and prints
the goals (value, goal, met) as a table; ``--record`` also writes the report as
``validation.json`` next to the surrogate's card and its headline numbers into the card.
Heavy imports happen inside the command.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["validate"]


@click.command()
@click.argument("name")
@click.argument("table", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Folder of report.json and the figures (created).")  # fmt: skip
@click.option("--n-max", type=click.IntRange(min=10), default=None,
              help="Use at most this many rows of the split (random, seeded).")  # fmt: skip
@click.option("--draws", type=click.IntRange(min=2), default=20, show_default=True,
              help="Bayesian weight draws.")  # fmt: skip
@click.option("--split", default="test", show_default=True,
              help="Rows of the table used (never seen in training).")  # fmt: skip
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=0, show_default=True)
@click.option("--weighted", is_flag=True,
              help="Weight jets by their generator weight "
              "(effective entries in the errors).")  # fmt: skip
@click.option("--no-plots", is_flag=True, help="Write report.json only.")
@click.option("--record", "--record-in-card", "record", is_flag=True,
              help="Also write the report as validation.json next to the surrogate's card.json "
              "and its headline figures into the card (validation block).")  # fmt: skip
def validate(
    name: str,
    table: Path,
    output: Path,
    n_max: int | None,
    draws: int,
    split: str,
    seed: int,
    weighted: bool,
    no_plots: bool,
    record: bool,
) -> None:
    """Validate surrogate NAME (registry name or folder) on reference TABLE.

    Efficiency pulls per truth class (contained, partially contained, QCD or unmatched) in
    pt, mass and pt x mass cells, Jensen-Shannon distance and its noise floor, a classifier
    two-sample test per class and the out-of-distribution scan, with the goals of the
    shipped surrogates (arXiv:2402.15558).
    """
    from surrotag.io.progress import step_progress
    from surrotag.validation.report import REPORT_FILE, STEPS, validate_surrogate

    with step_progress("validating", len(STEPS), kind="spinner", transient=True) as update:

        def tick(step: str) -> None:
            update(description=f"validating: {step}", advance=1)

        report = validate_surrogate(
            name,
            table,
            output,
            split=split,
            n_max=n_max,
            draws=draws,
            seed=seed,
            weighted=weighted,
            plots=not no_plots,
            progress=tick,
        )
    from surrotag.validation.console import print_goals

    print_goals(report)
    click.echo(f"wrote {output / REPORT_FILE}")
    if record:
        from surrotag.validation.report import record as record_report

        written, card = record_report(report)
        click.echo(f"recorded the report in {written} and its figures in {card}")
