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


@click.command()
def analyses() -> None:
    """List the installed analyses (entry-point group ``surrotag.analyses``)."""
    from importlib.metadata import entry_points

    found = sorted(entry_points(group=ANALYSIS_GROUP), key=lambda entry: entry.name)
    if not found:
        click.echo("no analyses installed")
        return
    for entry in found:
        owner = f" ({entry.dist.name})" if getattr(entry, "dist", None) is not None else ""
        click.echo(f"{entry.name}\t{entry.value}{owner}")
