"""Click options that several commands share: one decorator per option, the same everywhere.

The options that read events (``--level``, ``--max-events``, ``--step-size``) and those that
apply a surrogate (``--draws``, ``--stochastic``, ``--seed``, ``--threads``, ``--tagger``,
``--ood``) mean the same in ``features``, ``tag``, ``run`` and ``scan``; those that generate
events (``--events``, ``--mass``, ``--lsp-mass``) the same in ``reference generate`` and
``reference hepmc``. Decorators whose help depends on the command take it as an argument.
Commands use them as ``@options.draws``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = [
    "draws",
    "events",
    "level",
    "lsp_mass",
    "mass",
    "max_events",
    "ood",
    "score_seed",
    "step_size",
    "stochastic",
    "tagger",
    "threads",
]

F = TypeVar("F", bound=Callable[..., Any])


def level(help: str = "Input level (default: sniffed from the files).") -> Callable[[F], F]:
    """``--level``: one of :data:`~surrotag.io.levels.LEVEL_NAMES`, default None."""
    from surrotag.io.levels import LEVEL_NAMES  # not at import: the reference commands skip it

    return click.option("--level", type=click.Choice(LEVEL_NAMES), default=None, help=help)


def tagger(help: str) -> Callable[[F], F]:
    """``--tagger surrogate|efficiency-map``, default ``surrogate``."""
    choice = click.Choice(["surrogate", "efficiency-map"])
    return click.option("--tagger", type=choice, default="surrogate", show_default=True, help=help)


def ood(help: str) -> Callable[[F], F]:
    """``--ood nuisance|strict``, default ``nuisance``."""
    choice = click.Choice(["nuisance", "strict"])
    return click.option("--ood", type=choice, default="nuisance", show_default=True, help=help)


#: ``--draws K``: Bayesian weight draws, default None (the card's).
draws = click.option("--draws", type=click.IntRange(min=1), default=None,
                     help="Bayesian weight draws K (default: the card's).")  # fmt: skip
#: ``--stochastic``: 0/1 tags from sampled scores instead of exact probabilities.
stochastic = click.option("--stochastic", is_flag=True,
                          help="Sample one score per object and draw and cut on it "
                          "(0/1 tags) instead of the exact probability.")  # fmt: skip
#: ``--seed``: seed of the sampled scores (``--stochastic``), a non-negative int64.
score_seed = click.option(
    "--seed",
    type=click.IntRange(min=0, max=2**63 - 1),
    default=0,
    show_default=True,
    help="Seed of the sampled scores.",
)
#: ``--threads N|auto``: worker threads of the surrogate solve.
threads = click.option("--threads", default=None, metavar="N|auto",
                       help="Worker threads of the surrogate solve, each running torch on "
                       "one thread: N, or auto (default: SURROTAG_THREADS, else one per "
                       "usable core, capped by OMP_NUM_THREADS).")  # fmt: skip
#: ``--max-events N``: stop reading after N events in total.
max_events = click.option("--max-events", type=click.IntRange(min=1), default=None,
                          help="Stop after this many events in total.")  # fmt: skip
#: ``--step-size N``: events per chunk of the event stream.
step_size = click.option(
    "--step-size",
    type=click.IntRange(min=1),
    default=50_000,
    show_default=True,
    help="Events per chunk.",
)
#: ``--events N``: events to generate (required), passed as ``n_events``.
events = click.option(
    "--events", "n_events", type=click.IntRange(min=1), required=True, help="Number of events."
)
#: ``--mass`` (GeV): the Z' mass of the Z' presets, the stop mass of the stop-pair presets.
mass = click.option(
    "--mass", type=float, default=None,
    help="Z' mass in GeV (Z' presets), W' (wprime-wz), Y (y-xx), S (scalar-jet), stop "
    "(stop-pair presets).",
)  # fmt: skip


def _x_masses(_ctx: click.Context, _param: click.Parameter, value: str | None):
    """``MX,MX'`` -> (MX, MX') in GeV, or None."""
    if value is None:
        return None
    try:
        light, other = (float(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give two masses in GeV, e.g. 200,400") from None
    return light, other


#: ``--x-masses MX,MX'`` (GeV): the two scalar masses of the y-xx preset.
x_masses = click.option("--x-masses", "x_masses", default=None, callback=_x_masses,
                        help="X and X' masses in GeV, comma-separated (y-xx only).")  # fmt: skip
#: ``--lsp-mass`` (GeV): the neutralino mass of the stop-pair presets.
lsp_mass = click.option("--lsp-mass", type=float, default=None,
                        help="neutralino mass in GeV (stop-pair presets only)")  # fmt: skip
