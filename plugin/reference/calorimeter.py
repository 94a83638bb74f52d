"""The CMS card's ECAL and HCAL (Delphes ``SimpleCalorimeter``) with their energy flow.

A vectorised transcription of ``modules/SimpleCalorimeter.cc`` of Delphes 3.4.2
(arXiv:1307.6346) and of the ``ECal`` / ``HCal`` modules of ``cards/delphes_card_CMS.tcl``,
run on many events at once. Per calorimeter:

1. Every particle that reached the calorimeter surface deposits ``E x EnergyFraction(|pid|)``
   in the tower that contains its impact point (position eta, phi); every track is
   attached to the tower of its impact point.
2. A tower's deposited energy is smeared log-normally with the resolution formula at the
   tower centre, and zeroed if below ``EnergyMin`` or ``EnergySignificanceMin`` x sigma
   (sigma at the smeared energy). Its direction is drawn uniformly inside the tower
   [SmearTowerCenter].
3. Energy flow: the tower's expected track energy E_trk = sum(E x fraction) of its tracks
   (whose fraction is non-zero) is subtracted. If the neutral excess E - E_trk exceeds
   ``EnergyMin`` and ``EnergySignificanceMin`` x sqrt(sigma_trk^2 + sigma^2), it becomes an
   EFlow tower (photon for the ECAL, neutral hadron for the HCAL) and the tracks pass
   unchanged; otherwise, if E_trk > 0, the tracks are rescaled so that their energy is the
   inverse-variance mean of E_trk and E. Tracks whose fraction is zero pass unchanged.
   Tracks outside the calorimeter's eta-phi map are lost, as in Delphes.

The tower maps are built from the card's edge lists with the same floating-point arithmetic
as its Tcl (so tower edges agree exactly); a tower row takes the phi bins listed with its
upper eta edge (Delphes' ``lower_bound`` convention: a point on an edge belongs to the tower
below it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NamedTuple

import numpy as np

__all__ = [
    "ECAL",
    "HCAL",
    "Calorimeter",
    "EnergyFlow",
    "Hits",
    "energy_flow",
    "log_normal",
]

_NO_FRACTION: Final = 1.0e-9


def log_normal(rng: np.random.Generator, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Delphes' ``LogNormal(mean, sigma)``: log-normal with that mean and standard deviation.

    Zero where ``mean <= 0``; one normal number is drawn per entry.
    """
    mean = np.asarray(mean, np.float64)
    safe = np.where(mean > 0, mean, 1.0)
    b = np.sqrt(np.log1p((np.asarray(sigma) / safe) ** 2))
    a = np.log(safe) - 0.5 * b**2
    return np.where(mean > 0, np.exp(a + b * rng.standard_normal(mean.shape)), 0.0)


def _ecal_resolution(eta: np.ndarray, energy: np.ndarray) -> np.ndarray:
    # [ECal ResolutionFormula] arXiv:1306.2016 (eta shape), arXiv:1502.02701 (energy shape)
    abseta = np.abs(eta)
    core = np.sqrt(energy**2 * 0.008**2 + energy * 0.11**2 + 0.40**2)
    return np.select(
        [abseta <= 1.5, abseta <= 2.5, abseta <= 5.0],
        [
            (1 + 0.64 * eta**2) * core,
            (2.16 + 5.6 * (abseta - 2) ** 2) * core,
            np.sqrt(energy**2 * 0.107**2 + energy * 2.08**2),
        ],
        0.0,
    )


def _hcal_resolution(eta: np.ndarray, energy: np.ndarray) -> np.ndarray:
    # [HCal ResolutionFormula]
    abseta = np.abs(eta)
    return np.select(
        [abseta <= 3.0, abseta <= 5.0],
        [
            np.sqrt(energy**2 * 0.050**2 + energy * 1.50**2),
            np.sqrt(energy**2 * 0.130**2 + energy * 2.70**2),
        ],
        0.0,
    )


