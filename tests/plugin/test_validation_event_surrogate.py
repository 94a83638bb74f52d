"""Validation of an event-level surrogate (surrotag.validation.event_surrogate).

Table: a synthetic event table with the columns of
:func:`surrotag.reference.event_table.build_event_training_table` (every event feature and
flag, ``classifier_logit``, ``event_weight``, ``split``, ``sample_index``, ``m_stop``,
``m_lsp``), written with :func:`surrotag.io.parquet.write_parquet`. Six whole samples: per
split one t tbar-like sample (small m_T2(ll) and MET) and two stop-like samples (harder MET
and m_T2(ll); 1 pb and 0.1 pb, so the stop class carries two event weights). The
classifier logit is closed-form: ``logit ~ N(mu, 1)``, ``mu = (MET - 120 GeV) / 60 GeV +
(m_T2(ll) - 60 GeV) / 30 GeV``, the same for both classes. ``event_jet1_pt`` is NaN in
events without jets and filled with 0 (the card's ``fill``), as in training.

Surrogate: a tiny VI surrogate (score space ``identity``) trained on the train split through
:func:`surrotag.training.read_training_rows`; working points ``logit > 0`` and ``logit > 2``.

Pre-registered expectations (generous; fixed before the assertions were written, after one
exploratory run on three data seeds that gave 0.91-0.95 of the cells within 2 overall and
0.85-1.0 per class, pull RMS 1.08-1.14, AUC 0.50-0.51):

* faithful table: at least 80 % of the counted cells within ``|pull| <= 2`` overall and
  75 % per class, pull RMS <= 1.6, |mean pull| <= 1, two-sample AUC <= 0.55, with at least
  15 counted cells (5 per class) so that the fraction means something;
* the same table with the test split's logits shifted by +2: at most 50 % within 2, a
  negative mean pull (the classifier passes more than predicted), AUC >= 0.70.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from surrotag.errors import CardError, EmptyInputError, InputValueError

FEATURES = ["event_met", "event_mt2_ll", "event_lep1_pt", "event_jet1_pt"]
FILLS = {"event_jet1_pt": 0.0}
WORKING_POINTS = {"loose": 0.0, "tight": 2.0}
DRAWS = 8
C2ST_ROWS = 4000
SHIFT = 2.0
#: (process, split, events, cross-section pb, m_stop, m_lsp)
SAMPLES = (
    ("ttbar", "train", 4000, 800.0, math.nan, math.nan),
    ("stop", "train", 2000, 1.0, 400.0, 100.0),
    ("stop", "train", 2000, 0.1, 600.0, 100.0),
    ("ttbar", "test", 2000, 800.0, math.nan, math.nan),
    ("stop", "test", 1000, 1.0, 400.0, 100.0),
    ("stop", "test", 1000, 0.1, 600.0, 100.0),
)


def closed_form_mu(met: np.ndarray, mt2: np.ndarray) -> np.ndarray:
    """Mean of the closed-form classifier logit (MET, m_T2(ll) in GeV)."""
    return (met - 120.0) / 60.0 + (mt2 - 60.0) / 30.0


def _sample(rng, columns, process, split, n, sigma_pb, m_stop, m_lsp, index):
    if process == "ttbar":
        met, mt2 = rng.gamma(2.5, 32.0, n), rng.exponential(30.0, n)
    else:
        met, mt2 = 60.0 + rng.gamma(2.5, 50.0, n), rng.exponential(55.0, n)
    lep1 = 25.0 + rng.exponential(60.0, n)
    n_jets = rng.poisson(2.0, n).astype(np.int32)
    jet1 = np.where(n_jets > 0, 30.0 + rng.exponential(80.0, n), np.nan)
    out = {name: np.zeros(n, dtype=np.float32) for name in columns}
    out.update(
        event_index=np.arange(n, dtype=np.int64),
        event_met=met,
        event_mt2_ll=mt2,
        event_lep1_pt=lep1,
        event_lep2_pt=20.0 + rng.uniform(0.0, 1.0, n) * (lep1 - 20.0),
        event_mll=rng.uniform(20.0, 200.0, n),
        event_dphi_met_lep1=rng.uniform(0.0, np.pi, n),
        event_dphi_met_lep2=rng.uniform(0.0, np.pi, n),
        event_dphi_ll=rng.uniform(0.0, np.pi, n),
        event_jet1_pt=jet1,
        event_ht=np.nan_to_num(jet1) * 1.3,
        event_n_jets=n_jets,
        event_n_btag=np.minimum(n_jets, rng.poisson(1.0, n)).astype(np.int32),
        flag_no_lepton=np.zeros(n, dtype=bool),
        flag_fewer_than_two_leptons=np.zeros(n, dtype=bool),
        truth_invisible_pt=met * np.exp(rng.normal(0.0, 0.2, n)),
        truth_n_tops=np.full(n, 2, dtype=np.int32),
        classifier_logit=rng.normal(closed_form_mu(met, mt2), 1.0),
        event_weight=np.full(n, sigma_pb / n),
        split=np.full(n, split),
        sample_index=np.full(n, index, dtype=np.int64),
        m_stop=np.full(n, m_stop),
        m_lsp=np.full(n, m_lsp),
    )
    return out


def _columns(seed: int = 1) -> dict[str, np.ndarray]:
    from surrotag.features import resolve_features
    from surrotag.reference.event_table import EVENT_FEATURES

    features = resolve_features("delphes", EVENT_FEATURES)
    rng = np.random.default_rng(seed)
    parts = [_sample(rng, features, *spec, index) for index, spec in enumerate(SAMPLES)]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _write(columns: dict[str, np.ndarray], path: Path) -> Path:
    from surrotag.io.parquet import write_parquet

    provenance = {"kind": "event-surrogate-table", "features": FEATURES, "note": "synthetic"}
    return write_parquet(ak.zip(columns, depth_limit=1), path, provenance)


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, Path]:
    """The faithful table and the same table with the test split's logits shifted by +2."""
    root = tmp_path_factory.mktemp("event_tables")
    columns = _columns()
    shifted = dict(columns)
    shifted["classifier_logit"] = np.where(
        columns["split"] == "test", columns["classifier_logit"] + SHIFT, columns["classifier_logit"]
    )
    return {
        "faithful": _write(columns, root / "faithful.parquet"),
        "shifted": _write(shifted, root / "shifted.parquet"),
    }


