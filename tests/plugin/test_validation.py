"""Validation report of surrogates: closed-form metrics and one end-to-end CLI run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from surrotag.cli import main
from surrotag.reference.cache import TABLE_NAME, reference_dir
from surrotag.validation.metrics import (
    c2st_auc,
    efficiency_cells,
    js_distance,
    js_distance_values,
    split_half_js,
)


def _table() -> Path:
    path = reference_dir() / TABLE_NAME
    if not path.is_file():
        pytest.skip(
            f"{path} absent: build it with surrotag reference pipeline (set SURROTAG_DATA to "
            "the data folder holding reference/)"
        )
    return path


def _smoke() -> Path:
    """The shipped top-tagger-delphes surrogate's folder."""
    from surrotag.surrogates.registry import resolve_surrogate

    return resolve_surrogate("top-tagger-delphes")


# -- Jensen-Shannon distance ------------------------------------------------------------------


def test_js_distance_of_identical_histograms_is_zero_and_of_disjoint_is_sqrt_ln2():
    h = np.array([3.0, 0.0, 5.0, 2.0])
    assert js_distance(h, 7 * h) == pytest.approx(0.0, abs=1e-12)
    assert js_distance([1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 4.0, 1.0]) == pytest.approx(
        math.sqrt(math.log(2)), rel=1e-12
    )
    assert math.isnan(js_distance([0.0, 0.0], [1.0, 2.0]))


def test_js_distance_of_two_bins_matches_the_closed_form():
    # P = (1, 0), Q = (1/2, 1/2): M = (3/4, 1/4);
    # JSD = 1/2 ln(4/3) + 1/2 (1/2 ln(2/3) + 1/2 ln 2).
    expected = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)
    assert js_distance([2.0, 0.0], [1.0, 1.0]) == pytest.approx(math.sqrt(expected), rel=1e-12)


def test_js_noise_floor_shrinks_with_sample_size():
    rng = np.random.default_rng(0)
    small = split_half_js(rng.beta(2, 5, 2_000), rng, repeats=10)[0]
    large = split_half_js(rng.beta(2, 5, 200_000), rng, repeats=10)[0]
    # The distance of two samples of the same law falls like 1/sqrt(N): 10x for 100x N.
    assert 5 < small / large < 20
    assert js_distance_values(rng.beta(2, 5, 5000), rng.beta(5, 2, 5000)) > 3 * small


# -- efficiency pulls -------------------------------------------------------------------------


def test_pulls_of_a_known_binomial_case():
    n = 400
    passed = np.arange(n) < 100  # eps_true = 0.25 in cell 0
    probabilities = np.stack([np.full(n, 0.3), np.full(n, 0.4)])  # two draws: eps 0.3, 0.4
    cell = np.zeros(n, dtype=int)
    cell[:10] = -1  # left out
    c = efficiency_cells(passed, probabilities, cell, n_cells=2)
    m = n - 10
    eps_true = 90 / m
    sigma = math.sqrt(
        np.std([0.3, 0.4], ddof=1) ** 2 + eps_true * (1 - eps_true) / m + 0.35 * 0.65 / m
    )
    assert c.n.tolist() == [m, 0]
    assert c.eps_true[0] == pytest.approx(eps_true)
    assert c.eps_sur[0] == pytest.approx(0.35)
    assert c.sigma_bayes[0] == pytest.approx(math.sqrt(0.005))
    assert c.err_true[0] == pytest.approx(math.sqrt(eps_true * (1 - eps_true) / m))
    assert c.pull[0] == pytest.approx((0.35 - eps_true) / sigma)
    assert math.isnan(c.pull[1]) and math.isnan(c.eps_true[1])


# -- classifier two-sample test ---------------------------------------------------------------


