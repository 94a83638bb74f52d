"""Objects out of the surrogate's support: conservative yields, never a stronger limit, strict.

The recast tests add events to the shipped example signal of ``zprime-ttbar-allhad`` whose
two fat jets are out of the support of ``top-tagger-delphes``: constituent counts 2-3x
beyond the training support (kinematics untouched, so the events stay in the mjj bins; the
surrogate extrapolates a confident tag probability of about 0.96 there), and pT 2-3x beyond
it (the surrogate extrapolates P ~ 0, and mjj leaves the bins).
"""

from __future__ import annotations

import itertools
from importlib.resources import as_file
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from recast_fixtures import find_surrogate, workspace_or_skip

from surrotag.analysis import get_analysis
from surrotag.cli import main
from surrotag.errors import InputValueError, OutOfSupportError
from surrotag.io import read_events, write_parquet
from surrotag.recast import EXAMPLE_SIGNAL, recast, validate_report
from surrotag.stats import build_patch
from surrotag.tagging import REQUIREMENTS, event_probabilities
from surrotag.yields import Yields, ood_region_yields

ANALYSIS = "zprime-ttbar-allhad"
EDGES = [0.0, 1.0, 2.0]


@pytest.mark.parametrize("requirement", REQUIREMENTS)
def test_ood_yields_span_every_probability_the_flagged_objects_allow(requirement):
    """down/up are the least and most region probability over flagged p on a 0..1 grid
    (the grid holds every corner, so both are reached exactly: "exactly one" of two
    flagged objects reaches 1 at the mixed corner)."""
    rng = np.random.default_rng(0)
    n, k = 400, 3
    p1, p2 = rng.random((k, n)), rng.random((k, n))
    f1, f2 = rng.random(n) < 0.3, rng.random(n) < 0.3
    w, x = rng.random(n), rng.random(n) * 2.0
    got = ood_region_yields(w, p1, p2, f1, f2, requirement, x, EDGES)
    rows = f1 | f2
    grid = np.linspace(0.0, 1.0, 11)
    scans = np.stack(
        [
            event_probabilities(np.where(f1, a, p1), np.where(f2, b, p2)).of(requirement)
            for a, b in itertools.product(grid, grid)
        ]
    )  # [G, K, N]: every flagged probability pair of the grid (both objects vary freely)
    bins = np.digitize(x, EDGES) - 1

    def binned(prob: np.ndarray) -> np.ndarray:  # [K, N] -> [B], mean over draws
        return np.array([(prob * w * rows * (bins == b)).sum(1).mean() for b in range(2)])

    nominal = event_probabilities(p1, p2).of(requirement)
    np.testing.assert_allclose(got.nominal, binned(nominal), rtol=1e-12)
    np.testing.assert_allclose(got.down, binned(scans.min(0)), rtol=1e-12, atol=1e-12)
    assert np.all(got.down <= got.nominal + 1e-12) and np.all(got.nominal <= got.up + 1e-12)
    np.testing.assert_allclose(got.up, binned(scans.max(0)), rtol=1e-12, atol=1e-12)
    empty = ood_region_yields(
        w, p1, p2, np.zeros(n, bool), np.zeros(n, bool), requirement, x, EDGES
    )
    assert not empty.nominal.any() and not empty.down.any() and not empty.up.any()


def _yields(with_ood: bool) -> dict[str, Yields]:
    """SR and CR yields of the analysis's 12 mjj bins, the SR with events of flagged jets."""
    from surrotag.yields import OodYields

    nominal = np.linspace(10.0, 1.0, 12)
    per_draw = nominal * np.array([[0.9], [1.0], [1.1]])
    ood = OodYields(nominal * 0.3, np.zeros(12), nominal * 0.35) if with_ood else None
    cov = np.cov(per_draw, rowvar=False)
    sr = Yields(np.arange(13.0), nominal, per_draw, nominal * 0.05, cov, ood)
    cr = Yields(np.arange(13.0), nominal, per_draw, nominal * 0.05, cov)
    return {"SR_mjj": sr, "CR_mjj": cr}


