"""Per-constituent inputs of the internal tagger, relative to the jet axis, padded with a mask.

For every fat jet the ``n_max`` hardest detector-level constituents (particle-flow
candidates, :mod:`surrotag.reference.detector`) are described by the eight inputs of the
Particle Transformer / ParticleNet family (arXiv:2202.03772, Table 2; arXiv:1902.08570):

=================  =====================================================================
``deta``           eta_i - eta_jet
``dphi``           phi_i - phi_jet wrapped into [-pi, pi) (rad)
``log_pt``         log(pt_i / GeV)
``log_e``          log(E_i / GeV)
``log_pt_rel``     log(pt_i / pt_jet)
``log_e_rel``      log(E_i / E_jet)
``delta_r``        sqrt(deta^2 + dphi^2)
``charge``         electric charge (units of e)
=================  =====================================================================

Padding is vectorised (``ak.pad_none`` + ``ak.fill_none``): no Python loop over jets.
Padded slots are zero and have ``mask == False``.
"""

from __future__ import annotations

from typing import Final

import awkward as ak
import numpy as np

from surrotag.errors import FeatureError

__all__ = ["CONSTITUENT_FEATURES", "N_CONSTITUENTS", "constituent_inputs", "flat_fatjets"]

#: Names of the per-constituent inputs, in the order of the last axis.
CONSTITUENT_FEATURES: Final = (
    "deta",
    "dphi",
    "log_pt",
    "log_e",
    "log_pt_rel",
    "log_e_rel",
    "delta_r",
    "charge",
)
#: Default number of constituents kept per jet (the hardest in pT).
N_CONSTITUENTS: Final = 100
_TINY: Final = 1e-8  # GeV, guards log(0) of massless zero-energy candidates


def flat_fatjets(events: ak.Array) -> ak.Array:
    """All fat jets of canonical events as one flat array (event order, then jet order).

    Raises:
        FeatureError: the events carry no ``fatjets`` or the fat jets no ``constituents``.
    """
    if "fatjets" not in events.fields:
        raise FeatureError(
            f"events with fields {', '.join(events.fields)} hold no 'fatjets'; the internal "
            "tagger needs reference samples (surrotag reference generate)"
        )
    jets = ak.flatten(events.fatjets, axis=1)
    if "constituents" not in jets.fields:
        raise FeatureError(
            "fat jets carry no 'constituents' (px, py, pz, E, charge); only reference samples "
            "written by surrotag reference generate have them"
        )
    return jets


def constituent_inputs(
    jets: ak.Array, n_max: int = N_CONSTITUENTS
) -> tuple[np.ndarray, np.ndarray]:
    """The padded constituent inputs and mask of flat fat jets.

    Args:
        jets: flat fat jets, n_jets * {pt (GeV), eta, phi (rad), mass (GeV), constituents:
            var * {px, py, pz, E (GeV), charge}} (:func:`flat_fatjets`).
        n_max: constituents kept per jet, the hardest in pT first.

    Returns:
        ``inputs`` float32 (n_jets, n_max, 8) in the order of :data:`CONSTITUENT_FEATURES`
        and ``mask`` bool (n_jets, n_max), True for real constituents.
    """
    c = jets.constituents
    px, py, pz, energy = (ak.values_astype(c[f], np.float64) for f in ("px", "py", "pz", "E"))
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, _TINY))
    phi = np.arctan2(py, px)
    order = ak.argsort(pt, axis=1, ascending=False)
    jet_pt = ak.to_numpy(jets.pt).astype(np.float64)
    jet_eta = ak.to_numpy(jets.eta).astype(np.float64)
    jet_phi = ak.to_numpy(jets.phi).astype(np.float64)
    jet_e = np.sqrt((jet_pt * np.cosh(jet_eta)) ** 2 + ak.to_numpy(jets.mass) ** 2)
    deta = eta - jet_eta
    dphi = (phi - jet_phi + np.pi) % (2 * np.pi) - np.pi
    log_pt = np.log(np.maximum(pt, _TINY))
    log_e = np.log(np.maximum(energy, _TINY))
    columns = (
        deta,
        dphi,
        log_pt,
        log_e,
        log_pt - np.log(jet_pt),
        log_e - np.log(jet_e),
        np.hypot(deta, dphi),
        ak.values_astype(c.charge, np.float64),
    )
    stacked = []
    for column in columns:
        hardest = column[order][:, :n_max]
        padded = ak.fill_none(ak.pad_none(hardest, n_max, axis=1, clip=True), 0.0)
        stacked.append(ak.to_numpy(padded).astype(np.float32))
    inputs = np.stack(stacked, axis=-1)
    counts = np.minimum(ak.to_numpy(ak.num(c, axis=1)), n_max)
    mask = np.arange(n_max)[None, :] < counts[:, None]
    return inputs, mask
