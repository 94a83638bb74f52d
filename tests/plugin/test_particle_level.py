"""The particle level: visible stable particles -> fat jets, on a real Delphes file.

The Delphes 3.4.2 CMS card builds its ``GenJet`` collection exactly as surrotag's particle
level does (stable particles, neutrinos and invisible BSM states removed, anti-kT), with
R = 0.4 and pT > 20 GeV: clustering the file's own ``Particle`` branch with surrotag's
definition must give the file's ``GenJet`` jets. The particle-level reading of the same
file, and of a HepMC file written from its records, must agree.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from surrotag.errors import FormatError
from surrotag.features import build_features
from surrotag.io import read_events

pytest.importorskip("fastjet")
pyhepmc = pytest.importorskip("pyhepmc")

from surrotag.jets.particle import particle_fatjets, visible  # noqa: E402


@pytest.fixture(scope="module")
def particles(delphes_file):
    return read_events(delphes_file, level="parton", collections=["particles"]).particles


def test_visible_stable_particles_give_delphes_genjets(delphes_file, particles):
    """surrotag's particle-level jets at R = 0.4 are the file's own GenJet collection."""
    jets = particle_fatjets(particles, radius=0.4, pt_min=20.0, eta_max=np.inf)
    with uproot.open(delphes_file) as root:
        gen = root["Delphes"].arrays(["GenJet.PT", "GenJet.Eta", "GenJet.Phi"])
    assert ak.to_list(ak.num(jets)) == ak.to_list(ak.num(gen["GenJet.PT"]))
    for ours, theirs in (("pt", "GenJet.PT"), ("eta", "GenJet.Eta"), ("phi", "GenJet.Phi")):
        np.testing.assert_allclose(
            ak.to_numpy(ak.flatten(jets[ours])),
            ak.to_numpy(ak.flatten(gen[theirs])),
            rtol=1e-4,
            atol=1e-4,
        )
    assert ak.sum(ak.num(jets)) > 50  # ttH: many jets, not an empty comparison


def test_invisible_particles_are_dropped(particles):
    stable = particles[particles.status == 1]
    seen = visible(stable)
    pid = np.abs(ak.to_numpy(ak.flatten(stable.pid)))
    neutrinos = ak.sum(ak.unflatten(np.isin(pid, [12, 14, 16]), ak.num(stable)), axis=1)
    assert ak.all(ak.num(stable) - ak.num(seen) == neutrinos)
    assert ak.sum(neutrinos) > 0


def test_delphes_file_read_at_particle_level(delphes_file, particles):
    events = read_events(delphes_file, level="particle")
    assert events.fields == ["weight", "fatjets", "particles"]
    expected = particle_fatjets(particles)
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(events.fatjets.pt)), ak.to_numpy(ak.flatten(expected.pt))
    )
    table = build_features(events, level="particle", features=["jet_pt", "jet_tau32"])
    assert len(table) == ak.sum(ak.num(expected)) > 0
    assert np.all(ak.to_numpy(table.jet_pt) >= 200.0)
    with pytest.raises(Exception, match="event_met"):
        build_features(events, level="particle", features=["event_met"])


def _write_flat_hepmc(path, particles):
    """One vertex per event, from a system particle to every particle of the record
    (enough for jets)."""
    with pyhepmc.open(path, "w") as out:
        for number, event_particles in enumerate(ak.to_list(particles)):
            event = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
            event.event_number = number
            vertex = pyhepmc.GenVertex()
            total = [sum(p[f] for p in event_particles) for f in ("px", "py", "pz", "E")]
            vertex.add_particle_in(pyhepmc.GenParticle(tuple(total), 90, 4))
            for p in event_particles:
                momentum = (p["px"], p["py"], p["pz"], p["E"])
                vertex.add_particle_out(pyhepmc.GenParticle(momentum, p["pid"], p["status"]))
            event.add_vertex(vertex)
            out.write(event)


def test_hepmc_is_read_at_particle_level_by_default(tmp_path, delphes_file, particles):
    path = tmp_path / "ttH.hepmc"
    _write_flat_hepmc(path, particles)
    events = read_events(path)  # HepMC: particle level unless told otherwise
    assert "fatjets" in events.fields
    expected = particle_fatjets(particles)
    assert ak.to_list(ak.num(events.fatjets)) == ak.to_list(ak.num(expected))
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(events.fatjets.mass)),
        ak.to_numpy(ak.flatten(expected.mass)),
        rtol=1e-5,
    )
    assert read_events(path, level="parton").fields == ["weight", "particles"]
    with pytest.raises(FormatError, match="cannot be read at level 'delphes'"):
        read_events(path, level="delphes")


def test_no_stable_particles_is_one_clear_error(tmp_path, particles):
    unstable = ak.zip(
        {f: particles[f] for f in particles.fields if f != "status"}
        | {"status": ak.values_astype(particles.status * 0 + 2, np.int32)}
    )
    path = tmp_path / "unstable.hepmc"
    _write_flat_hepmc(path, unstable[:2])
    with pytest.raises(FormatError, match=r"(no final-state|no stable).*status 1"):
        read_events(path)
