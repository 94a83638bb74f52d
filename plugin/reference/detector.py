"""A parametrised CMS-like detector: final-state particles -> particle-flow candidates.

Every number is taken from the Delphes CMS card (``cards/delphes_card_CMS.tcl`` of Delphes
3.4, arXiv:1307.6346), module named in brackets. Vectorised over all particles of many
events at once; all randomness comes from one seeded ``numpy.random.Generator``, drawn in a
fixed order, so equal seeds give identical output.

What it does (one pass, like Delphes' EFlow chain):

1. Charged particles within the tracker: tracking efficiency per species vs (pT, |eta|)
   [ChargedHadron/Electron/MuonTrackingEfficiency], then pT smeared log-normally with the
   relative resolution [ChargedHadron/Electron/MuonMomentumSmearing]; a reconstructed track
   is an EFlowTrack (massless four-vector, as Delphes ``MomentumSmearing`` writes it).
2. Everything else that is visible deposits energy in ECAL and HCAL towers with the card's
   energy fractions [ECal/HCal ``EnergyFraction``]: e and photons all ECAL; muons and
   neutrinos none; K0S and Lambda 0.3 ECAL / 0.7 HCAL; other hadrons all HCAL. Charged
   particles that curl up before the calorimeter (pT < 0.3 Bz R / 2 = 0.735 GeV for
   Bz = 3.8 T, R = 1.29 m [ParticlePropagator]) deposit nothing.
3. Deposits are summed per tower [ECal: 0.0174 x 2pi/360 in |eta| < 3.0; HCal: 0.087 x
   2pi/72 for |eta| < 1.653, then 10-degree towers], the tower energy is smeared log-normally
   with the card's resolution formula at the tower centre, kept if E > EnergyMin and E >
   EnergySignificanceMin x sigma [ECal 0.5 GeV / 2.0; HCal 1.0 GeV / 2.0], and placed at a
   uniformly smeared point inside the tower [SmearTowerCenter = true]: ECAL towers are
   EFlowPhotons, HCAL towers EFlowNeutralHadrons (massless).

Simplification against Delphes: Delphes also puts reconstructed tracks into the towers and
subtracts the track energy from them (neutral excess); here a reconstructed charged particle
deposits nothing and a lost one deposits all its energy. The mean neutral energy is the
same; the fluctuations of the subtraction are not modelled. The calorimeter stops at
|eta| = 3.0 (the card's HF, 3 < |eta| < 5, is left out: fat jets need |eta| < 2 + 0.8).
"""

from __future__ import annotations

from typing import Final, NamedTuple

import awkward as ak
import numpy as np

__all__ = [
    "CALO_ETA_MAX",
    "ECAL",
    "HCAL",
    "TRACKER_ETA_MAX",
    "Calorimeter",
    "pf_candidates",
    "track_efficiency",
    "track_resolution",
]

#: Tracker acceptance: every tracking efficiency of the card is 0 for |eta| > 2.5.
TRACKER_ETA_MAX: Final = 2.5
#: Calorimeter acceptance kept here (ECal/HCal towers up to |eta| = 3.0; HF left out).
CALO_ETA_MAX: Final = 3.0
#: Minimum pT (GeV) to reach the calorimeter: 0.3 * Bz * R / 2 with Bz = 3.8 T, R = 1.29 m
#: [ParticlePropagator].
CURL_PT: Final = 0.3 * 3.8 * 1.29 / 2.0
_INVISIBLE: Final = (12, 14, 16, 1000022, 1000023, 1000025, 1000035, 1000045)


