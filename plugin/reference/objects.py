"""Physics objects of the reference detector, as the Delphes CMS card makes them from EFlow.

The second half of ``cards/delphes_card_CMS.tcl`` (Delphes 3.4.2, arXiv:1307.6346; module
names in brackets), vectorised over many events, on the EFlow objects of
:func:`surrotag.reference.detector.pf_candidates` (or a Delphes file's own):

1. [ElectronFilter, ElectronEfficiency, ElectronIsolation] EFlow tracks of electrons,
   efficiency 0.95 (|eta| <= 1.5) / 0.85 (<= 2.5) above pT = 10 GeV, isolated.
2. [MuonEfficiency, MuonIsolation] tracked muons, efficiency 0.95 for |eta| <= 2.4 above
   10 GeV (times exp(0.5 - 5e-4 pT) above 1 TeV), isolated.
3. [PhotonEfficiency, PhotonIsolation] EFlow photons, efficiency as electrons, isolated.
   Isolation: the scalar pT sum of the other EFlow objects with pT > 0.5 GeV within
   Delta R <= 0.4, over the candidate's pT (``isolation``), at most 0.12 (electrons,
   photons) or 0.25 (muons); no pile-up, so no rho or Delta-beta correction. The cone is
   the one the real Delphes 3.4.2 file was made with (0.4 reproduces the SumPt of each of
   its five leptons to 1e-3 GeV; 0.5, today's Delphes card, does not).
4. [FastJetFinder, JetEnergyScale] anti-kT R = 0.4 jets of all EFlow objects with
   pT > 20 GeV, then scaled by sqrt((2.5 - 0.15 |eta|)^2 / pT + 1).
5. [JetFlavorAssociation, BTagging] the jet flavour: the highest quark |PDG| code among
   the partons of pT > 1 GeV and |eta| <= 2.5 within Delta R <= 0.5 (21 when only gluons
   are there, 0 when none is; Delphes' ``Flavor``); b-tagged with probability
   0.85 tanh(0.0025 pT) 25 / (1 + 0.063 pT) (b), 0.25 tanh(0.018 pT) / (1 + 0.0013 pT)
   (c), 0.01 + 3.8e-5 pT (others).
6. [UniqueObjectFinder] photons, electrons, muons, jets in this order: a jet holding an
   accepted photon, electron or muon among its constituents is removed.
7. [MissingET] the negative vector sum of all EFlow objects.

The jet radius, JES formula and MET are those of the real Delphes 3.4.2 CMS-card file in
``../shared/data/delphes/`` (checked on its own EFlow in ``tests``: every jet and the MET
agree to float precision). Not modelled: tau tagging, pile-up, photon-electron overlaps.

References:
    Delphes 3.4.2 ``cards/delphes_card_CMS.tcl``; arXiv:1307.6346; b-tagging efficiencies
    from CMS, arXiv:1211.4462.
"""

from __future__ import annotations

from typing import Final

import awkward as ak
import numpy as np
import vector

from surrotag.jets.clustering import antikt_jets

__all__ = [
    "ISOLATION",
    "JET_PT_MIN",
    "JET_RADIUS",
    "btag_efficiency",
    "electron_efficiency",
    "isolation",
    "jet_energy_scale",
    "jet_flavour",
    "missing_et",
    "muon_efficiency",
    "physics_objects",
    "small_r_jets",
]

vector.register_awkward()

#: anti-kT distance parameter and minimum pT (GeV, before the energy scale) of small-R jets.
JET_RADIUS: Final = 0.4
JET_PT_MIN: Final = 20.0
#: Isolation cone Delta R, minimum pT of the objects summed (GeV), and the most pT ratio.
ISOLATION: Final = {"delta_r": 0.4, "pt_min": 0.5, "electrons": 0.12, "photons": 0.12,
                    "muons": 0.25}  # fmt: skip
#: Flavour association: cone Delta R, minimum parton pT (GeV), maximum parton |eta|.
FLAVOUR_CONE: Final = (0.3, 1.0, 2.5)
#: EFlow ``kind`` codes (:func:`surrotag.reference.detector.pf_candidates`) and track species.
TRACK, PHOTON = 0, 1
ELECTRON, MUON = 1, 2


def electron_efficiency(pt: np.ndarray, abseta: np.ndarray) -> np.ndarray:
    """[ElectronEfficiency] and [PhotonEfficiency] of the CMS card (pT in GeV)."""
    return np.where(
        pt <= 10.0, 0.0, np.where(abseta <= 1.5, 0.95, np.where(abseta <= 2.5, 0.85, 0.0))
    )


def muon_efficiency(pt: np.ndarray, abseta: np.ndarray) -> np.ndarray:
    """[MuonEfficiency] of the CMS card (pT in GeV)."""
    high = 0.95 * np.exp(0.5 - pt * 5.0e-4)
    inside = np.where(pt <= 1.0e3, 0.95, high)
    return np.where((pt <= 10.0) | (abseta > 2.4), 0.0, inside)


