"""Pythia 8 events written as HepMC3 read back at particle and parton level."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from surrotag.features import build_features
from surrotag.io import cross_section, read_events, sniff_format

pytest.importorskip("pythia8mc")
pytest.importorskip("pyhepmc")

from surrotag.reference.hepmc_out import write_hepmc


@pytest.fixture(scope="module")
def ttbar_hepmc(tmp_path_factory):
    """60 all-hadronic ttbar events, seed 5, gzip-compressed."""
    return write_hepmc("ttbar-allhad", 60, 5, tmp_path_factory.mktemp("hepmc") / "tt.hepmc.gz")


def test_file_is_gzipped_hepmc_with_cross_section(ttbar_hepmc):
    assert ttbar_hepmc.read_bytes()[:2] == b"\x1f\x8b"
    assert sniff_format(ttbar_hepmc) == "hepmc"
    sigma, error = cross_section(ttbar_hepmc)
    assert sigma > 0 and 0 < error < sigma


def test_particle_level_jets_and_top_truth(ttbar_hepmc):
    events = read_events(ttbar_hepmc)
    assert len(events) == 60 and events.fields == ["weight", "fatjets", "particles"]
    assert ak.sum(ak.num(events.fatjets)) > 30
    table = build_features(
        events, level="particle", features=["jet_mass", "truth_top_matched", "truth_top_hadronic"]
    )
    matched = np.asarray(table.truth_top_matched)
    assert matched.mean() > 0.6  # the decay chains survive the conversion
    assert np.all(np.asarray(table.truth_top_hadronic)[matched] == 1)  # all-hadronic preset
    top_jets = np.asarray(table.jet_mass)[matched]
    assert 140 < np.median(top_jets) < 200


def test_parton_level_finds_both_hadronic_tops(ttbar_hepmc):
    tops = build_features(
        read_events(ttbar_hepmc, level="parton"), level="parton", features=["top_hadronic"]
    )
    assert len(tops) == 120
    assert np.all(np.asarray(tops.top_hadronic) == 1)