def test_c2st_auc_is_half_for_one_law_and_matches_the_gaussian_shift():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(6000, 1)), rng.normal(size=(6000, 1))
    same, _ = c2st_auc(a, b)
    shifted, _ = c2st_auc(a, b + 1.0)
    assert abs(same - 0.5) < 0.03
    # Optimal AUC between N(0, 1) and N(1, 1): Phi(1 / sqrt 2) = 0.760.
    assert shifted == pytest.approx(norm.cdf(1 / math.sqrt(2)), abs=0.02)


def test_c2st_on_real_logits_half_for_halves_and_high_for_a_shift():
    import pyarrow.parquet as pq

    table = pq.read_table(
        _table(), columns=["jet_pt", "jet_sd_mass", "jet_tau32", "tagger_logit", "label", "split"]
    ).to_pydict()
    rows = (np.array(table["split"]) == "test") & (np.array(table["label"]) == 1)
    x = np.column_stack(
        [np.asarray(table[c], dtype=float)[rows] for c in ("jet_pt", "jet_sd_mass", "jet_tau32")]
    )
    logit = np.asarray(table["tagger_logit"], dtype=float)[rows]
    half = logit.size // 2
    a = np.column_stack([x[:half], logit[:half]])
    b = np.column_stack([x[half : 2 * half], logit[half : 2 * half]])
    same, _ = c2st_auc(a, b)
    assert abs(same - 0.5) < 0.04
    # Paired rows (same jet twice): the same features with the true vs a shifted logit.
    twin = np.column_stack([x[:half], logit[:half]])
    shifted, _ = c2st_auc(twin, np.column_stack([x[:half], logit[:half] + 1.5]), paired=True)
    unchanged, _ = c2st_auc(twin, twin.copy(), paired=True)
    assert shifted > 0.7
    assert abs(unchanged - 0.5) < 0.04


# -- end to end -------------------------------------------------------------------------------


def test_cli_validate_writes_report_and_figures(tmp_path, capsys):
    table, smoke = _table(), _smoke()
    out = tmp_path / "report"
    rc = main(
        ["surrogate", "validate", str(smoke), str(table), "-o", str(out), "--n-max", "600",
         "--draws", "4"]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    for key in ("efficiency", "coverage", "agreement", "js", "c2st", "ood", "goals", "figures"):
        assert key in report
    for name in report["figures"]:
        assert (out / name).stat().st_size > 1000
    assert {"scores_pt.png", "efficiency_pt_top.png", "ood.png"} <= set(report["figures"])
    js = report["js"]
    for value in (js["value"], js["noise_floor"], js["sampled"]["value"]):
        assert 0 < value < math.sqrt(math.log(2))
    assert 0 < report["c2st"]["top"]["auc"] < 1
    assert math.isfinite(report["ood"]["ratio"])
    assert report["ood"]["ood_flag_rate"][-1] == 1.0  # 3x the support edge: flagged
    assert len(report["goals"]) >= 8
    assert all(goal["met"] in (True, False, None) for goal in report["goals"])
    assert "two-sample AUC" in capsys.readouterr().out


def test_cli_validate_refuses_a_table_without_the_features(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    smoke = _smoke()
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0]}), path)
    rc = main(["surrogate", "validate", str(smoke), str(path), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 1
    assert str(path) in err and "jet_pt" in err


@pytest.mark.slow
def test_degraded_surrogate_fails_goals(tmp_path):
    """Positive control: 1% of the training rows, 2 epochs -> the report must flag failures."""
    from surrotag.validation.control import train_degraded
    from surrotag.validation.report import validate_surrogate

    table, smoke = _table(), _smoke()
    folder = train_degraded(smoke, table, tmp_path / "degraded", fraction=0.01, epochs=2)
    assert "DEGRADED" in folder.description
    report = validate_surrogate(tmp_path / "degraded", table, tmp_path / "report", n_max=4000)
    failed = {goal["name"] for goal in report["goals"] if goal["met"] is False}
    assert "cells with |pull| <= 2" in failed or "two-sample AUC, top" in failed, failed
