"""Small numeric helpers shared by the feature modules (Delta R, NaN-safe casts)."""

from __future__ import annotations

import numpy as np

__all__ = ["delta_phi", "delta_r", "eta_phi_pt"]


def delta_phi(phi1, phi2):
    """Azimuthal difference wrapped into [-pi, pi) (rad); works on numpy and awkward."""
    return (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi


def delta_r(eta1, phi1, eta2, phi2):
    """Delta R = sqrt(Delta eta^2 + Delta phi^2) (dimensionless); numpy or awkward."""
    return np.sqrt((eta1 - eta2) ** 2 + delta_phi(phi1, phi2) ** 2)


def eta_phi_pt(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> tuple[np.ndarray, ...]:
    """Pseudorapidity, azimuth (rad) and pT (GeV) from Cartesian momenta (GeV).

    NaN propagates; a particle along the beam (pT = 0) gets eta = +-inf.
    """
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(np.where(pt > 0, pz / pt, np.sign(pz) * np.inf))
    return eta, np.arctan2(py, px), pt
