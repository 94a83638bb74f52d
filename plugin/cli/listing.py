"""``surrotag surrogates`` and ``surrotag analyses``: what is installed, one line each."""

from __future__ import annotations

import click

__all__ = ["ANALYSIS_GROUP", "analyses", "surrogates"]

#: Entry-point group through which packages register analyses.
ANALYSIS_GROUP = "surrotag.analyses"


@click.command()
def surrogates() -> None:
    """List the installed surrogates: shipped ones and those of other packages."""
    from surrotag.card_console import print_surrogates
    from surrotag.surrogates.registry import list_surrogates

    print_surrogates(list_surrogates())


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print every card in full as JSON.")
def analyses(as_json: bool) -> None:
    """List the installed analyses (entry-point group ``surrotag.analyses``)."""
    import json

    from surrotag.analysis import list_analyses

    infos = list_analyses()
    if as_json:
        click.echo(json.dumps([info.to_dict() for info in infos], indent=2))
        return
    if not infos:
        click.echo(f"no analyses installed (entry-point group {ANALYSIS_GROUP!r})")
        return
    for info in infos:
        click.echo(info.summary())
