"""Train a surrogate on a feature table: the library side of ``surrotag surrogate train``.

:func:`read_training_rows` reads only the needed columns of a Parquet table
(:func:`surrotag.io.parquet.read_columns`), optionally the rows of one split, fills NaN per
feature and drops (and counts) the rows with a NaN/inf feature or score.
:func:`train_on_rows` checks the score against its modelled space, trains by conditional
flow matching (:func:`surrotag.surrogates.train.train_surrogate`), builds the card
(:func:`card_fields`, through :func:`surrotag.surrogates.card.build_card_fields`: units and
descriptions from the feature registry, working points with their efficiency on the
training rows) and writes the surrogate folder (card + safetensors weights). The shipped
surrogates are built by :mod:`surrotag.reference.ship` instead (working points at fixed
signal efficiencies).

Example:
    >>> import numpy as np
    >>> working_point_efficiencies({"loose": 0.5}, np.array([0.2, 0.6, 0.9, 0.4]), "score",
    ...                            "table.parquet")[0]["efficiency"]
    0.5

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from surrotag.errors import EmptyInputError, FeatureError, FormatError, SurrotagError

if TYPE_CHECKING:
    from surrotag.surrogates.card import Card, WorkingPoint
    from surrotag.surrogates.train import TrainConfig, TrainReport

__all__ = [
    "TableCard",
    "TrainingRows",
    "card_fields",
    "feature_entries",
    "read_training_rows",
    "surrogate_name",
    "train_on_rows",
    "working_point_efficiencies",
]

_NAME_CHARACTERS = re.compile(r"[^a-z0-9_.-]+")


@dataclass(frozen=True)
class TrainingRows:
    """The rows of a feature table a surrogate is trained on.

    Attributes:
        path: the table.
        names: feature columns, in model order.
        score_column: the column of the tagger score.
        features: ``[N, F]`` float64, NaN filled per :attr:`fills`, all finite.
        scores: ``[N]`` float64 tagger scores, all finite.
        total: rows read (of :attr:`split`), before the non-finite ones were dropped.
        fills: value that stands for NaN, per feature name.
        split: the ``split`` value the rows were chosen by (None: every row).
    """

    path: Path
    names: tuple[str, ...]
    score_column: str
    features: np.ndarray
    scores: np.ndarray
    total: int
    fills: Mapping[str, float] = field(default_factory=dict)
    split: str | None = None

    @property
    def dropped(self) -> int:
        """Rows dropped for a NaN/inf feature or score."""
        return self.total - int(self.scores.size)


def read_training_rows(
    path: str | os.PathLike[str],
    names: Sequence[str],
    score_column: str,
    *,
    fills: Mapping[str, float] | None = None,
    split: str | None = None,
) -> TrainingRows:
    """Features and score of every row of a table (of one split) with finite values.

    Args:
        path: the Parquet table.
        names: feature columns, in model order.
        score_column: the tagger score's column.
        fills: value that stands for NaN, per feature name (e.g. 0 contained decay products
            of a jet matched to no top).
        split: only the rows whose ``split`` column equals it.

    Raises:
        InputFileError: no such file.
        CorruptFileError: not a readable Parquet file.
        FormatError: a column (or the ``split`` column) is missing or not numeric.
        EmptyInputError: no row of ``split``.
    """
    from surrotag.io.parquet import read_columns

    fills = dict(fills or {})
    columns = read_columns(
        path,
        [*names, score_column],
        optional=["split"] if split is not None else [],
        text={"split"},
        hint="pass a feature table with those columns (check --table, --features and --score)",
    )
    if split is not None:
        if "split" not in columns:
            raise FormatError(f"{path}: no 'split' column to select --split {split!r} from")
        values = columns.pop("split")
        chosen = values == split
        if not chosen.any():
            present = sorted({str(value) for value in values})
            raise EmptyInputError(
                f"{path}: no rows with split == {split!r} (it has: {', '.join(present)})"
            )
        columns = {name: column[chosen] for name, column in columns.items()}
    features = np.column_stack(
        [np.nan_to_num(columns[n], nan=fills[n]) if n in fills else columns[n] for n in names]
    )
    scores = columns[score_column]
    finite = np.isfinite(features).all(axis=1) & np.isfinite(scores)
    return TrainingRows(
        path=Path(path),
        names=tuple(names),
        score_column=score_column,
        features=features[finite],
        scores=scores[finite],
        total=finite.size,
        fills=fills,
        split=split,
    )


def surrogate_name(folder: str | os.PathLike[str]) -> str:
    """A registry name from a folder's name: lower case, runs of other characters as ``-``."""
    return _NAME_CHARACTERS.sub("-", Path(folder).name.lower()).strip("-.") or "surrogate"


@dataclass(frozen=True)
class TableCard:
    """What the card of a surrogate trained on a table says beyond the training itself.

    Attributes:
        name: registry name.
        score_space: ``logit`` (of a probability score) or ``identity`` (the score as it is).
        clip: logit space: scores are clipped to ``[clip, 1 - clip]`` first.
        working_points: threshold on the score, per working-point name.
        units: unit per feature, overriding the feature registry's (e.g. ``GeV``).
        tagger: name of the tagger (None: the score column).
        description: one sentence about the surrogate.
    """

    name: str
    score_space: str = "logit"
    clip: float = 1e-6
    working_points: Mapping[str, float] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    tagger: str | None = None
    description: str = ""


