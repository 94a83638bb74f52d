"""The pre-registered closure of zprime-ttbar-allhad: plan, bootstrap interval, history file."""

from __future__ import annotations

import importlib
import itertools
import json
import math
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import norm

from surrotag.analyses.zprime_ttbar_allhad import build, closure
from surrotag.analyses.zprime_ttbar_allhad.closure import (
    PATHS,
    PLAN,
    BootstrapInterval,
    ClosurePlan,
    ClosureRun,
    MassResult,
    PathResult,
    append_history,
    bootstrap_interval,
    compare_regions,
    markdown,
    read_history,
)
from surrotag.analysis import get_analysis
from surrotag.errors import AnalysisError
from surrotag.reference.official import OfficialSample

NAME = "zprime-ttbar-allhad"
#: Logit threshold of the synthetic decisions (+1 tagged, -1 not).
THRESHOLD = 0.0

# -- the plan ---------------------------------------------------------------------------------


def test_plan_seeds_are_used_by_no_other_sample():
    from surrotag.analyses.zprime_ttbar_allhad.example import SEED as EXAMPLE_SEED
    from surrotag.reference.cache import TRAINING_SET
    from surrotag.reference.generate import job_seeds

    others = {
        *build.ZPRIME_SEEDS.values(),
        *(spec.seed for spec in build.BACKGROUNDS),
        EXAMPLE_SEED,
        *itertools.chain.from_iterable(TRAINING_SET.values()),
    }
    assert not set(PLAN.seeds) & others
    assert PLAN.bootstrap_seed not in others | set(PLAN.seeds)
    # The Pythia seeds of every job, not only the master seeds, are new.
    ours = {job_seeds(seed, j)[0] for seed in PLAN.seeds for j in range(PLAN.jobs)}
    theirs = {job_seeds(seed, j)[0] for seed in others for j in range(4)}
    assert not ours & theirs
    assert len(PLAN.masses_gev) == len(PLAN.events) == len(PLAN.seeds)


#: Every pre-registered closure of the catalogue: (analysis package, plan, history file).
CLOSURES = {
    "zprime-ttbar-allhad": ("zprime_ttbar_allhad", "PLAN", "HISTORY_FILE"),
    "zprime-ttbar-allhad-particle": (
        "zprime_ttbar_allhad", "PARTICLE_PLAN", "PARTICLE_HISTORY_FILE"
    ),
    "zprime-ttbar-allhad-reship": ("zprime_ttbar_allhad", "RESHIP_PLAN", "RESHIP_HISTORY_FILE"),
    "zprime-ttbar-ljets": ("zprime_ttbar_ljets", "PLAN", "HISTORY_FILE"),
    "stop-allhad-toptag": ("stop_allhad_toptag", "PLAN", "HISTORY_FILE"),
    "stop-dilepton-nn": ("stop_dilepton_nn", "PLAN", "HISTORY_FILE"),
    "anomaly-dijet": ("anomaly_dijet", "PLAN", "HISTORY_FILE"),
}  # fmt: skip


def _closure(name: str) -> tuple[ClosurePlan, Path]:
    """(plan, history file) of one entry of :data:`CLOSURES`."""
    package, plan_name, history_name = CLOSURES[name]
    module = importlib.import_module(f"surrotag.analyses.{package}.closure")
    return getattr(module, plan_name), getattr(module, history_name)


@pytest.mark.parametrize("name", sorted(CLOSURES))
def test_committed_history_preregisters_its_plan(name):
    """The history opens with the plan as committed, and every recorded run used it."""
    plan, history = _closure(name)
    header, runs = read_history(history)
    assert header["plan"] == plan.to_dict()
    assert header["plan_sha256"] == plan.sha256()
    for run in runs:
        assert run["plan_sha256"] == plan.sha256()


def test_every_shipped_closure_history_is_checked():
    from importlib.resources import files

    root = files("surrotag.analyses")
    shipped = {
        (folder.name, entry.name)
        for folder in root.iterdir()
        if folder.is_dir()
        for entry in folder.iterdir()
        if entry.name.startswith("closure_history")
    }
    checked = {(CLOSURES[name][0], _closure(name)[1].name) for name in CLOSURES}
    assert shipped == checked


def test_plan_checks_itself():
    with pytest.raises(ValueError, match="one entry per mass"):
        ClosurePlan((1000.0,), (10, 20), (1,), 1, 2, 10, 1, 0.95, {"delphes": 0.1})
    with pytest.raises(ValueError, match="repeat"):
        ClosurePlan((1.0, 2.0), (10, 20), (7, 7), 1, 2, 10, 1, 0.95, {"delphes": 0.1})


# -- bootstrap interval -----------------------------------------------------------------------


