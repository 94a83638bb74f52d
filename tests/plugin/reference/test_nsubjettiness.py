"""N-subjettiness: vectorised tau_N against a brute-force loop and fastjet contrib."""

from __future__ import annotations

import math
import warnings

import awkward as ak
import numpy as np
import pytest

from surrotag.jets.clustering import kt_axes
from surrotag.jets.nsubjettiness import nsubjettiness


def brute_force_tau(constituents: list[dict], axes: list[dict], r0: float = 0.8) -> float:
    """tau_N = sum_i pT_i min_k dR_ik / (sum_i pT_i R0), one particle at a time."""

    def rap_phi(p: dict) -> tuple[float, float]:
        return 0.5 * math.log((p["E"] + p["pz"]) / (p["E"] - p["pz"])), math.atan2(p["py"], p["px"])

    numerator = denominator = 0.0
    for c in constituents:
        pt = math.hypot(c["px"], c["py"])
        y, phi = rap_phi(c)
        best = math.inf
        for a in axes:
            ya, phia = rap_phi(a)
            dphi = (phi - phia + math.pi) % (2 * math.pi) - math.pi
            best = min(best, math.hypot(y - ya, dphi))
        numerator += pt * (best if axes else 0.0)
        denominator += pt
    return numerator / (denominator * r0) if denominator > 0 else 0.0


def _massless(pt: float, y: float, phi: float) -> dict:
    return {
        "px": pt * math.cos(phi),
        "py": pt * math.sin(phi),
        "pz": pt * math.sinh(y),
        "E": pt * math.cosh(y),
    }


def test_two_prong_closed_form() -> None:
    """Two equal massless prongs at y = +-d/2: tau1 = d / (2 R0) with the kT axis, tau2 = 0."""
    d = 0.4
    jet = ak.Array([[_massless(300.0, -d / 2, 0.1), _massless(300.0, d / 2, 0.1)]])
    axes = kt_axes(jet, 2)
    assert nsubjettiness(jet, axes[0])[0] == pytest.approx(d / (2 * 0.8), rel=1e-9)
    assert nsubjettiness(jet, axes[1])[0] == pytest.approx(0.0, abs=1e-12)


def test_matches_brute_force_on_generated_jets(ttbar_events: ak.Array) -> None:
    constituents = ak.flatten(ttbar_events.fatjets.constituents, axis=1)[:40]
    constituents = ak.zip(
        {f: ak.values_astype(constituents[f], np.float64) for f in ("px", "py", "pz", "E")}
    )
    assert len(constituents) >= 10
    for n, axes in enumerate(kt_axes(constituents, 5), start=1):
        fast = nsubjettiness(constituents, axes)
        slow = [
            brute_force_tau(c, a)
            for c, a in zip(constituents.to_list(), axes.to_list(), strict=False)
        ]
        np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12, err_msg=f"tau{n}")


def test_matches_fastjet_contrib_kt_axes(ttbar_events: ak.Array) -> None:
    """Same numbers as fastjet contrib Nsubjettiness (KT_Axes, NormalizedMeasure beta=1)."""
    import fastjet

    jets = ttbar_events.fatjets[ak.num(ttbar_events.fatjets) > 0]
    constituents = ak.flatten(jets.constituents, axis=1)[:30]
    momenta = ak.zip(
        {f: ak.values_astype(constituents[f], np.float64) for f in ("px", "py", "pz", "E")}
    )
    ours = np.stack([nsubjettiness(momenta, a) for a in kt_axes(momenta, 3)], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sequence = fastjet.ClusterSequence(
            momenta, fastjet.JetDefinition(fastjet.antikt_algorithm, 1000.0)
        )
        theirs = sequence.njettiness(axes_definition="KT_Axes", njets=[1, 2, 3], beta=1.0, R0=0.8)
    np.testing.assert_allclose(ours, ak.to_numpy(theirs), rtol=1e-6, atol=1e-7)
