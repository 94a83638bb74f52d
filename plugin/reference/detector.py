"""The reference detector: Delphes 3.4.2 with the CMS card, from stable particles to EFlow.

A vectorised transcription, over many events at once, of the energy-flow chain of
``cards/delphes_card_CMS.tcl`` (Delphes 3.4.2, arXiv:1307.6346; module names in brackets).
All randomness comes from one seeded ``numpy.random.Generator``, drawn in a fixed order, so
equal seeds give identical output.

1. [ParticlePropagator] every stable particle is propagated from its production vertex to
   the calorimeter surface (:mod:`surrotag.reference.propagation`: helix in Bz = 3.8 T,
   cylinder R = 1.29 m, half-length 3.0 m). A charged particle is seen by tracker and
   calorimeters at its impact point; one too soft to reach the barrel exits through the
   endcap face at small radius, i.e. at large position |eta|.
2. [Charged hadron / Electron / Muon TrackingEfficiency] vs (pT, position |eta|): zero
   beyond |eta| = 2.5, so curling low-pT particles are mostly not tracked.
3. [... MomentumSmearing] pT smeared log-normally with the card's relative resolution
   (at the position |eta|); the track is massless along the (perigee) momentum direction.
4. [ECal], [HCal] (:mod:`surrotag.reference.calorimeter`): deposits with the card's energy
   fractions, towers with the card's segmentation out to |eta| = 5 (HF included),
   resolutions and thresholds, and the energy flow: tracks are attached to towers, their
   expected energy is subtracted, a significant neutral excess becomes an EFlowPhoton
   (ECAL) or EFlowNeutralHadron (HCAL), otherwise the tracks are rescaled to the
   combined track + calorimeter estimate. Electron tracks take part in the ECAL, charged
   hadron tracks in the HCAL, muon tracks in neither.
5. [EFlowMerger] EFlowTrack (HCal/eflowTracks) + EFlowPhoton + EFlowNeutralHadron: the
   inputs of Delphes' FatJetFinder.

Not modelled (not in the card's EFlow chain): pile-up, the Isolation / identification
modules (they do not change the EFlow objects), and time information.
"""

from __future__ import annotations

from typing import Final

import awkward as ak
import numpy as np

from surrotag.reference.calorimeter import (
    ECAL,
    HCAL,
    Calorimeter,
    EnergyFlow,
    Hits,
    energy_flow,
    log_normal,
)
from surrotag.reference.propagation import BZ, RADIUS, position_eta, propagate

__all__ = [
    "CALO_ETA_MAX",
    "CURL_PT",
    "ECAL",
    "HCAL",
    "TRACKER_ETA_MAX",
    "Calorimeter",
    "pf_candidates",
    "track_efficiency",
    "track_resolution",
]

#: Tracker acceptance (position |eta|): every tracking efficiency of the card is 0 beyond.
TRACKER_ETA_MAX: Final = 2.5
#: Calorimeter acceptance (ECAL and HCAL towers including HF reach |eta| = 5).
CALO_ETA_MAX: Final = 5.0
#: pT (GeV) below which a charged particle from the beam line cannot reach the barrel:
#: 0.3 Bz R / 2 (it then exits through the endcap face) [ParticlePropagator].
CURL_PT: Final = 0.3 * BZ * RADIUS / 2.0


def track_efficiency(pid: np.ndarray, pt: np.ndarray, abseta: np.ndarray) -> np.ndarray:
    """Tracking efficiency of the CMS card for charged particles.

    [ChargedHadronTrackingEfficiency] hadrons: 0.70 / 0.95 (|eta| <= 1.5, pT in (0.1, 1] /
    > 1 GeV), 0.60 / 0.85 (1.5 < |eta| <= 2.5). [ElectronTrackingEfficiency]: 0.73 / 0.95 /
    0.99 (pT in (0.1, 1], (1, 100], > 100 GeV) and 0.50 / 0.83 / 0.90.
    [MuonTrackingEfficiency]: 0.75 / 0.99 / 0.99 exp(0.5 - pT 5e-4) (pT in (0.1, 1],
    (1, 1000], > 1000 GeV) and 0.70 / 0.98 / 0.98 exp(0.5 - pT 5e-4). Zero for
    pT <= 0.1 GeV or |eta| > 2.5.

    Args:
        pid: PDG ids.
        pt: transverse momentum (GeV).
        abseta: |eta| of the calorimeter impact point (Delphes' ``Efficiency`` reads the
            candidate's position).

    Returns:
        Efficiency in [0, 1], same shape.
    """
    apid = np.abs(pid)
    low = pt <= 1.0
    barrel = abseta <= 1.5
    hadron = np.where(barrel, np.where(low, 0.70, 0.95), np.where(low, 0.60, 0.85))
    high = pt > 100.0
    electron = np.where(
        barrel,
        np.select([low, high], [0.73, 0.99], 0.95),
        np.select([low, high], [0.50, 0.90], 0.83),
    )
    plateau = np.where(barrel, 0.99, 0.98)
    muon = np.where(
        low,
        np.where(barrel, 0.75, 0.70),
        np.where(pt > 1.0e3, plateau * np.exp(0.5 - pt * 5.0e-4), plateau),
    )
    eff = np.select([apid == 11, apid == 13], [electron, muon], hadron)
    return np.where((pt > 0.1) & (abseta <= TRACKER_ETA_MAX), eff, 0.0)


