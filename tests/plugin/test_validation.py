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


# -- efficiency pulls: closed-form cases -----------------------------------------------------


class ExactSurrogate:
    """Test double of a surrogate on N jets: only the probability interface the cells consume.

    The "tagger" logit of jet i is ``mu_i + s_i eps`` with ``eps ~ N(0, 1)``, so the exact
    tag probability is ``P(logit > w) = Phi((mu_i - w) / s_i)``. ``mu`` may carry one row per
    weight draw ([K, N]) to play a Bayesian surrogate.
    """

    def __init__(self, mu: np.ndarray, s: np.ndarray) -> None:
        self.mu = np.atleast_2d(mu)
        self.s = np.asarray(s)

    def prob_above(self, thresholds):
        cut = np.asarray(thresholds, dtype=np.float64)
        return norm.sf((cut[None, None, :] - self.mu[:, :, None]) / self.s[None, :, None])


def _synthetic_jets(n: int, seed: int):
    """Jets in pt (log-uniform 200 GeV - 2.5 TeV) and m_SD (0 - 450 GeV) of three truth
    classes; the logit's mean depends on the cell *and* on a hidden per-jet variable (like
    tau32 at fixed pt and mass), so the tag probability varies inside every cell."""
    rng = np.random.default_rng(seed)
    pt = 200.0 * np.exp(rng.uniform(0, np.log(2500 / 200), n))
    mass = rng.uniform(0.0, 450.0, n)
    truth = rng.choice(np.array([1, -1, 0], dtype=np.int8), n, p=[0.4, 0.3, 0.3])
    offset = np.select([truth == 1, truth == -1], [1.0, 0.0], -1.0)
    hidden = rng.normal(0.0, 1.5, n)
    mu = offset + 0.8 * np.log(pt / 600.0) - ((mass - 170.0) / 150.0) ** 2 + hidden
    s = 0.8 + 0.3 * mass / 450.0
    logit = mu + s * rng.normal(size=n)
    return {"pt": pt, "mass": mass}, truth, mu, s, logit


def _views(source, logit, truth, axes, weights=None):
    from surrotag.reference.ship import EFFICIENCY_PT_EDGES
    from surrotag.validation.cells import STANDARD_CLASSES, default_grids, efficiency_views

    prob = np.asarray(source.prob_above([0.0]))
    return efficiency_views(
        logit, prob, [0.0], ["wp"], truth, STANDARD_CLASSES,
        default_grids(EFFICIENCY_PT_EDGES), axes, weights,
    )  # fmt: skip


_CLASSES = ("top", "partial", "qcd")


def test_corrected_pull_of_a_perfect_surrogate_is_unit_normal():
    axes, truth, mu, s, logit = _synthetic_jets(400_000, seed=5)
    view = _views(ExactSurrogate(mu, s), logit, truth, axes)["pt_mass"]
    summary = view.summary(_CLASSES)
    pulls = summary.pulls
    assert pulls.n_cells > 200  # independent cells: one working point, disjoint jets
    # Mean 0 and RMS 1 within 4 standard errors over cells.
    assert abs(pulls.mean) < 4 * pulls.mean_error, pulls
    assert abs(pulls.rms - 1.0) < 4 * pulls.rms_error, pulls
    assert abs(pulls.fraction_within - 0.954) < 0.04
    # The double-counted error (a binomial term for the surrogate's exact mean too) gives
    # RMS ~ 1/sqrt(2): this test fails on it.
    double = []
    for table in view.tables:
        c = table.cells
        sigma = np.sqrt(c.err_true**2 + c.eps_sur * (1 - c.eps_sur) / c.n + c.sigma_bayes**2)
        double.append(((c.eps_sur - c.eps_true) / sigma)[table.counted])
    rms_double = np.sqrt(np.mean(np.concatenate(double) ** 2))
    assert rms_double < 1.0 - 6 * pulls.rms_error, rms_double
    # The binomial error on the observed efficiency includes the within-cell spread of p
    # (the hidden variable), so it also flatters: RMS well below 1.
    assert summary.pulls_binomial.rms < 1.0 - 4 * pulls.rms_error, summary.pulls_binomial