def feature_entries(
    names: Sequence[str],
    units: Mapping[str, str],
    fills: Mapping[str, float],
    columns: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Name, unit, description (and NaN fill) per feature: the registry, overridden by ``units``.

    Args:
        names: feature names, in model order.
        units: unit per feature name, overriding the registry's.
        fills: value that stands for NaN, per feature name.
        columns: the table column each feature was trained on (None: its name); a column
            other than the name is said in the description.
    """
    from surrotag.features.registry import get_feature
    from surrotag.surrogates.card import feature_entry

    entries = []
    for name, column in zip(names, columns or names, strict=True):
        try:
            known = get_feature(name)
            unit, description = known.unit, known.description
        except SurrotagError:
            unit, description = "", "not in the surrotag feature registry"
        if column != name:
            description += f" (trained on table column {column})"
        entries.append(feature_entry(name, units.get(name, unit), description, fills.get(name)))
    return entries


def working_point_efficiencies(
    thresholds: Mapping[str, float], scores: np.ndarray, column: str, table: str
) -> list[WorkingPoint]:
    """Working points ``score > threshold`` with their efficiency on the training rows.

    Args:
        thresholds: threshold on the score, per working-point name.
        scores: ``[N]`` training scores (as in the table, not the modelled space).
        column: the score's column, for the definition.
        table: the table's file name, for the definition.

    Returns:
        One card working point per name: ``efficiency`` = fraction of ``scores`` above.
    """
    return [
        {
            "name": name,
            "threshold": threshold,
            "efficiency": float((scores > threshold).mean()),
            "definition": f"{column} > {threshold}; efficiency = fraction of the {scores.size} "
            f"training rows of {table} above the cut",
        }
        for name, threshold in thresholds.items()
    ]


def card_fields(
    rows: TrainingRows, card: TableCard, report: TrainReport | None = None
) -> dict[str, Any]:
    """The card fields of a surrogate trained on ``rows``, as ``save_surrogate`` takes them.

    Args:
        rows: the training rows.
        card: name, score space, working points and descriptions.
        report: the training's report: its rows per training and validation part and its
            figures (losses, epochs, mcmc diagnostics) go on the card (None: left out).

    Returns:
        The fields (:func:`surrotag.surrogates.card.build_card_fields`).
    """
    from surrotag.io.parquet import sha256_file
    from surrotag.surrogates.card import build_card_fields

    table, column = rows.path, rows.score_column
    description = f"{table.name}: features {', '.join(rows.names)}; score {column}"
    if rows.split is not None:
        description += f"; rows with split == {rows.split!r}"
    counts = {"total": rows.total, "used": int(rows.scores.size), "dropped_nan": rows.dropped}
    if report is not None:
        counts.update(train=report.n_train, validation=report.n_val)
    return build_card_fields(
        name=card.name,
        version="0.1.0",
        description=card.description,
        tagger={
            "name": card.tagger or column,
            "score": f"column {column!r} of {table.name}",
            "weights_sha256": None,
        },
        features=feature_entries(rows.names, card.units, rows.fills),
        score={"space": card.score_space, "clip": card.clip, "column": column},
        working_points=working_point_efficiencies(
            card.working_points, rows.scores, column, table.name
        ),
        training={"description": description, "sha256": sha256_file(table), "rows": counts},
        references=["arXiv:2402.15558"],
        figures=None if report is None else report.card_figures(seconds_digits=3),
    )


def train_on_rows(
    rows: TrainingRows,
    card: TableCard,
    output: str | os.PathLike[str],
    *,
    bayes: str = "vi",
    config: TrainConfig | None = None,
    overwrite: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[Card, TrainReport]:
    """Train a surrogate of ``rows`` and write its folder (card.json + weights.safetensors).

    Args:
        rows: the training rows (:func:`read_training_rows`).
        card: name, score space, working points and descriptions for the card.
        output: the surrogate folder to write.
        bayes: Bayesian weight method: ``vi``, ``mcmc`` or ``none``.
        config: training settings (default :class:`~surrotag.surrogates.train.TrainConfig`).
        overwrite: replace an existing folder.
        progress: per-epoch callback of :func:`~surrotag.surrogates.train.train_surrogate`.

    Returns:
        The written card and the training report.

    Raises:
        FeatureError: ``logit`` space with scores outside [0, 1].
    """
    from surrotag.surrogates.storage import save_surrogate
    from surrotag.surrogates.train import train_surrogate
    from surrotag.surrogates.transforms import logit_clip

    scores = rows.scores
    if card.score_space == "logit" and scores.size and (scores.min() < 0 or scores.max() > 1):
        raise FeatureError(
            f"{rows.path}: column {rows.score_column!r} spans [{scores.min():.4g}, "
            f"{scores.max():.4g}], not a probability; use --score-space identity to model it "
            "as it is"
        )
    modelled = logit_clip(scores, eps=card.clip) if card.score_space == "logit" else scores
    surrogate, report = train_surrogate(
        rows.features,
        modelled,
        feature_names=list(rows.names),
        bayes=bayes,
        config=config,
        progress=progress,
    )
    fields = card_fields(rows, card, report)
    return save_surrogate(surrogate, fields, output, overwrite=overwrite), report