class Calorimeter(NamedTuple):
    """Tower map and response of one Delphes ``SimpleCalorimeter``.

    Attributes:
        name: "ECal" or "HCal".
        eta_edges: sorted tower edges in eta; tower row i spans [edge i, edge i+1].
        n_phi: phi bins of row i (uniform in [-pi, pi]; those listed with edge i+1).
        energy_min: tower energy threshold (GeV) [EnergyMin].
        significance_min: threshold in units of the resolution [EnergySignificanceMin].
        fractions: (|pid|, fraction) pairs [EnergyFraction]; |pid| 0 is the default.
        resolution_formula: sigma(E) in GeV of (eta, E in GeV) [ResolutionFormula].
    """

    name: str
    eta_edges: np.ndarray
    n_phi: np.ndarray
    energy_min: float
    significance_min: float
    fractions: tuple[tuple[int, float], ...]
    resolution_formula: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def resolution(self, eta: np.ndarray, energy: np.ndarray) -> np.ndarray:
        """Absolute energy resolution sigma(E) (GeV) at pseudorapidity ``eta``."""
        return self.resolution_formula(np.asarray(eta), np.asarray(energy))

    def fraction(self, pid: np.ndarray) -> np.ndarray:
        """Fraction of a particle's energy deposited here, by |PDG id| [EnergyFraction]."""
        table = dict(self.fractions)
        keys = np.array(sorted(table), dtype=np.int64)
        values = np.array([table[k] for k in keys])
        apid = np.abs(np.asarray(pid, np.int64))
        where = np.clip(np.searchsorted(keys, apid), 0, len(keys) - 1)
        return np.where(keys[where] == apid, values[where], table[0])

    def tower_index(self, eta: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tower row (eta) and phi bin of points; row -1 outside the map.

        A point on an edge belongs to the bin below it (Delphes' ``lower_bound``).
        """
        row = np.searchsorted(self.eta_edges, eta, side="left") - 1
        inside = (row >= 0) & (row < len(self.n_phi))
        n_phi = self.n_phi[np.clip(row, 0, len(self.n_phi) - 1)]
        column = np.full(len(row), -1, dtype=np.int64)
        for bins in np.unique(n_phi):
            half = bins // 2
            edges = np.arange(-half, half + 1) * np.pi / half  # the card's i * pi / N
            pick = n_phi == bins
            column[pick] = np.searchsorted(edges, phi[pick], side="left") - 1
        inside &= (column >= 0) & (column < n_phi)
        return np.where(inside, row, -1), np.where(inside, column, -1)

    def tower_phi(self, row: np.ndarray, column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper phi edge (rad) of towers, as the card computes them."""
        half = self.n_phi[row] // 2
        return (column - half) * np.pi / half, (column - half + 1) * np.pi / half


def _map(rows: list[tuple[list[float], int]]) -> tuple[np.ndarray, np.ndarray]:
    """Edges and phi bins per row from the card's (eta edges, number of phi bins) lists.

    Delphes merges the phi bins of an edge listed twice; the CMS card lists none twice.
    """
    n_of_edge: dict[float, int] = {}
    for edges, n_phi in rows:
        for edge in edges:
            if edge in n_of_edge:
                raise ValueError(f"tower edge {edge} listed twice")
            n_of_edge[edge] = n_phi
    eta_edges = np.array(sorted(n_of_edge))
    return eta_edges, np.array([n_of_edge[e] for e in eta_edges[1:]], dtype=np.int64)


#: Muon, neutrinos and neutralinos deposit nothing in either calorimeter [EnergyFraction].
_INVISIBLE: Final = tuple(
    (pid, 0.0) for pid in (12, 13, 14, 16, 1000022, 1000023, 1000025, 1000035, 1000045)
)

_HF_ECAL_EDGES: Final = [-5, -4.7, -4.525, -4.35, -4.175, -4, -3.825, -3.65, -3.475, -3.3]
_HF_ECAL_EDGES += [-3.125, -2.958, 3.125, 3.3, 3.475, 3.65, 3.825, 4, 4.175, 4.35, 4.525]
_HF_ECAL_EDGES += [4.7, 5]


def _ecal() -> Calorimeter:
    # [ECal] 1-degree phi bins; eta: i * 0.0174 (i = -85..86), -2.958 + i * 0.0174 and
    # 1.4964 + i * 0.0174 (i = 1..84); HF 10-degree towers on the listed edges
    rows = [
        ([i * 0.0174 for i in range(-85, 87)], 360),
        ([-2.958 + i * 0.0174 for i in range(1, 85)], 360),
        ([1.4964 + i * 0.0174 for i in range(1, 85)], 360),
        ([float(e) for e in _HF_ECAL_EDGES], 36),
    ]
    edges, n_phi = _map(rows)
    fractions = ((0, 0.0), (11, 1.0), (22, 1.0), (111, 1.0), *_INVISIBLE, (310, 0.3), (3122, 0.3))
    return Calorimeter("ECal", edges, n_phi, 0.5, 2.0, fractions, _ecal_resolution)


_HCAL_5DEG: Final = [round(i * 0.087, 3) for i in range(-18, 20)]
_HCAL_10DEG: Final = [-4.35, -4.175, -4, -3.825, -3.65, -3.475, -3.3, -3.125, -2.95, -2.868]
_HCAL_10DEG += [-2.65, -2.5, -2.322, -2.172, -2.043, -1.93, -1.83, -1.74, -1.653, 1.74, 1.83]
_HCAL_10DEG += [1.93, 2.043, 2.172, 2.322, 2.5, 2.65, 2.868, 2.95, 3.125, 3.3, 3.475, 3.65]
_HCAL_10DEG += [3.825, 4, 4.175, 4.35, 4.525]


def _hcal() -> Calorimeter:
    # [HCal] 5-degree towers on -1.566 .. 1.653 (the card lists these decimals), 10-degree
    # towers out to |eta| = 4.525, 20-degree towers beyond
    rows = [
        (_HCAL_5DEG, 72),
        ([float(e) for e in _HCAL_10DEG], 36),
        ([-5.0, -4.7, -4.525, 4.7, 5.0], 18),
    ]
    edges, n_phi = _map(rows)
    fractions = ((0, 1.0), (11, 0.0), (22, 0.0), (111, 0.0), *_INVISIBLE, (310, 0.7), (3122, 0.7))
    return Calorimeter("HCal", edges, n_phi, 1.0, 1.0, fractions, _hcal_resolution)


#: The CMS-card ECAL and HCAL (Delphes 3.4.2 ``cards/delphes_card_CMS.tcl``).
ECAL: Final = _ecal()
HCAL: Final = _hcal()


class Hits(NamedTuple):
    """Particles or tracks at the calorimeter surface (flat arrays over many events).

    Attributes:
        event: event number of each entry.
        eta, phi: impact point (position) pseudorapidity and azimuth (rad).
        energy: energy (GeV): the particle's, or the track's (massless, smeared).
        pid: PDG id.
        resolution: relative track momentum resolution (tracks only; zeros for particles).
    """

    event: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    energy: np.ndarray
    pid: np.ndarray
    resolution: np.ndarray


class EnergyFlow(NamedTuple):
    """One calorimeter's output.

    Attributes:
        towers: (event, E (GeV), eta, phi) of every tower with E > 0 (``TowerOutputArray``).
        eflow: (event, E (GeV), eta, phi) of the neutral EFlow towers (neutral excess).
        track_kept: per input track: inside the tower map (else lost).
        track_scale: per input track: factor on its four-momentum (1 unless rescaled).
    """

    towers: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    eflow: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    track_kept: np.ndarray
    track_scale: np.ndarray


def energy_flow(
    calo: Calorimeter, particles: Hits, tracks: Hits, rng: np.random.Generator
) -> EnergyFlow:
    """Towers, neutral EFlow towers and rescaled tracks of one calorimeter, many events.

    Args:
        calo: the calorimeter (:data:`ECAL`, :data:`HCAL`).
        particles: every particle that reached the surface.
        tracks: the reconstructed tracks (momentum after smearing).
        rng: random numbers: one normal per tower (energy), then two uniforms per tower
            (eta, phi inside the tower).

    Returns:
        :class:`EnergyFlow`.

    References:
        Delphes 3.4.2 ``modules/SimpleCalorimeter.cc`` (``Process``, ``FinalizeTower``).
    """
    n_rows = len(calo.n_phi)
    n_cols = int(calo.n_phi.max())

    def keys(hits: Hits, use: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        row, column = calo.tower_index(hits.eta, hits.phi)
        inside = row >= 0
        return (hits.event * n_rows + row) * n_cols + column, inside & use

    p_fraction = calo.fraction(particles.pid)
    p_key, p_use = keys(particles, p_fraction >= _NO_FRACTION)
    t_fraction = calo.fraction(tracks.pid)
    t_key, t_kept = keys(tracks, np.ones(len(tracks.event), bool))
    t_use = t_kept & (t_fraction >= _NO_FRACTION)

    tower_key, inverse = np.unique(
        np.concatenate([p_key[p_use], t_key[t_use]]), return_inverse=True
    )
    p_tower, t_tower = inverse[: p_use.sum()], inverse[p_use.sum() :]
    n_towers = len(tower_key)
    deposit = np.bincount(
        p_tower, weights=(particles.energy * p_fraction)[p_use], minlength=n_towers
    )
    t_energy, t_full, t_res = (
        (tracks.energy * t_fraction)[t_use],
        tracks.energy[t_use],
        tracks.resolution[t_use],
    )
    event, rest = np.divmod(tower_key, n_rows * n_cols)
    row, column = np.divmod(rest, n_cols)
    lo, hi = calo.eta_edges[row], calo.eta_edges[row + 1]
    centre = 0.5 * (lo + hi)
    # a track's sigma: its resolution times E x fraction, or times E if the calorimeter
    # measures that energy better than the tracker
    calo_better = calo.resolution(centre[t_tower], t_full) / t_full < t_res
    guess = np.where(calo_better, t_energy, t_full)
    track_energy = np.bincount(t_tower, weights=t_energy, minlength=n_towers)
    track_sigma = np.sqrt(np.bincount(t_tower, weights=(t_res * guess) ** 2, minlength=n_towers))

    energy = log_normal(rng, deposit, calo.resolution(centre, deposit))
    sigma = calo.resolution(centre, energy)
    energy = np.where(
        (energy < calo.energy_min) | (energy < calo.significance_min * sigma), 0.0, energy
    )
    phi_lo, phi_hi = calo.tower_phi(row, column)
    eta = rng.uniform(lo, hi)
    phi = rng.uniform(phi_lo, phi_hi)

    neutral = np.maximum(energy - track_energy, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        significance = neutral / np.sqrt(track_sigma**2 + sigma**2)
    excess = (neutral > calo.energy_min) & (significance > calo.significance_min)
    with np.errstate(divide="ignore", invalid="ignore"):
        w_track = np.where(track_sigma > 0, 1 / track_sigma**2, 0.0)
        w_calo = np.where(sigma > 0, 1 / sigma**2, 0.0)
        best = (w_track * track_energy + w_calo * energy) / (w_track + w_calo)
        rescale = np.where(~excess & (track_energy > 0), best / track_energy, 1.0)
    scale = np.ones(len(tracks.event))
    scale[np.flatnonzero(t_use)] = rescale[t_tower]

    has = energy > 0
    return EnergyFlow(
        towers=(event[has], energy[has], eta[has], phi[has]),
        eflow=(event[excess], neutral[excess], eta[excess], phi[excess]),
        track_kept=t_kept,
        track_scale=scale,
    )