@pytest.fixture(scope="module")
def surrogate_folder(tables, tmp_path_factory) -> Path:
    from surrotag.surrogates.storage import save_surrogate
    from surrotag.surrogates.train import TrainConfig, train_surrogate
    from surrotag.training import read_training_rows

    rows = read_training_rows(
        tables["faithful"], FEATURES, "classifier_logit", fills=FILLS, split="train"
    )
    config = TrainConfig(hidden=32, depth=2, cond_hidden=32, cond_depth=1, epochs=20,
                         batch_size=128, draws=DRAWS, steps=16)  # fmt: skip
    model, _ = train_surrogate(rows.features, rows.scores, feature_names=FEATURES, config=config)
    fields = {
        "name": "tiny-event-logit",
        "version": "0.0.1",
        "description": "closed-form event classifier logit on synthetic dilepton events (tests)",
        "tagger": {"name": "closed-form-event", "score": "N(mu(MET, mT2ll), 1), a logit"},
        "features": [
            {"name": name, "unit": "GeV", **({"fill": FILLS[name]} if name in FILLS else {})}
            for name in FEATURES
        ],
        "score": {"space": "identity", "clip": 0.0, "column": "classifier_logit"},
        "working_points": [
            {"name": name, "threshold": cut, "efficiency": 0.0, "definition": f"logit > {cut}"}
            for name, cut in WORKING_POINTS.items()
        ],
        "training": {
            "description": "synthetic event table, train split",
            "sha256": None,
            "rows": {"total": rows.total, "used": int(rows.scores.size)},
        },
        "references": ["arXiv:2402.15558"],
    }
    folder = tmp_path_factory.mktemp("event_surrogate") / "tiny-event-logit"
    save_surrogate(model, fields, folder)
    return folder