def test_a_biased_surrogate_is_caught():
    from surrotag.validation.goals import ship_goals

    axes, truth, mu, s, logit = _synthetic_jets(400_000, seed=6)
    perfect = _views(ExactSurrogate(mu, s), logit, truth, axes)["pt_mass"].summary(_CLASSES)
    # A bias of 0.1 in the logit (about 2 % in efficiency) in every cell.
    biased = _views(ExactSurrogate(mu + 0.1, s), logit, truth, axes)["pt_mass"].summary(_CLASSES)
    aucs = {name: (0.5, 1000) for name in _CLASSES}
    good = {g.name: g for g in ship_goals(perfect, aucs, _CLASSES)}
    bad = {g.name: g for g in ship_goals(biased, aucs, _CLASSES)}
    assert good["2-D cells with |pull| <= 2"].met and good["pull RMS, 2-D cells"].met
    assert bad["2-D cells with |pull| <= 2"].met is False
    assert bad["pull RMS, 2-D cells"].met is False
    assert biased.pulls.mean > 10 * biased.pulls.mean_error  # the sign: surrogate too high
    # A single draw has no Bayesian spread: the sharpness goal is met trivially (0 <= 5%).
    assert good["median relative Bayesian spread, 2-D cells"].value == 0.0


def test_bayesian_spread_enters_the_pull():
    """Per-cell truth offsets drawn from the same law as the surrogate's weight draws: the
    truth is one more posterior draw, so the pull with sigma_Bayes has unit RMS; without it,
    the RMS is far above 1."""
    from surrotag.reference.ship import EFFICIENCY_PT_EDGES
    from surrotag.validation.cells import default_grids

    axes, truth, mu, s, _ = _synthetic_jets(100_000, seed=7)
    rng = np.random.default_rng(8)
    grid = default_grids(EFFICIENCY_PT_EDGES)[2]
    cell = grid.index(axes) * 3 + (truth + 1)  # one offset per (cell, class)
    cells = int(cell.max()) + 1
    tau, k = 0.15, 100
    true_mu = mu + rng.normal(0.0, tau, cells)[cell]
    logit = true_mu + s * rng.normal(size=mu.size)
    draws = mu[None, :] + rng.normal(0.0, tau, (k, cells))[:, cell]
    summary = _views(ExactSurrogate(draws, s), logit, truth, axes)["pt_mass"].summary(_CLASSES)
    pulls = summary.pulls
    # Within 3 standard errors of 1 (K = 100 draws: sigma_Bayes known to 7 %).
    assert abs(pulls.rms - 1.0) < 3 * pulls.rms_error, pulls
    assert summary.median_relative_spread > 0.01
    without = []
    for table in _views(ExactSurrogate(draws, s), logit, truth, axes)["pt_mass"].tables:
        c = table.cells
        without.append(((c.eps_sur - c.eps_true) / c.err_null)[table.counted])
    assert np.sqrt(np.mean(np.concatenate(without) ** 2)) > 1.7


def test_weighted_perfect_surrogate_uses_effective_entries():
    axes, truth, mu, s, logit = _synthetic_jets(400_000, seed=9)
    weights = np.random.default_rng(10).lognormal(0.0, 1.0, mu.size)
    pulls = (
        _views(ExactSurrogate(mu, s), logit, truth, axes, weights)["pt_mass"]
        .summary(_CLASSES)
        .pulls
    )
    assert abs(pulls.rms - 1.0) < 4 * pulls.rms_error, pulls
    assert abs(pulls.mean) < 4 * pulls.mean_error, pulls


