"""Joint training support: flags probes beyond the support, few in-distribution rows, persists.

The synthetic table has the structure of the top-tagger training table: continuous jet
features (pT, eta, mass, tau32, constituents) and two discrete truth features
(``matched``, ``n_contained``) whose combinations form the cells, with a top-like mass and
substructure only in the matched, fully contained cell.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from surrotag.surrogates import flow
from surrotag.surrogates.card import load_card, seal_card
from surrotag.surrogates.errors import CardError, SurrogateError
from surrotag.surrogates.flow import Surrogate
from surrotag.surrogates.storage import WEIGHTS_FILENAME, load_surrogate, save_surrogate
from surrotag.surrogates.support import (
    BOX_ONLY_NOTE,
    beyond_support_probes,
    fit_support,
    knn_distance,
    probe_spreads,
)
from surrotag.surrogates.threads import solve_threads

NAMES = ["jet_pt", "jet_eta", "jet_mass", "jet_tau32", "n_constituents", "matched", "n_contained"]
PT, MASS, MATCHED, CONTAINED = 0, 2, 5, 6


def jets(n: int, seed: int) -> np.ndarray:
    """Synthetic jets [n, 7]: 45% top-matched, of which half contain the whole top decay."""
    rng = np.random.default_rng(seed)
    matched = rng.random(n) < 0.45
    contained = np.where(matched, rng.choice(4, n, p=[0.1, 0.15, 0.25, 0.5]), 0)
    pt = 250.0 + rng.gamma(2.0, 300.0, n)
    eta = rng.uniform(-2.0, 2.0, n)
    top = matched & (contained == 3)
    w = matched & (contained == 2)
    qcd_mass = 20.0 + pt * 0.08 * rng.gamma(2.0, 0.6, n)
    mass = np.where(
        top, rng.normal(172.0, 15.0, n), np.where(w, rng.normal(85.0, 12.0, n), qcd_mass)
    )
    tau32 = np.where(top, rng.normal(0.55, 0.08, n), rng.normal(0.75, 0.08, n))
    constituents = np.round(np.where(top, rng.normal(70.0, 12.0, n), rng.normal(45.0, 15.0, n)))
    return np.column_stack([pt, eta, mass, tau32, constituents, matched, contained]).astype(float)


@pytest.fixture(scope="module")
def train() -> np.ndarray:
    return jets(200_000, seed=1)


@pytest.fixture(scope="module")
def support(train):
    return fit_support(train, NAMES, seed=0)


@pytest.fixture(scope="module")
def held_out() -> torch.Tensor:
    return torch.as_tensor(jets(50_000, seed=2), dtype=torch.float32)


def test_cells_come_from_the_discrete_features(support):
    assert support.discrete == ["matched", "n_contained"]
    assert support.continuous == NAMES[:5]
    assert support.n_cells == 5  # unmatched, and matched with 0..3 contained
    calibration = support.config()["calibration"]
    assert calibration["cells_dropped"] == 0
    assert calibration["reference_rows"] == 5 * 2048
    assert 0.005 < calibration["expected_flag_rate"] < 0.02


def test_few_held_out_rows_are_flagged(support, held_out):
    result = support.evaluate(held_out)
    far = (result.score > 1) & ~result.outside_box
    assert result.flag.float().mean() <= 0.02
    assert 0.001 < far.float().mean() < 0.012  # ~0.5% by the 99.5% calibration
    assert not result.unseen_category.any()
    assert torch.equal(result.flag, result.outside_box | far)


@pytest.mark.parametrize("factor", [1.5, 2.0, 3.0])
def test_pt_beyond_the_support_is_flagged(support, held_out, factor):
    (probe,) = beyond_support_probes(
        held_out[:5000].numpy(), NAMES, "jet_pt", float(support.high[PT]), (factor,)
    ).values()
    assert support.flag(torch.as_tensor(probe, dtype=torch.float32)).float().mean() >= 0.95


def test_joint_outlier_inside_the_box_is_flagged(support, held_out):
    """Fully contained top jets with a 45 GeV mass: every feature in its box, jointly far."""
    top = held_out[(held_out[:, MATCHED] == 1) & (held_out[:, CONTAINED] == 3)][:3000].clone()
    top[:, MASS] = 45.0
    result = support.evaluate(top)
    assert result.outside_box.float().mean() < 0.05
    assert result.flag.float().mean() >= 0.95
    assert support.evaluate(held_out[:0]).flag.shape == (0,)


def test_unseen_categories_are_flagged(support, held_out):
    """Unmatched jets said to contain the whole top decay: a combination never seen."""
    unmatched = held_out[held_out[:, MATCHED] == 0][:3000].clone()
    unmatched[:, CONTAINED] = 3.0
    result = support.evaluate(unmatched)
    assert result.outside_box.float().mean() < 0.05
    assert bool(result.unseen_category.all()) and bool(result.flag.all())
    assert bool(torch.isinf(result.score).all())
    between = held_out[:100].clone()
    between[:, CONTAINED] = 1.5  # a value between the training levels
    assert bool(support.evaluate(between).unseen_category.all())


def test_rare_cells_count_as_unseen_and_the_reference_is_capped(train):
    rare = train.copy()
    rare[:10, MATCHED], rare[:10, CONTAINED] = 0.0, 2.0  # 10 rows of a new combination
    fitted = fit_support(rare, NAMES, seed=0, min_cell_rows=20, max_bytes=100_000)
    assert fitted.config()["calibration"]["cells_dropped"] == 1
    assert bool(fitted.evaluate(torch.as_tensor(rare[:10], dtype=torch.float32)).flag.all())
    assert fitted.reference.numel() * 4 <= 100_000


def test_no_discrete_feature_gives_one_cell(train):
    fitted = fit_support(train[:, :2], NAMES[:2], seed=3)
    assert fitted.discrete == [] and fitted.n_cells == 1
    inside = torch.as_tensor(jets(20_000, seed=4)[:, :2], dtype=torch.float32)
    assert fitted.flag(inside).float().mean() <= 0.02


def _surrogate(train: np.ndarray, support=None) -> Surrogate:
    model = Surrogate(NAMES, hidden=8, depth=1, cond_hidden=8, cond_depth=1, bayes="vi", draws=3)
    model.set_statistics(train, np.random.default_rng(0).normal(size=train.shape[0]))
    model.set_support(support)
    return model.eval()


def _card_fields() -> dict:
    return {
        "name": "synthetic-top",
        "version": "0.0.1",
        "description": "support test",
        "tagger": {"name": "synthetic", "score": "untrained flow"},
        "score": {"space": "identity", "clip": 0.0, "column": "score"},
        "working_points": [
            {"name": "wp", "threshold": 0.0, "efficiency": 0.5, "definition": "test"}
        ],
        "training": {
            "description": "jets(200000)",
            "sha256": None,
            "rows": {"total": 1, "used": 1},
        },
        "references": ["arXiv:2402.15558"],
    }


def test_support_round_trips_through_the_surrogate_folder(train, support, held_out, tmp_path):
    model = _surrogate(train, support)
    card = save_surrogate(model, _card_fields(), tmp_path / "s")
    assert card.support is not None and card.support["cells"] == 5
    assert card.support["expected_flag_rate"] == support.summary()["expected_flag_rate"]
    assert (tmp_path / "s" / WEIGHTS_FILENAME).stat().st_size < 2_000_000
    loaded, _ = load_surrogate(tmp_path / "s")
    assert loaded.ood_method == "joint" and loaded.ood_note is None
    probe = held_out[:4000].clone()
    probe[::2, MASS] = 45.0  # half of them joint outliers where they are top jets
    expected = model.ood_mask(probe)
    assert torch.equal(loaded.ood_mask(probe), expected)
    assert torch.equal(loaded(probe).ood, expected)
    for name, tensor in model.tensors().items():
        assert torch.equal(loaded.tensors()[name], tensor), name


def test_a_card_without_the_support_of_its_weights_is_refused(train, support, tmp_path):
    save_surrogate(_surrogate(train, support), _card_fields(), tmp_path / "s")
    path = tmp_path / "s" / "card.json"
    document = json.loads(path.read_text())
    del document["support"]
    path.write_text(json.dumps(seal_card(document)))  # digest re-recorded: the check behind it
    with pytest.raises(CardError, match="support"):
        load_surrogate(tmp_path / "s")


def test_old_surrogates_fall_back_to_the_box(train, held_out, tmp_path):
    save_surrogate(_surrogate(train), _card_fields(), tmp_path / "old")
    old, card = load_surrogate(tmp_path / "old")
    assert card.support is None and "support" not in card.model
    assert old.ood_method == "box" and old.ood_note == BOX_ONLY_NOTE
    unmatched = held_out[held_out[:, MATCHED] == 0][:500].clone()
    unmatched[:, CONTAINED] = 3.0
    result = old.out_of_support(unmatched)
    assert torch.equal(result.flag, result.outside_box)  # the box alone: the category passes
    assert not result.unseen_category.any() and bool(torch.isnan(result.score).all())
    assert load_card(tmp_path / "old").support is None


def test_the_support_must_have_the_model_features(train, support):
    model = Surrogate(NAMES[:5], hidden=8, depth=1)
    with pytest.raises(SurrogateError, match="support features"):
        model.set_support(support)


def test_probe_spreads_are_absolute(train, support, held_out):
    model = _surrogate(train, support)
    inside = held_out[:200].numpy()
    probes = beyond_support_probes(inside, NAMES, "jet_pt", float(support.high[PT]), (2.0,))
    figures = probe_spreads(model, inside, probes, [0.0, 1.0], quantiles=[0.5], draws=3)
    far = figures["points"]["jet_pt x2"]
    assert figures["draws"] == 3 and set(figures["points"]) == {"inside", "jet_pt x2"}
    assert far["flag_rate"] == 1.0 and figures["points"]["inside"]["flag_rate"] < 0.1
    assert len(far["p_spread"]) == 2 and len(far["quantile_spread"]) == 1
    assert all(v >= 0 for v in far["p_spread"] + far["quantile_spread"])
    assert not any("ratio" in key for key in far)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_flags_agree_on_the_gpu(train, support, held_out):
    model = _surrogate(train, support)
    probe = held_out[:20_000].clone()
    probe[::3, MASS] = 45.0
    expected = model.ood_mask(probe)
    model.to("cuda")
    assert model.support.reference.is_cuda
    assert torch.equal(model.ood_mask(probe.cuda()).cpu(), expected)
    assert torch.equal(model(probe.cuda()).ood.cpu(), expected)


def test_a_cell_wholly_outside_the_box_gets_a_finite_threshold(train, tmp_path):
    """A discrete cell whose rows all hold extreme values (outside the per-feature box):
    before, its threshold was infinite and the saved surrogate could not be loaded."""
    odd = train.copy()
    odd[:40, MATCHED], odd[:40, CONTAINED] = 0.0, 2.0  # a new cell of 40 rows ...
    odd[:40, PT] = train[:, PT].max() * 2.0  # ... all beyond the box in pT
    fitted = fit_support(odd, NAMES, seed=0, min_cell_rows=20)
    assert bool(torch.isfinite(fitted.threshold).all())
    assert bool(fitted.evaluate(torch.as_tensor(odd[:40], dtype=torch.float32)).flag.all())
    folder = tmp_path / "odd"
    save_surrogate(_surrogate(odd, fitted), _card_fields(), folder)
    load_surrogate(folder)


def test_non_finite_weights_are_never_written(train, support, tmp_path):
    model = _surrogate(train, support)
    with torch.no_grad():
        next(iter(model.parameters())).view(-1)[0] = float("nan")
    with pytest.raises(SurrogateError, match=r"nothing written: .* non-finite"):
        save_surrogate(model, _card_fields(), tmp_path / "broken")
    assert not (tmp_path / "broken").exists()


def test_knn_distance_is_the_brute_force_mean_of_the_k_nearest() -> None:
    """The matmul ranking with square roots of the k nearest only equals the plain definition."""
    g = torch.Generator().manual_seed(3)
    x, reference = torch.randn(700, 5, generator=g), torch.randn(300, 5, generator=g)
    distances = torch.sqrt(((x[:, None, :] - reference[None, :, :]) ** 2).sum(-1))
    expected = distances.sort(dim=1).values[:, :4].mean(1)
    torch.testing.assert_close(knn_distance(x, reference, 4), expected, rtol=1e-5, atol=1e-6)
    assert knn_distance(x, reference[:2], 4).shape == (700,)  # k capped at the reference rows


def test_verdicts_do_not_depend_on_the_workers(train, support, held_out) -> None:
    """Blocks of OOD_CHUNK_OBJECTS objects on 1 or 2 workers: the verdicts of one evaluation."""
    model = _surrogate(train, support)
    probe = torch.cat([held_out, held_out[:5000] * 1.7])
    assert probe.shape[0] > 2 * flow.OOD_CHUNK_OBJECTS
    whole = support.evaluate(probe)
    for workers in (1, 2):
        with solve_threads(workers):
            result = model.out_of_support(probe)
        assert torch.equal(result.unseen_category, whole.unseen_category)
        torch.testing.assert_close(result.score, whole.score, rtol=0, atol=0)
        assert int(result.flag.sum()) > 5000 * 0.9
