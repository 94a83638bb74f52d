"""The reference detector against real Delphes 3.4.2 (CMS card) on the same particles.

The file's own generator particles (``Particle``, ``Status == 1``, with their production
vertices) go through :func:`surrotag.reference.detector.pf_candidates`; the result is
compared with the file's ``EFlowTrack`` / ``EFlowPhoton`` / ``EFlowNeutralHadron`` and its
``FatJet`` branch. The file holds one detector realisation of 10 ttH events, so the
comparison of counts and jet features uses our mean over ``N_SEEDS`` detector seeds against
that single realisation, with its Poisson error. Run with ``-s`` to see the tables.
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from eflow_counts import N_SEEDS, compare_counts, print_bins, stable_particles

from surrotag.io.delphes import EFLOW
from surrotag.jets.clustering import recluster_fatjets
from surrotag.reference.calorimeter import ECAL, HCAL
from surrotag.reference.detector import pf_candidates
from surrotag.reference.propagation import propagate

uproot = pytest.importorskip("uproot")

_PARTICLE = ("PID", "Status", "Charge", "Px", "Py", "Pz", "E", "X", "Y", "Z", "fUniqueID")


@pytest.fixture(scope="module")
def delphes(delphes_file: Path) -> ak.Array:
    tree = uproot.open(delphes_file)["Delphes"]
    eflow = [f"{b}.{leaf}" for b, (pt, rest) in EFLOW.items() for leaf in (pt, *rest)]
    track = [f"Track.{leaf}" for leaf in ("Particle", "XOuter", "YOuter", "ZOuter", "Phi")]
    leaves = ("PT", "Eta", "Phi", "Mass", "Tau[5]", "Constituents", "SoftDroppedJet")
    fatjet = [f"FatJet.{leaf}" for leaf in leaves]
    particle = [f"Particle.{leaf}" for leaf in _PARTICLE]
    return tree.arrays([*particle, *eflow, *track, *fatjet])


def test_propagation_reproduces_delphes_impact_points(delphes: ak.Array) -> None:
    uid = delphes["Particle.fUniqueID"] & 0xFFFFFF
    assert ak.all(uid == ak.local_index(uid) + 1)  # TRef -> position in the event
    index = delphes["Track.Particle"].ref - 1
    take = {k: ak.to_numpy(ak.flatten(delphes[f"Particle.{k}"][index])) for k in _PARTICLE}
    out = propagate(
        *(take[k].astype(np.float64) for k in ("Px", "Py", "Pz", "E", "Charge", "X", "Y", "Z"))
    )
    outer = [ak.to_numpy(ak.flatten(delphes[f"Track.{c}Outer"])) for c in "XYZ"]
    pairs = zip(out[1:4], outer, strict=True)
    distance = np.sqrt(sum((ours - theirs) ** 2 for ours, theirs in pairs))
    # measured: all 803 tracks (376 of them curling out through the endcap) within 0.04 mm
    assert out.kept.all()
    assert distance.max() < 0.1  # mm; float32 storage
    dphi = out.phi_momentum - ak.to_numpy(ak.flatten(delphes["Track.Phi"]))
    assert np.abs((dphi + np.pi) % (2 * np.pi) - np.pi).max() < 1e-5


@pytest.mark.parametrize("branch", ["EFlowPhoton", "EFlowNeutralHadron"])
def test_tower_map_reproduces_delphes_tower_edges(delphes_file: Path, branch: str) -> None:
    calo = ECAL if branch == "EFlowPhoton" else HCAL
    edges = uproot.open(delphes_file)["Delphes"][f"{branch}.Edges[4]"].array()
    edges = ak.to_numpy(ak.flatten(edges)).astype(np.float64)
    row, column = calo.tower_index(edges[:, :2].mean(axis=1), edges[:, 2:].mean(axis=1))
    assert (row >= 0).all()
    phi_lo, phi_hi = calo.tower_phi(row, column)
    ours = np.stack([calo.eta_edges[row], calo.eta_edges[row + 1], phi_lo, phi_hi], axis=1)
    np.testing.assert_allclose(ours, edges, atol=1e-6)  # out to |eta| = 5 (HF)


def test_eflow_counts_match_delphes(delphes: ak.Array) -> None:
    """Objects per (kind, pT, |eta|) bin: our mean over seeds vs the file's realisation
    (:func:`eflow_counts.compare_counts`: within 10 % or 2 sigma)."""
    result = compare_counts(delphes)
    print(f"\nEFlow objects in 10 events, ours (mean of {N_SEEDS} seeds) vs Delphes 3.4.2")
    print_bins(result, "Delphes")
    totals = np.round(result.mean.sum(axis=(1, 2)), 1)
    print("totals ours / Delphes:", totals, result.theirs.sum(axis=(1, 2)))
    # measured: every bin passes; |pull| <= 1.5 everywhere
    assert result.good.all(), f"{(~result.good).sum()} of {result.good.size} bins off"


def test_fatjet_features_match_delphes(delphes: ak.Array) -> None:
    """Mean constituent count, mass and tau32 of the file's fat jets, within 5 %; soft-drop
    mass and tau21 within 10 %.

    Every Delphes FatJet (anti-kT R = 0.8, pT > 200 GeV) is matched (Delta R < 0.4) to an
    anti-kT R = 0.8 jet reclustered from our EFlow objects (pT > 150 GeV, so that threshold
    migration does not bias the match), for each detector seed. The file has only 6 fat
    jets: their means carry a detector-realisation error of several per cent (printed, from
    our seed-to-seed spread), so this test catches gross differences (missing objects,
    wrong granularity or energy scale), not per-cent-level ones. Soft drop as the file's card
    (beta = 0, z_cut = 0.1, R0 = 0.8) and ours; the goal of 5 % covers the first three, the
    two groomed/two-prong features are held to the gross-error bound of 10 %.
    """
    particles = stable_particles(delphes)
    d_eta, d_phi = delphes["FatJet.Eta"], delphes["FatJet.Phi"]
    tau = ak.to_numpy(ak.flatten(delphes["FatJet.Tau[5]"]))
    groomed = ak.flatten(delphes["FatJet.SoftDroppedJet"])
    momentum2 = sum(ak.to_numpy(groomed.fP[c]) ** 2 for c in ("fX", "fY", "fZ"))
    sd_mass = np.sqrt(np.clip(ak.to_numpy(groomed.fE) ** 2 - momentum2, 0.0, None))
    theirs = np.stack(
        [
            ak.to_numpy(ak.flatten(ak.num(delphes["FatJet.Constituents"].refs, axis=2))),
            ak.to_numpy(ak.flatten(delphes["FatJet.Mass"])),
            tau[:, 2] / tau[:, 1],
            sd_mass,
            tau[:, 1] / tau[:, 0],
            ak.to_numpy(ak.flatten(delphes["FatJet.PT"])),
        ],
        axis=1,
    )
    per_seed = []
    for seed in range(N_SEEDS):
        jets = recluster_fatjets(
            pf_candidates(particles, np.random.default_rng(seed)), pt_min=150.0, eta_max=10.0
        )
        pairs = ak.cartesian({"d": ak.zip({"eta": d_eta, "phi": d_phi}), "o": jets}, nested=True)
        dphi = (pairs.o.phi - pairs.d.phi + np.pi) % (2 * np.pi) - np.pi
        dr = np.hypot(pairs.o.eta - pairs.d.eta, dphi)
        best = ak.argmin(dr, axis=2, keepdims=True)
        matched = ak.flatten(ak.fill_none(ak.firsts(dr[best], axis=2) < 0.4, False))
        jet = ak.flatten(ak.firsts(pairs.o[best], axis=2))
        tau_o = ak.to_numpy(ak.fill_none(jet.nsubjettiness, [np.nan] * 5, axis=0))
        features = np.stack(
            [
                ak.to_numpy(ak.fill_none(ak.num(jet.constituents, axis=1), 0)),
                ak.to_numpy(ak.fill_none(jet.mass, np.nan)),
                tau_o[:, 2] / tau_o[:, 1],
                ak.to_numpy(ak.fill_none(jet.sd_mass, np.nan)),
                tau_o[:, 1] / tau_o[:, 0],
                ak.to_numpy(ak.fill_none(jet.pt, np.nan)),
            ],
            axis=1,
        ).astype(np.float64)
        features[~ak.to_numpy(matched)] = np.nan
        per_seed.append(features)
    per_seed = np.array(per_seed)  # seeds x jets x features
    matched_fraction = np.isfinite(per_seed[..., 0]).mean()
    ours = np.nanmean(per_seed, axis=(0, 1))
    # spread of a single realisation's 6-jet mean, from our seed-to-seed spread
    realisation = np.nanstd(np.nanmean(per_seed, axis=1), axis=0, ddof=1)
    reference = theirs.mean(axis=0)
    ratio = ours / reference
    print(
        f"\nFat jets ({len(theirs)} in the file; matched {matched_fraction:.1%}, {N_SEEDS} seeds)"
    )
    print(f"{'feature':22s} {'ours':>8s} {'Delphes':>8s} {'ratio':>6s} {'1-realisation sd':>17s}")
    names = ("constituents", "mass (GeV)", "tau32", "soft-drop mass (GeV)", "tau21", "pT (GeV)")
    for name, o, d, r, s in zip(names, ours, reference, ratio, realisation, strict=True):
        print(f"{name:22s} {o:8.3f} {d:8.3f} {r:6.3f} {s / d:16.1%}")
    # measured: constituents 1.018, mass 1.006, tau32 1.028, soft-drop mass 0.973, tau21
    # 1.051 (one realisation's sd 9.4% and 6.7%); pT 1.02, not asserted
    assert matched_fraction >= 0.9
    np.testing.assert_allclose(ratio[:3], 1.0, atol=0.05)
    np.testing.assert_allclose(ratio[3:5], 1.0, atol=0.10)
