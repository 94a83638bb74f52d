"""The summaries of ``surrotag surrogate explain`` and ``reference explain-tagger`` (rich)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["print_surrogate_summary", "print_tagger_summary"]


def print_surrogate_summary(
    summary: Mapping[str, Any], name: str, target: Path, console: Console
) -> None:
    """Headline of a surrogate's explanation: top features, simple cuts, ascent, notes.

    Args:
        summary: the document of :func:`surrotag.explain.report.explain_surrogate`
            (``SurrogateExplanation.to_dict()``), with the table's description under
            ``table``.
        name: the surrogate's name.
        target: the ``summary.json`` written.
        console: where to print.
    """
    imp = summary["importance"]
    console.print(
        f"[bold]{name}[/] at {summary['working_point']} on {summary['table']['rows']} rows"
    )
    console.print(f"  top features (permutation): {', '.join(imp['ranking_permutation'][:3])}")
    ig = ", ".join(imp["ranking_integrated_gradients"][:3])
    console.print(f"  top features (integrated gradients): {ig}")
    for key, cut in summary["simple_cut"].items():
        console.print(
            f"  {key}-feature cut: {cut['cut']}: agreement {cut['agreement']:.3f} "
            f"(constant decision {cut['trivial_agreement']:.3f})"
        )
    asc = summary["ascent"]
    console.print(
        f"  ascent: mean P(tag) {asc['p_start_mean']:.3f} -> {asc['p_final_mean']:.3f} "
        f"({asc['gradient']} gradients)"
    )
    for note in imp["notes"]:
        console.print(f"  note: {note}")
    console.print(f"  wrote {target} and {len(summary['files'])} figures")


def print_tagger_summary(summary: Mapping[str, Any], target: Path, console: Console) -> None:
    """Headline of the internal tagger's explanation: ascent, artificial jets, top MI units.

    Args:
        summary: the document of :func:`surrotag.explain.report.explain_tagger`
            (``TaggerExplanation.to_dict()``).
        target: the ``summary.json`` written.
        console: where to print.
    """
    asc = summary["ascent"]
    pops = asc["populations_quantiles_16_50_84"]
    console.print(
        f"[bold]internal tagger[/] {summary['tagger_sha256'][:12]}: "
        f"{summary['jets']['top']} top, {summary['jets']['qcd']} QCD jets"
    )
    console.print(
        f"  ascent: median logit {asc['logit_start_median']:.2f} -> {asc['logit_final_median']:.2f}"
        f" (real top {asc['logit_real_top_median']:.2f})"
    )
    for name, q in pops.items():
        console.print(
            f"  {name}: median mass {q['mass'][1]:.1f} GeV, median tau32 "
            f"{q['tau32'][1] if q['tau32'][1] is not None else float('nan'):.3f}"
        )
    for variable, units in summary["mutual_information"]["top_units"].items():
        best = units[0]
        console.print(
            f"  MI {variable}: {best['layer']}[{best['unit']}] {best['mi_nats']:.3f} nats"
        )
    console.print(f"  wrote {target} and {len(summary['files'])} figures")
