"""Shipped-surrogate recipe: working points, efficiency map, training rows, card."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from surrotag.errors import FormatError, InputValueError
from surrotag.io.parquet import sha256_file
from surrotag.reference.ship import (
    EFFICIENCY_PT_EDGES,
    SHIPPED,
    efficiency_map,
    read_table,
    ship_surrogate,
    training_rows,
    weighted_threshold,
    working_points,
)
from surrotag.surrogates.storage import load_surrogate
from surrotag.surrogates.train import TrainConfig
from surrotag.tagging import tag_objects

COLUMNS = sorted(
    {c for spec in SHIPPED.values() for c in spec.columns}
    | {"split", "label", "jet_pt", "tagger_logit", "truth_top_matched", "event_weight"}
)


@pytest.fixture(scope="module")
def columns(table) -> dict[str, np.ndarray]:
    return read_table(table[0], COLUMNS)


def _defining_jets(columns: dict[str, np.ndarray]) -> np.ndarray:
    return (
        (columns["split"] == "train")
        & (columns["label"] == 1)
        & (columns["jet_pt"] > 500)
        & (columns["jet_pt"] < 1000)
    )


def _best_weighted_cut(logit: np.ndarray, weight: np.ndarray, nominal: float) -> float:
    """Brute force: the smallest |weighted eps - nominal| over every distinct cut."""
    values = np.unique(logit)
    cuts = np.concatenate([[values[0] - 1.0], 0.5 * (values[1:] + values[:-1]), [values[-1]]])
    eps = [(weight * (logit > cut)).sum() / weight.sum() for cut in cuts]
    return float(np.min(np.abs(np.array(eps) - nominal)))


def test_working_points_are_event_weighted(columns) -> None:
    points = working_points(columns, min_jets=5)
    defining = _defining_jets(columns)
    logit, weight = columns["tagger_logit"][defining], columns["event_weight"][defining]
    assert np.ptp(weight) > 0  # the pTHat bias: weights differ, so weighting matters
    assert [p["name"] for p in points] == ["wp30", "wp50", "wp70"]
    thresholds = [p["threshold"] for p in points]
    assert thresholds == sorted(thresholds, reverse=True)  # tighter cut, lower efficiency
    for point, nominal in zip(points, (0.3, 0.5, 0.7), strict=True):
        above = logit > point["threshold"]
        measured = weight[above].sum() / weight.sum()
        assert measured == pytest.approx(point["efficiency"])
        # the best cut there is: no other threshold comes nearer the nominal eps_S
        assert abs(measured - nominal) == pytest.approx(_best_weighted_cut(logit, weight, nominal))
        # the unweighted versions are recorded beside it
        assert point["unweighted_efficiency"] == pytest.approx(np.mean(above))
        assert point["unweighted_threshold"] == pytest.approx(np.quantile(logit, 1 - nominal))
        assert "event-weighted" in point["definition"] and "unweighted" in point["definition"]
    with pytest.raises(InputValueError, match="too few"):
        working_points(columns, min_jets=logit.size + 1)


def test_unit_weights_give_the_plain_quantiles(columns) -> None:
    plain = {**columns, "event_weight": np.ones_like(columns["event_weight"])}
    logit = columns["tagger_logit"][_defining_jets(columns)]
    for point, nominal in zip(working_points(plain, min_jets=5), (0.3, 0.5, 0.7), strict=True):
        assert point["efficiency"] == point["unweighted_efficiency"]
        assert abs(np.mean(logit > point["threshold"]) - nominal) <= 0.5 / logit.size + 1e-12


def test_a_read_without_weights_is_refused_not_unit_weighted(columns) -> None:
    """The build once read the table without event_weight and got wp50 3.4625, not 3.4777."""
    unweighted = {name: values for name, values in columns.items() if name != "event_weight"}
    with pytest.raises(InputValueError, match=r"no event_weight column.*rebuild"):
        working_points(unweighted, min_jets=5)
    with pytest.raises(InputValueError, match="no event_weight column"):
        efficiency_map(unweighted, working_points(columns, min_jets=5))


def test_weighted_threshold_on_known_numbers() -> None:
    rng = np.random.default_rng(5)
    scores = rng.normal(size=400)
    t = weighted_threshold(scores, np.ones(400), 0.25)
    assert np.mean(scores > t) == pytest.approx(0.25)
    assert t == pytest.approx(np.quantile(scores, 0.75), abs=np.ptp(scores) / 50)
    # one heavy score: weight 3 on the largest of four values makes eps = 0.5 the top alone
    assert weighted_threshold(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 1, 1, 3.0]), 0.5) == 3.5
    # a dominant top score: passing nothing is nearer eps = 0.1 than passing it
    assert weighted_threshold(np.array([1.0, 2.0]), np.array([1.0, 9.0]), 0.1) == 2.0
    # ties are never split
    tied = weighted_threshold(np.array([1.0, 2.0, 2.0, 2.0]), np.ones(4), 0.5)
    assert tied in (1.5, np.nextafter(1.0, -np.inf))
    with pytest.raises(InputValueError, match="positive sum"):
        weighted_threshold(np.array([1.0]), np.array([-1.0]), 0.5)


def test_table_without_weights_is_refused_by_ship(table, tmp_path) -> None:
    import pyarrow.parquet as pq

    old = tmp_path / "old.parquet"
    parquet = pq.read_table(table[0])
    pq.write_table(parquet.drop_columns(["event_weight"]), old)
    with pytest.raises(FormatError, match=r"no column.*event_weight.*rebuild"):
        read_table(old, ["split", "event_weight"])


def _weighted_rate(logit, weight, rows, threshold) -> tuple[float, float, float]:
    if not rows.any():
        return 0.0, 0.0, 0.0
    w = weight[rows]
    eff = w[logit[rows] > threshold].sum() / w.sum()
    error = np.sqrt(eff * (1 - eff) * (w**2).sum()) / w.sum()
    return eff, error, np.mean(logit[rows] > threshold)


def test_efficiency_map_has_three_weighted_categories(columns) -> None:
    points = working_points(columns, min_jets=5)
    maps = efficiency_map(columns, points)
    wp = points[1]
    entry = maps["wp50"]
    assert entry["pt_edges"] == list(EFFICIENCY_PT_EDGES)
    label, matched = columns["label"], columns["truth_top_matched"] == 1
    categories = {
        "efficiency": label == 1,
        "partial": (label == -1) & matched,
        "mistag": label == 0,
    }
    checked = dict.fromkeys(categories, 0)
    for b, (lo, hi) in enumerate(itertools.pairwise(EFFICIENCY_PT_EDGES)):
        in_bin = (columns["jet_pt"] >= lo) & (columns["jet_pt"] < hi)
        in_bin &= columns["split"] == "train"
        for key, chosen in categories.items():
            rows = in_bin & chosen
            eff, error, plain = _weighted_rate(
                columns["tagger_logit"], columns["event_weight"], rows, wp["threshold"]
            )
            assert entry[key][b] == pytest.approx(eff), (key, b)
            # eps (1 - eps) near eps = 1 amplifies the rounding of the weighted sums
            assert entry[f"{key}_error"][b] == pytest.approx(error, rel=1e-4, abs=1e-9)
            assert entry[f"{key}_unweighted"][b] == pytest.approx(plain), (key, b)
            checked[key] += int(rows.sum() > 0)
    assert all(checked.values())  # every category has jets in some bin


def test_parton_map_counts_every_matched_top(columns) -> None:
    points = working_points(columns, min_jets=5)
    maps = efficiency_map(columns, points, "truth_top_pt", signal="matched")
    b = list(EFFICIENCY_PT_EDGES).index(400.0)
    pt = columns["truth_top_pt"]
    rows = (columns["split"] == "train") & (columns["truth_top_matched"] == 1)
    rows &= (pt >= 400) & (pt < 500)
    assert (columns["label"][rows] == -1).any()  # not-contained tops count too
    eff, _, plain = _weighted_rate(
        columns["tagger_logit"], columns["event_weight"], rows, points[1]["threshold"]
    )
    assert maps["wp50"]["efficiency"][b] == pytest.approx(eff)
    assert maps["wp50"]["efficiency_unweighted"][b] == pytest.approx(plain)
    assert "partial" not in maps["wp50"]
    assert maps["wp50"]["mistag"] == [0.0] * (len(EFFICIENCY_PT_EDGES) - 1)  # no QCD top pT
    with pytest.raises(InputValueError, match="signal"):
        efficiency_map(columns, points, signal="all")


def test_training_rows_fill_and_select(columns) -> None:
    spec = SHIPPED["top-tagger-delphes"]
    x, y, mask = training_rows(columns, spec)
    train = columns["split"] == "train"
    raw = np.column_stack(
        [np.nan_to_num(columns[c], nan=spec.fills.get(c, np.nan)) for c in spec.columns]
    )
    assert np.array_equal(mask, train & np.isfinite(raw).all(axis=1))  # only non-finite dropped
    assert mask.sum() == len(y) == len(x) == train.sum()  # with the fills, every jet is kept
    filled = SHIPPED["top-tagger-delphes"].names.index("truth_top_n_contained")
    unmatched = columns["truth_top_matched"][mask] == 0
    assert unmatched.any() and np.all(x[unmatched, filled] == 0.0)
    x, y, mask = training_rows(columns, SHIPPED["top-tagger-parton"])
    assert np.all(columns["truth_top_matched"][mask] == 1) and np.isfinite(x).all()
    assert np.array_equal(x[:, 0], columns["truth_top_pt"][mask])


@pytest.mark.parametrize("name", list(SHIPPED))
def test_ship_surrogate_writes_a_full_card(table, small_tagger: Path, tmp_path, name) -> None:
    path = table[0]
    config = TrainConfig(hidden=8, cond_hidden=8, epochs=1, draws=3, steps=4)
    card = ship_surrogate(name, path, tmp_path / name, min_jets=5, config=config)
    tagger_sha = json.loads((small_tagger / "tagger.json").read_text())["sha256"]
    assert card.tagger["weights_sha256"] == tagger_sha
    assert card.training["sha256"] == sha256_file(path)
    assert card.score["space"] == "identity"
    assert set(card.efficiency_map) == {"wp30", "wp50", "wp70"}
    assert ("partial" in card.efficiency_map["wp50"]) == (not SHIPPED[name].matched_only)
    assert all("unweighted_efficiency" in point for point in card.working_points)
    assert "weighted by event_weight" in card.training["description"]
    assert "ship-surrogate " + name in card.description
    surrogate, loaded = load_surrogate(tmp_path / name)
    assert loaded.feature_names == list(SHIPPED[name].names)
    spec = SHIPPED[name]
    raw = read_table(path, list(spec.columns))
    rows = {n: raw[c] for c, n in zip(spec.columns, spec.names, strict=True)}
    if spec.matched_only:  # parton rows: matched jets only (NaN top kinematics elsewhere)
        matched = read_table(path, ["truth_top_matched"])["truth_top_matched"] == 1
        rows = {n: v[matched] for n, v in rows.items()}
    elif spec.object_prefix:  # particle rows: jets with a particle-level match
        matched = read_table(path, ["particle_matched"])["particle_matched"] == 1
        rows = {n: v[matched] for n, v in rows.items()}
        assert np.isnan(rows["truth_top_n_contained"]).any()
    else:  # jets of no top keep NaN truth: the card's fill stands for it
        assert np.isnan(rows["truth_top_n_contained"]).any()
    tags = tag_objects(rows, surrogate, loaded, draws=3)
    assert tags.probabilities.shape[::2] == (3, 3) and np.isfinite(tags.probabilities).all()
