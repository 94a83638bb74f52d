"""Exception types of surrotag: one class per kind of failure.

Every error a user can cause (a missing file, a broken branch, a card that does not match)
derives from :class:`SurrotagError`, which is defined with the surrogate library's errors
(:mod:`surrotag.surrogates.errors`, the lowest layer) and re-exported here, as are the card
errors both layers raise: one root, so ``except SurrotagError`` catches every user error,
surrogate ones included. The CLI catches exactly this base class and prints its message as
one line, so messages must name the file or object and say how to fix it.
"""

from __future__ import annotations

from surrotag.surrogates.errors import CardError, IntegrityError, SurrotagError

__all__ = [
    "AnalysisError",
    "CardError",
    "CorruptFileError",
    "EmptyCollectionError",
    "EmptyInputError",
    "FeatureError",
    "FormatError",
    "GenerationError",
    "GridError",
    "InputFileError",
    "InputValueError",
    "IntegrityError",
    "MissingBranchError",
    "MissingDependencyError",
    "OutOfSupportError",
    "OutputError",
    "ScanError",
    "StatisticsError",
    "SurrotagError",
]


class InputFileError(SurrotagError):
    """An input file is missing or cannot be opened."""


class FormatError(InputFileError):
    """A file exists but is not in a format surrotag reads (or lacks the expected tree)."""


class CorruptFileError(InputFileError):
    """A file is truncated or corrupt: its bytes cannot be decoded."""


class MissingBranchError(InputFileError):
    """A ROOT tree lacks a branch that the requested objects need."""


class EmptyInputError(InputFileError):
    """A file or tree holds no events."""


class EmptyCollectionError(EmptyInputError):
    """Every event of the input lacks a collection the analysis's selection cannot do without."""


class MissingDependencyError(SurrotagError):
    """An optional dependency (an extra of the surrotag distribution) is not installed."""


class FeatureError(SurrotagError):
    """A feature is unknown, cannot be built from the input level, or has invalid values."""


class InputValueError(SurrotagError):
    """A numeric input (cross-section, luminosity, weights, probabilities, bins) is invalid."""


class GenerationError(SurrotagError):
    """The reference generator (Pythia 8 + detector + jets) is misconfigured or failed."""


class AnalysisError(SurrotagError):
    """An analysis is unknown or cannot run on the given input."""


class StatisticsError(SurrotagError):
    """A likelihood or patch is invalid for pyhf."""


class OutOfSupportError(AnalysisError):
    """Objects lie outside the surrogate's training support and the run refuses them."""


class OutputError(SurrotagError):
    """An output file cannot be written: a read-only folder, a full disk, a file in the way.

    Raised by the atomic writers (:mod:`surrotag.io.atomic`) in place of the ``OSError``;
    nothing of the failed output is left (the previous file, if any, is kept).
    """


class GridError(SurrotagError):
    """A scan grid (YAML, CSV or JSON list of signal points) fails its schema or names no file."""


class ScanError(SurrotagError):
    """A scan could not run, or some of its points failed (each recorded in its folder)."""
