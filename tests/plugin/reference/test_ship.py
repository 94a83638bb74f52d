"""Shipped-surrogate recipe: working points, efficiency map, training rows, card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from surrotag.errors import InputValueError
from surrotag.io.parquet import sha256_file
from surrotag.reference.ship import (
    EFFICIENCY_PT_EDGES,
    SHIPPED,
    efficiency_map,
    read_table,
    ship_surrogate,
    training_rows,
    working_points,
)
from surrotag.surrogates.storage import load_surrogate
from surrotag.surrogates.train import TrainConfig
from surrotag.tagging import tag_objects

COLUMNS = sorted(
    {c for spec in SHIPPED.values() for c in spec.columns}
    | {"split", "label", "jet_pt", "tagger_logit", "truth_top_matched"}
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


def test_working_points_have_their_nominal_efficiency(columns) -> None:
    points = working_points(columns, min_jets=5)
    logit = columns["tagger_logit"][_defining_jets(columns)]
    assert [p["name"] for p in points] == ["wp30", "wp50", "wp70"]
    thresholds = [p["threshold"] for p in points]
    assert thresholds == sorted(thresholds, reverse=True)  # tighter cut, lower efficiency
    for point, nominal in zip(points, (0.3, 0.5, 0.7), strict=True):
        measured = np.mean(logit > point["threshold"])
        assert measured == pytest.approx(point["efficiency"])
        assert abs(measured - nominal) <= 1.0 / logit.size + 1e-12
    with pytest.raises(InputValueError, match="too few"):
        working_points(columns, min_jets=logit.size + 1)


def test_efficiency_map_counts_jets_above_threshold(columns) -> None:
    points = working_points(columns, min_jets=5)
    maps = efficiency_map(columns, points)
    wp = points[1]
    entry = maps["wp50"]
    assert entry["pt_edges"] == list(EFFICIENCY_PT_EDGES)
    in_bin = (columns["jet_pt"] >= 500) & (columns["jet_pt"] < 600) & (columns["split"] == "train")
    b = list(EFFICIENCY_PT_EDGES).index(500.0)
    for key, label in (("efficiency", 1), ("mistag", 0)):
        rows = in_bin & (columns["label"] == label)
        n = rows.sum()
        expected = np.mean(columns["tagger_logit"][rows] > wp["threshold"]) if n else 0.0
        assert entry[key][b] == pytest.approx(expected)
        error = np.sqrt(expected * (1 - expected) / n) if n else 0.0
        assert entry[f"{key}_error"][b] == pytest.approx(error)


def test_parton_map_counts_every_matched_top(columns) -> None:
    points = working_points(columns, min_jets=5)
    maps = efficiency_map(columns, points, "truth_top_pt", signal="matched")
    b = list(EFFICIENCY_PT_EDGES).index(400.0)
    pt = columns["truth_top_pt"]
    rows = (columns["split"] == "train") & (columns["truth_top_matched"] == 1)
    rows &= (pt >= 400) & (pt < 500)
    assert (columns["label"][rows] == -1).any()  # not-contained tops count too
    expected = np.mean(columns["tagger_logit"][rows] > points[1]["threshold"])
    assert maps["wp50"]["efficiency"][b] == pytest.approx(expected)
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
    assert "ship-surrogate " + name in card.description
    surrogate, loaded = load_surrogate(tmp_path / name)
    assert loaded.feature_names == list(SHIPPED[name].names)
    spec = SHIPPED[name]
    raw = read_table(path, list(spec.columns))
    rows = {n: raw[c] for c, n in zip(spec.columns, spec.names, strict=True)}
    if spec.matched_only:  # parton rows: matched jets only (NaN top kinematics elsewhere)
        matched = read_table(path, ["truth_top_matched"])["truth_top_matched"] == 1
        rows = {n: v[matched] for n, v in rows.items()}
    else:  # jets of no top keep NaN truth: the card's fill stands for it
        assert np.isnan(rows["truth_top_n_contained"]).any()
    tags = tag_objects(rows, surrogate, loaded, draws=3)
    assert tags.probabilities.shape[::2] == (3, 3) and np.isfinite(tags.probabilities).all()
