"""Per-object tag probabilities of the two selected objects: surrogate or efficiency map.

Two taggers stand in for the experiment's internal tagger:

* ``surrogate``: the classifier surrogate (arXiv:2402.15558) gives, for each Bayesian weight
  draw k, the exact probability ``P(score > w | c)`` (or, ``stochastic``, a 0/1 tag from
  one sampled score) through :func:`surrotag.tagging.tag_objects`;
* ``efficiency-map``: what recast tools use today: a per-object probability read from the
  card's ``efficiency_map[wp]``, binned in pT and, at detector level, in the three truth
  categories of :func:`surrotag.features.truth.jet_truth_category`: ``efficiency`` for a
  contained hadronic top (``truth_top_matched``, ``truth_top_hadronic`` and all of b, q, q'
  within R, i.e. ``truth_top_n_contained == 3``, the ``label == 1`` of the training table),
  ``partial`` for a jet matched to a hadronic top that does not contain all of b, q, q'
  (label -1), ``mistag`` for an unmatched jet (also one near a leptonic top only). Cards
  shipped before the ``partial`` category give those jets the mistag rate, with a warning.
  One "draw", no surrogate uncertainty; pT outside the map's edges takes the nearest bin
  and counts as out of distribution.

Parton level (rows are top quarks, documented approximation of the analysis): tops that do
not decay hadronically, or whose decay chain is absent from the record, are never tagged
(probability 0): the all-hadronic search's tagger is trained on hadronic top jets only.

:func:`check_surrogate` refuses a surrogate that does not fit the analysis, before anything
is read: another tagger (sha256), a missing working point, a feature the input level cannot
provide, or a missing kinematic feature that the analysis feeds it (:data:`FED_FEATURES`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import numpy as np

from surrotag.errors import CardError, FeatureError
from surrotag.features.truth import TRUTH_CATEGORIES, jet_truth_category
from surrotag.io.levels import input_level
from surrotag.tagging import tag_objects, taggable

if TYPE_CHECKING:
    import torch

    from surrotag.analysis import AnalysisCard
    from surrotag.surrogates.card import Card
    from surrotag.surrogates.flow import Surrogate

__all__ = [
    "EFFICIENCY_MAP_CATEGORY_KEYS",
    "EFFICIENCY_MAP_FEATURES",
    "FED_FEATURES",
    "TAGGERS",
    "ObjectProbabilities",
    "check_surrogate",
    "efficiency_map_probabilities",
    "surrogate_probabilities",
]

#: Tagger kinds of a recast.
TAGGERS: Final = ("surrogate", "efficiency-map")

#: Features an analysis feeds its surrogate at each input level: pT and eta of the selected
#: objects, the quantities its selection cuts on (GeV, dimensionless). A surrogate without
#: them cannot carry the tag rate's dependence on the selected kinematics.
FED_FEATURES: Final = {
    "delphes": ("jet_pt", "jet_eta"),
    "particle": ("jet_pt", "jet_eta"),
    "parton": ("top_pt", "top_eta"),
}

#: Feature columns the efficiency map needs at each level (pT and truth of the object).
EFFICIENCY_MAP_FEATURES: Final = {
    "delphes": ("jet_pt", "truth_top_matched", "truth_top_hadronic", "truth_top_n_contained"),
    "particle": ("jet_pt", "truth_top_matched", "truth_top_hadronic", "truth_top_n_contained"),
    "parton": ("top_pt", "top_hadronic"),
}

#: Card key of the tag rate of each truth category (:data:`TRUTH_CATEGORIES` order).
EFFICIENCY_MAP_CATEGORY_KEYS: Final = dict(
    zip(TRUTH_CATEGORIES, ("efficiency", "partial", "mistag"), strict=True)
)


class ObjectProbabilities(NamedTuple):
    """Tag probabilities of N objects.

    Attributes:
        probabilities: ``[K, N, W]`` per draw (K = 1 for the efficiency map).
        ood: ``[N]`` bool, outside the tagger's support (surrogate training support, or the
            efficiency map's pT range).
        threads: the surrogate solve's thread plan (:attr:`surrotag.tagging.ObjectTags.threads`),
            None for the efficiency map or when nothing was solved.
    """

    probabilities: np.ndarray
    ood: np.ndarray
    threads: dict[str, Any] | None = None


def _column(table: Any, name: str) -> np.ndarray:
    import awkward as ak

    return np.asarray(ak.to_numpy(table[name]))


def check_surrogate(
    card: Card,
    analysis: AnalysisCard,
    level: str,
    working_points: Sequence[str],
    *,
    features: bool = True,
) -> None:
    """Refuse a surrogate that does not fit the analysis at this input level.

    Raises:
        CardError: the surrogate replaces another tagger (its card's
            ``tagger.weights_sha256`` differs from the analysis's ``surrogate.tagger_sha256``),
            lacks a working point of the analysis, lacks a feature the analysis feeds it
            (:data:`FED_FEATURES`), or needs a feature that input level cannot provide
            (features checked only with ``features=True``; the efficiency map needs none).
    """
    fix = "use the analysis's surrogate (default) or one trained for this tagger"
    found = card.tagger.get("weights_sha256")
    wanted = analysis.surrogate.tagger_sha256
    if found != wanted:
        raise CardError(
            f"{card.source}: surrogate {card.name!r} replaces tagger sha256 "
            f"{(found or 'none')[:12]}…, analysis {analysis.name!r} was built with "
            f"{wanted[:12]}…; {fix}"
        )
    have = {point["name"] for point in card.working_points}
    for point in working_points:
        if point not in have:
            raise CardError(
                f"{card.source}: surrogate {card.name!r} has no working point {point!r} used by "
                f"analysis {analysis.name!r} (it has: {', '.join(sorted(have)) or 'none'}); {fix}"
            )
    if not features:
        return
    missing = [name for name in FED_FEATURES[level] if name not in card.feature_names]
    if missing:
        raise CardError(
            f"{card.source}: surrogate {card.name!r} lacks feature(s) {', '.join(missing)} that "
            f"analysis {analysis.name!r} feeds it at level {level!r} (it takes: "
            f"{', '.join(card.feature_names)}); {fix}"
        )
    from surrotag.features import resolve_features

    try:
        resolve_features(level, card.feature_names)
    except FeatureError as error:
        raise CardError(
            f"{card.source}: surrogate {card.name!r} cannot be fed by {level}-level input: {error}"
        ) from None


def surrogate_probabilities(
    table: Any,
    level: str,
    surrogate: Surrogate,
    card: Card,
    working_points: Sequence[str],
    *,
    draws: int,
    stochastic: bool = False,
    generator: torch.Generator | None = None,
    device: str = "cpu",
    threads: int | str | None = None,
) -> ObjectProbabilities:
    """Surrogate tag probabilities ``[K, N, W]`` of the rows of a feature table.

    Rows that cannot be tagged (:func:`surrotag.tagging.taggable`) get probability 0 and
    are not OOD. ``threads``: torch threads of the solve (:func:`surrotag.tagging.tag_objects`).
    """
    tags = tag_objects(
        table,
        surrogate,
        card,
        working_points=working_points,
        draws=draws,
        stochastic=stochastic,
        generator=generator,
        device=device,
        threads=threads,
        level=level,
    )
    return ObjectProbabilities(tags.probabilities, tags.ood, tags.threads)


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
    level: str,
    efficiency_map: Mapping[str, Mapping[str, Sequence[float]]] | None,
    working_points: Sequence[str],
    source: str = "<card>",
) -> ObjectProbabilities:
    """Binned efficiency-map tag probabilities ``[1, N, W]`` of the rows of a feature table.

    Args:
        table: feature table with the :data:`EFFICIENCY_MAP_FEATURES` columns of ``level``.
        level: ``delphes`` (rows are fat jets) or ``parton`` (rows are top quarks).
        efficiency_map: the surrogate card's ``efficiency_map`` (per working point:
            ``pt_edges`` in GeV and per bin the rate of each truth category: ``efficiency``,
            ``partial`` (optional, see :func:`_category_rates`) and ``mistag``).
        working_points: the W working points.
        source: the card, for messages.

    Raises:
        CardError: the card has no map for a working point.
    """
    pt_name = EFFICIENCY_MAP_FEATURES[level][0]
    pt = _column(table, pt_name).astype(np.float64)
    if level == "parton":  # hadronic tops: efficiency; others: never tagged
        category = np.where(taggable(table, level), 0, -1)
    else:
        category = jet_truth_category(
            _column(table, "truth_top_matched"),
            _column(table, "truth_top_hadronic"),
            _column(table, "truth_top_n_contained"),
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
        if not input_level(level).has_jets:
            rates = np.asarray(entry["efficiency"], dtype=np.float64)[None, :]
        else:
            rates = _category_rates(entry, source, point)
        probabilities[0, :, j] = np.where(category >= 0, rates[np.maximum(category, 0), index], 0.0)
        ood |= outside
    return ObjectProbabilities(probabilities, ood)
