"""Apply a classifier surrogate to a feature table: tag probabilities per object and event.

:func:`tag_objects` evaluates, for every object (row of a
:func:`surrotag.features.build_features` table), every working point and every Bayesian
weight draw at once, the probability that the replaced tagger's score passes the working
point: ``P(score > w | c)`` from the inverse flow (exact, one batched ODE solve; arXiv:2402.15558,
Sec. 3), or, with ``stochastic=True``, a 0/1 tag from one sampled score per object and draw
(the stochastic cut; one sample serves every working point, so the tags are nested).
:func:`tag_events` combines the objects of each event: at least one tagged, and for the two
leading objects (row order within the event, which is pT order for Delphes fat jets) both,
exactly one and none tagged (:mod:`surrotag.yields`).

Shapes: K weight draws, N objects, E events, W working points. Arrays are numpy float64.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from surrotag.errors import CardError, FeatureError, InputValueError
from surrotag.features.registry import FEATURES
from surrotag.features.table import EVENT_INDEX
from surrotag.yields import at_least_one, event_probabilities

if TYPE_CHECKING:
    import torch

    from surrotag.surrogates.card import Card
    from surrotag.surrogates.flow import Surrogate

__all__ = [
    "TAGGABLE_FEATURES",
    "EventTags",
    "ObjectTags",
    "feature_matrix",
    "object_positions",
    "tag_events",
    "tag_objects",
    "taggable",
]


#: Features deciding, per row kind, whether an object can be tagged at all (parton level:
#: only hadronically decaying tops with a decay chain make a top-tagged jet).
TAGGABLE_FEATURES: Final = MappingProxyType(
    {"fatjet": (), "top": ("top_hadronic", "flag_top_no_decay_chain")}
)


def taggable(table: Any, level: str) -> np.ndarray:
    """``[N]`` bool: the rows that can be tagged at an input level.

    Every fat jet (delphes and particle level); at parton level the hadronically decaying
    tops with a decay chain (:data:`TAGGABLE_FEATURES`): a leptonic top makes no top-tagged
    jet, so it gets tag probability 0, not a surrogate's guess.
    """
    from surrotag.io.levels import input_level

    if not TAGGABLE_FEATURES[input_level(level).row_kind]:
        return np.ones(_n_rows(table), dtype=bool)
    hadronic = np.nan_to_num(np.asarray(_column(table, "top_hadronic"), dtype=np.float64)) > 0.5
    return hadronic & ~np.asarray(_column(table, "flag_top_no_decay_chain"), dtype=bool)


@dataclass(frozen=True)
class ObjectTags:
    """Tag probabilities of N objects under K weight draws for W working points.

    Attributes:
        probabilities: ``[K, N, W]``: exact ``P(score > w_j)`` per draw, or 0/1 tags of one
            sampled score per draw (``stochastic``).
        nominal: ``[N, W]`` mean over draws (the nominal tag probability).
        spread: ``[N, W]`` standard deviation over draws (ddof 1; zeros when K = 1): the
            surrogate (Bayesian weight) uncertainty.
        ood: ``[N]`` bool, True where a feature lies outside the surrogate's training support.
        working_points: the W working-point names, in the order of the last axis.
        thresholds: ``[W]`` cuts on the tagger score (card units, e.g. probability).
        event_index: ``[N]`` int64 event position of each row, or None if the table had no
            ``event_index`` column.
        stochastic: True if ``probabilities`` are sampled 0/1 tags.
        scores: ``[K, N]`` sampled scores in the modelled space (stochastic only, else None).
        threads: the solve's thread plan (:meth:`surrotag.surrogates.threads.ThreadPlan.to_dict`:
            threads, why, idle cores, load average), or None when nothing was solved.
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
        """Fraction of objects outside the training support (0 for no objects)."""
        return float(self.ood.mean()) if self.ood.size else 0.0


@dataclass(frozen=True)
class EventTags:
    """Per-event selection probabilities, ``[K, E, W]`` each (K draws, E events, W points).

    Attributes:
        at_least_one: at least one object of the event tagged, ``1 - prod(1 - p)``.
        both: both leading objects tagged, ``p1 p2`` (0 with fewer than two objects).
        exactly_one: exactly one of the two leading objects tagged.
        none: neither leading object tagged, ``(1 - p1)(1 - p2)``.
        n_objects: ``[E]`` int64 objects per event.
        working_points: the W working-point names.
        first_event: event position of row 0 of the event axis.
    """

    at_least_one: np.ndarray
    both: np.ndarray
    exactly_one: np.ndarray
    none: np.ndarray
    n_objects: np.ndarray
    working_points: tuple[str, ...]
    first_event: int = 0

    @property
    def n_events(self) -> int:
        """Number of events E."""
        return int(self.n_objects.shape[0])


