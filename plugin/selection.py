"""Vectorised dijet event selection from an analysis card's declarative ``selection``.

On canonical events (:mod:`surrotag.io.canonical`) the two leading objects of the card's
collection (pT order) are picked, and the cuts are applied in this order, each on the events
that passed the previous ones (the cutflow):

==================  =====================================================================
cut                 condition
==================  =====================================================================
``all``             every event
``two_objects``     at least two objects in the collection
``leading_pt``      pT of the leading object > ``leading_pt_min_gev`` (GeV)
``subleading_pt``   pT of the subleading object > ``subleading_pt_min_gev`` (GeV)
``abs_eta``         |eta| < ``abs_eta_max`` for both
``abs_delta_y``     |y1 - y2| < ``abs_delta_y_max`` (rapidity y, not pseudorapidity)
==================  =====================================================================

The dijet mass ``mjj`` (GeV) is the invariant mass of the two leading objects' four-momenta,
computed for every event with two objects. No Python loop runs over events: awkward
``argsort`` and padding, then numpy ``vector`` arithmetic on ``[N, 2]`` arrays.

References:
    ATLAS all-hadronic t tbar resonances, arXiv:2005.05138; CMS, arXiv:1810.05905.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

import awkward as ak
import numpy as np

from surrotag.analysis_card import AnalysisCard, SelectionSpec
from surrotag.errors import AnalysisError
from surrotag.io.canonical import MOMENTUM_COLLECTIONS

if TYPE_CHECKING:
    from surrotag.analysis import Analysis

__all__ = ["CUTS", "Selection", "select"]

#: Cut names in the order they are applied (the keys of :attr:`Selection.cutflow`).
CUTS: Final = ("all", "two_objects", "leading_pt", "subleading_pt", "abs_eta", "abs_delta_y")


@dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select` on N events.

    Attributes:
        mask: bool ``[N]``, the events passing every cut.
        indices: int64 ``[N, 2]``, position of the leading and subleading object in the
            event's collection as stored (so per-object tag probabilities can be picked with
            it); -1 where the event has fewer objects.
        mjj: float64 ``[N]``, dijet invariant mass of the two leading objects (GeV); NaN
            where the event has fewer than two.
        delta_y: float64 ``[N]``, |y1 - y2| (rapidity); NaN where fewer than two objects.
        cutflow: cut name (:data:`CUTS`) -> number of events passing it and all before.
        cutflow_weighted: the same with each event counted by its ``weight`` (1 if the
            events have none).
    """

    mask: np.ndarray
    indices: np.ndarray
    mjj: np.ndarray
    delta_y: np.ndarray
    cutflow: Mapping[str, int]
    cutflow_weighted: Mapping[str, float]

    @property
    def n_selected(self) -> int:
        """Number of events passing the whole selection."""
        return int(self.cutflow[CUTS[-1]])


def _spec(selection: SelectionSpec | AnalysisCard | Analysis) -> SelectionSpec:
    if isinstance(selection, SelectionSpec):
        return selection
    card = getattr(selection, "card", selection)
    if not isinstance(card, AnalysisCard):
        raise AnalysisError(
            f"select() needs a SelectionSpec, AnalysisCard or Analysis, not "
            f"{type(selection).__name__}"
        )
    return card.selection


def _leading_two(objects: ak.Array) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Indices ``[N, 2]`` of the two highest-pT objects and their pt, eta, phi, mass."""
    order = ak.argsort(objects.pt, axis=1, ascending=False, stable=True)
    top = ak.pad_none(order[:, :2], 2, axis=1, clip=True)
    indices = np.asarray(ak.to_numpy(ak.fill_none(top, -1)), dtype=np.int64).reshape(-1, 2)
    picked = objects[top]
    columns = {
        name: np.asarray(
            ak.to_numpy(ak.fill_none(getattr(picked, name), np.nan)), dtype=np.float64
        ).reshape(-1, 2)
        for name in ("pt", "eta", "phi", "mass")
    }
    return indices, columns


def select(events: ak.Array, selection: SelectionSpec | AnalysisCard | Analysis) -> Selection:
    """Apply an analysis's dijet selection to canonical events.

    Args:
        events: canonical events holding the selection's collection (e.g. ``fatjets``,
            ``Momentum4D`` records with pt, eta, phi, mass in GeV and rad).
        selection: the card's :class:`~surrotag.analysis.SelectionSpec`, or the card or
            analysis holding it.

    Returns:
        :class:`Selection` (mask, jet indices, mjj, |delta y|, cutflow).

    Raises:
        AnalysisError: the events lack the collection (e.g. parton-level events read
            without fat jets).
    """
    import vector

    spec = _spec(selection)
    name = spec.collection
    fields = ak.fields(events)
    if name not in fields:
        raise AnalysisError(
            f"events have no {name!r} collection (have: {', '.join(fields) or 'none'}); the "
            f"selection needs it: read reconstructed (delphes-level) events including {name!r}"
        )
    objects = events[name]
    if name in MOMENTUM_COLLECTIONS:
        objects = ak.with_name(objects, "Momentum4D")
    indices, kin = _leading_two(objects)
    two = indices[:, 1] >= 0
    with np.errstate(invalid="ignore"):
        pair = vector.array(kin)  # [N, 2] numpy Momentum4D (NaN where absent)
        first, second = pair[:, 0], pair[:, 1]
        delta_y = np.abs(np.asarray(first.rapidity) - np.asarray(second.rapidity))
        mjj = np.asarray((first + second).mass, dtype=np.float64)
        conditions = {
            "all": np.ones(len(indices), dtype=bool),
            "two_objects": two,
            "leading_pt": kin["pt"][:, 0] > spec.leading_pt_min_gev,
            "subleading_pt": kin["pt"][:, 1] > spec.subleading_pt_min_gev,
            "abs_eta": np.all(np.abs(kin["eta"]) < spec.abs_eta_max, axis=1),
            "abs_delta_y": delta_y < spec.abs_delta_y_max,
        }
    mjj = np.where(two, mjj, np.nan)
    delta_y = np.where(two, delta_y, np.nan)
    weight = (
        np.asarray(ak.to_numpy(events["weight"]), dtype=np.float64)
        if "weight" in fields
        else np.ones(len(indices))
    )
    mask = np.ones(len(indices), dtype=bool)
    counts, weighted = {}, {}
    for cut in CUTS:  # six cuts, each a vectorised operation over all events
        mask = mask & conditions[cut]
        counts[cut] = int(np.count_nonzero(mask))
        weighted[cut] = float(weight[mask].sum())
    return Selection(
        mask=mask,
        indices=indices,
        mjj=mjj,
        delta_y=delta_y,
        cutflow=MappingProxyType(counts),
        cutflow_weighted=MappingProxyType(weighted),
    )
