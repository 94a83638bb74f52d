"""Reclustering the real Delphes file's EFlow objects reproduces its FatJet branch."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np

from surrotag.io.delphes import EFLOW, eflow_candidates
from surrotag.jets.clustering import recluster_fatjets


def _eflow(path: Path) -> tuple[ak.Array, ak.Array]:
    import uproot

    tree = uproot.open(path)["Delphes"]
    leaves = [f"{b}.{leaf}" for b, (pt, rest) in EFLOW.items() for leaf in (pt, *rest)]
    fatjet = ["FatJet.PT", "FatJet.Eta", "FatJet.Phi", "FatJet.Tau[5]"]
    branches = tree.arrays([*leaves, *fatjet])
    return eflow_candidates(branches), branches


def test_reclustered_fatjets_match_delphes(delphes_file: Path) -> None:
    candidates, branches = _eflow(delphes_file)
    ours = recluster_fatjets(candidates, radius=0.8, pt_min=150.0, eta_max=5.0)
    theirs_pt, theirs_eta, theirs_phi = (branches[f"FatJet.{f}"] for f in ("PT", "Eta", "Phi"))
    ratios, taus = [], []
    for event in range(len(candidates)):
        for k in range(len(theirs_pt[event])):
            if theirs_pt[event][k] < 200:
                continue
            deta = ours.eta[event] - theirs_eta[event][k]
            dphi = (ours.phi[event] - theirs_phi[event][k] + np.pi) % (2 * np.pi) - np.pi
            dr = np.hypot(ak.to_numpy(deta), ak.to_numpy(dphi))
            assert dr.size and dr.min() < 0.1, f"event {event}: Delphes FatJet {k} unmatched"
            best = int(np.argmin(dr))
            ratios.append(ours.pt[event][best] / theirs_pt[event][k])
            tau = branches["FatJet.Tau[5]"][event][k]
            taus.append((ak.to_numpy(ours.nsubjettiness[event][best]), ak.to_numpy(tau)))
    assert len(ratios) >= 3
    # measured: all 6 Delphes FatJets (pT > 200 GeV) matched with dR < 1e-3, pT ratio 1.0000
    np.testing.assert_allclose(ratios, 1.0, atol=0.01)
    # tau_1..5 (OnePass_KT_Axes, beta = 1, R0 = 0.8) equal Delphes' FatJet.Tau
    ours_tau, delphes_tau = (np.array(side) for side in zip(*taus, strict=False))
    np.testing.assert_allclose(ours_tau, delphes_tau, rtol=1e-3, atol=1e-5)