def test_patch_puts_flagged_objects_at_the_least_signal_with_a_histosys_to_the_most():
    workspace_or_skip()
    workspace = get_analysis(ANALYSIS).workspace()
    plain = build_patch(workspace, _yields(False), analysis="a", surrogate="s")
    assert plain.ood_modifier is None
    off = build_patch(workspace, _yields(True), analysis="a", surrogate="s", ood=False)
    assert off.ops == plain.ops
    patch = build_patch(workspace, _yields(True), analysis="a", surrogate="s")
    assert patch.ood_modifier == "a_s_ood"
    sr, cr = (op["value"] for op in patch.ops)
    y = _yields(True)["SR_mjj"]
    np.testing.assert_allclose(sr["data"], y.nominal * 0.7)
    (ood,) = [m for m in sr["modifiers"] if m["name"] == "a_s_ood"]
    assert ood["type"] == "histosys"
    np.testing.assert_allclose(ood["data"]["lo_data"], y.nominal * 0.7)
    np.testing.assert_allclose(ood["data"]["hi_data"], y.nominal * 1.05)
    (mcstat,) = [m for m in sr["modifiers"] if m["type"] == "shapesys"]
    np.testing.assert_allclose(mcstat["data"], y.nominal * 0.05 * 0.7)
    assert "a_s_ood" not in {m["name"] for m in cr["modifiers"]}
    assert cr == plain.ops[1]["value"]


@pytest.fixture(scope="module")
def example_events() -> ak.Array:
    analysis = get_analysis(ANALYSIS)
    with as_file(analysis.resource(EXAMPLE_SIGNAL)) as path:
        return read_events(path)


def _beyond(events: ak.Array, what: str, seed: int = 0) -> ak.Array:
    """The events with every fat jet moved 2-3x beyond the training support in ``what``."""
    from surrotag.surrogates.storage import load_surrogate

    model, card = load_surrogate(find_surrogate("top-tagger-delphes"))
    edge = dict(zip(card.feature_names, model.feature_high.tolist(), strict=True))
    jets = events.fatjets
    factor = ak.ones_like(jets.pt) * np.random.default_rng(seed).uniform(2.0, 3.0, len(events))
    if what == "constituents":
        total = factor * edge["jet_n_constituents"]
        jets = ak.with_field(jets, ak.values_astype(total - jets.n_neutral, np.int64), "n_charged")
    else:
        jets = ak.with_field(jets, factor * edge["jet_pt"], "pt")
    return ak.with_field(events, jets, "fatjets")


@pytest.mark.parametrize("what", ["constituents", "pt"])
def test_adding_out_of_support_objects_never_strengthens_the_limit(example_events, what):
    """The example signal alone and with 150 copies of its events, their jets out of support.

    The cross-section grows with the summed weights so that every original event keeps
    its expected number of events.
    """
    workspace_or_skip()
    base = example_events
    added = ak.concatenate([base, _beyond(base[:150], what)])
    xsec = 0.02
    scale = float(ak.sum(added.weight) / ak.sum(base.weight))
    without = recast(ANALYSIS, base, xsec_pb=xsec, draws=8)
    with_ood = recast(ANALYSIS, added, xsec_pb=xsec * scale, draws=8)
    validate_report(with_ood.to_dict())
    assert with_ood.n_ood > without.n_ood and with_ood.ood_method == "joint"
    sr = with_ood.region("SR")
    if what == "constituents":  # flagged jets enter as a separate nuisance, P in [0, 1] ...
        assert with_ood.patch.ood_modifier == "zprime_ttbar_allhad_top_tagger_delphes_ood"
        document = with_ood.to_dict()
        assert document["ood"]["share"]["SR"] == pytest.approx(sr.yields.ood_share)
        up, down = (np.array(document["regions"][0][key]) for key in ("ood_up", "ood_down"))
        assert np.all(up >= down) and np.any(up > down)
    limit, reference = with_ood.limit, without.limit  # ... which never strengthens the limit
    assert limit.observed >= reference.observed * (1 - 2e-3)
    assert np.all(np.array(limit.expected) >= np.array(reference.expected) * (1 - 2e-3))


def test_unknown_ood_policy_is_refused(example_events):
    with pytest.raises(InputValueError, match="--ood 'lenient' unknown"):
        recast(ANALYSIS, example_events[:10], xsec_pb=1.0, ood="lenient")


def test_strict_refuses_out_of_support_objects(example_events, tmp_path: Path, capsys):
    workspace_or_skip()
    events = _beyond(example_events[:40], "constituents")
    with pytest.raises(OutOfSupportError, match="lie outside the training support"):
        recast(ANALYSIS, events, xsec_pb=1.0, draws=2, ood="strict")
    path = write_parquet(events, tmp_path / "ood.parquet", {"level": "delphes"})
    out = tmp_path / "report.json"
    args = ["run", ANALYSIS, str(path), "--xsec-pb", "1", "--ood", "strict", "-o", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("surrotag: error: "), err
    assert "top-tagger-delphes" in err and "--ood strict refuses them" in err
    assert not out.exists()
