"""The canonical event schema that every reader returns and every later step consumes.

One event is one awkward record. Collections are variable-length lists of records; the
momentum-carrying ones have the ``vector`` behaviour ``Momentum4D`` so that physicists'
names (``pt``, ``eta``, ``deltaR``, ``mass``) work on them. Units: GeV and radians.

=============  =========================================================================
field          content
=============  =========================================================================
``weight``     float64, the generator event weight (1.0 where the file has none)
``fatjets``    var * Momentum4D{pt, eta, phi, mass, nsubjettiness (5 * float32,
               N-subjettiness tau1..tau5, beta = 1; not called ``tau``, which ``vector``
               reads as an alias of the mass), sd_mass (soft-drop mass, GeV), trimmed_mass
               (GeV), n_charged, n_neutral (int32, -1 where unknown)}; Delphes ``FatJet``
``jets``       var * Momentum4D{pt, eta, phi, mass, btag (int32)}; Delphes ``Jet``
``electrons``  var * Momentum4D{pt, eta, phi, mass, charge (int32)}
``muons``      var * Momentum4D{pt, eta, phi, mass, charge (int32)}
``photons``    var * Momentum4D{pt, eta, phi, mass}
``met``        record {met (GeV), phi}; Delphes ``MissingET`` (NaN if an event has none)
``particles``  var * Momentum4D{px, py, pz, E, pid, status, mother1, mother2, daughter1,
               daughter2}: the truth record (Delphes ``Particle``, ExRootAnalysis or LHE
               ``Particle``). Mother and daughter indices are 0-based positions in the same
               event's list, -1 for none (LHE's 1-based ``Mother1`` is shifted; Delphes'
               M1/D1 are already 0-based; ExRootAnalysis stores either convention and it
               is recognised per event). For LHE and ExRootAnalysis, which store no
               daughters, daughter1/daughter2 are the first/last particle whose mother
               range contains this one.
``weights``    record {id: float64} of LHEF v3 named weights (``<rwgt>``/``<weights>``), LHE
               input only and only when the file has them; ``weight`` stays the nominal.
=============  =========================================================================

A reader fills only the collections it was asked for (and that the format has): a
parton-level event has ``weight`` and ``particles`` only. The project's own Parquet files
(reference samples, written by :func:`surrotag.io.write_parquet`) hold exactly these fields,
plus, for reference samples, ``fatjets.constituents`` (var * Momentum4D{px, py, pz, E,
charge}). Provenance (sha256 of inputs, cross-section, sum of weights) travels as JSON in
the Parquet key-value metadata under ``surrotag``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as _field
from types import MappingProxyType
from typing import Final

import awkward as ak
import numpy as np
import vector

from surrotag.errors import InputValueError
from surrotag.io.levels import INPUT_LEVELS, LEVEL_NAMES

__all__ = [
    "COLLECTIONS",
    "ETA_SENTINEL",
    "FIELD_TYPES",
    "KINEMATIC_FIELDS",
    "LEVELS",
    "MOMENTUM_COLLECTIONS",
    "StoredType",
    "check_finite",
    "check_weights_and_indices",
    "with_vector_behaviour",
]

vector.register_awkward()

#: Input levels: what kind of information a file carries (:mod:`surrotag.io.levels`).
LEVELS: Final = LEVEL_NAMES

#: Every collection a canonical event may hold (all of them at detector level).
COLLECTIONS: Final = INPUT_LEVELS["delphes"].collections

#: Collections whose records are four-momenta (``Momentum4D``).
MOMENTUM_COLLECTIONS: Final = ("fatjets", "jets", "electrons", "muons", "photons", "particles")


#: |eta| above this is no physical direction but a sentinel (Delphes writes eta = +-999.9
#: for objects with pT = 0); pT sinh(eta) and pT cosh(eta) overflow from |eta| ~ 710.
ETA_SENTINEL: Final = 100.0

#: The kinematic fields of each momentum collection that must be finite in every object
#: (NaN is allowed elsewhere: missing substructure, ``met`` of an event without one).
KINEMATIC_FIELDS: Final = {
    "fatjets": ("pt", "eta", "phi", "mass"),
    "jets": ("pt", "eta", "phi", "mass"),
    "electrons": ("pt", "eta", "phi", "mass"),
    "muons": ("pt", "eta", "phi", "mass"),
    "photons": ("pt", "eta", "phi", "mass"),
    "particles": ("px", "py", "pz", "E"),
}


@dataclass(frozen=True)
class StoredType:
    """The type a canonical field must have in a file read back (Parquet, Arrow).

    Attributes:
        kind: ``number`` (any integer or floating type; not boolean, not text), ``list``
            (of ``item``) or ``record`` (its ``fields`` that are present are checked, other
            fields are free; with ``item`` set instead, every field must be an ``item``).
        item: the type of a list's elements, or of every field of a free record.
        fields: the named fields of a record and their types.
    """

    kind: str
    item: StoredType | None = None
    fields: Mapping[str, StoredType] = _field(default_factory=lambda: MappingProxyType({}))

    def describe(self) -> str:
        """The type in words, for messages (``a list of records``)."""
        if self.kind == "number":
            return "a number (integer or float)"
        if self.kind == "list":
            inner = "records" if self.item is not None and self.item.kind == "record" else None
            return f"a list of {inner or 'numbers'}"
        return "a record of numbers" if self.item is not None else "a record"


def _record(**fields: StoredType) -> StoredType:
    return StoredType("record", fields=MappingProxyType(fields))


_NUMBER: Final = StoredType("number")
_MOMENTUM: Final = {"pt": _NUMBER, "eta": _NUMBER, "phi": _NUMBER, "mass": _NUMBER}
_FATJET: Final = _record(
    **_MOMENTUM,
    nsubjettiness=StoredType("list", _NUMBER),
    sd_mass=_NUMBER,
    trimmed_mass=_NUMBER,
    n_charged=_NUMBER,
    n_neutral=_NUMBER,
    constituents=StoredType(
        "list", _record(px=_NUMBER, py=_NUMBER, pz=_NUMBER, E=_NUMBER, charge=_NUMBER)
    ),
)

#: The stored type of every canonical field that carries numbers (the table above): the
#: weights, each collection's kinematics, identifiers and truth indices. A file whose column
#: holds text, booleans or another shape there would fail later with a traceback or, worse,
#: with silently wrong sums; :func:`surrotag.io.parquet.check_event_schema` checks these.
FIELD_TYPES: Final[Mapping[str, StoredType]] = MappingProxyType(
    {
        "weight": _NUMBER,
        "fatjets": StoredType("list", _FATJET),
        "jets": StoredType("list", _record(**_MOMENTUM, btag=_NUMBER)),
        "electrons": StoredType("list", _record(**_MOMENTUM, charge=_NUMBER)),
        "muons": StoredType("list", _record(**_MOMENTUM, charge=_NUMBER)),
        "photons": StoredType("list", _record(**_MOMENTUM)),
        "met": _record(met=_NUMBER, phi=_NUMBER),
        "particles": StoredType(
            "list",
            _record(
                **{name: _NUMBER for name in ("px", "py", "pz", "E", "pid", "status")},
                **{name: _NUMBER for name in ("mother1", "mother2", "daughter1", "daughter2")},
            ),
        ),
        "weights": StoredType("record", _NUMBER),
    }
)


def _bad_values(values: ak.Array, field: str) -> ak.Array:
    """True where a kinematic value is non-finite (or, for eta, a sentinel)."""
    bad = ~np.isfinite(values)
    if field == "eta":
        bad = bad | (np.abs(values) > ETA_SENTINEL)
    return ak.fill_none(bad, False)


def check_finite(events: ak.Array, source: object) -> None:
    """Refuse canonical events whose objects have non-finite or sentinel kinematics.

    Every reader's output passes through here (:func:`surrotag.io.iter_events`,
    :func:`surrotag.io.read_parquet`). A NaN pT, eta or phi would otherwise fail every cut
    silently and change the yields, and an infinite or sentinel eta makes four-vectors
    overflow, so such objects are an error rather than a silent drop. Checked: the
    :data:`KINEMATIC_FIELDS` of each collection present, and the constituents of reference
    fat jets (px, py, pz, E); then the weights and truth indices
    (:func:`check_weights_and_indices`).

    Args:
        events: canonical events (any subset of :data:`COLLECTIONS`).
        source: the file (or a name) for the message.

    Raises:
        InputValueError: one line naming the file, collection, field and how many objects
            and events are affected, and how to fix it.
    """
    checks: list[tuple[str, str, ak.Array, int]] = []
    for name, fields in KINEMATIC_FIELDS.items():
        if name not in events.fields:
            continue
        column = events[name]
        checks += [(name, f, column[f], 1) for f in fields if f in column.fields]
        if name == "fatjets" and "constituents" in column.fields:
            parts = column.constituents
            checks += [
                ("fatjets.constituents", f, parts[f], 2)
                for f in ("px", "py", "pz", "E")
                if f in parts.fields
            ]
    for name, field, values, depth in checks:
        bad = _bad_values(values, field)
        n_objects = int(ak.sum(bad, axis=None))
        if n_objects == 0:
            continue
        per_event = bad if depth == 1 else ak.any(bad, axis=-1)
        n_events = int(ak.sum(ak.any(per_event, axis=1)))
        what = "non-finite or sentinel (|eta| > 100)" if field == "eta" else "non-finite"
        plural = "object" if n_objects == 1 else "objects"
        keep = (
            f" (e.g. keep ak.all(np.isfinite(events.{name}.{field}), axis=1))" if depth == 1 else ""
        )
        raise InputValueError(
            f"{source}: {n_objects} {plural} of {name} in {n_events} event(s) with {what} "
            f"{field}; drop those events{keep} or regenerate the file"
        )
    check_weights_and_indices(events, source)


#: Index fields of ``particles``: 0-based positions in the same event's list, -1 for none.
_INDEX_FIELDS: Final = ("mother1", "mother2", "daughter1", "daughter2")


def check_weights_and_indices(events: ak.Array, source: object) -> None:
    """Refuse non-finite event weights and truth indices outside their event's list.

    What the LHE reader checks while it reads (:func:`surrotag.io.truth.check_indices`),
    checked here for every canonical input (own Parquet files, in-memory arrays): a NaN
    weight makes every yield NaN, and an out-of-range ``mother1`` silently breaks the truth
    matching (wrong top decays, wrong tag probabilities). Negative weights (NLO) are valid.

    Args:
        events: canonical events (any subset of :data:`COLLECTIONS`).
        source: the file (or a name) for the message.

    Raises:
        InputValueError: a non-finite ``weight`` (one line with the count and first event).
        CorruptFileError: a mother or daughter index < -1 or >= the event's particle count.
    """
    from surrotag.io.truth import check_indices

    if "weight" in events.fields:
        weight = ak.to_numpy(ak.fill_none(events.weight, np.nan), allow_missing=False)
        bad = ~np.isfinite(np.asarray(weight, dtype=np.float64))
        if bad.any():
            raise InputValueError(
                f"{source}: {int(bad.sum())} event(s) with a non-finite weight (first: event "
                f"{int(np.flatnonzero(bad)[0])}); drop them or regenerate the file"
            )
    if "particles" in events.fields:
        fields = tuple(f for f in _INDEX_FIELDS if f in events.particles.fields)
        if fields:
            check_indices(source, events.particles, fields)  # type: ignore[arg-type]


def with_vector_behaviour(events: ak.Array) -> ak.Array:
    """Name the four-momentum records ``Momentum4D`` so that ``vector`` acts on them.

    Parquet and arrow round trips drop awkward behaviours; call this after reading.

    Args:
        events: canonical events (any subset of :data:`COLLECTIONS`).

    Returns:
        The same events with ``Momentum4D`` records (and constituents) named.
    """
    fields = {}
    for name in events.fields:
        column = events[name]
        if name in MOMENTUM_COLLECTIONS:
            if name == "fatjets" and "constituents" in column.fields:
                column = ak.with_field(
                    column, ak.with_name(column.constituents, "Momentum4D"), "constituents"
                )
            column = ak.with_name(column, "Momentum4D")
        fields[name] = column
    return ak.zip(fields, depth_limit=1, with_name=None)