def test_bootstrap_interval_matches_the_exact_bootstrap_distribution():
    """Five weighted 0/1 decisions: all 5^5 equally likely resamples enumerated give the exact
    bootstrap distribution of the weighted efficiency and its exact quantiles."""
    w = np.array([1.0, 0.7, 1.9, 1.0, 0.7])
    t = np.array([1.0, 0.0, 1.0, 1.0, 0.0])

    def efficiency(index):
        index = slice(None) if index is None else index
        return float(np.sum(w[index] * t[index]) / np.sum(w[index]))

    every = np.array(list(itertools.product(range(5), repeat=5)))
    exact = np.round((w[every] * t[every]).sum(1) / w[every].sum(1), 12)
    values, counts = np.unique(exact, return_counts=True)
    cdf = np.cumsum(counts) / counts.sum()
    lower = values[np.searchsorted(cdf, 0.025)]  # smallest value with F >= q
    upper = values[np.searchsorted(cdf, 0.975)]
    replicates = 20_000
    # No step of the exact CDF lies within 10 MC standard errors of either quantile level.
    assert np.min(np.abs(cdf - 0.025)) > 10 * math.sqrt(0.025 * 0.975 / replicates)
    interval = bootstrap_interval(efficiency, 5, replicates, np.random.default_rng(3), 0.95)
    assert interval.central == pytest.approx(3.9 / 5.3)
    assert interval.lower == pytest.approx(lower, abs=1e-9)
    assert interval.upper == pytest.approx(upper, abs=1e-9)
    assert interval.contains(interval.central) and not interval.contains(lower - 1e-6)
    assert interval.n_infinite == 0 and interval.replicates == replicates


def test_bootstrap_interval_of_a_weighted_yield_is_the_normal_one():
    """The resampled sum of w t over N events has variance N var(w t) (multinomial counts):
    for N = 2000 the 95 % interval is the central value +- 1.96 of that."""
    rng = np.random.default_rng(4)
    n = 2000
    w = rng.lognormal(0.0, 0.5, n)
    t = (rng.uniform(size=n) < 0.3).astype(float)

    def total(index):
        index = slice(None) if index is None else index
        return float(np.sum(w[index] * t[index]))

    interval = bootstrap_interval(total, n, 4000, np.random.default_rng(5), 0.95)
    sd = math.sqrt(n * np.var(w * t))
    z = norm.ppf(0.975)
    assert interval.central == pytest.approx(total(None))
    assert interval.lower == pytest.approx(interval.central - z * sd, abs=0.2 * sd)
    assert interval.upper == pytest.approx(interval.central + z * sd, abs=0.2 * sd)
    assert interval.std == pytest.approx(sd, rel=0.05)


def _decisions(n: int, seed: int) -> OfficialSample:
    """Z'-like events: mjj around 2 TeV, 80 % selected, each jet tagged with probability 0.5
    (logit +1 or -1 against the threshold 0); every generated event is in the sample."""
    rng = np.random.default_rng(seed)
    weight = rng.uniform(0.5, 1.5, n)
    return OfficialSample.from_arrays(
        weight=weight,
        selected=rng.uniform(size=n) < 0.8,
        values={"mjj": rng.normal(2000.0, 150.0, n)},
        logits=np.where(rng.uniform(size=(n, 2)) < 0.5, 1.0, -1.0),
        sigma_pb=0.02,
        sum_weights=float(weight.sum()),
    )


def test_official_yields_count_the_decisions_and_follow_a_resample():
    card = get_analysis(NAME).card
    events = _decisions(3000, seed=6)
    yields = events.yields(card, THRESHOLD)
    factor = events.sigma_pb * 1000.0 * card.luminosity_ifb / events.weight.sum()
    edges = card.region("SR").observable.bin_edges
    mjj, tags = events.values["mjj"], events.decisions(THRESHOLD)
    inside = events.selected & (mjj >= edges[0]) & (mjj <= edges[-1])
    both = tags[:, 0] * tags[:, 1]
    one = tags[:, 0] + tags[:, 1] - 2 * both
    assert yields["SR"].nominal.sum() == pytest.approx(
        factor * np.sum(events.weight * both * inside)
    )
    assert yields["CR"].nominal.sum() == pytest.approx(
        factor * np.sum(events.weight * one * inside)
    )
    # Every event twice: the same yields (the normalisation follows the resampled weights),
    # with MC statistical errors smaller by sqrt 2.
    twice = events.yields(card, THRESHOLD, np.repeat(np.arange(events.n_events), 2))
    np.testing.assert_allclose(twice["SR"].nominal, yields["SR"].nominal, rtol=1e-12)
    np.testing.assert_allclose(
        twice["SR"].mc_stat_error, yields["SR"].mc_stat_error / math.sqrt(2), rtol=1e-12
    )


def test_bootstrap_of_the_official_expected_limit_runs_on_the_shipped_workspace():
    analysis = get_analysis(NAME)
    events = _decisions(2000, seed=7)
    workspace = analysis.workspace()

    def mu_up(index):
        yields = events.yields(analysis.card, THRESHOLD, index)
        return closure.expected_mu_up(workspace, analysis.card, yields)

    interval = bootstrap_interval(mu_up, events.n_events, 2, np.random.default_rng(8))
    assert 0 < interval.lower <= interval.upper < math.inf
    assert math.isfinite(interval.central) and interval.central > 0


