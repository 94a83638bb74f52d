"""Progress bars of long library calls (rich, imported only when a bar is made).

:func:`epoch_progress` follows a surrogate's training (the ``progress`` callback of
:func:`surrotag.surrogates.train.train_surrogate`); :func:`step_progress` counts the steps of
any other long call (events generated, samples read, tagger epochs, validation steps) and
hands the caller rich's ``update`` of its one task. The commands of :mod:`surrotag.cli` show
their bars through these two, so every bar of the same kind looks the same.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any, Literal

__all__ = ["epoch_progress", "step_progress"]


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
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if not Console().is_terminal:  # a log file: plain lines instead of a bar nobody sees
        yield _epoch_lines(label, epochs)
        return
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
        if state.get("stage") == "bootstrap":
            step = f"bootstrap refit {state['fit']}/{state['fits']}"
            progress.update(task, description=f"{label}: {step}", loss="")
        elif state.get("phase") == "mcmc":
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


def _epoch_lines(label: str, epochs: int) -> Callable[[dict[str, Any]], None]:
    """:func:`epoch_progress` for a non-terminal: one line per tenth of the epochs and per
    stage of the posterior (bootstrap refit, mode, temperature, chains), with the time.

    Example:
        >>> tick = _epoch_lines("toy", 20)
        >>> tick({"epoch": 1, "best_val_loss": 0.5})
        toy: epoch 1/20, best val 0.5000 (0 s)
        >>> tick({"epoch": 3, "best_val_loss": 0.4})
        >>> tick({"phase": "mcmc", "stage": "temperature", "temperature": 3.0})
        toy: mcmc temperature 3 (0 s)
    """
    import time

    import click

    start = time.monotonic()
    every = max(1, epochs // 10)
    last: list[str] = [""]

    def line(text: str) -> None:
        click.echo(f"{label}: {text} ({time.monotonic() - start:.0f} s)")

    def tick(state: dict[str, Any]) -> None:
        if "epoch" in state and "phase" not in state:
            epoch = state["epoch"]
            if epoch == 1 or epoch % every == 0 or epoch == epochs:
                loss = state["best_val_loss"]
                best = f", best val {loss:.4f}" if math.isfinite(loss) else ""
                line(f"epoch {epoch}/{epochs}{best}")
            return
        stage = state.get("stage", "")
        if stage == "bootstrap":
            line(f"bootstrap refit {state['fit']}/{state['fits']}")
        elif stage == "temperature":
            line(f"mcmc temperature {state['temperature']:.3g}")
        elif state.get("done"):
            line(f"mcmc done, acceptance {state.get('acceptance', float('nan')):.2f}")
        elif stage and stage != last[0]:
            line(f"mcmc {stage}")
        last[0] = stage or last[0]

    return tick


@contextlib.contextmanager
def step_progress(
    description: str,
    total: int,
    *,
    kind: Literal["bar", "spinner"] = "bar",
    clock: Literal["elapsed", "remaining"] | None = "elapsed",
    transient: bool = False,
) -> Iterator[Callable[..., None]]:
    """A bar (or a spinner) of ``total`` steps, shown while the block runs.

    Args:
        description: the text before the bar (rich markup allowed).
        total: the number of steps.
        kind: ``bar``: a bar and the ``done/total`` count; ``spinner``: a spinner before the
            description instead (for steps of very unequal length).
        clock: show the elapsed time, the estimated time remaining, or neither (None).
        transient: remove the bar when the block ends (else it stays, complete).

    Yields:
        ``update(*, advance=None, completed=None, description=None)``: rich's
        :meth:`rich.progress.Progress.update` of the bar's one task.

    Example:
        >>> with step_progress("samples", 2, clock=None) as update:
        ...     for path in ("a.parquet", "b.parquet"):
        ...         update(advance=1, description=f"reading {path}")
        reading b.parquet ... 2/2
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    text = TextColumn("[progress.description]{task.description}")
    columns: list[ProgressColumn] = (
        [text, BarColumn(), MofNCompleteColumn()] if kind == "bar" else [SpinnerColumn(), text]
    )
    if clock is not None:
        columns.append(TimeElapsedColumn() if clock == "elapsed" else TimeRemainingColumn())
    with Progress(*columns, transient=transient) as progress:
        task = progress.add_task(description, total=total)

        def update(**fields: Any) -> None:
            progress.update(task, **fields)

        yield update
