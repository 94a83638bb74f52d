"""Rows of the reference table a surrogate is validated on, mapped to its card's features.

The shipped surrogates (:data:`surrotag.reference.ship.SHIPPED`) name their inputs as a user
computes them (e.g. ``top_pt`` at parton level) while the reference table stores the truth
under its own column names (``truth_top_pt``): :func:`table_spec` gives that mapping, and
whether only jets matched to a hadronic top belong to the surrogate's domain. Any other
surrogate reads its feature names as table columns. NaN stand-ins come from the card
(``Card.feature_fills``), as in training. A surrogate applied to another object than the
detector jet (``ShipSpec.object_prefix``: ``top-tagger-particle`` sees the particle-level
jet) takes its truth classes and soft-drop mass axis from that object's columns. Each row
carries its truth class
(:func:`surrotag.validation.cells.truth_class`) and, on request, its generator weight.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from surrotag.errors import EmptyInputError
from surrotag.features.truth import jet_truth_category
from surrotag.reference.ship import SCORE_COLUMN, SHIPPED, ShipSpec, read_table, training_rows
from surrotag.validation.cells import truth_class

if TYPE_CHECKING:
    from surrotag.surrogates.card import Card

__all__ = [
    "MASS_COLUMN",
    "MATCHED_COLUMN",
    "WEIGHT_COLUMN",
    "ReferenceRows",
    "load_reference",
    "table_spec",
]

#: Table column of the jet mass axis of the validation cells (GeV).
MASS_COLUMN = "jet_sd_mass"
#: Table column saying whether a jet is matched to a hadronic top (1) or not (0).
MATCHED_COLUMN = "truth_top_matched"
#: Table column of the generator event weight (pTHat-biased samples; dimensionless).
WEIGHT_COLUMN = "event_weight"


def table_spec(card: Card) -> ShipSpec:
    """Table columns, feature names, fills and row selection of the surrogate ``card``.

    A shipped surrogate (same name and feature names as in ``SHIPPED``) uses its table
    mapping; any other reads its feature names as columns, all rows. Fills are the card's.
    """
    spec = SHIPPED.get(card.name)
    if spec is not None and list(spec.names) == list(card.feature_names):
        return dataclasses.replace(spec, fills=card.feature_fills)
    pt = next((n for n in ("jet_pt", "top_pt", "pt") if n in card.feature_names), "jet_pt")
    names = tuple(card.feature_names)
    return ShipSpec(card.name, card.description, names, names, card.feature_fills, pt_feature=pt)


@dataclass(frozen=True)
class ReferenceRows:
    """The validation rows: features, reference logit and the cell axes, one row per jet.

    Attributes:
        features: [N, F] in the card's feature order (NaN filled per card).
        logit: [N] the internal tagger's logit (``tagger_logit``).
        label: [N] 1 contained top jet, 0 QCD jet, -1 other jet of the top sample.
        truth: [N] truth class code: 1 contained top, -1 matched to a hadronic top but not
            contained, 0 QCD or unmatched (:func:`surrotag.validation.cells.truth_class`).
        pt: [N] the pt axis of the cells (GeV): the card's pt feature (table column).
        mass: [N] soft-drop jet mass (GeV).
        pt_feature: feature name of the pt axis (index into ``features`` columns).
        n_split: rows of the split before the domain selection and subsampling.
        n_dropped: rows of the domain dropped for non-finite features or logit.
        weight: [N] generator weights, or None (unweighted validation).
    """

    features: np.ndarray
    logit: np.ndarray
    label: np.ndarray
    truth: np.ndarray
    pt: np.ndarray
    mass: np.ndarray
    pt_feature: str
    n_split: int
    n_dropped: int
    weight: np.ndarray | None = None


def load_reference(
    path: str | Path,
    card: Card,
    *,
    split: str = "test",
    n_max: int | None = None,
    seed: int = 0,
    weighted: bool = False,
) -> ReferenceRows:
    """The rows of ``split`` in the surrogate's domain, at most ``n_max`` (random, seeded).

    Args:
        path: the reference table.
        card: the surrogate's card (features, domain).
        split: rows of this split.
        n_max: at most this many rows (random, seeded); None: all.
        seed: seed of the subsampling.
        weighted: read the generator weights (column :data:`WEIGHT_COLUMN`).

    Raises:
        InputFileError: the table is missing, unreadable or lacks a needed column.
        EmptyInputError: no row of ``split`` in the domain.
    """
    path = Path(path)
    spec = table_spec(card)
    pt_column = (
        spec.columns[spec.names.index(spec.pt_feature)]
        if spec.pt_feature in spec.names
        else "jet_pt"
    )
    prefix = spec.object_prefix
    mass_column, matched_column = prefix + MASS_COLUMN, prefix + MATCHED_COLUMN
    truth_columns = spec.truth_columns if prefix else []
    needed = sorted(
        {
            *spec.columns,
            SCORE_COLUMN,
            "split",
            "label",
            pt_column,
            mass_column,
            MATCHED_COLUMN,
            *truth_columns,
            *((WEIGHT_COLUMN,) if weighted else ()),
        }
    )
    table = read_table(path, needed)
    n_split = int(np.sum(table["split"] == split))
    if n_split == 0:
        present = ", ".join(sorted({str(s) for s in np.unique(table["split"])}))
        raise EmptyInputError(f"{path}: no rows with split == {split!r} (it has: {present})")
    domain = int(
        np.sum(
            (table["split"] == split)
            & ((table[MATCHED_COLUMN] == 1) if spec.matched_only else True)
        )
    )
    features, logit, keep = training_rows(table, spec, split=split)
    finite = np.isfinite(logit)
    rows = np.flatnonzero(keep)[finite]
    features, logit = features[finite], logit[finite]
    if logit.size == 0:
        raise EmptyInputError(
            f"{path}: no finite row of split {split!r} for surrogate {card.name!r}"
        )
    if n_max is not None and logit.size > n_max:
        pick = np.sort(np.random.default_rng(seed).choice(logit.size, n_max, replace=False))
        features, logit, rows = features[pick], logit[pick], rows[pick]
    label = table["label"][rows].astype(np.int64)
    if prefix:  # the classes of the object the surrogate sees (e.g. the particle-level jet)
        category = jet_truth_category(*(table[column][rows] for column in truth_columns))
        label = np.where(label == 0, 0, np.where(category == 0, 1, -1)).astype(np.int64)
    return ReferenceRows(
        features=features,
        logit=logit,
        label=label,
        truth=truth_class(label, table[matched_column][rows]),
        pt=table[pt_column][rows],
        mass=table[mass_column][rows],
        pt_feature=spec.pt_feature,
        n_split=n_split,
        n_dropped=domain - int(keep.sum()) + int((~finite).sum()),
        weight=table[WEIGHT_COLUMN][rows] if weighted else None,
    )