def test_pulls_of_a_known_case():
    n = 400
    passed = np.arange(n) < 100
    probabilities = np.stack([np.full(n, 0.3), np.full(n, 0.4)])  # two draws: eps 0.3, 0.4
    cell = np.zeros(n, dtype=int)
    cell[:10] = -1  # left out
    c = efficiency_cells(passed, probabilities, cell, n_cells=2)
    m = n - 10
    eps_true = 90 / m
    # The tagger's Bernoulli noise at the surrogate's pbar = 0.35 per jet, plus the spread
    # over draws; no binomial term for the surrogate's exact mean.
    sigma = math.sqrt(0.35 * 0.65 / m + 0.005)
    assert c.n.tolist() == [m, 0] and c.n_eff[0] == pytest.approx(m)
    assert c.eps_true[0] == pytest.approx(eps_true)
    assert c.eps_sur[0] == pytest.approx(0.35)
    assert c.sigma_bayes[0] == pytest.approx(math.sqrt(0.005))
    assert c.err_true[0] == pytest.approx(math.sqrt(eps_true * (1 - eps_true) / m))
    assert c.pull[0] == pytest.approx((0.35 - eps_true) / sigma)
    binomial = math.sqrt(eps_true * (1 - eps_true) / m + 0.005)
    assert c.pull_binomial[0] == pytest.approx((0.35 - eps_true) / binomial)
    assert math.isnan(c.pull[1]) and math.isnan(c.eps_true[1])
    assert c.counted(20, 5).tolist() == [True, False]


def test_weighted_pulls_of_a_known_case():
    w = np.array([1.0, 2.0, 3.0])
    p = np.array([0.2, 0.5, 0.8])
    c = efficiency_cells(np.array([True, False, True]), p, np.zeros(3, int), 1, weights=w)
    assert c.n_eff[0] == pytest.approx(36 / 14)
    assert c.eps_true[0] == pytest.approx(4 / 6)
    assert c.eps_sur[0] == pytest.approx(3.6 / 6)
    assert c.err_null[0] == pytest.approx(math.sqrt(0.16 + 4 * 0.25 + 9 * 0.16) / 6)
    assert c.err_true[0] == pytest.approx(math.sqrt(2 / 9 / (36 / 14)))
    assert c.pull[0] == pytest.approx((0.6 - 4 / 6) / (math.sqrt(2.6) / 6))


def test_counting_rule_needs_entries_and_expected_counts_on_both_sides():
    n = np.array([0, 10, 100, 100, 100])
    cell = np.repeat(np.arange(5), n)
    p = np.repeat([0.5, 0.5, 0.5, 0.02, 0.97], n)  # expected tags: -, 5, 50, 2, 97 (3 fail)
    c = efficiency_cells(np.zeros(cell.size, bool), p, cell, 5)
    assert c.counted(20, 5).tolist() == [False, False, True, False, False]


def test_pull_summary_of_known_values():
    from surrotag.validation.metrics import pull_summary

    s = pull_summary(np.array([0.0, 3.0, -1.0, 2.0, np.nan]))
    assert s.n_cells == 4 and s.mean == pytest.approx(1.0)
    assert s.rms == pytest.approx(math.sqrt(14 / 4))
    assert s.fraction_within == pytest.approx(0.75)
    assert pull_summary(np.array([np.nan])).n_cells == 0


def test_truth_classes_and_cell_grid():
    from surrotag.validation.cells import CellGrid, truth_class

    label = np.array([1, -1, -1, 0, 1])
    matched = np.array([1, 1, 0, 0, 1])
    assert truth_class(label, matched).tolist() == [1, -1, 0, 0, 1]
    grid = CellGrid(
        "pt_mass", ("pt", "mass"), ("pt", "m"), ((0.0, 1.0, 2.0), (0.0, 10.0, 20.0, 30.0))
    )
    index = grid.index(
        {"pt": np.array([0.5, 1.5, 1.5, 2.5, np.nan]), "mass": np.array([5.0, 25.0, 0.0, 5.0, 5.0])}
    )
    assert grid.shape == (2, 3) and grid.n_cells == 6
    assert index.tolist() == [0, 5, 3, -1, -1]  # C order: pt bin * 3 + mass bin


