"""A Delphes file without FatJet but with particle-flow objects: fat jets are reclustered."""

from __future__ import annotations

import logging

import awkward as ak
import numpy as np
import pytest
from delphes_copy import copy_branches

from surrotag.io import read_events

pytest.importorskip("fastjet", reason="reclustering needs the 'reference' extra (fastjet)")

LEAVES = {
    "EFlowTrack": ("PT", "Eta", "Phi", "Charge"),
    "EFlowPhoton": ("ET", "Eta", "Phi"),
    "EFlowNeutralHadron": ("ET", "Eta", "Phi"),
}


@pytest.fixture(scope="module")
def eflow_only_file(delphes_file, tmp_path_factory):
    """The real Delphes file's EFlow objects, written to a tree without FatJet."""
    path = tmp_path_factory.mktemp("eflow") / "eflow_only.root"
    return copy_branches(delphes_file, LEAVES, path)


def test_fatjets_are_reclustered_from_eflow(eflow_only_file, delphes_file, caplog):
    with caplog.at_level(logging.WARNING):
        ours = read_events(eflow_only_file, collections=["fatjets"]).fatjets
    assert "reclustering anti-kT R=0.8 fat jets" in caplog.text
    theirs = read_events(delphes_file, collections=["fatjets"]).fatjets
    # Delphes' own FatJet branch holds jets above 200 GeV: the same multiplicities
    assert ak.num(ours, axis=1).tolist() == ak.num(theirs, axis=1).tolist()
    ratio = ak.to_numpy(ak.flatten(ours.pt)) / ak.to_numpy(ak.flatten(theirs.pt))
    np.testing.assert_allclose(ratio, 1.0, atol=0.01)
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(ours.nsubjettiness)),
        ak.to_numpy(ak.flatten(theirs.nsubjettiness)),
        rtol=1e-3,
    )
    assert ak.all(ours.sd_mass <= ours.mass * (1 + 1e-5))
