"""Train a surrogate on a feature table: the library side of ``surrotag surrogate train``.

:func:`read_training_rows` reads only the needed columns of a Parquet table (pyarrow),
optionally the rows of one split, fills NaN per feature and drops (and counts) the rows with
a NaN/inf feature or score. :func:`train_on_rows` checks the score against its modelled
space, builds the card (:func:`card_fields`: units and descriptions from the feature
registry, working points with their efficiency on the training rows), trains by conditional
flow matching (:func:`surrotag.surrogates.train.train_surrogate`) and writes the surrogate
folder (card + safetensors weights). The shipped surrogates are built by
:mod:`surrotag.reference.ship` instead (working points at fixed signal efficiencies).

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

from surrotag.errors import (
    CorruptFileError,
    EmptyInputError,
    FeatureError,
    FormatError,
    InputFileError,
    SurrotagError,
)

if TYPE_CHECKING:
    from surrotag.surrogates.card import Card, WorkingPoint
    from surrotag.surrogates.train import TrainConfig, TrainReport

__all__ = [
    "TableCard",
    "TrainingRows",
    "card_fields",
    "feature_entries",
    "read_columns",
    "read_training_rows",
    "surrogate_name",
    "train_on_rows",
    "working_point_efficiencies",
]

_NAME_CHARACTERS = re.compile(r"[^a-z0-9_.-]+")


def read_columns(
    path: str | os.PathLike[str], columns: Sequence[str], split: str | None = None
) -> dict[str, np.ndarray]:
    """Only ``columns`` of a Parquet table, as float64 numpy arrays.

    Args:
        path: the Parquet table.
        columns: numeric (float, integer or boolean) columns to read.
        split: only the rows whose ``split`` column equals it (e.g. ``train`` in the tables
            of ``surrotag reference build-table``); None: every row.

    Returns:
        Column name -> ``[N]`` float64 array.

    Raises:
        InputFileError: no such file.
        CorruptFileError: not a readable Parquet file.
        FormatError: a column (or the ``split`` column) is missing or not numeric.
        EmptyInputError: no row of ``split``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise CorruptFileError(f"{path}: not a readable Parquet file ({error})") from None
    available = parquet.schema_arrow.names
    missing = [name for name in columns if name not in available]
    if missing:
        raise FormatError(
            f"{path}: no column(s) {', '.join(missing)} (has {', '.join(available)}); "
            "check --features and --score"
        )
    if split is not None and "split" not in available:
        raise FormatError(f"{path}: no 'split' column to select --split {split!r} from")
    try:
        table = parquet.read(columns=[*columns, "split"] if split is not None else list(columns))
    except (pa.ArrowInvalid, OSError) as error:
        raise CorruptFileError(f"{path}: corrupt Parquet data ({error})") from None
    if split is not None:
        present = sorted(str(v) for v in pc.unique(table.column("split")).to_pylist())
        table = table.filter(pc.equal(table.column("split"), split))
        if table.num_rows == 0:
            raise EmptyInputError(
                f"{path}: no rows with split == {split!r} (it has: {', '.join(present)})"
            )
    out = {}
    for name in columns:
        column = table.column(name)
        if not (
            pa.types.is_floating(column.type)
            or pa.types.is_integer(column.type)
            or pa.types.is_boolean(column.type)
        ):
            raise FormatError(f"{path}: column {name!r} is {column.type}, not numeric")
        out[name] = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    return out


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
        See :func:`read_columns`.
    """
    fills = dict(fills or {})
    columns = read_columns(path, [*names, score_column], split=split)
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
    names: Sequence[str], units: Mapping[str, str], fills: Mapping[str, float]
) -> list[dict[str, Any]]:
    """Name, unit, description (and NaN fill) per feature: the registry, overridden by ``units``."""
    from surrotag.features.registry import get_feature

    entries = []
    for name in names:
        try:
            known = get_feature(name)
            unit, description = known.unit, known.description
        except SurrotagError:
            unit, description = "", "not in the surrotag feature registry"
        entry: dict[str, Any] = {
            "name": name,
            "unit": units.get(name, unit),
            "description": description,
        }
        if name in fills:
            entry["fill"] = fills[name]
        entries.append(entry)
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


def card_fields(rows: TrainingRows, card: TableCard) -> dict[str, Any]:
    """The card fields of a surrogate trained on ``rows``, as ``save_surrogate`` takes them.

    The training's own figures (rows per training and validation part, losses) are added by
    :func:`train_on_rows`.
    """
    from surrotag.io.parquet import sha256_file

    table, column = rows.path, rows.score_column
    description = f"{table.name}: features {', '.join(rows.names)}; score {column}"
    if rows.split is not None:
        description += f"; rows with split == {rows.split!r}"
    return {
        "name": card.name,
        "version": "0.1.0",
        "description": card.description,
        "tagger": {
            "name": card.tagger or column,
            "score": f"column {column!r} of {table.name}",
            "weights_sha256": None,
        },
        "features": feature_entries(rows.names, card.units, rows.fills),
        "score": {"space": card.score_space, "clip": card.clip, "column": column},
        "working_points": working_point_efficiencies(
            card.working_points, rows.scores, column, table.name
        ),
        "training": {
            "description": description,
            "sha256": sha256_file(table),
            "rows": {
                "total": rows.total,
                "used": int(rows.scores.size),
                "dropped_nan": rows.dropped,
            },
        },
        "references": ["arXiv:2402.15558"],
    }


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
    fields = card_fields(rows, card)
    modelled = logit_clip(scores, eps=card.clip) if card.score_space == "logit" else scores
    surrogate, report = train_surrogate(
        rows.features,
        modelled,
        feature_names=list(rows.names),
        bayes=bayes,
        config=config,
        progress=progress,
    )
    fields["training"]["rows"].update(train=report.n_train, validation=report.n_val)
    fields.update(report.card_figures(seconds_digits=3))
    return save_surrogate(surrogate, fields, output, overwrite=overwrite), report