def track_efficiency(pid: np.ndarray, pt: np.ndarray, abseta: np.ndarray) -> np.ndarray:
    """Tracking efficiency of the CMS card for charged particles.

    [ChargedHadronTrackingEfficiency] hadrons: 0.70 / 0.95 (|eta| <= 1.5, pT in (0.1, 1] /
    > 1 GeV), 0.60 / 0.85 (1.5 < |eta| <= 2.5). [ElectronTrackingEfficiency]: 0.73 / 0.95 /
    0.99 (pT in (0.1, 1], (1, 100], > 100 GeV) and 0.50 / 0.83 / 0.90. [MuonTrackingEfficiency]:
    0.75 / 0.99 and 0.70 / 0.98. Zero for pT <= 0.1 GeV or |eta| > 2.5.

    Args:
        pid: PDG ids; pt: GeV; abseta: |eta|.

    Returns:
        Efficiency in [0, 1], same shape.
    """
    apid = np.abs(pid)
    low = pt <= 1.0
    high = pt > 100.0
    barrel = abseta <= 1.5
    hadron = np.where(barrel, np.where(low, 0.70, 0.95), np.where(low, 0.60, 0.85))
    electron = np.where(
        barrel,
        np.select([low, high], [0.73, 0.99], 0.95),
        np.select([low, high], [0.50, 0.90], 0.83),
    )
    muon = np.where(barrel, np.where(low, 0.75, 0.99), np.where(low, 0.70, 0.98))
    eff = np.select([apid == 11, apid == 13], [electron, muon], hadron)
    return np.where((pt > 0.1) & (abseta <= TRACKER_ETA_MAX), eff, 0.0)


def track_resolution(pid: np.ndarray, pt: np.ndarray, abseta: np.ndarray) -> np.ndarray:
    """Relative pT resolution sigma(pT)/pT of the CMS card (based on arXiv:1405.6569).

    sqrt(a^2 + pT^2 b^2) with (a, b) per |eta| region (<= 0.5, <= 1.5, <= 2.5):
    hadrons [ChargedHadronMomentumSmearing] (0.01, 1.5e-4), (0.015, 2.5e-4), (0.025, 5.5e-4);
    electrons [ElectronMomentumSmearing] (0.03, 1.3e-3), (0.05, 1.7e-3), (0.15, 3.1e-3);
    muons [MuonMomentumSmearing] (0.01, 1.0e-4), (0.015, 1.5e-4), (0.025, 3.5e-4).
    """
    apid = np.abs(pid)
    region = np.digitize(abseta, [0.5, 1.5], right=True)  # 0, 1, 2
    a = np.select(
        [apid == 11, apid == 13],
        [np.array([0.03, 0.05, 0.15])[region], np.array([0.01, 0.015, 0.025])[region]],
        np.array([0.01, 0.015, 0.025])[region],
    )
    b = np.select(
        [apid == 11, apid == 13],
        [np.array([1.3e-3, 1.7e-3, 3.1e-3])[region], np.array([1.0e-4, 1.5e-4, 3.5e-4])[region]],
        np.array([1.5e-4, 2.5e-4, 5.5e-4])[region],
    )
    return np.sqrt(a**2 + (pt * b) ** 2)


