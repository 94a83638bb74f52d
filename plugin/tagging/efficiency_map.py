"""The efficiency map as a tagger: what recast tools use today, the surrogate's baseline.

A per-object probability read from the surrogate card's ``efficiency_map[wp]``, binned in pT
(GeV) and, where the objects are jets, in the three truth categories of
:func:`surrotag.features.truth.jet_truth_category`: ``efficiency`` for a contained hadronic
top (``truth_top_matched``, ``truth_top_hadronic`` and all of b, q, q' within R, i.e.
``truth_top_n_contained == 3``, the ``label == 1`` of the training table), ``partial`` for a
jet matched to a hadronic top that does not contain all of b, q, q' (label -1), ``mistag``
for an unmatched jet (also one near a leptonic top only). Cards shipped before the
``partial`` category give those jets the mistag rate, with a warning. One "draw", no
surrogate uncertainty; pT outside the map's edges takes the nearest bin and counts as out of
distribution.

Parton level (rows are top quarks, documented approximation of the analysis): tops that do
not decay hadronically, or whose decay chain is absent from the record, are never tagged
(probability 0): the all-hadronic search's tagger is trained on hadronic top jets only.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final

import numpy as np

from surrotag.errors import CardError
from surrotag.features.table import EVENT_INDEX
from surrotag.features.truth import TRUTH_CATEGORIES, jet_truth_category
from surrotag.io.levels import INPUT_LEVELS, input_level
from surrotag.tagging.protocol import ObjectTags, tagger_record
from surrotag.tagging.table import column, required_column, taggable

if TYPE_CHECKING:
    from surrotag.io.levels import InputLevel
    from surrotag.surrogates.card import Card

__all__ = [
    "EFFICIENCY_MAP_CATEGORY_KEYS",
    "EFFICIENCY_MAP_FEATURES",
    "EfficiencyMapTagger",
    "efficiency_map_probabilities",
]

#: Feature columns the efficiency map needs per input level, pT first
#: (:attr:`surrotag.io.levels.InputLevel.efficiency_map_features`).
EFFICIENCY_MAP_FEATURES: Final = MappingProxyType(
    {name: level.efficiency_map_features for name, level in INPUT_LEVELS.items()}
)

#: Card key of the tag rate of each truth category (:data:`TRUTH_CATEGORIES` order).
EFFICIENCY_MAP_CATEGORY_KEYS: Final = dict(
    zip(TRUTH_CATEGORIES, ("efficiency", "partial", "mistag"), strict=True)
)


def _bins(edges: np.ndarray, pt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bin index of each pT (nearest bin outside the edges) and the outside flag."""
    index = np.searchsorted(edges, pt, side="right") - 1
    outside = (index < 0) | (index >= edges.size - 1) | ~np.isfinite(pt)
    return np.clip(index, 0, edges.size - 2), outside


def _category_rates(entry: Mapping[str, Sequence[float]], source: str, point: str) -> np.ndarray:
    """``[3, B]`` tag rates of one working point's map, rows in :data:`TRUTH_CATEGORIES` order.

    A two-category map (no ``partial``: a card shipped before the category existed) gives
    partially contained top jets the mistag rate, as recast tools did, with a warning.
    """
    keys = list(EFFICIENCY_MAP_CATEGORY_KEYS.values())
    if "partial" not in entry:
        warnings.warn(
            f"{source}: efficiency_map[{point!r}] has no 'partial' category (a card shipped "
            "before three-category maps): top-matched jets that do not contain b, q, q' get "
            "the QCD mistag rate; re-ship the surrogate (surrotag reference ship-surrogate) "
            "for their own efficiency",
            UserWarning,
            stacklevel=3,
        )
        keys[TRUTH_CATEGORIES.index("partial")] = "mistag"
    return np.stack([np.asarray(entry[key], dtype=np.float64) for key in keys])


