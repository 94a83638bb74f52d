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

from typing import Final

import awkward as ak
import vector

__all__ = [
    "COLLECTIONS",
    "LEVELS",
    "MOMENTUM_COLLECTIONS",
    "with_vector_behaviour",
]

vector.register_awkward()

#: Input levels: what kind of information a file carries.
LEVELS: Final = ("delphes", "parton")

#: Every collection a canonical event may hold.
COLLECTIONS: Final = (
    "weight",
    "fatjets",
    "jets",
    "electrons",
    "muons",
    "photons",
    "met",
    "particles",
)

#: Collections whose records are four-momenta (``Momentum4D``).
MOMENTUM_COLLECTIONS: Final = ("fatjets", "jets", "electrons", "muons", "photons", "particles")


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
