"""Particle level: the visible stable particles of a generator record and their fat jets.

Particle-level jets are what a generator gives without any detector: anti-kT R = 0.8 jets
of the stable (status 1) final-state particles, neutrinos and invisible BSM states removed,
with the same substructure as the detector-level jets (:func:`recluster_fatjets`). This is
the convention of Rivet's particle-level analyses (Bierlich et al., arXiv:1912.05451) and of
the Delphes ``GenJet`` collection. The ``top-tagger-particle`` surrogate is conditioned on
these jets and learns the internal tagger's decision on the detector-level jet matched to
each of them, so detector effects live inside the surrogate.
"""

from __future__ import annotations

from typing import Final

import awkward as ak
import numpy as np

__all__ = ["INVISIBLE_PIDS", "particle_fatjets", "visible"]

#: |PDG id| of the particles a detector never sees: neutrinos, sneutrinos, the lightest
#: neutralino and the gravitino.
INVISIBLE_PIDS: Final = (12, 14, 16, 1000012, 1000014, 1000016, 1000022, 1000039)


def visible(final: ak.Array) -> ak.Array:
    """The final-state particles a detector could see (drops :data:`INVISIBLE_PIDS`).

    Args:
        final: events x var * {..., pid}; stable particles only (see
            :func:`particle_fatjets` for a whole generator record).

    Returns:
        The same records, invisible particles removed.

    Examples:
        >>> import awkward as ak
        >>> events = ak.Array([[{"pid": 211}, {"pid": -12}, {"pid": 1000022}], [{"pid": 22}]])
        >>> ak.to_list(visible(events).pid)
        [[211], [22]]
    """
    pid = ak.to_numpy(ak.flatten(final.pid, axis=1))
    seen = ak.unflatten(~np.isin(np.abs(pid), INVISIBLE_PIDS), ak.num(final, axis=1))
    return final[seen]


def particle_fatjets(
    particles: ak.Array, *, radius: float = 0.8, pt_min: float = 200.0, eta_max: float = 2.0
) -> ak.Array:
    """Particle-level fat jets of canonical generator records (HepMC, Delphes ``Particle``).

    Args:
        particles: events x var * {px, py, pz, E (GeV), pid, status, ...}: the whole record;
            the stable particles (``status == 1``) that are visible are clustered.
        radius: anti-kT distance parameter R.
        pt_min: minimum jet pT (GeV), as the reference detector's fat jets.
        eta_max: maximum jet |eta|.

    Returns:
        The fat jets of :func:`surrotag.jets.clustering.recluster_fatjets` (with
        constituents; charge from the PDG id, which is all a generator record gives).

    Raises:
        MissingDependencyError: fastjet is not installed.
    """
    from surrotag.jets.clustering import recluster_fatjets

    stable = visible(particles[particles.status == 1])
    pid = ak.to_numpy(ak.flatten(stable.pid, axis=1))
    charge = ak.unflatten(_charge(pid), ak.num(stable, axis=1))
    inputs = ak.zip(
        {"px": stable.px, "py": stable.py, "pz": stable.pz, "E": stable.E, "charge": charge}
    )
    return recluster_fatjets(inputs, radius=radius, pt_min=pt_min, eta_max=eta_max)


def _charge(pid: np.ndarray) -> np.ndarray:
    """Electric charge (units of e, int32) from the PDG id, by the ``particle`` package's
    PDG numbering rules (evaluated once per distinct id)."""
    from particle.pdgid import charge

    unique, inverse = np.unique(pid, return_inverse=True)
    values = np.array([charge(int(u)) or 0.0 for u in unique], dtype=np.float64)
    return np.rint(values[inverse]).astype(np.int32)
