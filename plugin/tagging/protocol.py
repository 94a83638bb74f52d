"""What a tagger is and what it gives: the :class:`Tagger` protocol and :class:`ObjectTags`.

A tagger stands in for the experiment's internal tagger: given a feature table (one row per
object) at an input level it returns, for every object, working point and weight draw, the
probability that the object is tagged (:meth:`Tagger.probabilities`). Two implement it:

* :class:`~surrotag.tagging.surrogate.SurrogateTagger`: the classifier surrogate
  (arXiv:2402.15558), exact ``P(score > w | c)`` per Bayesian weight draw, or a 0/1 tag from
  one sampled score per draw (``stochastic``);
* :class:`~surrotag.tagging.efficiency_map.EfficiencyMapTagger`: what recast tools use
  today, a binned per-object rate from the card's efficiency map (one "draw").

Shapes: K weight draws, N objects, W working points. Arrays are numpy float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

    from surrotag.io.levels import InputLevel
    from surrotag.surrogates.card import Card

__all__ = ["TAGGERS", "ObjectTags", "Tagger", "tagger_record"]

#: Tagger kinds (:attr:`Tagger.kind`).
TAGGERS: Final = ("surrogate", "efficiency-map")


@dataclass(frozen=True)
class ObjectTags:
    """Tag probabilities of N objects under K weight draws for W working points.

    The one result of every tagger (:meth:`Tagger.probabilities`,
    :func:`surrotag.tagging.tag_objects`).

    Attributes:
        probabilities: ``[K, N, W]``: exact ``P(score > w_j)`` per draw, or 0/1 tags of one
            sampled score per draw (``stochastic``); K = 1 for the efficiency map.
        nominal: ``[N, W]`` mean over draws (the nominal tag probability).
        spread: ``[N, W]`` standard deviation over draws (ddof 1; zeros when K = 1): the
            surrogate (Bayesian weight) uncertainty.
        ood: ``[N]`` bool, True where the object lies outside the tagger's support (the
            surrogate's training support, or the efficiency map's pT range).
        working_points: the W working-point names, in the order of the last axis.
        thresholds: ``[W]`` cuts on the tagger score (card units, e.g. probability).
        event_index: ``[N]`` int64 event position of each row, or None if the table had no
            ``event_index`` column.
        stochastic: True if ``probabilities`` are sampled 0/1 tags.
        scores: ``[K, N]`` sampled scores in the modelled space (stochastic only, else None).
        threads: the solve's thread plan (:meth:`surrotag.surrogates.threads.ThreadPlan.to_dict`:
            workers, why, usable cores, load average), or None when nothing was solved (and
            for the efficiency map).
    """

    probabilities: np.ndarray
    nominal: np.ndarray
    spread: np.ndarray
    ood: np.ndarray
    working_points: tuple[str, ...]
    thresholds: np.ndarray
    event_index: np.ndarray | None
    stochastic: bool = False
    scores: np.ndarray | None = None
    threads: dict[str, Any] | None = None

    @classmethod
    def of(
        cls,
        probabilities: np.ndarray,
        ood: np.ndarray,
        working_points: tuple[str, ...],
        thresholds: np.ndarray,
        event_index: np.ndarray | None,
        **extra: Any,
    ) -> ObjectTags:
        """Tags from per-draw probabilities ``[K, N, W]``: nominal and spread computed.

        Args:
            probabilities, ood, working_points, thresholds, event_index: as the attributes.
            **extra: ``stochastic``, ``scores``, ``threads``.
        """
        k, n, w = probabilities.shape
        spread = probabilities.std(axis=0, ddof=1) if k > 1 else np.zeros((n, w))
        return cls(
            probabilities=probabilities,
            nominal=probabilities.mean(axis=0),
            spread=spread,
            ood=ood,
            working_points=working_points,
            thresholds=thresholds,
            event_index=event_index,
            **extra,
        )

    @property
    def n_draws(self) -> int:
        """Number of weight draws K."""
        return int(self.probabilities.shape[0])

    @property
    def n_objects(self) -> int:
        """Number of objects N."""
        return int(self.probabilities.shape[1])

    @property
    def ood_fraction(self) -> float:
        """Fraction of objects outside the support (0 for no objects)."""
        return float(self.ood.mean()) if self.ood.size else 0.0


@runtime_checkable
class Tagger(Protocol):
    """What tags the selected objects of a recast: a surrogate or an efficiency map.

    Attributes:
        kind: ``surrogate`` or ``efficiency-map`` (:data:`TAGGERS`).
        card: the surrogate's card (working points, efficiency maps, provenance).
        working_points: the W working points tagged, in the order of the last axis.
        features: the feature columns the tagger reads from a table (those deciding
            whether a row can be tagged included).
        draws: weight draws K of every result (1 for the efficiency map).
    """

    @property
    def kind(self) -> str: ...

    @property
    def card(self) -> Card: ...

    @property
    def working_points(self) -> tuple[str, ...]: ...

    @property
    def features(self) -> tuple[str, ...]: ...

    @property
    def draws(self) -> int: ...

    @property
    def ood_method(self) -> str:
        """How objects are judged out of support: ``joint``, ``box`` or ``pt-range``."""
        ...

    @property
    def ood_note(self) -> str | None:
        """What the out-of-support check misses, else None."""
        ...

    def probabilities(self, table: Any, level: str | InputLevel) -> ObjectTags:
        """Tag probabilities ``[K, N, W]`` of the rows of a feature table at ``level``.

        Rows that cannot be tagged there (:func:`surrotag.tagging.taggable`) get
        probability 0 and are not out of support.
        """
        ...

    def key(self) -> tuple[Any, ...]:
        """What makes two taggers give the same probabilities for the same objects."""
        ...

    def describe(self, seed: int) -> dict[str, Any]:
        """The report's record of the tagger (the ``tagger`` block of ``report.json``)."""
        ...


def tagger_record(
    tagger: Tagger, folder: Path, *, seed: int, stochastic: bool, device: str
) -> dict[str, Any]:
    """The common part of :meth:`Tagger.describe`: kind, card, folder, draws and settings.

    Args:
        tagger: the tagger described.
        folder: its surrogate's folder.
        seed: the run's seed.
        stochastic: whether its tags are sampled 0/1 tags.
        device: torch device of its solve.

    Returns:
        JSON-able dict: ``kind``, ``name``, ``version``, ``folder``, ``tagger_sha256``,
        ``weights_sha256``, ``draws``, ``stochastic``, ``seed``, ``device`` and
        ``working_points`` (name -> cut on the tagger score, card units).
    """
    from surrotag.surrogates.storage import WEIGHTS_FILENAME

    card = tagger.card
    return {
        "kind": tagger.kind,
        "name": card.name,
        "version": card.version,
        "folder": str(folder),
        "tagger_sha256": card.tagger.get("weights_sha256"),
        "weights_sha256": card.files.get(WEIGHTS_FILENAME),
        "draws": int(tagger.draws),
        "stochastic": bool(stochastic),
        "seed": int(seed),
        "device": device,
        "working_points": {
            name: float(card.working_point(name)["threshold"]) for name in tagger.working_points
        },
    }