def efficiency_map_probabilities(
    table: Any,
    level: str | InputLevel,
    efficiency_map: Mapping[str, Mapping[str, Sequence[float]]] | None,
    working_points: Sequence[str],
    source: str = "<card>",
    *,
    thresholds: Sequence[float] | None = None,
) -> ObjectTags:
    """Binned efficiency-map tag probabilities ``[1, N, W]`` of the rows of a feature table.

    Args:
        table: feature table with the level's
            :attr:`~surrotag.io.levels.InputLevel.efficiency_map_features` columns.
        level: the input level: jets (``delphes``, ``particle``; three truth categories)
            or top quarks (``parton``; hadronic tops get the ``efficiency``).
        efficiency_map: the surrogate card's ``efficiency_map`` (per working point:
            ``pt_edges`` in GeV and per bin the rate of each truth category: ``efficiency``,
            ``partial`` (optional, see :func:`_category_rates`) and ``mistag``).
        working_points: the W working points.
        source: the card, for messages.
        thresholds: ``[W]`` cuts on the tagger score of the working points (card units),
            recorded in the result; None: NaN.

    Returns:
        :class:`~surrotag.tagging.protocol.ObjectTags` with one draw and ``ood`` the rows
        whose pT lies outside a map's edges.

    Raises:
        CardError: the card has no map for a working point.
        FeatureError: the table lacks a column the map needs.
    """
    spec = input_level(level)
    pt = required_column(table, spec.efficiency_map_features[0]).astype(np.float64)
    if not spec.has_jets:  # hadronic tops: efficiency; others: never tagged
        category = np.where(taggable(table, spec), 0, -1)
    else:
        category = jet_truth_category(
            required_column(table, "truth_top_matched"),
            required_column(table, "truth_top_hadronic"),
            required_column(table, "truth_top_n_contained"),
        ).astype(np.int64)
    probabilities = np.zeros((1, pt.size, len(working_points)))
    ood = np.zeros(pt.size, dtype=bool)
    for j, point in enumerate(working_points):  # a handful of working points
        entry = (efficiency_map or {}).get(point)
        if entry is None:
            raise CardError(
                f"{source}: no efficiency_map for working point {point!r}; the efficiency-map "
                "tagger needs one in the surrogate card (plugin/reference/ship.py writes it)"
            )
        edges = np.asarray(entry["pt_edges"], dtype=np.float64)
        index, outside = _bins(edges, pt)
        if not spec.has_jets:
            rates = np.asarray(entry["efficiency"], dtype=np.float64)[None, :]
        else:
            rates = _category_rates(entry, source, point)
        probabilities[0, :, j] = np.where(category >= 0, rates[np.maximum(category, 0), index], 0.0)
        ood |= outside
    event_index = column(table, EVENT_INDEX)
    return ObjectTags.of(
        probabilities,
        ood,
        tuple(working_points),
        np.full(len(working_points), np.nan)
        if thresholds is None
        else np.asarray(thresholds, dtype=np.float64),
        None if event_index is None else np.asarray(event_index, dtype=np.int64).reshape(-1),
    )


@dataclass(frozen=True)
class EfficiencyMapTagger:
    """The card's binned efficiency map as the :class:`~surrotag.tagging.protocol.Tagger` of a
    recast (one draw, never stochastic).

    Attributes:
        card: the surrogate's card (its ``efficiency_map``).
        folder: the surrogate's folder.
        working_points: the W working points tagged.
        features: the feature columns read (pT and truth, then those deciding whether a row
            can be tagged).
        device: recorded in :meth:`describe` (nothing is solved).
    """

    kind: ClassVar[str] = "efficiency-map"
    draws: ClassVar[int] = 1

    card: Card
    folder: Path
    working_points: tuple[str, ...]
    features: tuple[str, ...]
    device: str = "cpu"

    def probabilities(self, table: Any, level: str | InputLevel) -> ObjectTags:
        """Efficiency-map tags ``[1, N, W]`` (:func:`efficiency_map_probabilities`)."""
        return efficiency_map_probabilities(
            table,
            level,
            self.card.efficiency_map,
            self.working_points,
            self.card.source,
            thresholds=[self.card.working_point(p)["threshold"] for p in self.working_points],
        )

    @property
    def ood_method(self) -> str:
        """``pt-range``: outside the map's pT edges."""
        return "pt-range"

    @property
    def ood_note(self) -> str | None:
        """None: the pT range is the whole check."""
        return None

    def key(self) -> tuple[Any, ...]:
        """What makes two taggers give the same probabilities for the same objects."""
        return (self.kind, self.card.name, str(self.folder), self.working_points, self.features)

    def describe(self, seed: int) -> dict[str, Any]:
        """The report's ``tagger`` block: card, one draw, seed and device."""
        return tagger_record(self, self.folder, seed=seed, stochastic=False, device=self.device)
