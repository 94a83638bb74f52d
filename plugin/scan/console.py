"""The terminal summary of ``surrotag scan`` (rich): points recast, CLs per point, files."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from surrotag.scan.pipeline import ScanOutputs

__all__ = ["print_scan"]


def print_scan(outputs: ScanOutputs, console: Console) -> None:
    """How many points were recast, skipped and failed, CLs and mu_up per point, the files.

    Args:
        outputs: what :func:`surrotag.scan.scan` did and wrote.
        console: where to print.
    """
    from rich.markup import escape

    result = outputs.result
    console.print(
        f"[bold]{len(result.outcomes)}[/] points: {result.count('done')} recast, "
        f"{result.count('skipped')} already finished, {result.count('failed')} failed "
        f"({result.wall_seconds:.1f} s on {result.workers} worker(s)) -> "
        f"{escape(str(result.directory))}",
        highlight=False,
        soft_wrap=True,
    )
    for row in outputs.rows:
        if row["status"] == "done":
            cls_obs, mu_exp = row.get("cls_obs"), row.get("mu_up_exp")
            console.print(
                f"  {row['name']}: CLs obs {cls_obs:.3g}"
                + (f", mu_up exp {mu_exp:.3g}" if mu_exp is not None else "")
                if cls_obs is not None
                else f"  {row['name']}: done",
                highlight=False,
                soft_wrap=True,
            )
    written = [outputs.summary, outputs.patchset, outputs.contour]
    console.print(
        "wrote " + ", ".join(str(p) for p in written if p is not None),
        highlight=False,
        markup=False,
    )
