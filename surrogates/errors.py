"""Exception types of :mod:`surrotag.surrogates`: one class per kind of failure.

The surrogate library imports nothing from the rest of surrotag, so the root of every
surrotag exception, :class:`SurrotagError`, lives here, in the lowest layer, and
:mod:`surrotag.errors` re-exports it (with :class:`CardError` and :class:`IntegrityError`,
shared by surrogate and analysis cards). One root: whatever a user causes, in the surrogate
library or the plugin, is a :class:`SurrotagError`, which the CLI (``surrotag.cli.main``)
reports as one line on stderr with exit code 1, so messages name the file or object, say
what is wrong and how to fix it.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "MAX_MESSAGE",
    "CardError",
    "IntegrityError",
    "SurrogateError",
    "SurrogateInputError",
    "SurrogateNotFoundError",
    "SurrotagError",
    "describe",
    "one_line",
]

#: Longest message fragment quoted from a file or a third-party error (characters).
MAX_MESSAGE: Final = 160


class SurrotagError(Exception):
    """Base class of every error that surrotag reports to a user as one line."""


class SurrogateError(SurrotagError):
    """Base class of every error of the surrogate library reported to a user as one line."""


class CardError(SurrogateError):
    """A surrogate or analysis card fails its JSON schema, has the wrong schema version, is
    unreadable, or does not fit its use."""


class IntegrityError(CardError):
    """A file is missing or its sha256 differs from the one its card records."""


class SurrogateNotFoundError(SurrogateError):
    """No installed surrogate has the requested name and no such folder exists."""


class SurrogateInputError(SurrogateError):
    """Features, scores or thresholds given to a surrogate have the wrong shape or values."""


def one_line(text: object, limit: int | None = MAX_MESSAGE) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters.

    Example:
        >>> one_line("a\\n  b", limit=None)
        'a b'
        >>> one_line("x" * 10, limit=6)
        'xxx...'
    """
    flat = " ".join(str(text).split())
    return flat if limit is None or len(flat) <= limit else flat[: limit - 3] + "..."


def describe(error: BaseException) -> str:
    """``Type: message`` of a third-party exception on one line, even when its ``__str__``
    raises; ``sys.exit`` (``SystemExit``) is named as such.

    Example:
        >>> describe(SystemExit(3))
        'it called sys.exit(3)'
        >>> describe(ValueError("bad\\nvalue"))
        'ValueError: bad value'
    """
    if isinstance(error, SystemExit):
        return f"it called sys.exit({one_line(repr(error.code))})"
    try:
        message = one_line(str(error))
    except Exception:
        message = "(its message cannot be printed)"
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
