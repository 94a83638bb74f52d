"""Observables of the lepton + jets t tbar resonance search, registered from this package.

Registered through the entry point ``zprime-ttbar-ljets`` of the group
``surrotag.observables`` (nothing in surrotag names this module):

``delta_r_lepton_jet``
    Delta R between the hardest electron or muon and the small-R jet closest to it (NaN
    without a lepton or a jet): the leptonic top's b-jet candidate lies within 1.5.
``m_tt_lepjets``
    the reconstructed t tbar mass (GeV): the leading candidate (the hadronic top's large-R
    jet) plus the leptonic top, lepton + neutrino + the small-R jet closest to the lepton.
    The neutrino's transverse momentum is the missing transverse momentum; its p_z solves
    the W mass constraint ``(p_l + p_nu)^2 = m_W^2`` (massless lepton): of the two roots
    the one of smaller |p_z|, and the real part where the discriminant is negative (the
    measured MET gives an unphysical m_T > m_W), as ATLAS does (arXiv:1804.10823, sec. 6).

Both are vectorised over events (awkward reductions, then numpy). Units GeV and rad.

Example:
    >>> import numpy as np
    >>> half = np.array([W_MASS_GEV / 2])  # lepton and MET back to back: m_T = m_W
    >>> pz = neutrino_pz(half, np.zeros(1), np.zeros(1), half, np.array([np.pi]))
    >>> bool(abs(pz[0]) < 1e-3)  # the neutrino lies in the transverse plane
    True

References:
    ATLAS, "Search for heavy particles decaying into top-quark pairs using lepton-plus-jets
    events", arXiv:1804.10823; CMS, arXiv:1810.05905; m_W = 80.369 GeV (PDG 2024).
"""

from __future__ import annotations

from typing import Any, Final

import awkward as ak
import numpy as np

from surrotag.observables import Candidates, register

__all__ = ["W_MASS_GEV", "lepton_side", "neutrino_pz"]

#: W boson mass (GeV, PDG 2024).
W_MASS_GEV: Final = 80.369
#: The leptons, MET and small-R jets the observables read.
_READS: Final = ("electrons", "muons", "met", "jets")


def neutrino_pz(
    lepton_pt: np.ndarray,
    lepton_eta: np.ndarray,
    lepton_phi: np.ndarray,
    met: np.ndarray,
    met_phi: np.ndarray,
    w_mass: float = W_MASS_GEV,
) -> np.ndarray:
    """The neutrino p_z (GeV) from the W mass constraint, massless lepton.

    With ``mu = m_W^2 / 2 + pT_l MET cos(Delta phi)`` the roots are
    ``(mu p_zl +- sqrt(mu^2 p_zl^2 - pT_l^2 (E_l^2 MET^2 - mu^2))) / pT_l^2``; this returns
    the one of smaller |p_z|, or the real part ``mu p_zl / pT_l^2`` where the discriminant
    is negative.

    Args:
        lepton_pt, lepton_eta, lepton_phi: the lepton, ``[N]`` (GeV, rad).
        met, met_phi: missing transverse momentum and its azimuth, ``[N]``.
        w_mass: the W mass constraint (GeV).

    Returns:
        float64 ``[N]`` (NaN where an input is NaN).
    """
    pt = np.asarray(lepton_pt, dtype=np.float64)
    pz = pt * np.sinh(lepton_eta)
    energy = pt * np.cosh(lepton_eta)
    mu = 0.5 * w_mass**2 + pt * met * np.cos(lepton_phi - met_phi)
    centre = mu * pz / pt**2
    discriminant = centre**2 - (energy**2 * met**2 - mu**2) / pt**2
    root = np.sqrt(np.clip(discriminant, 0.0, None))
    return np.where(np.abs(centre - root) < np.abs(centre + root), centre - root, centre + root)