def _validate(folder: Path, table: Path, **options):
    from surrotag.validation.event_surrogate import validate_event_surrogate

    return validate_event_surrogate(
        folder, table, **{"draws": DRAWS, "c2st_rows": C2ST_ROWS, **options}
    )


@pytest.fixture(scope="module")
def faithful(surrogate_folder, tables):
    return _validate(surrogate_folder, tables["faithful"])


@pytest.fixture(scope="module")
def shifted(surrogate_folder, tables):
    return _validate(surrogate_folder, tables["shifted"])


def test_faithful_surrogate_meets_the_pre_registered_expectation(faithful) -> None:
    overall = faithful.summaries["overall"]
    assert overall.n_cells >= 15
    assert overall.fraction_within >= 0.80, overall
    assert overall.rms <= 1.6, overall
    assert abs(overall.mean) <= 1.0, overall
    for name in ("ttbar", "stop"):
        summary = faithful.summaries[name]
        assert summary.n_cells >= 5, (name, summary)
        assert summary.fraction_within >= 0.75, (name, summary)
    assert faithful.c2st["auc"] <= 0.55, faithful.c2st
    assert faithful.c2st["n_rows"] == C2ST_ROWS
    assert faithful.ood_fraction < 0.05
    assert 0.0 <= faithful.ood_fraction_weighted < 0.05


def test_shifted_logits_fail_the_pull_goal_and_the_two_sample_test(shifted) -> None:
    overall = shifted.summaries["overall"]
    assert overall.n_cells >= 15
    assert overall.fraction_within <= 0.50, overall
    assert overall.mean < -2.0, overall  # predicted - observed: the classifier passes more
    assert shifted.c2st["auc"] >= 0.70, shifted.c2st
    goals = {g.name: g.met for g in shifted.goals()}
    assert goals["cells with |pull| <= 2, overall"] is False
    assert goals["two-sample AUC"] is False
    assert shifted.goals_met is False


def test_goals_are_booleans_of_the_summaries(faithful, shifted) -> None:
    from surrotag.validation.goals import GOAL_C2ST_AUC, GOAL_FRACTION_WITHIN

    for validation in (faithful, shifted):
        goals = {g.name: g for g in validation.goals()}
        assert list(goals) == [
            "cells with |pull| <= 2, overall",
            "cells with |pull| <= 2, ttbar",
            "cells with |pull| <= 2, stop",
            "two-sample AUC",
        ]
        for name in ("overall", "ttbar", "stop"):
            g = goals[f"cells with |pull| <= 2, {name}"]
            fraction = validation.summaries[name].fraction_within
            assert g.value == pytest.approx(fraction)
            assert g.met is (fraction >= GOAL_FRACTION_WITHIN)
            assert g.ship
        auc = goals["two-sample AUC"]
        assert auc.met is (validation.c2st["auc"] <= GOAL_C2ST_AUC)
        expected = all(g.met for g in goals.values())
        assert validation.goals_met is expected
    assert {g.name: g.met for g in faithful.goals()}["two-sample AUC"] is True


