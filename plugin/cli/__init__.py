"""The ``surrotag`` command line: a thin click layer over the library.

Each command lives in its own module of this package and is imported only when it runs,
so ``surrotag --version`` and ``surrotag --help`` never import torch or uproot. Every
:class:`~surrotag.errors.SurrotagError` becomes one line on stderr and exit code 1, and so
does any ``OSError`` that escapes (a write the atomic writers did not catch).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import signal
import sys
import threading
from collections.abc import Iterator

import click

from surrotag import __version__
from surrotag.errors import SurrotagError
from surrotag.surrogates.errors import describe, one_line

__all__ = ["LazyGroup", "cli", "exit_on_sigterm", "main"]


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use.

    Args:
        lazy_commands: command name -> ``(module, attribute, one-line help)``.
    """

    def __init__(
        self, *args, lazy_commands: dict[str, tuple[str, str, str]] | None = None, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def _available(self) -> dict[str, tuple[str, str, str]]:
        """The lazy commands whose module is installed (cheap: no import of the module)."""
        return {
            name: spec
            for name, spec in self.lazy_commands.items()
            if importlib.util.find_spec(spec[0]) is not None
        }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._available()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        available = self._available()
        if cmd_name in available:
            module, attribute, _ = available[cmd_name]
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands from the static help strings, without importing them."""
        rows = [(name, spec[2]) for name, spec in self._available().items()]
        rows += [
            (name, cmd.get_short_help_str(limit=60)) for name, cmd in sorted(self.commands.items())
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))


# name -> (module, attribute, one-line help). A command shows up once its module exists.
_COMMANDS = {
    "features": (
        "surrotag.cli.features",
        "features",
        "Build the public feature table of event files.",
    ),
    "run": ("surrotag.cli.run", "run", "Recast an analysis on signal events: yields, CLs, limits."),
    "scan": ("surrotag.cli.scan", "scan", "Recast a grid of signal points on Dask."),
    "tag": ("surrotag.cli.tag", "tag", "Write per-object and per-event tag probabilities."),
    "analyses": ("surrotag.cli.listing", "analyses", "List the installed analyses."),
    "surrogates": ("surrotag.cli.listing", "surrogates", "List the installed surrogates."),
}

_SURROGATE_COMMANDS = {
    "train": ("surrotag.cli.surrogate", "train", "Train a surrogate on a feature table."),
    "show": ("surrotag.cli.surrogate", "show", "Print a surrogate's card."),
    "solver": (
        "surrotag.cli.surrogate",
        "solver",
        "Choose a surrogate's RK4 steps and time grid by measured error.",
    ),
    "validate": ("surrotag.cli.validate", "validate", "Validation report of a surrogate."),
    "explain": ("surrotag.cli.explain", "explain", "Explain a surrogate: contours, importance."),
    "export": ("surrotag.cli.surrogate", "export", "Export the velocity field to ONNX."),
}

_REFERENCE_COMMANDS = {
    "generate": ("surrotag.cli.reference", "generate", "Generate a reference sample."),
    "hepmc": (
        "surrotag.cli.reference",
        "hepmc",
        "Write Pythia 8 events of a preset as HepMC3 (a user's shower output).",
    ),
    "train-tagger": ("surrotag.cli.reference", "train_tagger", "Train the internal tagger."),
    "train-event-classifier": (
        "surrotag.cli.reference",
        "train_event_classifier",
        "Train the internal stop/ttbar event classifier (dilepton).",
    ),
    "score": ("surrotag.cli.reference", "score", "Score jets with the internal tagger."),
    "anomaly-study": (
        "surrotag.cli.reference",
        "anomaly_study",
        "Train and measure the internal anomaly taggers: VAEs, LGAE (pre-registered).",
    ),
    "build-table": ("surrotag.cli.reference", "build_table", "Write the surrogate training table."),
    "anomaly-surrogates": (
        "surrotag.cli.ship",
        "anomaly_surrogates",
        "Table, training and validation of the anomaly-score surrogates (pre-registered).",
    ),
    "explain-tagger": ("surrotag.cli.explain", "explain_tagger", "Explain the internal tagger."),
    "explain-event-classifier": (
        "surrotag.cli.explain",
        "explain_event_classifier",
        "Explain the internal event classifier (arXiv:1804.09278).",
    ),
    "ship-surrogate": (
        "surrotag.cli.ship",
        "ship_surrogate",
        "Train a shipped top-tagger surrogate from the reference table.",
    ),
    "event-pipeline": (
        "surrotag.cli.ship",
        "event_pipeline",
        "Samples, event classifier and event table of the stop dilepton search.",
    ),
    "build-event-table": (
        "surrotag.cli.ship",
        "build_event_table",
        "Write the event surrogate's training table (event features, classifier logit).",
    ),
    "ship-event-surrogate": (
        "surrotag.cli.ship",
        "ship_event_surrogate",
        "Train the shipped event surrogate of the stop/ttbar classifier.",
    ),
    "validate-event-surrogate": (
        "surrotag.cli.ship",
        "validate_event_surrogate",
        "Run the pre-registered validation of the event surrogate.",
    ),
    "ship-solver": (
        "surrotag.cli.ship",
        "ship_solver",
        "Choose a shipped surrogate's RK4 steps and time grid by measured error.",
    ),
    "pipeline": (
        "surrotag.cli.reference",
        "pipeline",
        "Training set, internal tagger and surrogate table in one command.",
    ),
}


@click.group(
    cls=LazyGroup, lazy_commands=_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="surrotag")
def cli() -> None:
    """surrotag: recast searches that cut on ML taggers with classifier surrogates."""


@cli.group(cls=LazyGroup, lazy_commands=_SURROGATE_COMMANDS)
def surrogate() -> None:
    """Train, inspect, validate, explain and export surrogates."""


@cli.group(cls=LazyGroup, lazy_commands=_REFERENCE_COMMANDS)
def reference() -> None:
    """The reference experiment: generation, detector, internal tagger, tables."""


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def exit_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM (``kill``, a batch system's time limit) into ``SystemExit(143)``.

    Python's default SIGTERM handling ends the process at once; as an exception, the
    ``finally`` blocks and context managers on the way out still run, so scratch folders and
    the temporary files of atomic writes are removed. Only in the main thread (elsewhere a
    no-op); the previous handler is restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; each :class:`SurrotagError` or stray ``OSError`` is one line, exit 1."""
    with exit_on_sigterm():
        return _run(argv)


def _run(argv: list[str] | None) -> int:
    try:
        cli.main(args=argv, prog_name="surrotag", standalone_mode=False)
    except SurrotagError as error:
        click.echo(f"surrotag: error: {error}", err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("surrotag: aborted", err=True)
        return 130
    except click.UsageError as error:
        # click's own usage block is four lines; keep the promise of one line
        command = error.ctx.command_path if error.ctx is not None else "surrotag"
        message = one_line(error.format_message(), limit=None)
        click.echo(f"surrotag: error: {message} (see '{command} --help')", err=True)
        return error.exit_code
    except click.ClickException as error:
        click.echo(f"surrotag: error: {one_line(error.format_message(), limit=None)}", err=True)
        return error.exit_code
    except click.exceptions.Exit as exit_:
        return exit_.exit_code
    except OSError as error:  # the writers raise OutputError; this keeps the promise anyway
        click.echo(f"surrotag: error: {_os_error_line(error)}", err=True)
        return 1
    return 0


def _os_error_line(error: OSError) -> str:
    """One line for an ``OSError`` no layer turned into a :class:`SurrotagError`.

    Example:
        >>> _os_error_line(PermissionError(13, "Permission denied", "/proc/r.json"))
        '/proc/r.json: Permission denied (check the path, its permissions and the free space)'
    """
    reason = error.strerror or describe(error)
    where = f"{error.filename}: " if error.filename is not None else ""
    return one_line(f"{where}{reason} (check the path, its permissions and the free space)", None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
