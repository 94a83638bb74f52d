"""A coffea processor runs the recast chunk by chunk on the real Delphes file.

coffea reads the file with its ``BaseSchema`` (its ``DelphesSchema`` cannot read Delphes
3.4.2 files); :func:`surrotag.io.delphes.delphes_events` turns each chunk into canonical
events and :class:`surrotag.recast.ChunkRecast` runs the recast's own selection, tagging and
region yields on it. :class:`RecastProcessor` is the README's example, verbatim.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from recast_fixtures import workspace_or_skip

pytest.importorskip("coffea", reason="the coffea example needs the 'coffea' extra")

import awkward as ak
from coffea import processor
from coffea.nanoevents import BaseSchema, NanoEventsFactory

from surrotag.analysis import Analysis, get_analysis
from surrotag.io.delphes import delphes_events
from surrotag.recast import ChunkRecast, recast
from surrotag.yields import Yields

README = Path(__file__).resolve().parents[2] / "README.md"
XSEC_PB = 0.5071  # any cross-section: the same for the processor and the recast


class RecastProcessor(processor.ProcessorABC):
    """Per chunk of Delphes events: the recast's selection, surrogate tags and yields."""

    def __init__(self, analysis="zprime-ttbar-allhad", xsec_pb=1.0, **options):
        self.recast = ChunkRecast(analysis, level="delphes", **options)  # loads the surrogate
        self.xsec_pb = xsec_pb

    def process(self, events):
        chunk = delphes_events(events, self.recast.collections, source=events.metadata["filename"])
        return {
            "n_events": len(chunk),
            "sum_weights": float(ak.sum(chunk.weight)),
            "yields": self.recast(chunk),  # {region: Yields} in generator weights; chunks add
        }

    def postprocess(self, accumulator):
        out = dict(accumulator)
        out["yields"] = self.recast.normalise(out["yields"], out["sum_weights"], self.xsec_pb)
        out["hists"] = {region: y.to_hist() for region, y in out["yields"].items()}
        return out


def loosened() -> Analysis:
    """The shipped analysis with cuts that two of the ttH file's events pass.

    Both fat jets above 200 GeV (not 500 / 400) and mjj binned from 700 GeV in 12 bins of
    80 GeV (the workspace's 12): events 4 and 5, mjj 757 and 795 GeV, fall in bins 0 and 1,
    one in each chunk of 5 events. With the shipped cuts no event passes and every yield
    is 0, which no comparison could tell from a wrong one.
    """
    analysis = get_analysis("zprime-ttbar-allhad")
    card = analysis.card
    edges = tuple(700.0 + 80.0 * k for k in range(13))
    card = replace(
        card,
        selection=replace(
            card.selection,
            cuts=tuple(
                replace(cut, above=200.0) if cut.name in ("leading_pt", "subleading_pt") else cut
                for cut in card.selection.cuts
            ),
        ),
        regions=tuple(
            replace(region, observable=replace(region.observable, bin_edges=edges))
            for region in card.regions
        ),
    )
    return Analysis(card, analysis.root, analysis.origin)


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    workspace_or_skip()
    return loosened()


@pytest.fixture(scope="module")
def recast_processor(analysis: Analysis) -> RecastProcessor:
    return RecastProcessor(analysis, xsec_pb=XSEC_PB, threads=1)  # one kernel path


@pytest.fixture(scope="module")
def coffea_output(delphes_file: Path, recast_processor: RecastProcessor) -> tuple[dict, dict]:
    """coffea's local iterative executor, 2 chunks of 5 events: (output, metrics)."""
    run = processor.Runner(
        processor.IterativeExecutor(status=False), schema=BaseSchema, chunksize=5, savemetrics=True
    )
    return run({"ttH": [str(delphes_file)]}, recast_processor, treename="Delphes")


def _chunk(path: Path, start: int, stop: int):
    """Entries [start, stop) of the Delphes tree as coffea's BaseSchema NanoEvents."""
    return NanoEventsFactory.from_root(
        {str(path): "Delphes"},
        schemaclass=BaseSchema,
        mode="virtual",
        entry_start=start,
        entry_stop=stop,
        metadata={"filename": str(path)},
    ).events()


def _assert_same(got: Yields, want: Yields) -> None:
    for name in ("bin_edges", "nominal", "per_draw", "mc_stat_error", "covariance"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-9, atol=0)
    for name in ("nominal", "down", "up"):
        np.testing.assert_allclose(getattr(got.ood, name), getattr(want.ood, name), rtol=1e-9)


def test_processor_yields_equal_the_recast_of_the_same_file(
    analysis: Analysis, delphes_file: Path, coffea_output: tuple[dict, dict]
):
    """coffea's 2 chunks of 5 events against the recast reading the same 2 chunks."""
    out, metrics = coffea_output
    report = recast(analysis, [delphes_file], xsec_pb=XSEC_PB, step_size=5, threads=1)
    assert metrics["chunks"] == 2
    assert out["n_events"] == report.n_events == 10
    assert out["sum_weights"] == pytest.approx(report.sum_weights, rel=1e-12)
    assert report.cutflow["abs_delta_y"] == 2  # events 4 and 5
    for region in report.regions:
        assert region.total > 0
        _assert_same(out["yields"][region.name], region.yields)
        h = out["hists"][region.name]
        assert h.axes.name == ("mjj", "draw")
        np.testing.assert_allclose(Yields.from_hist(h).per_draw, region.yields.per_draw, rtol=1e-9)


def test_two_chunks_add_to_the_whole(
    delphes_file: Path, recast_processor: RecastProcessor, coffea_output: tuple[dict, dict]
):
    """Each chunk holds one selected event; coffea's output is the sum of both chunks."""
    out, _ = coffea_output
    first, second, whole = (
        recast_processor.process(_chunk(delphes_file, start, stop))
        for start, stop in ((0, 5), (5, 10), (0, 10))
    )
    assert first["n_events"] + second["n_events"] == whole["n_events"] == 10
    summed = {name: first["yields"][name] + second["yields"][name] for name in first["yields"]}
    weights = first["sum_weights"] + second["sum_weights"]
    for name, total in recast_processor.recast.normalise(summed, weights, XSEC_PB).items():
        _assert_same(out["yields"][name], total)
    # the CR (exactly one tag) has both events; in the SR event 4's yield is 0 as computed
    a, b = first["yields"]["CR"].per_draw, second["yields"]["CR"].per_draw
    assert a.sum() > 0 and b.sum() > 0
    assert not np.allclose(a, a + b, atol=0)  # one chunk alone is not the whole
    # the whole file in one chunk: the surrogate's float32 solve of a jet depends on which
    # other jets share its batch, here about 1e-6 relative
    np.testing.assert_allclose(whole["yields"]["CR"].per_draw, a + b, rtol=1e-3, atol=0)


def test_readme_shows_this_processor():
    assert inspect.getsource(RecastProcessor) in README.read_text("utf-8")