def test_cells_below_min_events_are_listed_as_skipped(faithful) -> None:
    grid_cells = faithful.grid.n_cells
    assert grid_cells == 16
    assert len(faithful.tables) == len(WORKING_POINTS) * 2
    sparse = 0
    for table in faithful.tables:
        c = table.cells
        assert c.n_cells == grid_cells and len(table.skip_reasons) == grid_cells
        for b in range(grid_cells):
            few = np.nan_to_num(c.n_eff[b]) < 30
            if few:
                sparse += 1
                assert not table.counted[b]
                assert table.skip_reasons[b] is not None
                assert ("min_events" in table.skip_reasons[b]) or c.n[b] == 0
            assert (table.skip_reasons[b] is None) == bool(table.counted[b])
    assert sparse > 0  # t tbar events with m_T2(ll) > 120 GeV are rare: those cells are sparse
    skipped = faithful.skipped
    assert len(skipped) == sum(int((~t.counted).sum()) for t in faithful.tables)
    ttbar_tail = [s for s in skipped if s["truth"] == "ttbar" and s["mt2_ll"][0] == 120.0]
    assert len(ttbar_tail) == 4 * len(WORKING_POINTS)
    assert all((s["n"] == 0 or s["n_eff"] < 30) and not s["counted"] for s in ttbar_tail)
    assert all(("no events" if s["n"] == 0 else "min_events") in s["skipped"] for s in ttbar_tail)
    counted = sum(int(t.counted.sum()) for t in faithful.tables)
    assert counted == faithful.summaries["overall"].n_cells


def test_every_cell_skipped_leaves_the_pull_goals_untestable(surrogate_folder, tables) -> None:
    validation = _validate(surrogate_folder, tables["faithful"], min_events=1e9, c2st_rows=0)
    assert validation.summaries["overall"].n_cells == 0
    assert all(reason is not None for t in validation.tables for reason in t.skip_reasons)
    goals = {g.name: g.met for g in validation.goals()}
    assert goals["cells with |pull| <= 2, overall"] is None
    assert goals["two-sample AUC"] is None
    assert validation.goals_met is None


def test_fractions_and_errors_are_event_weighted(faithful, surrogate_folder, tables) -> None:
    """One stop cell by hand: weighted observed and predicted fractions, Kish count, pull."""
    from surrotag.io.parquet import read_columns
    from surrotag.surrogates.storage import load_surrogate
    from surrotag.tagging import evaluate_surrogate

    table = faithful.cell_table("loose", "stop")
    b = int(np.argmax(np.where(table.counted, table.cells.n, -1)))
    i, j = np.unravel_index(b, faithful.grid.shape)
    cols = read_columns(
        tables["faithful"], [*FEATURES, "classifier_logit", "event_weight", "m_stop", "split"],
        text={"split"},
    )  # fmt: skip
    mt2, met = cols["event_mt2_ll"], cols["event_met"]
    rows = (
        (cols["split"] == "test")
        & np.isfinite(cols["m_stop"])
        & (mt2 >= faithful.grid.edges[0][i])
        & (mt2 < faithful.grid.edges[0][i + 1])
        & (met >= faithful.grid.edges[1][j])
        & (met < faithful.grid.edges[1][j + 1])
    )
    w = cols["event_weight"][rows]
    assert len(np.unique(w)) == 2  # both stop samples in the cell: weights matter
    passed = cols["classifier_logit"][rows] > WORKING_POINTS["loose"]
    eps_obs = np.sum(w * passed) / np.sum(w)
    assert table.cells.eps_true[b] == pytest.approx(eps_obs, rel=1e-12)
    assert abs(eps_obs - passed.mean()) > 1e-3  # the unweighted fraction differs
    assert table.cells.n_eff[b] == pytest.approx(np.sum(w) ** 2 / np.sum(w * w), rel=1e-12)
    assert table.cells.n[b] == rows.sum()

    model, _ = load_surrogate(surrogate_folder)
    x = np.column_stack([cols[n][rows] for n in FEATURES])
    x[:, FEATURES.index("event_jet1_pt")] = np.nan_to_num(x[:, 3], nan=FILLS["event_jet1_pt"])
    p = evaluate_surrogate(model, x, thresholds=[WORKING_POINTS["loose"]], draws=DRAWS)
    per_draw = (p.probabilities[..., 0] * w).sum(axis=1) / w.sum()
    eps_pred = per_draw.mean()
    assert table.cells.eps_sur[b] == pytest.approx(eps_pred, rel=1e-9)
    p_bar = p.probabilities[..., 0].mean(axis=0)
    sigma2 = np.sum(w * w * p_bar * (1 - p_bar)) / np.sum(w) ** 2 + per_draw.var(ddof=1)
    assert table.pull[b] == pytest.approx((eps_pred - eps_obs) / np.sqrt(sigma2), rel=1e-6)


