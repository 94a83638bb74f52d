"""Propagation of stable particles to the calorimeter surface in a solenoidal field.

A vectorised transcription of Delphes' ``ParticlePropagator`` (``modules/ParticlePropagator.cc``
of Delphes 3.4.2, arXiv:1307.6346) with the CMS card's cylinder: magnetic-field radius
1.29 m, half-length 3.0 m, Bz = 3.8 T. For every particle produced inside the cylinder:

* neutral particles fly on a straight line to the barrel (r = R) or, if they get there
  first, to an endcap (|z| = L);
* charged particles follow a helix of radius pT / (0.3 |q| Bz); the exit time is the first
  crossing of the barrel, if the helix reaches it (r_c + |r| >= R), else the time at which
  the endcap plane is reached. A charged particle with pT below 0.3 Bz R / 2 = 0.735 GeV
  (from the beam line) curls inside the barrel and leaves through the endcap face, at a
  small radius: its *position* pseudorapidity is then large, so the tracking efficiency
  (evaluated at the position, as Delphes' ``Efficiency`` module does) and the calorimeter
  deposit (made at the position) treat it as a forward particle. Nothing is dropped for
  curling as such: Delphes keeps it, at the endcap impact point.

The momentum of a charged particle becomes the perigee momentum (same pT and eta, azimuth of
the helix at the point of closest approach to the beam line), as Delphes writes it.

Units: momenta GeV, positions mm, charge e, field T.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import numpy as np

__all__ = ["BZ", "C_LIGHT", "HALF_LENGTH", "RADIUS", "Propagated", "position_eta", "propagate"]

#: Radius of the magnetic-field cylinder (m) [ParticlePropagator Radius].
RADIUS: Final = 1.29
#: Half-length of the magnetic-field cylinder (m) [ParticlePropagator HalfLength].
HALF_LENGTH: Final = 3.00
#: Solenoid field (T) [ParticlePropagator Bz].
BZ: Final = 3.8
#: Speed of light (m/s), as in ParticlePropagator.cc.
C_LIGHT: Final = 2.99792458e8


class Propagated(NamedTuple):
    """Particles at the calorimeter surface (arrays of the input length).

    Attributes:
        kept: the particle reaches the surface (Delphes keeps it in ``stableParticles``).
        x, y, z: impact point (mm).
        phi_momentum: azimuth of the (perigee) momentum (rad); the input azimuth for neutrals.
    """

    kept: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    phi_momentum: np.ndarray


def position_eta(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Pseudorapidity of points (ROOT ``TVector3::Eta``: +-1e11 on the beam line)."""
    r = np.hypot(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(z / r)
    return np.where(r > 0, eta, np.sign(z) * 1.0e11)


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Bring an angle once into [-pi, pi], as ParticlePropagator.cc does for ``delta``."""
    angle = np.where(angle < -np.pi, angle + 2 * np.pi, angle)
    return np.where(angle > np.pi, angle - 2 * np.pi, angle)


def propagate(
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    energy: np.ndarray,
    charge: np.ndarray,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    z: np.ndarray | None = None,
    radius: float = RADIUS,
    half_length: float = HALF_LENGTH,
    bz: float = BZ,
) -> Propagated:
    """Propagate particles from their production point to the calorimeter surface.

    Args:
        px, py, pz, energy: momentum (GeV).
        charge: electric charge (e).
        x, y, z: production vertex (mm); the origin when None.
        radius, half_length: the field cylinder (m).
        bz: magnetic field (T).

    Returns:
        :class:`Propagated`: ``kept`` is False for particles produced outside the cylinder,
        with pT^2 < 1e-9 GeV^2, or (charged) whose helix ends on the beam line.

    References:
        Delphes 3.4.2 ``modules/ParticlePropagator.cc``; arXiv:1307.6346.
    """
    n = len(px)
    zeros = np.zeros(n)
    x0 = zeros if x is None else np.asarray(x, np.float64) * 1.0e-3
    y0 = zeros if y is None else np.asarray(y, np.float64) * 1.0e-3
    z0 = zeros if z is None else np.asarray(z, np.float64) * 1.0e-3
    pt2 = px**2 + py**2
    pt = np.sqrt(pt2)
    inside = (np.hypot(x0, y0) <= radius) & (np.abs(z0) <= half_length) & (pt2 >= 1.0e-9)
    safe_pt2 = np.where(pt2 > 0, pt2, 1.0)
    neutral = (np.abs(charge) < 1.0e-9) | (abs(bz) < 1.0e-9)

    # straight line: solve pt2 t^2 + 2 (px x + py y) t - (R^2 - x^2 - y^2) = 0
    cross = px * y0 - py * x0
    discr2 = pt2 * radius**2 - cross**2
    dot = px * x0 + py * y0
    discr = np.sqrt(np.maximum(discr2, 0.0))
    t1, t2 = (-dot + discr) / safe_pt2, (-dot - discr) / safe_pt2
    t = np.where(t1 < 0, t2, t1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t3, t4 = (half_length - z0) / pz, (-half_length - z0) / pz
    t = np.where(np.abs(z0 + pz * t) > half_length, np.where(t3 < 0, t4, t3), t)
    line = (x0 + px * t, y0 + py * t, z0 + pz * t)
    line_ok = discr2 >= 0

    # helix
    q = np.where(neutral, 1.0, charge)
    gammam = energy * 1.0e9 / C_LIGHT**2
    with np.errstate(divide="ignore"):  # E = 0 entries (pT = 0) are never kept
        omega = q * bz / gammam
    r = pt / (q * bz) * 1.0e9 / C_LIGHT
    phi_0 = np.arctan2(py, px)
    x_c = x0 + r * np.sin(phi_0)
    y_c = y0 - r * np.cos(phi_0)
    r_c = np.hypot(x_c, y_c)
    phi = np.arctan2(y_c, x_c)
    phi = np.where(x_c < 0, phi + np.pi, phi)
    safe_rc = np.where(r_c > 0, r_c, 1.0)
    phi_perigee = np.arctan2(np.sign(r) * pt * (x_c / safe_rc), np.sign(r) * pt * (-y_c / safe_rc))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_z = np.where(
            pz == 0,
            1.0e99,
            gammam / (pz * 1.0e9 / C_LIGHT) * (-z0 + half_length * np.where(pz > 0, 1, -1)),
        )
        sin_rho = (radius**2 - r_c**2 - r**2) / (2 * np.abs(r) * r_c)
    asinrho = np.arcsin(np.clip(np.nan_to_num(sin_rho), -1.0, 1.0))
    delta = _wrap(phi_0 - phi)
    times = np.stack(
        [
            delta + asinrho,
            delta + np.pi - asinrho,
            delta + np.pi + asinrho,
            delta - asinrho,
            delta - np.pi - asinrho,
            delta - np.pi + asinrho,
        ]
    ) / np.where(omega != 0, omega, 1.0)
    t_r = np.where(times < 0, 1.0e99, times).min(axis=0)
    t_helix = np.where(r_c + np.abs(r) < radius, t_z, np.minimum(t_r, t_z))
    with np.errstate(invalid="ignore"):  # t = 1e99 (pz = 0 curler): as far as the C++ goes
        helix = (
            x_c + r * np.sin(omega * t_helix - phi_0),
            y_c + r * np.cos(omega * t_helix - phi_0),
            z0 + pz * 1.0e9 / C_LIGHT / gammam * t_helix,
        )
    helix_ok = np.hypot(helix[0], helix[1]) > 0

    kept = inside & np.where(neutral, line_ok, helix_ok)
    xs, ys, zs = (np.where(neutral, a, b) * 1.0e3 for a, b in zip(line, helix, strict=True))
    phi_momentum = np.where(neutral, phi_0, phi_perigee)
    return Propagated(kept, xs, ys, zs, phi_momentum)
