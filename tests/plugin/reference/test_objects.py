"""Physics objects against the real Delphes 3.4.2 file, on its own EFlow objects.

Everything deterministic in :mod:`surrotag.reference.objects` (jets with their energy scale
and overlap removal, flavour, isolation, MET) must give the file's numbers exactly when fed
the file's EFlow; only the efficiencies and b-tags are random.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import vector

from surrotag.io.delphes import EFLOW, eflow_candidates
from surrotag.reference.objects import (
    btag_efficiency,
    isolation,
    jet_energy_scale,
    jet_flavour,
    missing_et,
    physics_objects,
    small_r_jets,
)

vector.register_awkward()


def _momentum(pt, eta, phi, mass=None) -> ak.Array:
    mass = pt * 0 if mass is None else mass
    return ak.zip({"pt": pt, "eta": eta, "phi": phi, "mass": mass}, with_name="Momentum4D")


@pytest.fixture(scope="module")
def delphes(delphes_file) -> dict:
    """The file's EFlow (tracks with their species), partons, and its objects."""
    import uproot

    tree = uproot.open(delphes_file)["Delphes;2"]

    def read(branch: str, leaves: list[str]) -> ak.Array:
        arrays = tree.arrays([f"{branch}.{leaf}" for leaf in leaves])
        return ak.zip({leaf: arrays[f"{branch}.{leaf}"] for leaf in leaves})

    leaves = [f"{b}.{leaf}" for b, (pt, rest) in EFLOW.items() for leaf in (pt, *rest)]
    eflow = eflow_candidates(tree.arrays([*leaves, "EFlowTrack.PID"]))  # species from PID
    particle = read("Particle", ["PID", "PT", "Eta", "Phi", "Mass"])
    quark_or_gluon = (abs(particle.PID) <= 5) | (particle.PID == 21)
    p = _momentum(particle.PT, particle.Eta, particle.Phi, particle.Mass)
    partons = ak.zip({"px": p.px, "py": p.py, "pz": p.pz, "E": p.E, "pid": particle.PID})
    return {
        "eflow": eflow,
        "partons": partons[quark_or_gluon & (abs(particle.Eta) < 100)],
        "jet": read("Jet", ["PT", "Eta", "Phi", "Mass", "Flavor"]),
        "electron": read("Electron", ["PT", "SumPt"]),
        "muon": read("Muon", ["PT", "SumPt"]),
        "met": read("MissingET", ["MET", "Phi"]),
    }


def _lepton_positions(delphes: dict) -> ak.Array:
    """Positions in the EFlow of the file's electrons and muons (their tracks, equal pT)."""
    pt = _momentum_of(delphes["eflow"]).pt
    leptons = ak.concatenate([delphes["electron"].PT, delphes["muon"].PT], axis=1)
    same = abs(pt[:, :, None] - leptons[:, None, :]) < 1e-4
    return ak.local_index(pt, axis=1)[ak.any(same, axis=2)]


def _momentum_of(eflow: ak.Array) -> ak.Array:
    return ak.zip(
        {"px": eflow.px, "py": eflow.py, "pz": eflow.pz, "E": eflow.E}, with_name="Momentum4D"
    )


def test_missing_et_is_the_files(delphes):
    met = missing_et(delphes["eflow"])
    np.testing.assert_allclose(met.met, ak.flatten(delphes["met"].MET), rtol=1e-5)
    np.testing.assert_allclose(met.phi, ak.flatten(delphes["met"].Phi), atol=1e-5)


def test_jets_are_the_files(delphes):
    """anti-kT 0.4, energy scale and the removal of jets holding a lepton: all 74 jets."""
    jets = small_r_jets(delphes["eflow"], _lepton_positions(delphes))
    assert ak.to_list(ak.num(jets)) == ak.to_list(ak.num(delphes["jet"].PT))
    assert int(ak.sum(ak.num(jets))) == 74
    for mine, theirs in (("pt", "PT"), ("eta", "Eta"), ("phi", "Phi")):
        np.testing.assert_allclose(
            ak.flatten(getattr(jets, mine)), ak.flatten(delphes["jet"][theirs]), rtol=2e-5,
            atol=2e-5,
        )  # fmt: skip
    # without the removal the jets holding the two events' leptons come back
    everything = small_r_jets(delphes["eflow"], ak.Array([[]] * len(delphes["eflow"])))
    assert int(ak.sum(ak.num(everything))) > 74


