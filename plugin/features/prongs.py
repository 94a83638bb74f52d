"""Hard prongs of resonance decays contained in fat jets: how many, and their mass.

Truth information that carries over between signal models, for taggers that were trained on
no signal at all (anomaly scores, arXiv:2007.01850): a jet with the two quarks of a W, Z or
any scalar X -> q qbar is a *two-prong* jet of that resonance's mass, whatever model made
it; a fully contained hadronic top is a three-prong jet of about 173 GeV; a QCD jet has no
prong. The choices:

* a **prong** is a quark (|PDG id| 1-5) whose first mother is a heavy resonance
  (:data:`RESONANCE_PIDS`: t, Z, W, h, the BSM bosons Z', Z'', W', H, A, H+, and every id
  of 1,000,000 or more): the b and the W's quarks of a top, the quarks of a W, Z or scalar
  decay. Leptons, neutrinos and gluons are never prongs, so a leptonic top contributes its
  b only, and radiation off a top before its decay is not a prong;
* a prong is **contained** in a fat jet when it lies within Delta R < R (0.8) of the jet
  axis, with its direction at the decay;
* the **prong mass** is the invariant mass of the sum of the contained prongs' four-momenta
  (GeV): about the resonance mass when all its quarks are inside, 0 when no prong is.

Only ``pid``, ``mother1`` and the four-momenta of the canonical truth record are read, so
Delphes ``Particle``, HepMC, ExRootAnalysis ``LHEF`` and LHE records all work. Vectorised
over events (one jets x prongs product per event, a handful of prongs each).

Example:
    >>> import awkward as ak
    >>> particles = ak.Array([[  # W (0) -> u (1) dbar (2), both near the jet
    ...     {"px": 500.0, "py": 0.0, "pz": 0.0, "E": 506.4, "pid": 24, "mother1": -1},
    ...     {"px": 250.0, "py": 20.0, "pz": 0.0, "E": 250.8, "pid": 2, "mother1": 0},
    ...     {"px": 250.0, "py": -20.0, "pz": 0.0, "E": 250.8, "pid": -1, "mother1": 0},
    ... ]])
    >>> jets = ak.Array([[{"pt": 500.0, "eta": 0.0, "phi": 0.0}]])
    >>> out = contained_prongs(jets, resonance_prongs(particles))
    >>> out["n_prongs"].tolist(), [[round(m, 1) for m in e] for e in out["prong_mass"].tolist()]
    ([[2]], [[40.0]])
"""

from __future__ import annotations

from typing import Final

import awkward as ak
import numpy as np

from surrotag.features._common import delta_r, eta_phi_pt

__all__ = ["RESONANCE_PIDS", "contained_prongs", "resonance_prongs"]

#: |PDG id| of the resonances whose quark daughters are prongs (plus every id >= 1e6).
RESONANCE_PIDS: Final = (6, 23, 24, 25, 32, 33, 34, 35, 36, 37)
_FIRST_BSM_ID: Final = 1_000_000
_MOMENTUM: Final = ("px", "py", "pz", "E")


def resonance_prongs(particles: ak.Array) -> ak.Array:
    """The prongs of every event: quarks whose first mother is a heavy resonance.

    Args:
        particles: canonical truth record (``pid``, ``mother1`` 0-based or -1, ``px``,
            ``py``, ``pz``, ``E`` in GeV).

    Returns:
        events x var * {px, py, pz, E (GeV), eta, phi (rad)} of the prongs (plain records:
        the record needs no ``vector`` behaviour).
    """
    mother = particles.mother1
    valid = (mother >= 0) & (mother < ak.num(particles.pid, axis=1))
    mother_pid = abs(particles.pid[ak.where(valid, mother, 0)])
    flat_pid = ak.to_numpy(ak.flatten(mother_pid))
    resonant = np.isin(flat_pid, RESONANCE_PIDS) | (flat_pid >= _FIRST_BSM_ID)
    resonant = ak.unflatten(resonant, ak.num(mother_pid, axis=1))
    quark = (abs(particles.pid) >= 1) & (abs(particles.pid) <= 5)
    prongs = particles[valid & quark & resonant]
    counts = ak.num(prongs.pid, axis=1)
    momenta = {k: ak.to_numpy(ak.flatten(prongs[k])).astype(np.float64) for k in _MOMENTUM}
    eta, phi, _ = eta_phi_pt(momenta["px"], momenta["py"], momenta["pz"])
    flat = ak.zip({**momenta, "eta": eta, "phi": phi}, depth_limit=1)
    return ak.unflatten(flat, counts)


def contained_prongs(fatjets: ak.Array, prongs: ak.Array, radius: float = 0.8) -> dict:
    """How many prongs each fat jet contains, and their invariant mass.

    Args:
        fatjets: events x var * jets with ``eta`` and ``phi``.
        prongs: :func:`resonance_prongs` of the same events.
        radius: containment Delta R.

    Returns:
        ``n_prongs`` (int) and ``prong_mass`` (GeV, 0 where no prong is contained), each
        events x var aligned with ``fatjets``.
    """
    pairs = ak.cartesian({"jet": fatjets[["eta", "phi"]], "prong": prongs}, axis=1, nested=True)
    inside = delta_r(pairs.jet.eta, pairs.jet.phi, pairs.prong.eta, pairs.prong.phi) < radius
    chosen = pairs.prong[inside]
    total = {k: ak.sum(chosen[k], axis=2) for k in ("px", "py", "pz", "E")}
    mass2 = total["E"] ** 2 - total["px"] ** 2 - total["py"] ** 2 - total["pz"] ** 2
    return {
        "n_prongs": ak.sum(inside, axis=2),
        "prong_mass": np.sqrt(np.maximum(mass2, 0.0)),
    }