def track_resolution(pid: np.ndarray, pt: np.ndarray, abseta: np.ndarray) -> np.ndarray:
    """Relative pT resolution sigma(pT)/pT of the CMS card, capped at 1 as Delphes does.

    sqrt(a^2 + pT^2 b^2) with (a, b) per position-|eta| region (<= 0.5, <= 1.5, <= 2.5):
    hadrons [ChargedHadronMomentumSmearing, arXiv:1405.6569] (0.06, 1.3e-3), (0.10, 1.7e-3),
    (0.25, 3.1e-3); electrons [ElectronMomentumSmearing, arXiv:1502.02701] (0.03, 1.3e-3),
    (0.05, 1.7e-3), (0.15, 3.1e-3); muons [MuonMomentumSmearing] (0.01, 1.0e-4),
    (0.015, 1.5e-4), (0.025, 3.5e-4). Zero for pT <= 0.1 GeV or |eta| > 2.5.

    Args:
        pid: PDG ids.
        pt: transverse momentum (GeV).
        abseta: |eta| of the calorimeter impact point.

    Returns:
        sigma(pT)/pT, same shape.
    """
    apid = np.abs(pid)
    region = np.digitize(abseta, [0.5, 1.5], right=True)  # 0, 1, 2 (3 beyond 2.5: zeroed)
    region = np.minimum(region, 2)
    species = np.select([apid == 11, apid == 13], [1, 2], 0)
    a = np.array([[0.06, 0.10, 0.25], [0.03, 0.05, 0.15], [0.01, 0.015, 0.025]])
    b = np.array([[1.3e-3, 1.7e-3, 3.1e-3], [1.3e-3, 1.7e-3, 3.1e-3], [1.0e-4, 1.5e-4, 3.5e-4]])
    res = np.sqrt(a[species, region] ** 2 + (pt * b[species, region]) ** 2)
    res = np.where((pt > 0.1) & (abseta <= TRACKER_ETA_MAX), res, 0.0)
    return np.minimum(res, 1.0)


def _flat(particles: ak.Array, field: str) -> np.ndarray:
    return ak.to_numpy(ak.flatten(particles[field])).astype(np.float64)


def _vertex(particles: ak.Array) -> tuple[np.ndarray | None, ...]:
    """Production vertex (x, y, z) in mm, or (None, None, None) for the origin."""
    if not {"x", "y", "z"} <= set(particles.fields):
        return None, None, None
    return tuple(_flat(particles, f) for f in ("x", "y", "z"))