def btag_efficiency(flavour: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """[BTagging] probability of a jet of this flavour (5 b, 4 c, other) and pT (GeV)."""
    b = 0.85 * np.tanh(0.0025 * pt) * (25.0 / (1.0 + 0.063 * pt))
    c = 0.25 * np.tanh(0.018 * pt) * (1.0 / (1.0 + 0.0013 * pt))
    light = 0.01 + 0.000038 * pt
    return np.select([flavour == 5, flavour == 4], [b, c], light)


def jet_energy_scale(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """[JetEnergyScale] factor sqrt((2.5 - 0.15 |eta|)^2 / pT + 1) (pT in GeV)."""
    return np.sqrt((2.5 - 0.15 * np.abs(eta)) ** 2 / pt + 1.0)


def _vectors(eflow: ak.Array) -> ak.Array:
    return ak.zip(
        {"px": eflow.px, "py": eflow.py, "pz": eflow.pz, "E": eflow.E}, with_name="Momentum4D"
    )


def isolation(candidates: ak.Array, position: ak.Array, eflow: ak.Array) -> ak.Array:
    """Scalar pT sum of the other EFlow objects in the cone, over the candidate's pT.

    Args:
        candidates: events x var * Momentum4D.
        position: events x var int64, each candidate's own position in the event's EFlow
            (excluded from its sum, as Delphes' ``Overlaps``).
        eflow: events x var * {px, py, pz, E}.

    Returns:
        events x var float64, Delphes' ``IsolationVar``.
    """
    flow = _vectors(eflow)
    local = ak.local_index(flow.px, axis=1)
    keep = flow.pt > ISOLATION["pt_min"]
    flow, local = flow[keep], local[keep]
    pairs = ak.cartesian({"c": candidates, "f": flow}, axis=1, nested=True)
    same = ak.cartesian({"c": position, "f": local}, axis=1, nested=True)
    inside = (pairs.c.deltaR(pairs.f) <= ISOLATION["delta_r"]) & (same.c != same.f)
    return ak.sum(ak.where(inside, pairs.f.pt, 0.0), axis=2) / candidates.pt


def jet_flavour(jets: ak.Array, partons: ak.Array) -> ak.Array:
    """[JetFlavorAssociation] ``Flavor``: the highest quark |PDG| code in the cone, 21 when
    only gluons are there, 0 when nothing is.

    Args:
        jets: events x var * Momentum4D.
        partons: events x var * {px, py, pz, E, pid}: every quark and gluon entry of the
            event record (Delphes' ``partons``); those with pT > 1 GeV and |eta| <= 2.5
            within Delta R <= 0.5 of the jet count.
    """
    cone, pt_min, eta_max = FLAVOUR_CONE
    p = ak.zip(
        {"px": partons.px, "py": partons.py, "pz": partons.pz, "E": partons.E,
         "pid": abs(partons.pid)},
        with_name="Momentum4D",
    )  # fmt: skip
    p = p[(p.pt > pt_min) & (abs(p.eta) <= eta_max) & ((p.pid <= 5) | (p.pid == 21))]
    pairs = ak.cartesian({"j": jets, "p": p}, axis=1, nested=True)
    inside = pairs.j.deltaR(pairs.p) <= cone
    code = ak.where(pairs.p.pid == 21, 0, pairs.p.pid)
    # mask_identity=False: a jet with no parton to compare with (none in the event passes the
    # cuts) gets -1, not None, which a flatten would drop (misaligning the b-tag draws)
    highest = ak.max(ak.where(inside, code, -1), axis=2, initial=-1, mask_identity=False)
    return ak.values_astype(ak.where(highest == 0, 21, ak.where(highest < 0, 0, highest)), np.int64)


def _flat(array: ak.Array) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(array, axis=None)))


def _accepted(
    pick: ak.Array, eflow: ak.Array, efficiency: np.ndarray, cut: float, rng: np.random.Generator
) -> tuple[ak.Array, ak.Array]:
    """Candidates ``eflow[pick]`` passing the efficiency (random) and the isolation cut."""
    position = ak.local_index(eflow.px, axis=1)[pick]
    vectors = _vectors(eflow)[pick]
    counts = ak.num(position, axis=1)
    passed = rng.random(len(efficiency)) < efficiency
    passed = ak.unflatten(passed, counts)
    position, vectors = position[passed], vectors[passed]
    ratio = isolation(vectors, position, eflow)
    isolated = ratio <= cut
    return position[isolated], vectors[isolated]


def _record(vectors: ak.Array, **extra: ak.Array) -> ak.Array:
    fields = {"pt": vectors.pt, "eta": vectors.eta, "phi": vectors.phi, "mass": vectors.mass}
    return ak.zip({**fields, **extra})


