"""Exception types of :mod:`surrotag.surrogates`: one class per kind of failure.

The surrogate library imports nothing from the rest of surrotag, so it has its own small
hierarchy. The CLI (``surrotag.cli.main``) reports every :class:`SurrogateError` as one line
on stderr with exit code 1, so messages name the file or object, say what is wrong and how
to fix it.
"""

from __future__ import annotations

__all__ = [
    "CardError",
    "IntegrityError",
    "SurrogateError",
    "SurrogateInputError",
    "SurrogateNotFoundError",
]


class SurrogateError(Exception):
    """Base class of every error of the surrogate library reported to a user as one line."""


class CardError(SurrogateError):
    """A surrogate card fails its JSON schema, has the wrong schema version, or is unreadable."""


class IntegrityError(CardError):
    """A file of a surrogate folder is missing or its sha256 differs from the card's."""


class SurrogateNotFoundError(SurrogateError):
    """No installed surrogate has the requested name and no such folder exists."""


class SurrogateInputError(SurrogateError):
    """Features, scores or thresholds given to a surrogate have the wrong shape or values."""
