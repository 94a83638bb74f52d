"""The detector's jet response at particle level (surrotag.jets.response).

A particle-level recast applies the analysis's measured fat-jet response (scale and
resolution per pT bin) to the particle-level jets before the selection, and feeds the
surrogate the particle-level jets themselves. Checked on a small Pythia 8 Z' -> t tbar
sample of the reference experiment read at particle level, not on toys.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from types import MappingProxyType

import awkward as ak
import numpy as np
import pytest

from surrotag.analysis import Analysis, get_analysis
from surrotag.analysis_card import seal_analysis_card
from surrotag.errors import FormatError, IntegrityError
from surrotag.jets.response import JetResponse, measure_response
from surrotag.recast.pipeline import response_generator

pytest.importorskip("fastjet")

ANALYSIS = "zprime-ttbar-allhad"


@pytest.fixture(scope="module")
def analysis():
    return get_analysis(ANALYSIS)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """300 Z' (1 TeV) -> t tbar events: jets near the selection's pT thresholds."""
    pytest.importorskip("pythia8mc")
    from surrotag.reference.generate import generate

    out = tmp_path_factory.mktemp("response") / "zprime.parquet"
    return generate("zprime-ttbar", 300, seed=77, jobs=1, mass=1000.0, out=out)


@pytest.fixture(scope="module")
def example(sample):
    from surrotag.io import read_events

    return read_events(str(sample), level="particle")


def test_shipped_response_is_sealed_and_physical(analysis):
    response = analysis.particle_response()
    assert response is not None and response.collection == "fatjets"
    assert all(0.98 < s < 1.02 for s in response.scale)  # a calibrated jet energy scale
    assert all(0.02 < r < 0.08 for r in response.resolution)  # a few per cent at 200-2000 GeV
    assert response.resolution[0] > response.resolution[-1]  # improves with pT
    assert min(response.source["matched_jets_per_bin"]) > 1000


def test_edited_response_is_refused(tmp_path, analysis):
    folder = tmp_path / "ana"
    shutil.copytree(analysis.root, folder, ignore=shutil.ignore_patterns("__pycache__"))
    path = folder / "particle_response.json"
    document = json.loads(path.read_text())
    document["resolution"][3] = 0.2
    path.write_text(json.dumps(document))
    with pytest.raises(IntegrityError):
        get_analysis(folder).particle_response()


def test_apply_scales_pt_and_mass_only(example):
    response = JetResponse("fatjets", (0.0, 500.0), (1.1, 0.9), (0.0, 0.0))
    smeared = response.apply(example, np.random.default_rng(1))
    jets, before = smeared.fatjets, example.fatjets
    factor = np.where(ak.to_numpy(ak.flatten(before.pt)) < 500.0, 1.1, 0.9)
    for field in ("pt", "mass"):
        np.testing.assert_allclose(
            ak.to_numpy(ak.flatten(jets[field])), ak.to_numpy(ak.flatten(before[field])) * factor
        )
    for field in ("eta", "phi"):
        assert ak.all(jets[field] == before[field])
    assert ak.all(smeared.particles.pt == example.particles.pt)


def test_factors_do_not_depend_on_the_chunking(example):
    response = JetResponse("fatjets", (200.0, 600.0), (1.0, 1.01), (0.06, 0.04))
    whole = response.apply(example, response_generator(5)).fatjets.pt
    generator = response_generator(5)
    parts = [response.apply(example[a:b], generator).fatjets.pt for a, b in ((0, 700), (700, None))]
    assert ak.all(ak.flatten(ak.concatenate(parts)) == ak.flatten(whole))


def test_measure_recovers_a_known_response():
    rng = np.random.default_rng(11)
    pt = rng.uniform(200.0, 2500.0, 1_000_000)
    truth_scale = 1.0 + 0.02 * (pt > 800.0)
    truth_width = np.where(pt < 500.0, 0.07, 0.04)
    detector = pt * (truth_scale + truth_width * rng.standard_normal(pt.size))
    weight = rng.exponential(1.0, pt.size)
    response = measure_response(pt, detector, weight)
    expected_scale = [1.0, 1.0, 1.0, 1.0, 1.0, 1.02, 1.02, 1.02]
    # half the 16-84% interval of a Gaussian is Phi^-1(0.84) = 0.9945 of its sigma
    expected_width = 0.9945 * np.array([0.07, 0.07, 0.07, 0.04, 0.04, 0.04, 0.04, 0.04])
    # statistical errors: ~5e-4 (scale) and ~7e-4 (width) per bin of 4e4 weighted pairs
    np.testing.assert_allclose(response.scale, expected_scale, atol=1.5e-3)
    np.testing.assert_allclose(response.resolution, expected_width, atol=2e-3)


def test_malformed_documents_are_refused():
    good = JetResponse("fatjets", (0.0,), (1.0,), (0.05,)).to_dict()
    for key, value in (("scale", [-1.0]), ("resolution", [float("nan")]), ("pt_edges_gev", [])):
        with pytest.raises(FormatError):
            JetResponse.from_dict({**good, key: value})
    with pytest.raises(FormatError):
        JetResponse.from_dict({**good, "format": "other"})


def _stream(analysis, sample, step_size=50_000):
    """resolve + accumulate of a particle-level recast (no fits): the run and its sums."""
    import contextlib

    from surrotag.recast.pipeline import StageTimer, accumulate, resolve

    with contextlib.ExitStack() as stack:
        run = resolve(
            analysis, [str(sample)], stack, xsec_pb=None, level="particle",
            tagger="efficiency-map", surrogate=None, draws=None, stochastic=False, seed=7,
            device="cpu", threads=None,
        )  # fmt: skip
        acc, _ = accumulate(run, step_size=step_size, ood="nuisance", timer=StageTimer())
    return run, acc


def test_particle_level_recast_selects_the_responded_jets(analysis, example, sample):
    """The recast's cutflow is the selection of the sample's particle-level jets with the
    shipped response drawn from the recast seed's own stream, whatever the chunk size."""
    from surrotag.selection import select

    response = analysis.particle_response()
    expected = select(response.apply(example, response_generator(7)), analysis.card).cutflow
    without = select(example, analysis.card).cutflow
    assert dict(expected) != dict(without)  # the response moves events across the cuts
    for step_size in (50_000, 70):
        run, acc = _stream(analysis, sample, step_size)
        assert run.response == response
        assert acc.cutflow == dict(expected)