def test_isolation_reproduces_the_files_sum_pt(delphes):
    """Each of the file's five leptons: sum pT in the cone to 1e-3 GeV."""
    positions = _lepton_positions(delphes)
    vectors = _momentum_of(delphes["eflow"])[positions]
    ratio = isolation(vectors, positions, delphes["eflow"])
    mine = np.sort(ak.to_numpy(ak.flatten(ratio * vectors.pt)))
    theirs = np.sort(ak.to_numpy(ak.flatten(ak.concatenate(
        [delphes["electron"].SumPt, delphes["muon"].SumPt], axis=1))))  # fmt: skip
    assert mine.size == 5
    np.testing.assert_allclose(mine, theirs, atol=1e-3)


def test_flavour_is_the_files(delphes):
    jets = delphes["jet"]
    flavour = jet_flavour(_momentum(jets.PT, jets.Eta, jets.Phi, jets.Mass), delphes["partons"])
    assert ak.to_list(flavour) == ak.to_list(jets.Flavor)
    assert {0, 1, 2, 3, 4, 5, 21} <= set(ak.to_list(ak.flatten(flavour)))


def test_physics_objects_on_the_file(delphes):
    """Leptons are the file's (each at most once; efficiencies below 1 can lose one), every
    file jet is there, and the same seed gives the same objects."""
    first = physics_objects(delphes["eflow"], delphes["partons"], np.random.default_rng(7))
    again = physics_objects(delphes["eflow"], delphes["partons"], np.random.default_rng(7))
    for name in ("electrons", "muons", "photons", "jets"):
        assert ak.to_list(first[name]) == ak.to_list(again[name])
    file_leptons = set(ak.to_list(ak.flatten(delphes["electron"].PT))) | set(
        ak.to_list(ak.flatten(delphes["muon"].PT))
    )
    mine = ak.to_list(ak.flatten(first["electrons"].pt)) + ak.to_list(ak.flatten(first["muons"].pt))
    assert set(mine) <= file_leptons and len(mine) >= 3  # 5 in the file, efficiencies 0.85-0.95
    jets = first["jets"]
    for event in range(len(jets)):
        have = np.asarray(ak.to_list(jets.pt[event]))
        for pt in ak.to_list(delphes["jet"].PT[event]):
            assert np.min(np.abs(have - pt)) < 2e-5 * pt
    assert set(ak.fields(jets)) == {"pt", "eta", "phi", "mass", "btag", "flavour"}
    assert set(ak.to_list(ak.flatten(jets.btag))) <= {0, 1}


def test_efficiency_formulas_of_the_card():
    pt = np.array([30.0, 100.0, 500.0])
    b = 0.85 * np.tanh(0.0025 * pt) * 25.0 / (1 + 0.063 * pt)
    np.testing.assert_allclose(btag_efficiency(np.full(3, 5), pt), b)
    np.testing.assert_allclose(btag_efficiency(np.zeros(3, int), pt), 0.01 + 3.8e-5 * pt)
    assert 0.5 < btag_efficiency(np.array([5]), np.array([100.0]))[0] < 0.75
    assert jet_energy_scale(np.array([100.0]), np.array([0.0]))[0] == pytest.approx(
        np.sqrt(2.5**2 / 100 + 1)
    )


def test_a_jet_without_partons_to_compare_with_has_flavour_zero():
    """An event none of whose partons pass the flavour cuts: flavour 0, not None (a None was
    dropped by the flatten before the b-tag draws, which then misaligned and crashed a
    60k-event ttbar-dilepton generation)."""
    import awkward as ak
    import vector

    from surrotag.reference.objects import jet_flavour

    vector.register_awkward()
    jets = ak.zip({"px": [[30.0, 20.0], [25.0]], "py": [[0.0, 5.0], [1.0]],
                   "pz": [[1.0, 2.0], [3.0]], "E": [[31.0, 21.0], [26.0]]},
                  with_name="Momentum4D")  # fmt: skip
    partons = ak.zip({"px": [[29.0], [0.5]], "py": [[0.5], [0.0]], "pz": [[1.0], [0.1]],
                      "E": [[30.0], [0.6]], "pid": [[5], [21]]})  # fmt: skip
    flavour = jet_flavour(jets, partons)  # the second event's gluon fails pT > 1 GeV
    assert flavour.tolist() == [[5, 5], [0]]
    assert len(ak.flatten(flavour, axis=None)) == len(ak.flatten(jets.px, axis=None))
