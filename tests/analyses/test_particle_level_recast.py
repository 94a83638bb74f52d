"""From HepMC to CLs with no detector simulation: the particle-level recast end to end.

A user with only MadGraph + Pythia output holds a HepMC file. Here Pythia 8 writes one for a
2 TeV Z' -> t tbar (``surrotag reference hepmc``) and ``surrotag run`` takes it to CLs with
the particle-level surrogate, in one command.
"""

from __future__ import annotations

import json

import pytest

from surrotag.cli import main

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")


def _particle_surrogate_shipped() -> bool:
    from surrotag.analysis import get_analysis

    return "particle" in get_analysis("zprime-ttbar-allhad").card.surrogate.names


@pytest.mark.slow
@pytest.mark.skipif(
    not _particle_surrogate_shipped(),
    reason="top-tagger-particle is not shipped yet: the analysis accepts no particle level",
)
def test_hepmc_to_cls_in_one_command(tmp_path):
    events = tmp_path / "zprime_2tev.hepmc.gz"
    args = ["reference", "hepmc", "zprime-ttbar", "--events", "400", "--seed", "17"]
    assert main([*args, "--mass", "2000", "-o", str(events)]) == 0
    report = tmp_path / "report.json"
    assert main(["run", "zprime-ttbar-allhad", str(events), "-o", str(report)]) == 0
    document = json.loads(report.read_text())
    assert document["level"] == "particle"
    assert document["tagger"]["name"] == "top-tagger-particle"
    assert document["cross_section"]["source"] == "hepmc"
    assert 0.0 <= document["statistics"]["cls_observed"] <= 1.0
    signal = {region["name"]: region["total"] for region in document["regions"]}
    assert signal["SR"] > 0