def _log_normal(rng: np.random.Generator, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Delphes' ``LogNormal(mean, sigma)``: log-normal with that mean and standard deviation."""
    safe = np.where(mean > 0, mean, 1.0)
    b = np.sqrt(np.log1p((sigma / safe) ** 2))
    a = np.log(safe) - 0.5 * b**2
    return np.where(mean > 0, np.exp(a + b * rng.standard_normal(mean.shape)), 0.0)


class Calorimeter(NamedTuple):
    """Tower geometry and response of one calorimeter (a Delphes ``SimpleCalorimeter``).

    Attributes:
        name: "ECal" or "HCal".
        eta_edges: sorted tower edges in eta; tower i spans [edge i, edge i+1].
        n_phi: number of phi bins of tower row i (Delphes takes the list of the upper edge).
        energy_min: tower energy threshold (GeV) [EnergyMin].
        significance_min: threshold in units of the resolution [EnergySignificanceMin].
    """

    name: str
    eta_edges: np.ndarray
    n_phi: np.ndarray
    energy_min: float
    significance_min: float

    def resolution(self, eta: np.ndarray, energy: np.ndarray) -> np.ndarray:
        """Absolute energy resolution sigma(E) in GeV [ECal/HCal ResolutionFormula]."""
        abseta = np.abs(eta)
        if self.name == "ECal":
            # |eta| <= 1.5: (1 + 0.64 eta^2) sqrt(E^2 0.008^2 + E 0.11^2 + 0.40^2);
            # 1.5 < |eta| <= 2.5: (2.16 + 5.6 (|eta| - 2)^2) x the same;
            # 2.5 < |eta| <= 5: sqrt(E^2 0.107^2 + E 2.08^2)
            core = np.sqrt(energy**2 * 0.008**2 + energy * 0.11**2 + 0.40**2)
            return np.select(
                [abseta <= 1.5, abseta <= 2.5],
                [(1 + 0.64 * eta**2) * core, (2.16 + 5.6 * (abseta - 2) ** 2) * core],
                np.sqrt(energy**2 * 0.107**2 + energy * 2.08**2),
            )
        # HCal, |eta| <= 3.0: sqrt(E^2 0.050^2 + E 1.50^2)
        return np.sqrt(energy**2 * 0.050**2 + energy * 1.50**2)

    def tower_index(self, eta: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tower row (eta) and phi bin of each deposit; row -1 outside the calorimeter."""
        row = np.searchsorted(self.eta_edges, eta, side="right") - 1
        inside = (row >= 0) & (row < len(self.n_phi))
        row = np.where(inside, row, -1)
        n_phi = self.n_phi[np.clip(row, 0, None)]
        column = np.floor((phi + np.pi) / (2 * np.pi) * n_phi).astype(np.int64)
        return row, np.clip(column, 0, n_phi - 1)


def _ecal() -> Calorimeter:
    # [ECal] barrel edges i * 0.0174, i = -85..86; endcaps -2.958 + i * 0.0174 and
    # 1.4964 + i * 0.0174, i = 1..84; 360 phi bins everywhere in |eta| < 3
    barrel = np.arange(-85, 87) * 0.0174
    endcap = np.arange(1, 85) * 0.0174
    edges = np.unique(
        np.round(np.concatenate([barrel, -2.958 + endcap, 1.4964 + endcap, [-2.958]]), 6)
    )
    return Calorimeter("ECal", edges, np.full(len(edges) - 1, 360), 0.5, 2.0)


def _hcal() -> Calorimeter:
    # [HCal] 5-degree towers (72 phi bins) on edges -1.566 .. 1.653 in steps of 0.087;
    # 10-degree towers (36 phi bins) on the listed edges out to |eta| = 2.95 (3.0 here)
    five = np.round(np.arange(-18, 20) * 0.087, 3)
    ten = np.array(
        [
            -2.95,
            -2.868,
            -2.65,
            -2.5,
            -2.322,
            -2.172,
            -2.043,
            -1.93,
            -1.83,
            -1.74,
            -1.653,
            1.74,
            1.83,
            1.93,
            2.043,
            2.172,
            2.322,
            2.5,
            2.65,
            2.868,
            2.95,
        ]
    )
    edges = np.unique(np.concatenate([five, ten]))
    upper = edges[1:]  # Delphes gives a tower row the phi bins listed with its upper edge
    n_phi = np.where(np.isin(np.round(upper, 3), np.round(five, 3)), 72, 36)
    return Calorimeter("HCal", edges, n_phi, 1.0, 2.0)


#: The CMS-card ECAL and HCAL of this detector.
ECAL: Final = _ecal()
HCAL: Final = _hcal()


def _towers(
    calo: Calorimeter,
    event: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    energy: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, ...]:
    """Sum deposits per (event, tower), smear, threshold, place: (event, E, eta, phi)."""
    row, column = calo.tower_index(eta, phi)
    hit = (row >= 0) & (energy > 0)
    key = (event[hit] * len(calo.n_phi) + row[hit]) * 360 + column[hit]
    keys, inverse = np.unique(key, return_inverse=True)
    total = np.bincount(inverse, weights=energy[hit], minlength=len(keys))
    t_event, rest = np.divmod(keys, len(calo.n_phi) * 360)
    t_row, t_column = np.divmod(rest, 360)
    lo, hi = calo.eta_edges[t_row], calo.eta_edges[t_row + 1]
    sigma = calo.resolution(0.5 * (lo + hi), total)
    smeared = _log_normal(rng, total, sigma)
    width = 2 * np.pi / calo.n_phi[t_row]
    t_eta = lo + (hi - lo) * rng.random(len(keys))
    t_phi = -np.pi + width * (t_column + rng.random(len(keys)))
    good = (smeared > calo.energy_min) & (smeared > calo.significance_min * sigma)
    return t_event[good], smeared[good], t_eta[good], t_phi[good]


def pf_candidates(particles: ak.Array, rng: np.random.Generator) -> ak.Array:
    """Turn final-state particles into particle-flow candidates, for many events at once.

    Args:
        particles: events x var * {px, py, pz, E (GeV), pid, charge (e)}, e.g.
            :func:`surrotag.reference.truth.final_state`.
        rng: seeded generator; equal state gives identical output.

    Returns:
        events x var * {px, py, pz, E (GeV), charge (int32; 0 for photons and neutral
        hadrons), kind (int8: 0 track, 1 photon (ECAL), 2 neutral hadron (HCAL))}, per event
        tracks first, then ECAL, then HCAL candidates (massless four-vectors).
    """
    counts = ak.to_numpy(ak.num(particles, axis=1)).astype(np.int64)
    n_events = len(counts)
    event = np.repeat(np.arange(n_events, dtype=np.int64), counts)
    flat = {
        f: ak.to_numpy(ak.flatten(particles[f])) for f in ("px", "py", "pz", "E", "pid", "charge")
    }
    px, py, pz, energy = flat["px"], flat["py"], flat["pz"], flat["E"]
    pid = flat["pid"].astype(np.int64)
    apid = np.abs(pid)
    pt = np.hypot(px, py)
    p = np.sqrt(pt**2 + pz**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arctanh(np.where(p > 0, pz / np.where(p > 0, p, 1.0), 0.0))
    eta = np.nan_to_num(eta, nan=0.0, posinf=20.0, neginf=-20.0)
    phi = np.arctan2(py, px)
    abseta = np.abs(eta)
    charged = flat["charge"] != 0
    visible = ~np.isin(apid, _INVISIBLE)

    # 1. tracks
    efficiency = np.where(charged, track_efficiency(pid, pt, abseta), 0.0)
    tracked = rng.random(len(pt)) < efficiency
    track_pt = _log_normal(
        rng, pt[tracked], track_resolution(pid, pt, abseta)[tracked] * pt[tracked]
    )
    t_eta, t_phi = eta[tracked], phi[tracked]
    tracks = (
        event[tracked],
        track_pt * np.cos(t_phi),
        track_pt * np.sin(t_phi),
        track_pt * np.sinh(t_eta),
        track_pt * np.cosh(t_eta),
        np.sign(flat["charge"][tracked]).astype(np.int32),
    )

    # 2. calorimeter deposits of untracked visible particles (card EnergyFraction)
    reaches = visible & ~tracked & (~charged | (pt > CURL_PT))
    em = (apid == 11) | (apid == 22) | (apid == 111)
    long_lived = (apid == 310) | (apid == 3122)
    ecal_fraction = np.select([em, long_lived, apid == 13], [1.0, 0.3, 0.0], 0.0)
    hcal_fraction = np.select([em, long_lived, apid == 13], [0.0, 0.7, 0.0], 1.0)
    ecal = _towers(ECAL, event, eta, phi, np.where(reaches, energy * ecal_fraction, 0.0), rng)
    hcal = _towers(HCAL, event, eta, phi, np.where(reaches, energy * hcal_fraction, 0.0), rng)

    # 3. merge per event: tracks, photons, neutral hadrons
    parts = [tracks]
    for kind_calo in (ecal, hcal):
        c_event, c_e, c_eta, c_phi = kind_calo
        c_pt = c_e / np.cosh(c_eta)
        parts.append(
            (
                c_event,
                c_pt * np.cos(c_phi),
                c_pt * np.sin(c_phi),
                c_pt * np.sinh(c_eta),
                c_e,
                np.zeros(len(c_e), dtype=np.int32),
            )
        )
    kind = np.concatenate([np.full(len(part[0]), k, dtype=np.int8) for k, part in enumerate(parts)])
    columns = [np.concatenate([part[i] for part in parts]) for i in range(6)]
    order = np.lexsort((kind, columns[0]))  # stable: by event, then kind, then input order
    out_counts = np.bincount(columns[0], minlength=n_events)
    record = ak.zip(
        {
            "px": columns[1][order],
            "py": columns[2][order],
            "pz": columns[3][order],
            "E": columns[4][order],
            "charge": columns[5][order],
            "kind": kind[order],
        }
    )
    return ak.unflatten(record, out_counts)
