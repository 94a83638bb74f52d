"""The further taggers of an analysis: tags of given objects, and the tag counts regions ask for.

An analysis card may name taggers beside the one that tags its candidates (``taggers``: a
surrogate per input level applied to given leading objects of a collection, e.g. a W tagger
on the third large-R jet), and regions (or the whole selection) require counts of their
tags (``tag_counts``: at least, at most or exactly n of its objects tagged at a working
point). This module loads those taggers (:func:`load_further_taggers`), tags their objects
in the selected events (:func:`tag_further_objects`) and turns each region's requirements
into one probability per event and weight draw, with its range when objects lie out of a
tagger's support (:func:`tag_count_factor`).

Given the features, the objects are tagged independently, and the taggers of one region
never share an object (the card refuses it), so a region's probability is the product of
the candidates' requirement and each tag count (:func:`surrotag.tagging.counts.count_bounds`),
per weight draw: draw k of every surrogate is one draw of their joint posterior (their
posteriors are independent), so all of an analysis's surrogates give the same number of
draws K. The range of a product of independent factors in [0, 1] is the product of their
ranges, which :func:`surrotag.yields.bounded_region_yields` turns into out-of-support yields.

Shapes: K weight draws, n selected events, m objects of a tagger, W its working points.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from surrotag.tagging.counts import count_bounds

if TYPE_CHECKING:
    import awkward as ak

    from surrotag.analysis import Analysis
    from surrotag.analysis_card import AnalysisCard, Region, TaggerSpec
    from surrotag.tagging import Tagger

__all__ = [
    "FurtherTagger",
    "FurtherTags",
    "describe_further",
    "load_further_taggers",
    "tag_count_factor",
    "tag_further_objects",
]


@dataclass(frozen=True)
class FurtherTagger:
    """A further tagger of an analysis: its card entry and the loaded tagger."""

    spec: TaggerSpec
    tagger: Tagger


@dataclass(frozen=True)
class FurtherTags:
    """One further tagger's tags of the selected events' objects.

    Attributes:
        probabilities: ``[K, n, m, W]`` (0 for an object the event does not have).
        ood: ``[n, m]`` bool, the object lies out of the tagger's support.
        working_points: the W working-point names.
        present: ``[n, m]`` bool, the event has the object.
    """

    probabilities: np.ndarray
    ood: np.ndarray
    working_points: tuple[str, ...]
    present: np.ndarray


def load_further_taggers(
    analysis: Analysis,
    level: str,
    kind: str,
    draws: int,
    stochastic: bool,
    seed: int,
    device: str,
    threads: int | str | None = None,
) -> tuple[FurtherTagger, ...]:
    """The card's further taggers at ``level``, each giving ``draws`` weight draws.

    Each is checked against its card entry (tagger sha256, working points, features) as the
    candidates' tagger is. Sampled tags (``stochastic``) draw from a stream of ``seed`` of
    their own, so the candidates' tags are those of the analysis without further taggers.

    Raises:
        SurrotagError: a surrogate that does not fit, or gives fewer than ``draws`` draws.
    """
    from surrotag.recast.pipeline import load_tagger

    card = analysis.card
    loaded = []
    for index, spec in enumerate(card.taggers.values()):
        points = tuple(
            dict.fromkeys(
                count.working_point
                for region in card.regions
                for count in card.tag_counts(region)
                if count.tagger == spec.name
            )
        )
        stream = int(np.random.SeedSequence([int(seed), index + 1]).generate_state(1)[0])
        tagger = load_tagger(
            analysis, level, kind, None, draws, stochastic, stream, device, threads,
            further=(spec, points or tuple(p.name for p in spec.surrogate.working_points)),
        )  # fmt: skip
        loaded.append(FurtherTagger(spec, tagger))
    return tuple(loaded)


def tag_further_objects(
    events: ak.Array, further: Sequence[FurtherTagger], level: str
) -> dict[str, FurtherTags]:
    """Tag each further tagger's objects in ``events`` (the selected events of a chunk).

    Returns:
        ``{tagger name: FurtherTags}``.
    """
    import awkward as ak

    from surrotag.analysis_card import EVENT_COLLECTION
    from surrotag.recast.pipeline import object_table

    out = {}
    for entry in further:
        spec, tagger = entry.spec, entry.tagger
        positions = np.asarray(spec.objects, dtype=np.int64)
        if spec.collection == EVENT_COLLECTION:  # the event itself: one row each
            present, index = np.ones((len(events), 1), dtype=bool), None
        else:
            objects = events[spec.collection]
            counts = ak.to_numpy(ak.num(objects, axis=1))
            present = positions[None, :] < counts[:, None]  # [n, m]
            ranks = ak.unflatten(np.broadcast_to(positions, present.shape)[present],
                                 present.sum(1))  # fmt: skip
            # positions count in pT order, as the selection's candidates do; index as stored
            index = ak.argsort(objects.pt, axis=1, ascending=False, stable=True)[ranks]
        k, w = tagger.draws, len(tagger.working_points)
        probabilities = np.zeros((k, len(events), positions.size, w))
        ood = np.zeros(present.shape, dtype=bool)
        if present.any():
            table = object_table(events, spec.collection, index, level, tagger.features)
            tags = tagger.probabilities(table, level)
            probabilities[:, present, :] = tags.probabilities
            ood[present] = tags.ood
        out[spec.name] = FurtherTags(probabilities, ood, tagger.working_points, present)
    return out


def tag_count_factor(
    card: AnalysisCard, region: Region, tags: Mapping[str, FurtherTags], n_events: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The probability of every tag count ``region`` requires, and its out-of-support range.

    Args:
        card: the analysis card.
        region: the region.
        tags: the further taggers' tags of the selected events (:func:`tag_further_objects`).
        n_events: the selected events n.
        k: weight draws K.

    Returns:
        ``(nominal, low, high, flagged)``: the product over the requirements ``[K, n]``, its
        least and largest values over the flagged objects' [0, 1] ``[K, n]``, and ``[n]``
        whether the event holds a flagged object that a requirement counts.
    """
    nominal, low, high = np.ones((k, n_events)), np.ones((k, n_events)), np.ones((k, n_events))
    flagged = np.zeros(n_events, dtype=bool)
    for count in card.tag_counts(region):
        entry = tags[count.tagger]
        j = entry.working_points.index(count.working_point)
        bounds = count_bounds(entry.probabilities[..., j], entry.ood, count.at_least, count.at_most)
        nominal, low, high = nominal * bounds.nominal, low * bounds.low, high * bounds.high
        flagged |= entry.ood.any(axis=1)
    return nominal, low, high, flagged


def describe_further(
    further: Sequence[FurtherTagger], seed: int, counts: Mapping[str, tuple[int, int]]
) -> list[dict[str, Any]]:
    """The report's ``tagger.further`` entries: each tagger's card entry, its surrogate's
    description and its objects (``counts``: ``{name: (objects, flagged)}``)."""
    records = []
    for entry in further:
        n_objects, n_ood = counts.get(entry.spec.name, (0, 0))
        records.append(
            {
                "tagger": entry.spec.name,
                "collection": entry.spec.collection,
                "objects": list(entry.spec.objects),
                "n_objects": int(n_objects),
                "n_ood": int(n_ood),
                **entry.tagger.describe(seed),
            }
        )
    return records
