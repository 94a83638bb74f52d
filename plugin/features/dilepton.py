"""Event features of dilepton searches: the two leptons, their angles to MET, m_ll, m_T2(ll).

The stop searches in the dilepton channel (arXiv:1804.09278 and the ATLAS and CMS searches
it models) select events by the two leading leptons (electrons and muons together, by pT),
the missing transverse momentum and the stransverse mass m_T2(ll) (Lester and Summers,
arXiv:hep-ph/9906349), whose t tbar endpoint sits at the W mass; Roxlo and Reece find that
their networks select MET oriented azimuthally away from both leptons, so the azimuthal
separations |Delta phi(MET, l1)|, |Delta phi(MET, l2)| and |Delta phi(l1, l2)| are features
too. Truth features carry over between signal points: the transverse momentum of everything
invisible that the hard process made (the neutralinos and the neutrinos of W decays) and the
number of top quarks.

One value per event, vectorised; an event with fewer than two leptons has NaN lepton
features and ``flag_fewer_than_two_leptons``. Units: GeV, rad.
"""

from __future__ import annotations

from typing import Final

import awkward as ak
import numpy as np

from surrotag.features._common import delta_phi
from surrotag.observables import leading_leptons, mt2_of_leptons

__all__ = ["DILEPTON_FEATURES", "TRUTH_EVENT_FEATURES", "dilepton_features"]

#: Public dilepton event features this module computes.
DILEPTON_FEATURES: Final = (
    "event_lep2_pt",
    "event_lep2_eta",
    "event_mll",
    "event_mt2_ll",
    "event_dphi_met_lep1",
    "event_dphi_met_lep2",
    "event_dphi_ll",
    "event_n_btag",
    "event_jet1_pt",
    "flag_fewer_than_two_leptons",
)
#: Truth event features this module computes.
TRUTH_EVENT_FEATURES: Final = ("truth_invisible_pt", "truth_n_tops")

_NEUTRINOS: Final = (12, 14, 16)
_NEUTRALINO: Final = 1000022


def _abs_dphi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|Delta phi| in [0, pi] (rad)."""
    return np.abs(delta_phi(a, b))


def _mll(lep: dict[str, np.ndarray]) -> np.ndarray:
    """Invariant mass of the two leptons (GeV)."""
    import vector

    pair = vector.array({f: lep[f] for f in ("pt", "eta", "phi", "mass")})
    return np.asarray((pair[:, 0] + pair[:, 1]).mass, dtype=np.float64)


def _truth(events: ak.Array, names: set[str]) -> dict[str, np.ndarray]:
    """Invisible pT of neutralinos and W-decay neutrinos, and the number of top quarks."""
    from surrotag.features.truth import top_decays

    out: dict[str, np.ndarray] = {}
    particles = events.particles
    if "truth_invisible_pt" in names:
        pid = abs(particles.pid)
        mother = ak.where(particles.mother1 >= 0, particles.mother1, 0)
        from_w = (particles.mother1 >= 0) & (abs(particles.pid[mother]) == 24)
        neutrino = ak.zeros_like(pid, dtype=bool)
        for code in _NEUTRINOS:
            neutrino = neutrino | (pid == code)
        # a neutralino that does not decay further (its last copy), a neutrino of a W decay
        lsp = (pid == _NEUTRALINO) & (particles.daughter1 < 0)
        invisible = (neutrino & from_w) | lsp
        px = ak.sum(ak.where(invisible, particles.px, 0.0), axis=1)
        py = ak.sum(ak.where(invisible, particles.py, 0.0), axis=1)
        out["truth_invisible_pt"] = np.hypot(ak.to_numpy(px), ak.to_numpy(py))
    if "truth_n_tops" in names:
        out["truth_n_tops"] = ak.to_numpy(ak.num(top_decays(particles), axis=1))
    return out


def dilepton_features(events: ak.Array, names: set[str] | frozenset[str]) -> dict[str, np.ndarray]:
    """The wanted dilepton and truth event features, one value per event.

    Args:
        events: canonical events with ``electrons``, ``muons``, ``met``, ``jets`` and (for
            truth features) ``particles``.
        names: registry names wanted (others are ignored).

    Returns:
        name -> numpy array of length ``len(events)``.

    Example:
        >>> e = {"pt": 50.0, "eta": 0.0, "phi": 0.0, "mass": 0.0}
        >>> mu = {"pt": 40.0, "eta": 0.0, "phi": np.pi, "mass": 0.0}
        >>> events = ak.Array([{"electrons": [e], "muons": [mu], "jets": [],
        ...                     "met": {"met": 30.0, "phi": np.pi / 2}}])
        >>> values = dilepton_features(events, {"event_mll", "event_dphi_met_lep1"})
        >>> float(values["event_mll"][0]), float(values["event_dphi_met_lep1"][0])
        (89.44271909999159, 1.5707963267948966)
    """
    wanted = set(names)
    out: dict[str, np.ndarray] = {}
    if wanted & set(DILEPTON_FEATURES) - {"event_n_btag", "event_jet1_pt"}:
        lep = leading_leptons(events.electrons, events.muons, 2)
        met = np.asarray(ak.to_numpy(events.met.met), dtype=np.float64)
        met_phi = np.asarray(ak.to_numpy(events.met.phi), dtype=np.float64)
        out["event_lep2_pt"] = lep["pt"][:, 1]
        out["event_lep2_eta"] = lep["eta"][:, 1]
        out["flag_fewer_than_two_leptons"] = np.isnan(lep["pt"][:, 1])
        out["event_dphi_met_lep1"] = _abs_dphi(met_phi, lep["phi"][:, 0])
        out["event_dphi_met_lep2"] = _abs_dphi(met_phi, lep["phi"][:, 1])
        out["event_dphi_ll"] = _abs_dphi(lep["phi"][:, 0], lep["phi"][:, 1])
        if "event_mll" in wanted:
            out["event_mll"] = _mll(lep)
        if "event_mt2_ll" in wanted:
            out["event_mt2_ll"] = mt2_of_leptons(lep["pt"], lep["phi"], met, met_phi)
    if "event_n_btag" in wanted:
        out["event_n_btag"] = ak.to_numpy(ak.sum(events.jets.btag != 0, axis=1))
    if "event_jet1_pt" in wanted:
        out["event_jet1_pt"] = ak.to_numpy(ak.fill_none(ak.firsts(events.jets.pt), np.nan))
    if wanted & set(TRUTH_EVENT_FEATURES):
        out |= _truth(events, wanted)
    return {name: values for name, values in out.items() if name in wanted}
