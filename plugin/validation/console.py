"""The goals of a validation report as a table on the terminal (rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from surrotag.validation.report import ValidationReport

__all__ = ["print_goals"]


def _format(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_goals(report: ValidationReport) -> None:
    """The goals of a report as a rich table on stdout, shipping goals first."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"validation of {report.surrogate['name']} "
        f"({report.table['rows_used']} jets, split {report.table['split']})"
    )
    for column in ("goal", "value", "target", "met", "ship", "note"):
        table.add_column(column, overflow="fold")
    for goal in sorted(report.goals, key=lambda g: not g.ship):
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "[yellow]n/a[/]"}[goal.met]
        table.add_row(
            goal.name, _format(goal.value), goal.target, met, "yes" if goal.ship else "", goal.note
        )
    console = Console()
    console.print(table)
    pulls = report.summaries["pt_mass"].pulls
    js = report.js
    verdict = {True: "met", False: "MISSED", None: "not testable"}[report.ship_goals_met]
    console.print(
        f"shipping goals {verdict}; 2-D pulls: {pulls.n_cells} cells, mean {pulls.mean:+.2f}, "
        f"RMS {pulls.rms:.2f}, {pulls.fraction_within:.1%} within 2. JS distance "
        f"{js['value']:.4f} +- {js['spread']:.4f} (draws), noise floor "
        f"{js['noise_floor']:.4f} at N = {js['protocol']['n_jets']}; OOD fraction "
        f"{report.ood_fraction:.3f}; {report.seconds:.1f} s"
    )