# -- comparison and record ---------------------------------------------------------------------


def test_compare_regions_uses_the_decision_noise_and_the_tolerance():
    from surrotag.yields import Yields

    official = {"SR": Yields.from_nominal([60.0, 40.0], [6.0, 8.0])}  # sum w^2 t = 100
    close = SimpleNamespace(total=108.0, total_mc_stat=6.0, total_surrogate=3.0)
    far = SimpleNamespace(total=125.0, total_mc_stat=6.0, total_surrogate=3.0)
    (a,) = compare_regions(official, {"SR": close}, 0.10)
    (b,) = compare_regions(official, {"SR": far}, 0.10)
    assert a.tag_noise == pytest.approx(8.0)  # sqrt(100 - 36)
    assert a.sigma == pytest.approx(math.hypot(3.0, 8.0))
    assert a.allowed == pytest.approx(2 * math.hypot(3.0, 8.0))  # 17.1 > 10 % of 100
    assert a.closes and not b.closes
    assert a.pull == pytest.approx(8.0 / math.hypot(3.0, 8.0))


def _run(closes: bool, masses=PLAN.masses_gev) -> ClosureRun:
    interval = BootstrapInterval(0.6, 0.5, 0.7, 0.95, 200, 0.6, 0.05, 0)
    region = compare_regions(
        {"SR": __import__("surrotag.yields", fromlist=["Yields"]).Yields.from_nominal([10.0])},
        {"SR": SimpleNamespace(total=10.5, total_mc_stat=0.0, total_surrogate=0.5)},
        0.1,
    ) + compare_regions(
        {"CR": __import__("surrotag.yields", fromlist=["Yields"]).Yields.from_nominal([30.0])},
        {"CR": SimpleNamespace(total=30.0, total_mc_stat=0.0, total_surrogate=1.0)},
        0.1,
    )
    paths = tuple(
        PathResult(name, region, 0.65 if closes else 0.9, closes, 0.0, 1.0)
        for name in closure.PATHS
    )
    rows = tuple(
        MassResult(m, {"file": "x.parquet"}, {"SR": 10.0, "CR": 30.0}, interval, paths)
        for m in masses
    )
    return ClosureRun("2025-01-01T00:00:00+00:00", "abc", False, PLAN, {"tagger": "0" * 64}, rows)


def test_a_run_passes_when_the_primary_path_closes_at_every_planned_mass():
    assert _run(True).passed and not _run(False).passed
    partial = _run(True, masses=PLAN.masses_gev[:2])
    assert not partial.complete and not partial.passed
    document = _run(True).to_dict()
    json.dumps(document, allow_nan=False)
    table = markdown(document)
    assert "PASSED" in table
    assert len([line for line in table.splitlines() if line.startswith("| 1000 |")]) == len(
        PATHS
    )  # delphes, particle, parton: surrogate and map
    assert "0.6 [0.5, 0.7]" in table


def test_history_is_appended_atomically_and_never_rewritten(tmp_path, monkeypatch):
    import surrotag.io.atomic as atomic

    path = tmp_path / "history.jsonl"
    append_history({"kind": "closure-run", "n": 0}, path)  # creates it, header first
    header, runs = read_history(path)
    assert header["plan_sha256"] == PLAN.sha256() and runs == [{"kind": "closure-run", "n": 0}]
    before = path.read_bytes()
    # Concurrent runs append one after the other: no line lost, the old ones untouched.
    errors = []

    def worker(k: int) -> None:
        try:
            for j in range(5):
                append_history({"kind": "closure-run", "n": 100 * k + j + 1}, path)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert path.read_bytes().startswith(before)
    _, runs = read_history(path)
    assert sorted(r["n"] for r in runs) == sorted([0] + [100 * k + j + 1 for k in range(6)
                                                         for j in range(5)])  # fmt: skip
    # An append interrupted before the final rename leaves the history as it was.
    before = path.read_bytes()

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        append_history({"kind": "closure-run", "n": -1}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["history.jsonl"]
    # Another plan, or a cut last line, is refused.
    other = ClosurePlan((1.0,), (10,), (99,), 1, 2, 10, 1, 0.95, {"delphes": 0.1})
    with pytest.raises(AnalysisError, match="differs from this plan"):
        append_history({"kind": "closure-run"}, path, other)
    path.write_bytes(before + b'{"kind": "clos')
    with pytest.raises(AnalysisError, match="cut"):
        append_history({"kind": "closure-run"}, path)


def test_closure_without_the_reference_samples_fails_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SURROTAG_DATA", str(tmp_path))
    history = closure.HISTORY_FILE.read_bytes()
    rc = closure.main([])
    out = capsys.readouterr()
    lines = (out.out + out.err).strip().splitlines()
    assert rc == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "`surrotag reference pipeline`" in lines[0]
    assert str(tmp_path) in lines[0]
    assert closure.HISTORY_FILE.read_bytes() == history