def test_json_round_trip_and_inputs(faithful, surrogate_folder, tables, tmp_path) -> None:
    from surrotag.io.parquet import sha256_file
    from surrotag.surrogates.card import parse_json_strict
    from surrotag.surrogates.storage import WEIGHTS_FILENAME
    from surrotag.validation.event_surrogate import write_event_validation

    path = write_event_validation(faithful, tmp_path / "event_validation.json")
    document = parse_json_strict(path.read_text("utf-8"))  # strict: no NaN, no Infinity
    assert document == faithful.to_dict()
    assert json.loads(json.dumps(document)) == document
    assert document["kind"] == "event-surrogate-validation"
    assert document["surrogate"]["name"] == "tiny-event-logit"
    weights = document["surrogate"]["files"][WEIGHTS_FILENAME]
    assert weights == sha256_file(surrogate_folder / WEIGHTS_FILENAME)
    assert document["table"]["sha256"] == sha256_file(tables["faithful"])
    assert document["table"]["split"] == "test"
    assert document["table"]["n_ttbar"] == 2000 and document["table"]["n_stop"] == 2000
    settings = document["settings"]
    assert settings["seed"] == 0 and settings["draws"] == DRAWS
    assert settings["mt2_edges_gev"] == [0.0, 40.0, 80.0, 120.0, None]  # inf: null
    assert settings["met_edges_gev"] == [0.0, 80.0, 150.0, 250.0, None]
    assert settings["working_points"] == WORKING_POINTS
    assert [g["name"] for g in document["goals"]] == [g.name for g in faithful.goals()]
    assert len(document["cells"]) == 4 and len(document["cells"][0]["cells"]) == 16
    counted = sum(c["counted"] for t in document["cells"] for c in t["cells"])
    assert counted == document["summaries"]["overall"]["n_cells"]


def test_working_points_by_cut_and_input_errors(faithful, surrogate_folder, tables) -> None:
    from surrotag.surrogates.storage import load_surrogate

    loaded = load_surrogate(surrogate_folder)
    by_cut = _validate(loaded, tables["faithful"], working_points=[0.0], c2st_rows=0)
    assert [t.working_point for t in by_cut.tables] == ["logit > 0", "logit > 0"]
    for truth in ("ttbar", "stop"):
        np.testing.assert_allclose(
            by_cut.cell_table("logit > 0", truth).pull,
            faithful.cell_table("loose", truth).pull,
            rtol=1e-9,
        )
    with pytest.raises(EmptyInputError, match="no rows with split == 'holdout'"):
        _validate(loaded, tables["faithful"], split="holdout")
    with pytest.raises(CardError, match="no working point 'medium'"):
        _validate(loaded, tables["faithful"], working_points=["medium"])
    with pytest.raises(InputValueError, match="increasing"):
        _validate(loaded, tables["faithful"], met_edges=(0.0, 100.0, 50.0))
    model, card = loaded
    logit_card = dataclasses.replace(card, score={**card.score, "space": "logit"})
    with pytest.raises(CardError, match="identity"):
        _validate((model, logit_card), tables["faithful"])


def test_weighted_fraction_and_kish_count() -> None:
    from surrotag.validation.event_surrogate import kish_effective_count, weighted_fraction

    flags = np.array([True, False, True, False])
    assert weighted_fraction(flags) == pytest.approx((0.5, np.sqrt(0.25 / 4)))
    f, err = weighted_fraction(flags, np.array([3.0, 1.0, 0.0, 0.0]))
    assert f == pytest.approx(0.75)
    assert err == pytest.approx(np.sqrt(0.75 * 0.25 / 1.6))
    assert kish_effective_count(np.full(7, 0.3)) == pytest.approx(7.0)
    assert all(math.isnan(v) for v in weighted_fraction(flags, np.zeros(4)))
