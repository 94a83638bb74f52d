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

__all__ = [
    "CardError",
    "IntegrityError",
    "SurrogateError",
    "SurrogateInputError",
    "SurrogateNotFoundError",
    "SurrotagError",
]


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
