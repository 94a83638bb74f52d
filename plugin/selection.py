"""Vectorised event selection from an analysis card's declarative ``selection``.

On canonical events (:mod:`surrotag.io.canonical`) the card's ``candidates`` leading objects
of its collection (pT order) are picked, and the card's cuts are applied in order, each on
the events that passed the previous ones (the cutflow, which starts with ``all``). Every cut
bounds an observable of :mod:`surrotag.observables`; a NaN value (a missing candidate) fails.
The zprime-ttbar-allhad card's five cuts, for example:

==================  =====================================================================
cut                 condition
==================  =====================================================================
``two_objects``     at least two objects in the collection (``count``)
``leading_pt``      pT of the leading object > 500 GeV
``subleading_pt``   pT of the subleading object > 400 GeV
``abs_eta``         |eta| < 2.0 for each candidate
``abs_delta_y``     |y1 - y2| < 1.8 (rapidity y, not pseudorapidity)
==================  =====================================================================

The regions' observables (e.g. ``mjj``, the invariant mass of the two candidates) are
computed for every event (NaN where undefined) and returned in :attr:`Selection.values`.
No Python loop runs over events: awkward ``argsort`` and padding, then numpy ``vector``
arithmetic on ``[N, k]`` arrays.

References:
    ATLAS all-hadronic t tbar resonances, arXiv:2005.05138; CMS, arXiv:1810.05905.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import awkward as ak
import numpy as np

from surrotag.analysis_card import EVENT_COLLECTION, AnalysisCard, Cut, SelectionSpec
from surrotag.errors import AnalysisError
from surrotag.io.canonical import MOMENTUM_COLLECTIONS
from surrotag.observables import Candidates, get

if TYPE_CHECKING:
    from surrotag.analysis import Analysis

__all__ = ["Selection", "collections_read", "cut_names", "select"]


@dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select` on N events.

    Attributes:
        mask: bool ``[N]``, the events passing every cut.
        indices: int64 ``[N, k]``, position of each candidate in the event's collection as
            stored (so per-object tag probabilities can be picked with it); -1 where the
            event has fewer objects.
        values: observable name -> float64 ``[N]``, each region observable of the card
            (e.g. ``mjj`` in GeV) for every event, NaN where undefined.
        cutflow: cut name (:func:`cut_names`) -> number of events passing it and all before.
        cutflow_weighted: the same with each event counted by its ``weight`` (1 if the
            events have none).
    """

    mask: np.ndarray
    indices: np.ndarray
    values: Mapping[str, np.ndarray]
    cutflow: Mapping[str, int]
    cutflow_weighted: Mapping[str, float]

    @property
    def n_selected(self) -> int:
        """Number of events passing the whole selection."""
        return int(np.count_nonzero(self.mask))


def cut_names(spec: SelectionSpec) -> tuple[str, ...]:
    """The cutflow's entries: ``all``, then the card's cuts in order."""
    return ("all", *(cut.name for cut in spec.cuts))


def collections_read(selection: SelectionSpec | AnalysisCard | Analysis) -> set[str]:
    """The canonical collections a selection reads (so that a reader reads them): its
    candidates', those its cuts count, sum or pick objects from and, for a card or an
    analysis, those its regions' observables read."""
    spec, observables = _spec(selection)
    read = {spec.collection} - {EVENT_COLLECTION}
    for cut in spec.cuts:
        observable = get(cut.observable)
        if observable.kind == "object" and cut.collection is not None:
            read.add(cut.collection)
        read |= observable.collections_read(cut.collection, spec.collection)
    for name in observables:
        read |= get(name).collections_read(None, spec.collection)
    return read


def _spec(selection: SelectionSpec | AnalysisCard | Analysis) -> tuple[SelectionSpec, tuple]:
    """The selection spec and the card's region observables (none for a bare spec)."""
    if isinstance(selection, SelectionSpec):
        return selection, ()
    card = getattr(selection, "card", selection)
    if not isinstance(card, AnalysisCard):
        raise AnalysisError(
            f"select() needs a SelectionSpec, AnalysisCard or Analysis, not "
            f"{type(selection).__name__}"
        )
    observables = tuple(dict.fromkeys(region.observable.name for region in card.regions))
    return card.selection, observables


