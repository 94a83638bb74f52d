"""Reference detector on single particles: closed-form propagation, calorimetry, energy flow."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from surrotag.reference.calorimeter import ECAL, HCAL, Hits, energy_flow, log_normal
from surrotag.reference.detector import (
    CURL_PT,
    pf_candidates,
    track_efficiency,
    track_resolution,
)
from surrotag.reference.propagation import BZ, C_LIGHT, HALF_LENGTH, RADIUS, propagate


def _single(pid: int, charge: float, pt: float, eta: float, n: int, mass: float = 0.0):
    """``n`` events with one particle each, at azimuth 0.3 rad."""
    phi = 0.3
    pz = pt * np.sinh(eta)
    energy = np.sqrt(pt**2 + pz**2 + mass**2)
    one = {
        "px": pt * np.cos(phi),
        "py": pt * np.sin(phi),
        "pz": pz,
        "E": energy,
        "pid": pid,
        "charge": charge,
    }
    flat = ak.zip({k: np.full(n, v) for k, v in one.items()})
    return ak.unflatten(flat, np.ones(n, dtype=np.int64))


def test_helix_reaches_barrel_at_the_closed_form_point() -> None:
    # pT = 2 GeV, q = +1, from the origin: helix radius r = pT / (q Bz c), turning angle
    # theta = 2 asin(R / 2r) at the barrel; the impact azimuth is phi0 - theta / 2
    pt, eta, phi0 = 2.0, 0.7, 0.3
    px, py, pz = pt * np.cos(phi0), pt * np.sin(phi0), pt * np.sinh(eta)
    energy = np.sqrt(pt**2 + pz**2 + 0.1396**2)
    out = propagate(*(np.array([v]) for v in (px, py, pz, energy, 1.0)))
    r = pt / BZ * 1.0e9 / C_LIGHT
    theta = 2 * np.arcsin(RADIUS / (2 * r))
    assert out.kept[0]
    np.testing.assert_allclose(np.hypot(out.x, out.y), RADIUS * 1e3, rtol=1e-9)
    np.testing.assert_allclose(np.arctan2(out.y, out.x), phi0 - theta / 2, atol=1e-9)
    np.testing.assert_allclose(out.z, np.sinh(eta) * r * theta * 1e3, rtol=1e-9)
    np.testing.assert_allclose(out.phi_momentum, phi0, atol=1e-12)


def test_neutral_goes_straight_and_a_curler_exits_through_the_endcap() -> None:
    px, py, pz = np.array([3.0, 0.2]), np.array([4.0, 0.1]), np.array([10.0, 0.5])
    energy = np.sqrt(px**2 + py**2 + pz**2)
    out = propagate(px, py, pz, energy, np.array([0.0, -1.0]))
    # neutral: barrel at r = R along the momentum (|z| = R pz / pT = 2.58 m < 3 m)
    np.testing.assert_allclose([out.x[0], out.y[0], out.z[0]], np.array([3, 4, 10]) / 5 * 1290)
    # pT = 0.22 GeV < CURL_PT: never reaches r = R, leaves at z = +L well inside
    assert np.hypot(px[1], py[1]) < CURL_PT
    assert out.kept.all()
    np.testing.assert_allclose(out.z[1], HALF_LENGTH * 1e3)
    assert np.hypot(out.x[1], out.y[1]) < 2 * np.hypot(px[1], py[1]) / BZ * 1e12 / C_LIGHT


def test_particles_born_outside_the_field_volume_are_dropped() -> None:
    one = np.array([1.0])
    out = propagate(one, one, one, 2 * one, one, x=np.array([1500.0]), y=0 * one, z=0 * one)
    assert not out.kept[0]


def test_card_efficiency_and_resolution_values() -> None:
    pid = np.array([211, 211, 11, 13, 211, 211])
    pt = np.array([0.5, 5.0, 200.0, 2000.0, 5.0, 0.05])
    abseta = np.array([0.2, 2.0, 1.0, 0.3, 2.6, 0.1])
    np.testing.assert_allclose(
        track_efficiency(pid, pt, abseta), [0.70, 0.85, 0.99, 0.99 * np.exp(-0.5), 0, 0]
    )
    res = track_resolution(pid, pt, abseta)
    np.testing.assert_allclose(res[:2], [np.hypot(0.06, 0.5 * 1.3e-3), np.hypot(0.25, 5 * 3.1e-3)])
    assert res[4] == res[5] == 0.0


def test_towers_follow_the_card_map() -> None:
    # ECAL: 1-degree phi bins to |eta| = 3 (HF: 10 degrees); HCAL: 5/10/20 degrees
    assert ECAL.eta_edges[0] == -5 and ECAL.eta_edges[-1] == 5
    row, column = ECAL.tower_index(np.array([0.01, 4.0]), np.array([0.001, 0.001]))
    assert list(ECAL.n_phi[row]) == [360, 36] and (column >= 0).all()
    row, _ = HCAL.tower_index(np.array([0.5, 2.0, 4.8]), np.zeros(3))
    assert list(HCAL.n_phi[row]) == [72, 36, 18]
    assert HCAL.tower_index(np.array([5.2]), np.zeros(1))[0][0] == -1
    fractions = ECAL.fraction(np.array([22, -11, 211, 310, 13]))
    np.testing.assert_array_equal(fractions, [1.0, 1.0, 0.0, 0.3, 0.0])
    np.testing.assert_array_equal(HCAL.fraction(np.array([22, 211, 310, 2112])), [0, 1, 0.7, 1])


def test_photon_energy_resolution_is_the_card_formula() -> None:
    n = 4000
    out = pf_candidates(_single(22, 0.0, 50.0, 0.3, n), np.random.default_rng(1))
    flat = ak.flatten(out)
    assert ak.all(flat.kind == 1) and len(flat) == n
    energy = ak.to_numpy(flat.E)
    true = 50.0 * np.cosh(0.3)
    # sigma at the tower centre (eta 0.3 +- 0.0087): (1 + 0.64 eta^2) sqrt(...)
    core = np.sqrt(true**2 * 0.008**2 + true * 0.11**2 + 0.40**2)
    expected = (1 + 0.64 * 0.3**2) * core
    assert abs(energy.mean() / true - 1) < 3 * expected / true / np.sqrt(n)
    assert abs(energy.std() / expected - 1) < 0.06


def test_charged_pion_energy_flow_conserves_energy_on_average() -> None:
    n = 4000
    out = pf_candidates(_single(211, 1.0, 20.0, 0.3, n, mass=0.1396), np.random.default_rng(2))
    flat = ak.flatten(out)
    kind = ak.to_numpy(flat.kind)
    tracked = ak.to_numpy(ak.any(out.kind == 0, axis=1))
    # tracking efficiency 0.95 (|eta| <= 1.5, pT > 1 GeV): binomial, 4 sigma
    assert abs(tracked.mean() - 0.95) < 4 * np.sqrt(0.95 * 0.05 / n)
    assert not (kind == 1).any()  # charged pions leave nothing in the ECAL (fraction 0)
    # a lost track leaves its energy as (at most) one neutral hadron
    assert (ak.to_numpy(ak.num(out[~tracked], axis=1)) <= 1).all()


def test_energy_flow_subtracts_tracks_then_rescales_or_splits() -> None:
    # one HCAL tower per event: a 20 GeV pion deposit and its 20 GeV track (resolution 10 %)
    n, seed = 3000, 7
    event = np.arange(n)
    eta, phi = np.full(n, 0.3), np.full(n, 0.3)
    particles = Hits(event, eta, phi, np.full(n, 20.0), np.full(n, 211), np.zeros(n))
    tracks = Hits(event, eta, phi, np.full(n, 20.0), np.full(n, 211), np.full(n, 0.1))
    flow = energy_flow(HCAL, particles, tracks, np.random.default_rng(seed))
    # replay the tower smearing: first draw of the same generator
    row, _ = HCAL.tower_index(eta, phi)
    centre = 0.5 * (HCAL.eta_edges[row] + HCAL.eta_edges[row + 1])
    rng = np.random.default_rng(seed)
    energy = log_normal(rng, np.full(n, 20.0), HCAL.resolution(centre, np.full(n, 20.0)))
    sigma = HCAL.resolution(centre, energy)
    energy = np.where((energy < 1.0) | (energy < 1.0 * sigma), 0.0, energy)
    neutral = np.maximum(energy - 20.0, 0.0)
    split = (neutral > 1.0) & (neutral / np.hypot(sigma, 2.0) > 1.0)
    np.testing.assert_array_equal(flow.eflow[0], event[split])
    np.testing.assert_allclose(flow.eflow[1], neutral[split])
    weight_track, weight_calo = 1 / 2.0**2, np.where(sigma > 0, 1 / sigma**2, 0.0)
    best = (weight_track * 20.0 + weight_calo * energy) / (weight_track + weight_calo)
    np.testing.assert_allclose(flow.track_scale, np.where(split, 1.0, best / 20.0))
    assert flow.track_kept.all() and 0 < split.mean() < 0.5


def test_muons_only_leave_tracks() -> None:
    out = pf_candidates(_single(13, -1.0, 50.0, 1.0, 500), np.random.default_rng(3))
    flat = ak.flatten(out)
    assert ak.all(flat.kind == 0) and ak.all(flat.charge == -1)
    pt = np.hypot(ak.to_numpy(flat.px), ak.to_numpy(flat.py))
    sigma = np.hypot(0.015, 50 * 1.5e-4)
    assert abs(np.std(np.log(pt / 50.0)) / sigma - 1) < 0.15


@pytest.mark.parametrize("seed", [5, 6])
def test_equal_seeds_give_identical_output(seed: int) -> None:
    rng = np.random.default_rng(0)
    n = 50
    counts = rng.integers(20, 60, n)
    total = int(counts.sum())
    pt = rng.exponential(3.0, total) + 0.05
    eta, phi = rng.uniform(-4, 4, total), rng.uniform(-np.pi, np.pi, total)
    pid = rng.choice([22, 211, -211, 130, 11, 13, 2112, 321], total)
    charge = np.select(
        [pid == 211, pid == -211, pid == 11, pid == 13, pid == 321], [1, -1, -1, -1, 1], 0
    )
    flat = ak.zip(
        {
            "px": pt * np.cos(phi),
            "py": pt * np.sin(phi),
            "pz": pt * np.sinh(eta),
            "E": pt * np.cosh(eta),
            "pid": pid,
            "charge": charge.astype(np.float64),
        }
    )
    events = ak.unflatten(flat, counts)
    first = pf_candidates(events, np.random.default_rng(seed))
    second = pf_candidates(events, np.random.default_rng(seed))
    other = pf_candidates(events, np.random.default_rng(seed + 100))
    assert len(first) == n
    assert ak.all(first.E == second.E) and ak.all(ak.num(first) == ak.num(second))
    same_counts = ak.all(ak.num(first) == ak.num(other))
    assert not (same_counts and ak.all(first.E == other.E))