def test_record_writes_validation_json_next_to_the_card(tmp_path, monkeypatch):
    import shutil

    from surrotag.io.parquet import sha256_file
    from surrotag.surrogates.card import load_card
    from surrotag.validation.cells import STANDARD_CLASSES
    from surrotag.validation.report import ValidationReport, record

    folder = tmp_path / "surrogate"
    shutil.copytree(_smoke(), folder)
    weights = sha256_file(folder / "weights.safetensors")
    axes, truth, mu, s, logit = _synthetic_jets(50_000, seed=11)
    views = _views(ExactSurrogate(mu, s), logit, truth, axes)
    summaries = {name: v.summary(_CLASSES) for name, v in views.items()}
    ood = {"absolute_spread_median": [0.01, 0.02], "inside": [True, False],
           "outside_flag_rate": 1.0, "far_absolute_spread": 0.02, "inside_absolute_spread": 0.01,
           "far_score_spread": 0.3, "inside_score_spread": 0.05}  # fmt: skip
    js = {"protocol": {"n_jets": 100}, "value": 0.05, "spread": 0.01, "noise_floor": 0.03,
          "sampled": {"value": 0.04}}  # fmt: skip
    report = ValidationReport(
        surrogate={"name": "x"}, table={"split": "test"}, settings={},
        classes=STANDARD_CLASSES, tested_classes=_CLASSES, efficiency=views,
        summaries=summaries, agreement={}, relative_spread_per_jet_median={},
        ood_fraction=0.0, exact_jets_per_second_per_draw=1e5, js=js, c2st={}, ood=ood,
        goals=(), folder=folder,
    )  # fmt: skip
    written, card = record(report)
    assert card == folder / "card.json"
    assert written == folder / "validation.json"
    document = json.loads(written.read_text())
    assert document == json.loads(json.dumps(report.to_dict()))
    cells = document["efficiency"]["pt_mass"]
    assert cells["shape"] == [10, 9] and set(cells["cells"]["wp"]) == set(_CLASSES)
    assert len(cells["cells"]["wp"]["partial"]["pull"]) == 90
    figures = load_card(folder).validation["test_split"]
    assert figures["pull_2d_rms"] == pytest.approx(summaries["pt_mass"].pulls.rms)
    assert sha256_file(folder / "weights.safetensors") == weights
    # Atomic: a write interrupted before the final rename leaves the recorded file as it was
    # and no temporary file behind.
    import surrotag.io.atomic as atomic

    before = written.read_bytes()

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        record(report)
    monkeypatch.undo()
    assert written.read_bytes() == before
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no temp file


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


def _self_tagged_table(path: Path, draws: int) -> Path:
    """A reference table whose "internal tagger" is the shipped surrogate itself.

    Jets: the Delphes fat jets of the analysis's example Z' sample (contained, partially
    contained and unmatched tops); logit: one score per jet sampled from the surrogate's
    posterior predictive (jet i from weight draw i mod K, the same K draws the validation
    uses). The surrogate is then perfect by construction.
    """
    from importlib.resources import as_file

    import awkward as ak
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from surrotag.analysis import get_analysis
    from surrotag.features import build_features
    from surrotag.io import read_events
    from surrotag.recast.pipeline import EXAMPLE_SIGNAL
    from surrotag.reference.ship import training_rows
    from surrotag.surrogates.storage import load_surrogate
    from surrotag.validation.data import table_spec

    surrogate, card = load_surrogate(_smoke())
    with as_file(get_analysis("zprime-ttbar-allhad").resource(EXAMPLE_SIGNAL)) as events:
        features = build_features(read_events(events), level="delphes")
    columns = {name: np.asarray(ak.to_numpy(features[name]), dtype=np.float64)
               for name in features.fields}  # fmt: skip
    matched = columns["truth_top_matched"] == 1
    columns["label"] = np.where(matched & (columns["truth_top_n_contained"] == 3), 1.0, -1.0)
    columns["split"] = np.full(len(features), "test", dtype=object)
    x, _, keep = training_rows({**columns, "tagger_logit": np.zeros(len(features))},
                               table_spec(card), split="test")  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a shared machine two threads spin (20x slower, measured)
    try:
        with torch.no_grad():
            dist = surrogate(torch.as_tensor(x, dtype=torch.float32), draws=draws)
            samples = dist.sample(generator=torch.Generator().manual_seed(1)).double().numpy()
    finally:
        torch.set_num_threads(threads)
    logit = np.full(len(features), np.nan)
    logit[keep] = samples[np.arange(x.shape[0]) % draws, np.arange(x.shape[0])]
    columns["tagger_logit"] = logit
    columns["split"] = columns["split"].astype(str)
    pq.write_table(pa.table(columns), path)
    return path