def _candidates(events: ak.Array, name: str, k: int) -> tuple[np.ndarray, Candidates]:
    """Indices ``[N, k]`` of the k highest-pT objects and their kinematics (the event
    itself, index 0 and no kinematics, for :data:`EVENT_COLLECTION`)."""
    if name == EVENT_COLLECTION:
        nan = np.full((len(events), 1), np.nan)
        return np.zeros((len(events), 1), dtype=np.int64), Candidates(
            nan, nan, nan, nan, events=events, collection=name
        )
    fields = ak.fields(events)
    if name not in fields:
        raise AnalysisError(
            f"events have no {name!r} collection (have: {', '.join(fields) or 'none'}); the "
            f"selection needs it: read reconstructed (delphes-level) events including {name!r}"
        )
    objects = events[name]
    if name in MOMENTUM_COLLECTIONS:
        objects = ak.with_name(objects, "Momentum4D")
    order = ak.argsort(objects.pt, axis=1, ascending=False, stable=True)
    top = ak.pad_none(order[:, :k], k, axis=1, clip=True)
    indices = np.asarray(ak.to_numpy(ak.fill_none(top, -1)), dtype=np.int64).reshape(-1, k)
    picked = objects[top]
    columns = {
        field: np.asarray(
            ak.to_numpy(ak.fill_none(getattr(picked, field), np.nan)), dtype=np.float64
        ).reshape(-1, k)
        for field in ("pt", "eta", "phi", "mass")
    }
    return indices, Candidates(**columns, events=events, collection=name)


def _passes(cut: Cut, candidates: Candidates) -> np.ndarray:
    """bool ``[N]``: the event passes ``cut`` (NaN fails every bound).

    An object cut naming another ``collection`` (the leading muon's pT) reads the leading
    ``object + 1`` objects of that collection, ordered by pT as the candidates are.
    """
    observable = get(cut.observable)
    if observable.kind == "object" and cut.collection is not None:
        _, candidates = _candidates(candidates.events, cut.collection, int(cut.object) + 1)
    values = observable.compute(candidates, cut.collection)
    if observable.kind == "object" and cut.object != "each":
        values = values[:, cut.object]
    bounds = (
        (cut.above, np.greater),
        (cut.below, np.less),
        (cut.at_least, np.greater_equal),
        (cut.at_most, np.less_equal),
    )
    passed = np.ones(values.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        for bound, compare in bounds:
            if bound is not None:
                passed &= compare(values, bound)
    return passed.all(axis=1) if passed.ndim == 2 else passed


def select(events: ak.Array, selection: SelectionSpec | AnalysisCard | Analysis) -> Selection:
    """Apply an analysis's selection to canonical events.

    Args:
        events: canonical events holding the selection's collection (e.g. ``fatjets``,
            ``Momentum4D`` records with pt, eta, phi, mass in GeV and rad).
        selection: the card's :class:`~surrotag.analysis.SelectionSpec` (then
            :attr:`Selection.values` is empty), or the card or analysis holding it.

    Returns:
        :class:`Selection` (mask, candidate indices, region observables, cutflow).

    Raises:
        AnalysisError: the events lack the collection (e.g. parton-level events read
            without fat jets), or a collection an event observable reads.
    """
    spec, observables = _spec(selection)
    indices, candidates = _candidates(events, spec.collection, spec.candidates)
    weight = (
        np.asarray(ak.to_numpy(events["weight"]), dtype=np.float64)
        if "weight" in ak.fields(events)
        else np.ones(len(indices))
    )
    mask = np.ones(len(indices), dtype=bool)
    counts, weighted = {"all": len(indices)}, {"all": float(weight.sum())}
    for cut in spec.cuts:  # a few cuts, each a vectorised operation over all events
        mask = mask & _passes(cut, candidates)
        counts[cut.name] = int(np.count_nonzero(mask))
        weighted[cut.name] = float(weight[mask].sum())
    values = {observable: get(observable).compute(candidates) for observable in observables}
    return Selection(
        mask=mask,
        indices=indices,
        values=MappingProxyType(values),
        cutflow=MappingProxyType(counts),
        cutflow_weighted=MappingProxyType(weighted),
    )
