"""Feature tables as the tag stage reads them: columns, the feature matrix, taggable rows.

A feature table has one row per object (awkward records from
:func:`surrotag.features.build_features`, a pyarrow table, or a mapping name -> 1-D array).
:func:`feature_matrix` gives a surrogate's ``[N, F]`` input, checked present and finite;
:func:`taggable` the rows that can be tagged at an input level at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from surrotag.errors import FeatureError, InputValueError
from surrotag.features.registry import FEATURES
from surrotag.io.levels import INPUT_LEVELS, input_level

if TYPE_CHECKING:
    from surrotag.io.levels import InputLevel

__all__ = [
    "TAGGABLE_FEATURES",
    "column",
    "feature_matrix",
    "n_rows",
    "required_column",
    "select_rows",
    "taggable",
]

#: Features deciding, per row kind, whether an object can be tagged at all
#: (:attr:`surrotag.io.levels.InputLevel.taggable_features` by the level's row kind; parton
#: level: only hadronically decaying tops with a decay chain make a top-tagged jet).
TAGGABLE_FEATURES: Final = MappingProxyType(
    {level.row_kind: level.taggable_features for level in INPUT_LEVELS.values()}
)


def column(table: Any, name: str) -> np.ndarray | None:
    """Column ``name`` of awkward records, a pyarrow table or a mapping, as numpy (or None).

    Raises:
        InputValueError: ``table`` is none of these.
    """
    if isinstance(table, Mapping):
        return None if name not in table else np.asarray(table[name])
    fields = getattr(table, "fields", None)  # awkward
    if fields is not None:
        import awkward as ak

        return None if name not in fields else ak.to_numpy(table[name])
    names = getattr(table, "column_names", None)  # pyarrow
    if names is not None:
        return None if name not in names else table.column(name).to_numpy()
    raise InputValueError(
        f"feature table of type {type(table).__name__}: pass awkward records, a pyarrow table "
        "or a dict of columns (e.g. from surrotag.features.build_features)"
    )


def required_column(table: Any, name: str) -> np.ndarray:
    """Column ``name`` as numpy; a missing one is a :class:`FeatureError` naming its source."""
    values = column(table, name)
    if values is None:
        raise FeatureError(f"feature table has no column {name!r}; {_provider(name)}")
    return np.asarray(values)


def n_rows(table: Any) -> int:
    """Rows of awkward records, a pyarrow table or a mapping of columns."""
    if isinstance(table, Mapping):
        return len(next(iter(table.values()))) if table else 0
    return int(table.num_rows) if hasattr(table, "num_rows") else len(table)


def select_rows(table: Any, mask: np.ndarray) -> Any:
    """The rows of ``mask`` of awkward records, a pyarrow table or a mapping of columns."""
    if isinstance(table, Mapping):
        return {name: np.asarray(values)[mask] for name, values in table.items()}
    if hasattr(table, "filter") and hasattr(table, "num_rows"):  # pyarrow
        import pyarrow as pa

        return table.filter(pa.array(mask))
    return table[mask]


def taggable(table: Any, level: str | InputLevel) -> np.ndarray:
    """``[N]`` bool: the rows that can be tagged at an input level.

    Every fat jet (delphes and particle level); at parton level the hadronically decaying
    tops with a decay chain (:attr:`~surrotag.io.levels.InputLevel.taggable_features`): a
    leptonic top makes no top-tagged jet, so it gets tag probability 0, not a surrogate's
    guess.

    Example:
        >>> taggable({"top_hadronic": [1.0, 0.0], "flag_top_no_decay_chain": [False, False]},
        ...          "parton").tolist()
        [True, False]
    """
    if not input_level(level).taggable_features:
        return np.ones(n_rows(table), dtype=bool)
    hadronic = np.nan_to_num(np.asarray(column(table, "top_hadronic"), dtype=np.float64)) > 0.5
    return hadronic & ~np.asarray(column(table, "flag_top_no_decay_chain"), dtype=bool)


def _provider(name: str) -> str:
    feature = FEATURES.get(name)
    if feature is None:
        return "it is not a surrotag feature, so the table itself must provide that column"
    return (
        f"it is built from {' or '.join(feature.levels)}-level input by "
        f"`surrotag features EVENTS --features {name}` (surrotag.features.build_features)"
    )


def feature_matrix(
    table: Any, names: Sequence[str], fills: Mapping[str, float] | None = None
) -> np.ndarray:
    """The ``[N, F]`` float64 matrix of the named columns, checked present and finite.

    Args:
        table: awkward records, a pyarrow table or a mapping name -> 1-D array.
        names: feature names in model order (``Card.feature_names``).
        fills: value standing for NaN per feature, as in training (``Card.feature_fills``,
            e.g. 0 for the containment of a jet matched to no top); other NaN are refused.

    Raises:
        FeatureError: a column is missing (naming the input level and command that build
            it) or holds NaN/inf (naming how many rows and the flags that explain them).
    """
    columns = []
    for name in names:
        values = column(table, name)
        if values is None:
            raise FeatureError(
                f"feature table has no column {name!r} needed by the surrogate; {_provider(name)}"
            )
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if fills and name in fills:
            values = np.where(np.isnan(values), fills[name], values)
        bad = ~np.isfinite(values)
        if bad.any():
            flags = FEATURES[name].flags if name in FEATURES else ()
            why = f" (see the {', '.join(flags)} column)" if flags else ""
            raise FeatureError(
                f"feature {name!r} is NaN or infinite in {int(bad.sum())} of {values.size} "
                f"rows{why}; the surrogate is undefined there: select or fill those objects "
                "before tagging"
            )
        columns.append(values)
    if len({values.size for values in columns}) > 1:
        raise FeatureError(f"feature columns {list(names)} have different lengths")
    n = columns[0].size if columns else 0
    return np.column_stack(columns) if columns else np.zeros((n, 0))