def _column(table: Any, name: str) -> np.ndarray | None:
    """Column ``name`` of awkward records, a pyarrow table or a mapping, as numpy (or None)."""
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
        values = _column(table, name)
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
    if len({column.size for column in columns}) > 1:
        raise FeatureError(f"feature columns {list(names)} have different lengths")
    n = columns[0].size if columns else 0
    return np.column_stack(columns) if columns else np.zeros((n, 0))


def _working_points(card: Card, names: Sequence[str] | None) -> tuple[tuple[str, ...], list[float]]:
    names = tuple(point["name"] for point in card.working_points) if names is None else tuple(names)
    if not names:
        raise CardError(
            f"{card.source}: surrogate {card.name!r} defines no working point; add one to its "
            "card (surrotag surrogate train --working-point NAME=CUT)"
        )
    if len(set(names)) != len(names):
        raise InputValueError(f"working points {list(names)} are listed more than once")
    return names, [float(card.working_point(name)["threshold"]) for name in names]


def tag_objects(
    table: Any,
    surrogate: Surrogate,
    card: Card,
    *,
    working_points: Sequence[str] | None = None,
    draws: int | None = None,
    stochastic: bool = False,
    generator: torch.Generator | None = None,
    device: str = "cpu",
    threads: int | str | None = None,
    level: str | None = None,
) -> ObjectTags:
    """Tag probabilities of every object for every working point and weight draw.

    The Bayesian weight draws come from the surrogate's own seeded generator, so exact and
    stochastic results of the same surrogate share the same K weight draws; ``generator``
    drives only the sampled scores.

    Args:
        table: feature table, one row per object (awkward records from
            :func:`surrotag.features.build_features`, a pyarrow table, or a dict of
            columns) holding every ``card.feature_names`` column (units as in the card,
            GeV for momenta and masses) and, optionally, ``event_index``.
        surrogate: the model (:func:`surrotag.surrogates.storage.load_surrogate`); moved to
            ``device`` in place.
        card: its card (feature order, working points, score transform).
        working_points: names of the card's working points (default: all, card order).
        draws: weight draws K (default: the card's ``bayes.draws``; 1 for ``none``).
        stochastic: sample one score per object and draw and cut on it (0/1 tags) instead
            of the exact probabilities.
        generator: torch generator of the sampled scores (stochastic only).
        device: torch device of the evaluation (``cpu``, ``cuda``).
        threads: torch intra-op threads of the solve (restored after): a count, or None /
            ``"auto"`` for ``SURROTAG_THREADS``, else one thread when the cores are busy
            (:func:`surrotag.surrogates.threads.choose_threads`). The probabilities do not
            depend on it beyond float rounding.
        level: input level of the table; rows that cannot be tagged there (:func:`taggable`,
            e.g. leptonic tops at parton level, which need the :data:`TAGGABLE_FEATURES`
            columns) get probability 0, are not OOD and are never given to the model.
            None: every row is tagged.

    Returns:
        :class:`ObjectTags` with ``probabilities`` ``[K, N, W]``.

    Raises:
        FeatureError: a card feature is missing from the table or not finite.
        CardError: an unknown working point, or card and model disagree on the features.
    """
    import torch

    if list(card.feature_names) != list(surrogate.feature_names):
        raise CardError(
            f"{card.source}: card features {card.feature_names} differ from the model's "
            f"{surrogate.feature_names}; load both with surrotag.surrogates.storage.load_surrogate"
        )
    names, cuts = _working_points(card, working_points)
    event_index = _column(table, EVENT_INDEX)
    mask = None if level is None else taggable(table, level)
    rows = table if mask is None or mask.all() else _select_rows(table, mask)
    x = feature_matrix(rows, card.feature_names, card.feature_fills)
    if event_index is not None:
        event_index = np.asarray(event_index, dtype=np.int64).reshape(-1)
    thresholds = np.array([card.model_threshold(cut) for cut in cuts], dtype=np.float64)
    k = surrogate.default_draws if draws is None else int(draws)
    if k < 1:
        raise InputValueError(f"draws={k}: need at least one weight draw")
    n, w = x.shape[0], len(names)
    scores = None
    plan = None
    if n == 0:
        probabilities = np.zeros((k, 0, w))
        ood = np.zeros(0, dtype=bool)
        scores = np.zeros((k, 0)) if stochastic else None
    else:
        from surrotag.surrogates.threads import solve_threads

        surrogate.to(device)
        features = torch.as_tensor(x, dtype=torch.float32, device=device)
        with solve_threads(threads) as plan:
            dist = surrogate(features, draws=k)
            if stochastic:
                sampled = dist.sample(generator=generator).double().cpu().numpy()  # [K, N]
                probabilities = (sampled[..., None] > thresholds).astype(np.float64)
                scores = sampled
            else:
                probabilities = dist.prob_above(thresholds).double().cpu().numpy()
            ood = dist.ood.cpu().numpy().astype(bool)
    if mask is not None and not mask.all():
        probabilities, ood, scores = _scatter(mask, probabilities, ood, scores)
        n = mask.size
    spread = probabilities.std(axis=0, ddof=1) if k > 1 else np.zeros((n, w))
    return ObjectTags(
        probabilities=probabilities,
        nominal=probabilities.mean(axis=0),
        spread=spread,
        ood=ood,
        working_points=names,
        thresholds=np.asarray(cuts, dtype=np.float64),
        event_index=event_index,
        stochastic=stochastic,
        scores=scores,
        threads=None if plan is None else plan.to_dict(),
    )


