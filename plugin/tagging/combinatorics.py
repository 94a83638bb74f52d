"""Per-event tag combinatorics: both, exactly one, at least one or none of the objects tagged.

Objects are tagged independently given their features, so an event's selection probability
follows from its objects' tag probabilities ``p`` (per Bayesian weight draw):

* two objects (the two leading ones, or the two selected candidates of a recast):
  both ``p1 p2``, exactly one ``p1 (1 - p2) + p2 (1 - p1)``, none ``(1 - p1)(1 - p2)``
  (:func:`event_probabilities`);
* any number: at least one ``1 - prod(1 - p)`` (:func:`at_least_one`);
* a whole :class:`~surrotag.tagging.protocol.ObjectTags` grouped by ``event_index``: all of
  these per event at once (:func:`tag_events`).

Shapes: K weight draws, N objects, E events, W working points. Arrays are numpy float64; the
functions accept anything ``np.asarray`` understands (CPU torch tensors included; tensors
requiring gradients are detached).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np

from surrotag.errors import InputValueError
from surrotag.tagging.protocol import ObjectTags

__all__ = [
    "REQUIREMENTS",
    "EventProbabilities",
    "EventTags",
    "at_least_one",
    "event_probabilities",
    "object_positions",
    "tag_events",
]

#: Tag requirements of a two-object region (the analysis card's ``tag.requirement``;
#: ``any``: the candidates' tags do not matter, probability 1).
REQUIREMENTS: Final = ("both", "exactly_one", "at_least_one", "none", "any")
#: Each requirement as bounds ``(at_least, at_most)`` on the tag count of the candidates
#: (:func:`surrotag.tagging.counts.count_probability`); ``any``: no requirement.
REQUIREMENT_COUNTS: Final = {
    "both": (2, 2),
    "exactly_one": (1, 1),
    "at_least_one": (1, None),
    "none": (0, 0),
    "any": (0, None),
}


def as_float_array(values: Any, what: str) -> np.ndarray:
    """``values`` as a float64 numpy array (torch tensors detached, torch not imported).

    Raises:
        InputValueError: not convertible to floats (``what`` names it).
    """
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputValueError(
            f"{what}: cannot convert to a float array ({exc}); pass a numpy array or tensor"
        ) from None


def check_probabilities(p: np.ndarray, what: str) -> None:
    """Refuse values outside [0, 1] or NaN, with one line naming ``what``.

    Raises:
        InputValueError: a value is outside [0, 1] or NaN.
    """
    if p.size == 0:
        return
    lo, hi = p.min(), p.max()  # two reductions, no temporaries; NaN propagates
    if lo >= 0.0 and hi <= 1.0:
        return
    bad = ~((p >= 0.0) & (p <= 1.0))
    if np.any(bad):
        raise InputValueError(
            f"{what}: {int(bad.sum())} of {p.size} values lie outside [0, 1] or are NaN "
            f"(first: {p[bad].flat[0]!r}); pass probabilities, not scores or logits"
        )


class EventProbabilities(NamedTuple):
    """Selection probabilities of a two-object event; each array has the broadcast shape.

    Attributes:
        both: both objects tagged, ``p1 * p2``.
        exactly_one: exactly one tagged, ``p1 (1 - p2) + p2 (1 - p1)``.
        none: neither tagged, ``(1 - p1)(1 - p2)``.
    """

    both: np.ndarray
    exactly_one: np.ndarray
    none: np.ndarray

    @property
    def at_least_one(self) -> np.ndarray:
        """At least one object tagged, ``1 - (1 - p1)(1 - p2)``."""
        return 1.0 - self.none

    @property
    def any(self) -> np.ndarray:
        """No requirement on the objects' tags: probability 1."""
        return np.ones_like(self.none)

    def of(self, requirement: str) -> np.ndarray:
        """The probability of an analysis region's tag requirement.

        Args:
            requirement: ``both``, ``exactly_one``, ``at_least_one``, ``none`` or ``any``
                (the ``tag.requirement`` of an analysis card's region).

        Raises:
            InputValueError: an unknown requirement.
        """
        if requirement not in REQUIREMENTS:
            raise InputValueError(
                f"tag requirement {requirement!r} unknown; use one of {', '.join(REQUIREMENTS)}"
            )
        return getattr(self, requirement)


def event_probabilities(p1: Any, p2: Any) -> EventProbabilities:
    """Tag-multiplicity probabilities of events with two (independently tagged) objects.

    Args:
        p1: tag probability of the first object, shape ``[N]`` or ``[K, N]`` (K weight draws).
        p2: tag probability of the second object, broadcastable against ``p1``.

    Returns:
        :class:`EventProbabilities` with the broadcast shape of ``p1`` and ``p2``; the three
        fields sum to one.

    Raises:
        InputValueError: a probability is outside [0, 1] or NaN, or the shapes do not
            broadcast.

    Example:
        >>> event_probabilities([0.5, 1.0], [0.5, 0.0]).exactly_one.tolist()
        [0.5, 1.0]
    """
    a = as_float_array(p1, "p1")
    b = as_float_array(p2, "p2")
    check_probabilities(a, "p1")
    check_probabilities(b, "p2")
    try:
        a, b = np.broadcast_arrays(a, b)
    except ValueError:
        raise InputValueError(
            f"p1 has shape {a.shape} and p2 {b.shape}: they must broadcast ([N] or [K, N])"
        ) from None
    both = a * b
    none = (1.0 - a) * (1.0 - b)
    return EventProbabilities(both=both, exactly_one=a + b - 2.0 * both, none=none)


def at_least_one(p: Any) -> np.ndarray:
    """Probability that at least one object of each event is tagged, ``1 - prod(1 - p)``.

    Args:
        p: per-object tag probabilities, jagged over the last axis: an awkward array of shape
            ``[N, var]`` or ``[K, N, var]``, or a regular numpy array ``[..., n_objects]``.
            Events without objects get probability 0.

    Returns:
        numpy array of shape ``[N]`` or ``[K, N]``.

    Raises:
        InputValueError: a probability is outside [0, 1] or NaN.

    Example:
        >>> at_least_one([[0.5, 0.5], [0.0, 0.5]]).tolist()
        [0.75, 0.5]
    """
    import awkward as ak

    if isinstance(p, ak.Array):
        flat = ak.to_numpy(ak.flatten(p, axis=None)).astype(np.float64)
        check_probabilities(flat, "per-object tag probabilities")
        return ak.to_numpy(1.0 - ak.prod(1.0 - p, axis=-1)).astype(np.float64)
    arr = as_float_array(p, "per-object tag probabilities")
    check_probabilities(arr, "per-object tag probabilities")
    return 1.0 - np.prod(1.0 - arr, axis=-1)


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


def object_positions(event_index: np.ndarray, n_events: int, first_event: int = 0) -> np.ndarray:
    """Position of each row within its event (0 = leading), rows grouped by event in order.

    Args:
        event_index: ``[N]`` event position of each row.
        n_events: number of events E the rows come from.
        first_event: event position of the first of them.

    Returns:
        ``[N]`` int64 positions.

    Raises:
        InputValueError: ``event_index`` decreases or lies outside
            ``[first_event, first_event + n_events)``.

    Example:
        >>> object_positions([0, 0, 2, 2, 2], 3).tolist()
        [0, 1, 0, 1, 2]
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
    ``at_least_one = both = exactly_one = 0`` and ``none = 1``. At least one counts every
    object of the event; both, exactly one and none the two leading ones (row order within
    the event, which is pT order for Delphes fat jets).

    Args:
        object_tags: result of a tagger on a table with ``event_index``.
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
