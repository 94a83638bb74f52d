"""``surrotag surrogates`` and ``surrotag analyses``: what is installed, one line each."""

from __future__ import annotations

import click

__all__ = ["ANALYSIS_GROUP", "analyses", "surrogates"]

#: Entry-point group through which packages register analyses.
ANALYSIS_GROUP = "surrotag.analyses"


@click.command()
def surrogates() -> None:
    """List the installed surrogates: shipped ones and those of other packages."""
    from rich.console import Console
    from rich.table import Table

    from surrotag.surrogates.registry import list_surrogates

    infos = list_surrogates()
    console = Console()
    if not infos:
        console.print("no surrogates installed (train one with 'surrotag surrogate train')")
        return
    table = Table(box=None, header_style="bold")
    for column in ("name", "version", "tagger", "features", "bayes", "from"):
        table.add_column(column)
    for info in infos:
        if info.problem is not None:
            table.add_row(info.name, "", "", "", "", info.origin)
            table.add_row("", f"[red]broken: {info.problem}[/red]", "", "", "", "")
            continue
        table.add_row(
            info.name, info.version, info.tagger, str(info.n_features), info.bayes, info.origin
        )
    console.print(table)


def _summary(text: str, limit: int = 60) -> str:
    """The first sentence of ``text``, cut to ``limit`` characters."""
    first = " ".join(text.split()).split(". ")[0].rstrip(".")
    return first if len(first) <= limit else first[: limit - 3] + "..."


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print every card in full as JSON.")
def analyses(as_json: bool) -> None:
    """List the installed analyses (entry-point group ``surrotag.analyses``)."""
    import json

    from surrotag.analysis import list_analyses

    infos = list_analyses()
    if as_json:
        document = [
            {
                "name": info.name,
                "origin": info.origin,
                "problem": info.problem,
                "card": info.analysis.card.to_dict() if info.analysis is not None else None,
            }
            for info in infos
        ]
        click.echo(json.dumps(document, indent=2))
        return
    if not infos:
        click.echo(f"no analyses installed (entry-point group {ANALYSIS_GROUP!r})")
        return
    for info in infos:
        if info.analysis is None:
            click.echo(f"{info.name}  BROKEN ({info.origin}): {info.problem}")
            continue
        card = info.analysis.card
        regions = ", ".join(
            f"{r.name}[{r.tag.requirement}@{r.tag.working_point}, {r.observable.name} "
            f"{r.observable.n_bins} bins]"
            for r in card.regions
        )
        surrogates = ", ".join(f"{level}: {name}" for level, name in card.surrogate.names.items())
        click.echo(
            f"{card.name}  {_summary(card.description)}  sqrt(s) = {card.sqrt_s_gev / 1000:g} TeV"
            f"  L = {card.luminosity_ifb:g} fb^-1  regions: {regions}  surrogate: {surrogates}"
        )