def _hardest_lepton(events: Any) -> dict[str, np.ndarray]:
    """pt, eta, phi of the hardest electron or muon per event (NaN without one)."""
    leptons = ak.concatenate([events["electrons"], events["muons"]], axis=1)
    hardest = ak.firsts(leptons[ak.argmax(leptons.pt, axis=1, keepdims=True)])
    return {
        key: np.asarray(ak.to_numpy(ak.fill_none(hardest[key], np.nan)), dtype=np.float64)
        for key in ("pt", "eta", "phi")
    }


def lepton_side(events: Any) -> dict[str, np.ndarray]:
    """The leptonic top's pieces: the hardest lepton, the neutrino and the nearest jet.

    Args:
        events: canonical events with ``electrons``, ``muons``, ``met`` and ``jets``.

    Returns:
        float64 ``[N]`` arrays: ``delta_r`` (lepton to nearest small-R jet), and the summed
        four-momentum of lepton + neutrino + that jet as ``px, py, pz, energy`` (GeV);
        NaN where the event has no lepton or no jet.
    """
    lepton = _hardest_lepton(events)
    jets = events["jets"]
    d_eta = jets.eta - lepton["eta"]
    d_phi = (jets.phi - lepton["phi"] + np.pi) % (2 * np.pi) - np.pi
    distance = np.sqrt(d_eta**2 + d_phi**2)
    nearest = ak.firsts(jets[ak.argmin(distance, axis=1, keepdims=True)])
    delta_r = np.asarray(ak.to_numpy(ak.fill_none(ak.min(distance, axis=1), np.nan)))
    jet = {
        key: np.asarray(ak.to_numpy(ak.fill_none(nearest[key], np.nan)), dtype=np.float64)
        for key in ("pt", "eta", "phi", "mass")
    }
    met = np.asarray(ak.to_numpy(events["met"].met), dtype=np.float64)
    met_phi = np.asarray(ak.to_numpy(events["met"].phi), dtype=np.float64)
    nu_pz = neutrino_pz(lepton["pt"], lepton["eta"], lepton["phi"], met, met_phi)
    jet_pz = jet["pt"] * np.sinh(jet["eta"])
    jet_energy = np.sqrt((jet["pt"] * np.cosh(jet["eta"])) ** 2 + jet["mass"] ** 2)
    lepton_pz = lepton["pt"] * np.sinh(lepton["eta"])
    return {
        "delta_r": np.where(np.isnan(lepton["pt"]), np.nan, delta_r),
        "px": lepton["pt"] * np.cos(lepton["phi"]) + met * np.cos(met_phi)
        + jet["pt"] * np.cos(jet["phi"]),
        "py": lepton["pt"] * np.sin(lepton["phi"]) + met * np.sin(met_phi)
        + jet["pt"] * np.sin(jet["phi"]),
        "pz": lepton_pz + nu_pz + jet_pz,
        "energy": lepton["pt"] * np.cosh(lepton["eta"]) + np.hypot(met, nu_pz) + jet_energy,
    }  # fmt: skip


@register("delta_r_lepton_jet", "event", "",
          "Delta R of the hardest lepton and its nearest small-R jet", reads=_READS)  # fmt: skip
def _delta_r_lepton_jet(c: Candidates, collection: str) -> np.ndarray:
    return lepton_side(c.events)["delta_r"]


@register("m_tt_lepjets", "event", "GeV",
          "reconstructed m_tt: leading candidate + lepton + neutrino (m_W) + nearest jet",
          reads=_READS)  # fmt: skip
def _m_tt_lepjets(c: Candidates, collection: str) -> np.ndarray:
    side = lepton_side(c.events)
    jet = {"pt": c.pt[:, 0], "eta": c.eta[:, 0], "phi": c.phi[:, 0], "mass": c.mass[:, 0]}
    energy = side["energy"] + np.sqrt((jet["pt"] * np.cosh(jet["eta"])) ** 2 + jet["mass"] ** 2)
    px = side["px"] + jet["pt"] * np.cos(jet["phi"])
    py = side["py"] + jet["pt"] * np.sin(jet["phi"])
    pz = side["pz"] + jet["pt"] * np.sinh(jet["eta"])
    return np.sqrt(np.clip(energy**2 - px**2 - py**2 - pz**2, 0.0, None))
