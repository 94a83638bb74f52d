"""Terminal summary of a recast report (rich): yields with their uncertainties, CLs, limits."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from surrotag.recast.report import RecastReport

__all__ = ["print_profile", "print_summary", "print_table"]


def _limit(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "none"


def print_summary(report: RecastReport, console: Console) -> None:
    """Yields per region (MC stat and surrogate errors), CLs obs/exp, mu_up, OOD, warnings."""
    from rich.markup import escape
    from rich.table import Table

    xsec = report.cross_section
    tagger = report.tagger
    console.print(
        f"[bold]{escape(str(report.analysis))}[/] on {report.n_events} {report.level}-level "
        f"events; sigma = {xsec.value_pb:.4g} pb ({escape(str(xsec.source))}); "
        f"tagger {escape(str(tagger['name']))} "
        f"({tagger['kind']}, K={tagger['draws']}"
        + (", stochastic" if tagger["stochastic"] else "")
        + f"); selection efficiency {report.selection_efficiency:.3f}",
        highlight=False,
        soft_wrap=True,
    )
    table = Table(title="signal yields at mu = 1 (events)")
    for column in ("region", "tag", "yield", "MC stat", "surrogate", "total unc."):
        table.add_column(column, justify="left" if column in ("region", "tag") else "right")
    for region in report.regions:
        stat, surr = region.total_mc_stat, region.total_surrogate
        table.add_row(
            escape(str(region.name)),
            escape(f"{region.requirement} {region.working_point}"),
            f"{region.total:.4g}",
            f"{stat:.3g}",
            f"{surr:.3g}",
            f"{math.hypot(stat, surr):.3g}",
        )
    console.print(table)
    cls, limit = report.cls, report.limit
    if not cls.sensitive:
        console.print("no signal in any bin: CLs = 1, no exclusion, no limit", highlight=False)
    else:
        verdict = "[red]excluded[/]" if report.excluded else "[green]not excluded[/]"
        expected = ", ".join(f"{v:.3g}" for v in cls.expected)
        console.print(
            f"CLs(mu=1) observed {cls.observed:.3g} ({verdict} at 95% CL); "
            f"{cls.expected_kind} expected [-2..+2 sigma] {expected} "
            f"(pyhf {escape(str(cls.backend))} backend)",
            highlight=False,
            soft_wrap=True,
        )
        console.print(
            f"mu_up (95% CL) observed {_limit(limit.observed)}; {limit.expected_kind} expected "
            + " / ".join(_limit(v) for v in limit.expected),
            highlight=False,
            soft_wrap=True,
        )
    shares = ", ".join(
        f"{escape(str(r.name))} {100 * r.yields.ood_share:.1f}%" for r in report.regions
    )
    console.print(
        f"OOD ({report.ood_method} check, {report.ood_policy}): "
        f"{100 * report.ood_fraction:.1f}% of {report.n_objects} tagged objects; share of the "
        f"signal yield {shares}",
        highlight=False,
        soft_wrap=True,
    )
    if report.ood_note:
        console.print(f"note: {escape(str(report.ood_note))}", highlight=False, soft_wrap=True)
    for line in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(str(line))}", highlight=False, soft_wrap=True)


def print_profile(timings: dict[str, float], console: Console) -> None:
    """Seconds per stage and their total."""
    total = sum(timings.values())
    parts = ", ".join(f"{name} {seconds:.2f}" for name, seconds in timings.items())
    console.print(f"profile (s): {parts}; total {total:.2f}", highlight=False, soft_wrap=True)


def print_table(reports: list[RecastReport], console: Console) -> None:
    """One row per analysis: selected events, region totals, CLs and mu_up (obs. and exp.)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{len(reports)} analyses on the same events")
    for column in ("analysis", "selected", "region yields", "CLs obs.", "mu_up obs.", "mu_up exp."):
        table.add_column(column, justify="left" if column == "analysis" else "right")
    for report in reports:
        document = report.to_dict()
        cutflow = document["selection"]["cutflow"]
        table.add_row(
            escape(str(report.analysis)),
            f"{list(cutflow.values())[-1]:,}",
            ", ".join(f"{escape(str(r.name))} {r.total:.3g}" for r in report.regions),
            f"{report.cls.observed:.3g}" if report.cls.sensitive else "1",
            _limit(report.limit.observed),
            _limit(report.limit.expected[2]),
        )
    console.print(table)