def test_chunk_recast_applies_the_response_in_reading_order(analysis, sample, example):
    """ChunkRecast (the coffea processor's step) at particle level: chunks fed in reading
    order give the recast's own yields, response included (without it they differ)."""
    from surrotag.recast import ChunkRecast

    _, whole = _stream(analysis, sample)
    objects = {**analysis.card.objects}
    objects["fatjets"] = dataclasses.replace(objects["fatjets"], particle_response=None)
    bare = Analysis(dataclasses.replace(analysis.card, objects=MappingProxyType(objects)),
                    analysis.root, "test")  # fmt: skip
    totals = {}
    for name, target in (("response", analysis), ("none", bare)):
        step = ChunkRecast(target, level="particle", tagger="efficiency-map", seed=7)
        parts = [step(example[a:b]) for a, b in ((0, 120), (120, None))]
        totals[name] = {r: (parts[0][r] + parts[1][r]).nominal for r in parts[0]}
    for region in analysis.card.regions:
        expected = whole.yields(region, 1).nominal
        np.testing.assert_array_equal(totals["response"][region.name], expected)
    assert any(
        not np.array_equal(totals["none"][r.name], totals["response"][r.name])
        for r in analysis.card.regions
    )


def test_report_records_the_response(analysis, sample):
    from surrotag.recast.pipeline import _response_record

    run, _ = _stream(analysis, sample)
    record = _response_record(run)
    assert record == {
        "collection": "fatjets",
        "file": "particle_response.json",
        "sha256": analysis.card.files["particle_response.json"],
        "seed": 7,
        "stream": record["stream"],
    }


def test_analysis_without_response_warns(analysis, sample):
    """An analysis that ships no response runs at particle level with one warning line."""
    objects = {**analysis.card.objects}
    objects["fatjets"] = dataclasses.replace(objects["fatjets"], particle_response=None)
    card = dataclasses.replace(analysis.card, objects=MappingProxyType(objects))
    run, acc = _stream(Analysis(card, analysis.root, "test"), sample)
    assert run.response is None
    assert any("no particle-level jet response" in line for line in run.warnings)
    assert acc.cutflow == dict(select_plain(card, sample))


def select_plain(card, sample):
    from surrotag.io import read_events
    from surrotag.selection import select

    return select(read_events(str(sample), level="particle"), card).cutflow


def test_seal_covers_the_response(tmp_path, analysis):
    folder = tmp_path / "ana"
    shutil.copytree(analysis.root, folder, ignore=shutil.ignore_patterns("__pycache__"))
    card = json.loads((folder / "card.json").read_text())
    card["files"].pop("particle_response.json")
    (folder / "card.json").write_text(json.dumps(card))
    seal_analysis_card(folder)
    assert "particle_response.json" in json.loads((folder / "card.json").read_text())["files"]