def test_cli_validate_of_a_perfect_surrogate_records_report_and_figures(tmp_path, capsys):
    """End to end without the reference cache: every truth class in every figure, pulls of a
    perfect surrogate near unit width, and --record writes validation.json by the card."""
    import shutil

    folder = tmp_path / "surrogate"
    shutil.copytree(_smoke(), folder)
    table = _self_tagged_table(tmp_path / "table.parquet", draws=4)
    out = tmp_path / "report"
    rc = main(
        ["surrogate", "validate", str(folder), str(table), "-o", str(out), "--draws", "4",
         "--record"]
    )  # fmt: skip
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    report = json.loads((out / "report.json").read_text())
    assert json.loads((folder / "validation.json").read_text()) == report
    assert report["table"]["n_top"] > 1000 and report["table"]["n_partial"] > 500
    assert set(report["c2st"]) == {"top", "partial", "qcd"}
    assert set(report["efficiency"]["pt_mass"]["cells"]["wp50"]) == {"top", "partial", "qcd"}
    figures = ("efficiency_pt_partial.png", "efficiency_mass_top.png", "pulls.png",
               "pulls_pt_mass_partial.png", "scores_pt.png", "ood.png")  # fmt: skip
    for name in figures:
        assert name in report["figures"] and (out / name).stat().st_size > 1000
    pulls = report["summaries"]["pt_mass"]["pulls"]
    assert pulls["n_cells"] >= 10
    assert abs(pulls["mean"]) < 4 * pulls["mean_error"] + 0.3, pulls  # 0.3: cells overlap in WP
    assert pulls["rms"] < 1.5, pulls
    goals = {g["name"]: g for g in report["goals"]}
    assert goals["pull RMS, 2-D cells"]["met"] is True and goals["pull RMS, 2-D cells"]["ship"]
    assert {f"two-sample AUC, {c}" for c in ("top", "partial", "qcd")} <= set(goals)
    assert "validation.json" in printed.out and "shipping goals" in printed.out


def test_cli_validate_writes_report_and_figures(tmp_path, capsys):
    table, smoke = _table(), _smoke()
    out = tmp_path / "report"
    rc = main(
        ["surrogate", "validate", str(smoke), str(table), "-o", str(out), "--n-max", "600",
         "--draws", "4"]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    for key in ("efficiency", "summaries", "agreement", "js", "c2st", "ood", "goals", "figures"):
        assert key in report
    for name in report["figures"]:
        assert (out / name).stat().st_size > 1000
    assert {"scores_pt.png", "efficiency_pt_top.png", "efficiency_pt_partial.png", "ood.png",
            "pulls.png"} <= set(report["figures"])  # fmt: skip
    js = report["js"]
    for value in (js["value"], js["noise_floor"], js["sampled"]["value"]):
        assert 0 < value < math.sqrt(math.log(2))
    for cls in ("top", "partial", "qcd"):
        assert 0 < report["c2st"][cls]["auc"] < 1
    assert "ratio" not in report["ood"]  # no ratio on a vanishing probability
    assert report["ood"]["far_score_spread"] > report["ood"]["inside_score_spread"]
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
    failed = {goal.name for goal in report.failed}
    assert "2-D cells with |pull| <= 2" in failed or "two-sample AUC, top" in failed, failed
    assert report.ship_goals_met is False
