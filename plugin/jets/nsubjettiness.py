"""N-subjettiness tau_N, vectorised over jets (arXiv:1011.2268, arXiv:1108.2701).

    tau_N = sum_i pT_i min_k dR(i, axis_k)^beta / (sum_i pT_i R0^beta)

with the normalised measure, beta = 1 and R0 = the jet radius (0.8), as the Delphes CMS card's
FatJetFinder computes ``FatJet.Tau[5]``. Distances use rapidity and azimuth (as fastjet
contrib Nsubjettiness does). The axes are given (e.g. exclusive-kT subjets, see
:func:`surrotag.jets.clustering.kt_axes`); a jet with fewer constituents than N gets as many
axes as constituents, hence tau_N = 0, and a jet with no constituent gets 0.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

__all__ = ["nsubjettiness", "rapidity_phi"]


def rapidity_phi(
    px: np.ndarray, py: np.ndarray, pz: np.ndarray, energy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rapidity and azimuth (rad) of four-momenta (GeV), numpy arrays of one shape.

    A massless particle along the beam gets a large finite rapidity instead of infinity.
    """
    tiny = 1e-300
    rap = 0.5 * np.log(np.maximum(energy + pz, tiny) / np.maximum(energy - pz, tiny))
    return rap, np.arctan2(py, px)


def _flat(array: ak.Array, field: str) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(array[field], axis=1)), dtype=np.float64)


def nsubjettiness(
    constituents: ak.Array, axes: ak.Array, r0: float = 0.8, beta: float = 1.0
) -> np.ndarray:
    """tau_N of each jet for its given axes, without a Python loop over jets.

    The constituents of all jets are flattened to one numpy array; each constituent meets
    the (at most N) axes of its own jet through a padded (n_jets, N) axis table, so the
    cost is one (n_constituents, N) distance matrix.

    Args:
        constituents: jets x var * {px, py, pz, E} (GeV).
        axes: jets x var * {px, py, pz, E} (GeV): the N axes of each jet (fewer where the
            jet has fewer constituents).
        r0: characteristic jet radius R0 of the normalised measure.
        beta: angular exponent.

    Returns:
        float64 array (n_jets,) of tau_N (dimensionless); 0 for jets without constituents
        or without axes.
    """
    n_jets = len(constituents)
    counts = ak.to_numpy(ak.num(constituents, axis=1)).astype(np.int64)
    jet = np.repeat(np.arange(n_jets), counts)
    px, py = _flat(constituents, "px"), _flat(constituents, "py")
    c_rap, c_phi = rapidity_phi(px, py, _flat(constituents, "pz"), _flat(constituents, "E"))
    c_pt = np.hypot(px, py)

    n_axes = ak.to_numpy(ak.num(axes, axis=1)).astype(np.int64)
    width = int(n_axes.max(initial=0))
    a_rap, a_phi = rapidity_phi(
        _flat(axes, "px"), _flat(axes, "py"), _flat(axes, "pz"), _flat(axes, "E")
    )
    table_rap = np.full((n_jets, max(width, 1)), np.nan)
    table_phi = np.full((n_jets, max(width, 1)), np.nan)
    rows = np.repeat(np.arange(n_jets), n_axes)
    slots = np.arange(len(rows)) - np.repeat(np.cumsum(n_axes) - n_axes, n_axes)
    table_rap[rows, slots] = a_rap
    table_phi[rows, slots] = a_phi

    dphi = (c_phi[:, None] - table_phi[jet] + np.pi) % (2 * np.pi) - np.pi
    distance = np.sqrt((c_rap[:, None] - table_rap[jet]) ** 2 + dphi**2) ** beta
    nearest = np.nanmin(np.where(np.isnan(distance), np.inf, distance), axis=1)
    nearest = np.where(np.isfinite(nearest), nearest, 0.0)
    numerator = np.bincount(jet, weights=c_pt * nearest, minlength=n_jets)
    denominator = np.bincount(jet, weights=c_pt, minlength=n_jets) * r0**beta
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 0.0)
