"""The options of ``surrotag surrogate train`` as text, read into what :mod:`surrotag.training`
takes: the feature names, their NaN fills and the :class:`~surrotag.training.TableCard`.

Every check of a value's form lives here (``NAME=VALUE`` pairs, numbers, distinct names, the
clip range); a bad value raises :class:`OptionError`, which names the option it came from,
so a command line can report it as that option's error.

Example:
    >>> parse_numbers(["loose=0.3", "tight=0.8"], "--working-point")
    {'loose': 0.3, 'tight': 0.8}
    >>> parse_pairs(["jet_pt GeV"], "--unit")
    Traceback (most recent call last):
    ...
    surrotag.training_options.OptionError: --unit: 'jet_pt GeV': expected NAME=VALUE
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from surrotag.errors import InputValueError
from surrotag.training import TableCard

__all__ = ["OptionError", "TrainingOptions", "parse_numbers", "parse_pairs", "training_options"]


class OptionError(InputValueError):
    """A value of an option that does not have the option's form.

    Attributes:
        option: the option (``--fill``).
        reason: what is wrong, naming the value.
    """

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option}: {reason}")
        self.option = option
        self.reason = reason


class TrainingOptions(NamedTuple):
    """What :func:`training_options` read.

    Attributes:
        names: the feature columns, in model order.
        fills: value that stands for NaN, per feature.
        card: the card's fields beyond the training (:class:`~surrotag.training.TableCard`).
    """

    names: list[str]
    fills: dict[str, float]
    card: TableCard


def parse_pairs(values: Iterable[str], option: str) -> dict[str, str]:
    """``NAME=VALUE`` texts as a dict (names and values stripped; a later name wins).

    Args:
        values: the option's values.
        option: the option's name, for the error.

    Raises:
        OptionError: a value without ``=`` or without a name.
    """
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise OptionError(option, f"{value!r}: expected NAME=VALUE")
        out[key.strip()] = rest.strip()
    return out


def parse_numbers(values: Iterable[str], option: str, what: str = "") -> dict[str, float]:
    """``NAME=NUMBER`` texts as floats.

    Args:
        values: the option's values.
        option: the option's name, for the error.
        what: the number's name in the error (``"threshold is "``).

    Raises:
        OptionError: a value that is no ``NAME=VALUE`` pair, or whose value is no number.
    """
    numbers = {}
    for key, text in parse_pairs(values, option).items():
        try:
            numbers[key] = float(text)
        except ValueError:
            raise OptionError(option, f"{key}={text}: {what}not a number") from None
    return numbers


def training_options(
    features: str,
    *,
    name: str,
    score_space: str = "logit",
    clip: float = 1e-6,
    working_points: Iterable[str] = (),
    units: Iterable[str] = (),
    fills: Iterable[str] = (),
    tagger: str | None = None,
    description: str = "",
) -> TrainingOptions:
    """Read the options of a surrogate's training, given as on the command line.

    Args:
        features: comma-separated distinct feature columns (``--features``).
        name: the surrogate's registry name.
        score_space: ``logit`` or ``identity`` (:class:`~surrotag.training.TableCard`).
        clip: logit space: scores are clipped to ``[clip, 1 - clip]``; in ``[0, 0.5)``.
        working_points: ``NAME=THRESHOLD`` cuts on the score (``--working-point``).
        units: ``FEATURE=UNIT`` of features not in the feature registry (``--unit``).
        fills: ``FEATURE=VALUE`` standing for NaN in one of ``features`` (``--fill``).
        tagger: the tagger's name (None: the score column).
        description: one sentence about the surrogate.

    Returns:
        :class:`TrainingOptions`.

    Raises:
        OptionError: the first value that has not its option's form, in the order above's
            checks: features, fills, clip, working points, units.

    Example:
        >>> options = training_options("jet_pt,jet_mass", name="mine", fills=["jet_mass=0"])
        >>> options.names, options.fills, options.card.name
        (['jet_pt', 'jet_mass'], {'jet_mass': 0.0}, 'mine')
    """
    names = [item.strip() for item in features.split(",") if item.strip()]
    if not names or len(set(names)) != len(names):
        raise OptionError("--features", f"{features!r}: give distinct names, comma-separated")
    filled = parse_numbers(fills, "--fill")
    unknown = [key for key in filled if key not in names]
    if unknown:
        raise OptionError("--fill", f"{unknown[0]!r} is not one of --features")
    if not 0 <= clip < 0.5:
        raise OptionError("--clip", f"{clip}: must lie in [0, 0.5)")
    card = TableCard(
        name=name,
        score_space=score_space,
        clip=clip,
        working_points=parse_numbers(working_points, "--working-point", "threshold is "),
        units=parse_pairs(units, "--unit"),
        tagger=tagger,
        description=description,
    )
    return TrainingOptions(names, filled, card)
