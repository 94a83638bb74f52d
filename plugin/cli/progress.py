"""The progress bar of the commands that train a surrogate (rich, transient)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["epoch_progress"]


@contextlib.contextmanager
def epoch_progress(label: str, epochs: int) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A bar of ``epochs`` epochs with the best validation loss so far, gone when done.

    The bar appears with the first epoch, so that an error raised before the training (a
    bad table, a bad option) is the only thing printed.

    Args:
        label: what is trained (no rich markup).
        epochs: the most epochs the training runs.

    Yields:
        The ``progress`` callback of :func:`surrotag.surrogates.train.train_surrogate`: one
        call per epoch (``epoch``, ``best_val_loss``) and per MCMC sample (``phase``).
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]{task.description}[/bold]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} epochs {task.fields[loss]}"),
        TimeElapsedColumn(),
        transient=True,
    )
    task = progress.add_task(label, total=epochs, loss="")

    def tick(state: dict[str, Any]) -> None:
        if not progress.live.is_started:
            progress.start()
        if state.get("phase") == "mcmc":
            progress.update(task, description=f"{label}: mcmc samples", loss="")
        elif "epoch" in state:
            loss = state["best_val_loss"]
            text = f"best val {loss:.4f}" if math.isfinite(loss) else ""
            progress.update(task, completed=state["epoch"], loss=text)

    try:
        yield tick
    finally:
        if progress.live.is_started:
            progress.stop()
