"""Hard-prong truth of fat jets (surrotag.features.prongs) on real Pythia and Delphes events."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from surrotag.features import build_features
from surrotag.io import read_events
from surrotag.io.parquet import read_parquet
from surrotag.reference.anomaly import LABELS, jet_resonance_labels
from surrotag.reference.generate import generate

PRONGS = ["truth_n_prongs", "truth_prong_mass"]


def _labelled(path: Path) -> tuple[ak.Array, np.ndarray]:
    events = read_parquet(path, ["weight", "fatjets", "particles"])
    table = build_features(events, level="delphes", features=["jet_pt", *PRONGS])
    labels = ak.to_numpy(ak.flatten(jet_resonance_labels(events)))
    return table, labels


def test_w_and_z_jets_are_two_prong_jets_of_the_boson_mass(wprime_file: Path):
    """A jet holding both quarks of a W (Z) has 2 prongs of mass m_W (m_Z) within its width."""
    table, labels = _labelled(wprime_file)
    n, mass = ak.to_numpy(table.truth_n_prongs), ak.to_numpy(table.truth_prong_mass)
    for label, boson_mass in (("W", 80.4), ("Z", 91.19)):
        rows = labels == LABELS[label]
        assert rows.sum() >= 20
        assert np.all(n[rows] >= 2)
        two = rows & (n == 2)
        assert np.median(np.abs(mass[two] - boson_mass)) < 3.0
    assert np.all(mass[n == 0] == 0.0)


def test_contained_tops_are_three_prongs_and_qcd_jets_none(ttbar_file: Path, qcd_file: Path):
    table, labels = _labelled(ttbar_file)
    n, mass = ak.to_numpy(table.truth_n_prongs), ak.to_numpy(table.truth_prong_mass)
    tops = labels == LABELS["top"]
    assert tops.sum() >= 20
    assert np.all(n[tops] >= 3)
    assert np.median(np.abs(mass[tops & (n == 3)] - 172.5)) < 5.0
    qcd, _ = _labelled(qcd_file)
    assert np.all(ak.to_numpy(qcd.truth_n_prongs) == 0)
    assert np.all(ak.to_numpy(qcd.truth_prong_mass) == 0.0)


def test_scalar_jet_preset_makes_two_prong_jets_of_the_chosen_mass(tmp_path: Path):
    path = generate("scalar-jet", 120, seed=31, jobs=1, mass=130.0, out=tmp_path / "s.parquet")
    events = read_parquet(path, ["weight", "fatjets", "particles"])
    table = build_features(events, level="delphes", features=["jet_pt", *PRONGS])
    two = ak.to_numpy(table.truth_n_prongs) == 2
    assert two.sum() >= 30
    np.testing.assert_allclose(ak.to_numpy(table.truth_prong_mass)[two], 130.0, rtol=0.011)


def test_prongs_of_a_real_delphes_file_include_every_contained_top_quark(delphes_file: Path):
    """On real Delphes ttH output: a top's b, q, q' are prongs, so a jet holds at least as many
    prongs as contained top quarks; leptons are never prongs, so a jet near only a leptonic
    top holds at most its b (and quarks of the Higgs decay)."""
    table = build_features(
        read_events(delphes_file),
        features=[*PRONGS, "truth_top_n_contained", "flag_leptonic_top"],
    )
    n = ak.to_numpy(table.truth_n_prongs)
    top = np.nan_to_num(ak.to_numpy(table.truth_top_n_contained))
    assert len(n) >= 5
    assert np.all(n >= top)
    assert np.any(n > 0)
    mass = ak.to_numpy(table.truth_prong_mass)
    assert np.all((mass > 0) == (n > 0))


def test_prong_features_are_refused_without_a_truth_record(delphes_file: Path):
    from surrotag.errors import FeatureError

    events = read_events(delphes_file)
    with pytest.raises(FeatureError, match="particles"):
        build_features(events[["fatjets"]], features=["truth_n_prongs"])