def small_r_jets(eflow: ak.Array, taken: ak.Array) -> ak.Array:
    """[FastJetFinder, JetEnergyScale, UniqueObjectFinder] jets of the EFlow objects.

    Args:
        eflow: events x var * {px, py, pz, E (GeV)}.
        taken: events x var int64, positions in the event's EFlow of the accepted photons,
            electrons and muons: a jet holding any of them is removed.

    Returns:
        events x var * Momentum4D, anti-kT R = 0.4 jets of raw pT > 20 GeV, scaled by
        :func:`jet_energy_scale`, by decreasing pT.
    """
    raw, index = antikt_jets(eflow, JET_RADIUS, JET_PT_MIN)
    flat_index = ak.flatten(index, axis=2)  # events x (all constituents of all jets)
    claimed = ak.any(flat_index[:, :, None] == taken[:, None, :], axis=2)
    per_jet = ak.num(index, axis=2)
    overlap = ak.any(ak.unflatten(claimed, ak.flatten(per_jet), axis=1), axis=2)
    raw = raw[~overlap]
    scale = jet_energy_scale(_flat(raw.pt), _flat(raw.eta))
    scale = ak.unflatten(scale, ak.num(raw, axis=1))
    jets = ak.zip(
        {"px": raw.px * scale, "py": raw.py * scale, "pz": raw.pz * scale, "E": raw.E * scale},
        with_name="Momentum4D",
    )
    return jets[ak.argsort(jets.pt, axis=1, ascending=False, stable=True)]  # as Delphes writes


def missing_et(eflow: ak.Array) -> ak.Array:
    """[MissingET]: {met (GeV), phi} of the negative vector sum of the EFlow objects."""
    sum_x = ak.to_numpy(ak.sum(eflow.px, axis=1))
    sum_y = ak.to_numpy(ak.sum(eflow.py, axis=1))
    return ak.zip({"met": np.hypot(sum_x, sum_y), "phi": np.arctan2(-sum_y, -sum_x)}, depth_limit=1)


def physics_objects(
    eflow: ak.Array, partons: ak.Array | None, rng: np.random.Generator
) -> dict[str, ak.Array]:
    """Isolated electrons, muons and photons, b-tagged jets and MET, for many events.

    Args:
        eflow: events x var * {px, py, pz, E (GeV), charge, kind (0 track, 1 photon, 2
            neutral hadron), species (tracks: 1 electron, 2 muon, else 0)}.
        partons: events x var * {px, py, pz, E, pid}: the quarks and gluons of the event
            record, for the jet flavour (None: flavour 0 for every jet).
        rng: seeded generator, drawn in a fixed order (electrons, muons, photons, b-tags).

    Returns:
        The canonical collections (:mod:`surrotag.io.canonical`): ``electrons`` and
        ``muons`` (var * {pt, eta, phi, mass, charge}), ``photons`` (var * {pt, eta, phi,
        mass}), ``jets`` (var * {pt, eta, phi, mass, btag, flavour}, by decreasing pT) and
        ``met`` ({met, phi}), in GeV and rad.
    """
    flow = _vectors(eflow)
    track = eflow.kind == TRACK
    abseta, pt = abs(flow.eta), flow.pt

    def candidates(pick: ak.Array, efficiency, cut: float) -> tuple[ak.Array, ak.Array]:
        eff = efficiency(_flat(pt[pick]), _flat(abseta[pick]))
        return _accepted(pick, eflow, eff, cut, rng)

    electron = track & (eflow.species == ELECTRON) & (pt > 10.0)
    muon = track & (eflow.species == MUON) & (pt > 10.0)
    photon = (eflow.kind == PHOTON) & (pt > 10.0)
    e_pos, e_vec = candidates(electron, electron_efficiency, ISOLATION["electrons"])
    m_pos, m_vec = candidates(muon, muon_efficiency, ISOLATION["muons"])
    g_pos, g_vec = candidates(photon, electron_efficiency, ISOLATION["photons"])
    jets = small_r_jets(eflow, ak.concatenate([e_pos, m_pos, g_pos], axis=1))
    if partons is None:
        flavour = ak.values_astype(ak.zeros_like(jets.px), np.int64)
    else:
        flavour = jet_flavour(jets, partons)
    tag_p = btag_efficiency(_flat(flavour), _flat(jets.pt))
    btag = ak.unflatten((rng.random(len(tag_p)) < tag_p).astype(np.int32), ak.num(jets, axis=1))
    return {
        "electrons": _record(e_vec, charge=eflow.charge[e_pos]),
        "muons": _record(m_vec, charge=eflow.charge[m_pos]),
        "photons": _record(g_vec),
        "jets": _record(jets, btag=btag, flavour=flavour),
        "met": missing_et(eflow),
    }
