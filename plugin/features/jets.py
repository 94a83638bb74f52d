"""Fat-jet kinematics and substructure features (Delphes ``FatJet``), vectorised.

N-subjettiness ratios follow Thaler and Van Tilburg (arXiv:1011.2268, beta = 1):
tau21 = tau2/tau1 separates two-prong (W, Z, H) jets and tau32 = tau3/tau2 three-prong
(top) jets from QCD. The soft-drop mass is the groomed mass of arXiv:1402.2657 as
Delphes stores it (``SoftDroppedP4[0]``).
"""

from __future__ import annotations

from typing import Final

import awkward as ak
import numpy as np

from surrotag.errors import FeatureError

__all__ = ["NSUBJETTINESS_FIELDS", "jet_features", "nsubjettiness"]

#: Field names of the tau1..tau5 array of a fat jet, in order of preference. The readers
#: write ``nsubjettiness`` (vector treats ``tau`` as an alias of ``mass`` in a Momentum4D
#: record, so the name ``tau`` cannot be used there); ``tau`` is accepted for plain records.
NSUBJETTINESS_FIELDS: Final = ("nsubjettiness", "tau")


def nsubjettiness(fatjets: ak.Array) -> ak.Array:
    """The var * 5 array tau1..tau5 of every fat jet.

    Raises:
        FeatureError: the fat jets carry no N-subjettiness field.
    """
    for name in NSUBJETTINESS_FIELDS:
        if name in fatjets.fields:
            return fatjets[name]
    raise FeatureError(
        f"fat jets carry no N-subjettiness (none of the fields {', '.join(NSUBJETTINESS_FIELDS)}"
        f" among {', '.join(fatjets.fields)}); jet_tau21/jet_tau32 need Delphes FatJet.Tau[5]"
    )


def _ratio(numerator: ak.Array, denominator: ak.Array) -> ak.Array:
    """numerator/denominator, NaN where the denominator is not positive."""
    safe = ak.where(denominator > 0, denominator, 1.0)
    return ak.where(denominator > 0, numerator / safe, np.nan)


def jet_features(fatjets: ak.Array, names: set[str] | frozenset[str]) -> dict[str, ak.Array]:
    """Per-jet kinematic and substructure features.

    Args:
        fatjets: canonical ``fatjets`` (var * records with pt, eta, phi, mass in GeV/rad,
            tau1..tau5, sd_mass in GeV, n_charged, n_neutral).
        names: the registry names wanted (others are skipped, so that a missing field
            only matters when its feature is asked for).

    Returns:
        name -> var * values aligned with ``fatjets``.
    """
    out: dict[str, ak.Array] = {}
    if "jet_index" in names:
        out["jet_index"] = ak.local_index(fatjets.pt, axis=1)
    for name, field in (
        ("jet_pt", "pt"),
        ("jet_eta", "eta"),
        ("jet_phi", "phi"),
        ("jet_mass", "mass"),
        ("jet_sd_mass", "sd_mass"),
    ):
        if name in names:
            out[name] = fatjets[field]
    if names & {"jet_tau21", "jet_tau32", "flag_tau_undefined"}:
        tau = nsubjettiness(fatjets)
        tau1, tau2, tau3 = tau[:, :, 0], tau[:, :, 1], tau[:, :, 2]
        out["jet_tau21"] = _ratio(tau2, tau1)
        out["jet_tau32"] = _ratio(tau3, tau2)
        out["flag_tau_undefined"] = (tau1 <= 0) | (tau2 <= 0)
    if "jet_n_constituents" in names:
        known = (fatjets.n_charged >= 0) & (fatjets.n_neutral >= 0)
        out["jet_n_constituents"] = ak.where(known, fatjets.n_charged + fatjets.n_neutral, -1)
    return {name: values for name, values in out.items() if name in names}