def _n_rows(table: Any) -> int:
    """Rows of awkward records, a pyarrow table or a mapping of columns."""
    if isinstance(table, Mapping):
        return len(next(iter(table.values()))) if table else 0
    return int(table.num_rows) if hasattr(table, "num_rows") else len(table)


def _select_rows(table: Any, mask: np.ndarray) -> Any:
    """The rows of ``mask`` of awkward records, a pyarrow table or a mapping of columns."""
    if isinstance(table, Mapping):
        return {name: np.asarray(values)[mask] for name, values in table.items()}
    if hasattr(table, "filter") and hasattr(table, "num_rows"):  # pyarrow
        import pyarrow as pa

        return table.filter(pa.array(mask))
    return table[mask]


def _scatter(
    mask: np.ndarray, probabilities: np.ndarray, ood: np.ndarray, scores: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Results of the taggable rows back on all rows: probability 0, not OOD, score NaN."""
    k, _, w = probabilities.shape
    full = np.zeros((k, mask.size, w))
    full[:, mask, :] = probabilities
    flags = np.zeros(mask.size, dtype=bool)
    flags[mask] = ood
    if scores is not None:
        sampled = np.full((k, mask.size), np.nan)
        sampled[:, mask] = scores
        scores = sampled
    return full, flags, scores


def object_positions(event_index: np.ndarray, n_events: int, first_event: int = 0) -> np.ndarray:
    """Position of each row within its event (0 = leading), rows grouped by event in order.

    Raises:
        InputValueError: ``event_index`` decreases or lies outside
            ``[first_event, first_event + n_events)``.
    """
    local = np.asarray(event_index, dtype=np.int64) - first_event
    if local.size == 0:
        return local
    if np.any(np.diff(local) < 0):
        raise InputValueError(
            "event_index decreases: rows must be grouped by event in file order (as "
            "build_features writes them)"
        )
    if local[0] < 0 or local[-1] >= n_events:
        raise InputValueError(
            f"event_index spans {local[0] + first_event}..{local[-1] + first_event}, outside "
            f"the {n_events} events starting at {first_event}"
        )
    counts = np.bincount(local, minlength=n_events)
    starts = np.cumsum(counts) - counts
    return np.arange(local.size) - starts[local]


def tag_events(object_tags: ObjectTags, n_events: int, *, first_event: int = 0) -> EventTags:
    """Per-event, per-draw selection probabilities from per-object tag probabilities.

    Objects are tagged independently given their features; events without objects get
    ``at_least_one = both = exactly_one = 0`` and ``none = 1``.

    Args:
        object_tags: result of :func:`tag_objects` on a table with ``event_index``.
        n_events: number of events E the table was built from (events without objects
            count).
        first_event: ``event_index`` of the first event (chunked reading).

    Returns:
        :class:`EventTags` with ``[K, E, W]`` arrays.

    Raises:
        InputValueError: no ``event_index``, or rows not grouped by event.
    """
    if object_tags.event_index is None:
        raise InputValueError(
            "object tags have no event_index: tag a table with an event_index column "
            "(surrotag.features.build_features writes one)"
        )
    import awkward as ak

    p = object_tags.probabilities  # [K, N, W]
    k, _, w = p.shape
    local = object_tags.event_index - first_event
    position = object_positions(object_tags.event_index, n_events, first_event)
    counts = np.bincount(local, minlength=n_events).astype(np.int64)
    # [K, W, N] flattened -> jagged [K * W * E, var] -> P(at least one) -> [K, E, W]
    flat = np.ascontiguousarray(p.transpose(0, 2, 1)).reshape(-1)
    jagged = ak.unflatten(flat, np.tile(counts, k * w))
    any_tagged = at_least_one(jagged).reshape(k, w, n_events).transpose(0, 2, 1)
    leading = np.zeros((2, k, n_events, w))
    for rank in (0, 1):  # the two leading objects, not a loop over objects
        rows = position == rank
        leading[rank][:, local[rows], :] = p[:, rows, :]
    two = event_probabilities(leading[0], leading[1])
    return EventTags(
        at_least_one=any_tagged,
        both=two.both,
        exactly_one=two.exactly_one,
        none=two.none,
        n_objects=counts,
        working_points=object_tags.working_points,
        first_event=first_event,
    )