def pf_candidates(particles: ak.Array, rng: np.random.Generator) -> ak.Array:
    """Delphes CMS-card EFlow objects of stable particles, for many events at once.

    Args:
        particles: events x var * {px, py, pz, E (GeV), pid, charge (e)}, optionally with
            the production vertex {x, y, z} (mm; the origin where absent), e.g.
            :func:`surrotag.reference.truth.final_state` or a Delphes file's ``Particle``
            entries of ``Status == 1``.
        rng: seeded generator; equal state gives identical output.

    Returns:
        events x var * {px, py, pz, E (GeV), charge (int32; 0 for photons and neutral
        hadrons), kind (int8: 0 EFlowTrack, 1 EFlowPhoton, 2 EFlowNeutralHadron), species
        (int8: the particle of a track, 1 electron, 2 muon, else 0; what Delphes'
        ElectronFilter and the muon chain read, :mod:`surrotag.reference.objects`)}, per
        event tracks first (charged hadrons, electrons, muons), then photons, then neutral
        hadrons (massless four-vectors, as Delphes writes them).

    References:
        Delphes 3.4.2 ``cards/delphes_card_CMS.tcl``; arXiv:1307.6346.
    """
    counts = ak.to_numpy(ak.num(particles, axis=1)).astype(np.int64)
    n_events = len(counts)
    event = np.repeat(np.arange(n_events, dtype=np.int64), counts)
    px, py, pz, energy = (_flat(particles, f) for f in ("px", "py", "pz", "E"))
    pid = _flat(particles, "pid").astype(np.int64)
    charge = _flat(particles, "charge")
    surface = propagate(px, py, pz, energy, charge, *_vertex(particles))
    kept = surface.kept
    pos_eta = position_eta(surface.x, surface.y, surface.z)
    pos_phi = np.arctan2(surface.y, surface.x)
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        mom_eta = np.arcsinh(np.where(pt > 0, pz / np.where(pt > 0, pt, 1.0), 0.0))

    # tracks: efficiency, then momentum smearing (position |eta|)
    candidate = np.flatnonzero(kept & (np.abs(charge) > 1.0e-9))
    c_pid, c_pt, c_abseta = pid[candidate], pt[candidate], np.abs(pos_eta[candidate])
    tracked = rng.random(len(candidate)) < track_efficiency(c_pid, c_pt, c_abseta)
    index = candidate[tracked]
    resolution = track_resolution(pid[index], pt[index], np.abs(pos_eta[index]))
    track_pt = log_normal(rng, pt[index], resolution * pt[index])
    track_e = track_pt * np.cosh(mom_eta[index])

    # calorimeters: ECal sees all particles and all tracks; HCal the ECal's EFlow tracks
    particle_hits = Hits(
        event[kept], pos_eta[kept], pos_phi[kept], energy[kept], pid[kept], np.zeros(kept.sum())
    )
    track_hits = Hits(event[index], pos_eta[index], pos_phi[index], track_e, pid[index], resolution)
    ecal = energy_flow(ECAL, particle_hits, track_hits, rng)
    after_ecal = ecal.track_kept
    scale = ecal.track_scale
    hcal_tracks = Hits(*(column[after_ecal] for column in track_hits))
    hcal_tracks = hcal_tracks._replace(energy=hcal_tracks.energy * scale[after_ecal])
    hcal = energy_flow(HCAL, particle_hits, hcal_tracks, rng)
    final_scale = scale[after_ecal] * hcal.track_scale
    final = index[after_ecal][hcal.track_kept]
    final_pt = (track_pt[after_ecal] * final_scale)[hcal.track_kept]
    return _merge(
        n_events, event, final, final_pt, mom_eta, surface.phi_momentum, pid, charge, ecal, hcal
    )


def _merge(
    n_events: int,
    event: np.ndarray,
    track: np.ndarray,
    track_pt: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    pid: np.ndarray,
    charge: np.ndarray,
    ecal: EnergyFlow,
    hcal: EnergyFlow,
) -> ak.Array:
    """EFlowMerger: tracks, photons, neutral hadrons per event as one awkward list."""
    t_eta, t_phi = eta[track], phi[track]
    apid = np.abs(pid[track])
    species = np.select([apid == 11, apid == 13], [1, 2], 0)  # TrackMerger order
    parts = [
        (
            event[track],
            track_pt,
            t_eta,
            t_phi,
            np.sign(charge[track]).astype(np.int32),
            species,
        )
    ]
    for flow in (ecal, hcal):
        f_event, f_energy, f_eta, f_phi = flow.eflow
        parts.append(
            (
                f_event,
                f_energy / np.cosh(f_eta),
                f_eta,
                f_phi,
                np.zeros(len(f_event), np.int32),
                np.zeros(len(f_event), np.int64),
            )
        )
    kind = np.concatenate([np.full(len(p[0]), k, dtype=np.int8) for k, p in enumerate(parts)])
    c_event, c_pt, c_eta, c_phi, c_charge, c_species = (
        np.concatenate([p[i] for p in parts]) for i in range(6)
    )
    order = np.lexsort((c_species, kind, c_event))  # stable: input order within a group
    c_pt, c_eta, c_phi = c_pt[order], c_eta[order], c_phi[order]
    record = ak.zip(
        {
            "px": c_pt * np.cos(c_phi),
            "py": c_pt * np.sin(c_phi),
            "pz": c_pt * np.sinh(c_eta),
            "E": c_pt * np.cosh(c_eta),
            "charge": c_charge[order],
            "kind": kind[order],
            "species": c_species[order].astype(np.int8),
        }
    )
    return ak.unflatten(record, np.bincount(c_event, minlength=n_events))
