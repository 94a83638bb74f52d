"""The solve's thread policy (``surrotag.surrogates.threads``) and chunk size (issue 21).

The policy splits a solve into whole chunks on worker threads, each running torch on one
intra-op thread (no parallel barrier to stall at), honours an explicit count (argument,
then ``SURROTAG_THREADS``), restores torch's count after the solve, and neither the number
of workers nor the chunk size may change a probability beyond float rounding (the number
of workers: not at all).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from surrotag.surrogates import Surrogate, SurrogateInputError, flow, threads
from surrotag.surrogates.threads import (
    ENV_VAR,
    choose_threads,
    parse_threads,
    solve_threads,
    solve_workers,
    summarize_plans,
)
from surrotag.surrogates.velocity import TrunkSolve


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("auto", None), ("", None), ("0", None), (0, None), ("3", 3), (2, 2)],
)
def test_parse_threads(value, expected) -> None:
    assert parse_threads(value) == expected


@pytest.mark.parametrize("value", ["-1", "two", -2, 1.5, True])
def test_parse_threads_refuses(value) -> None:
    with pytest.raises(SurrogateInputError, match="positive integer or 'auto'"):
        parse_threads(value)


@pytest.mark.parametrize("cores", [1, 2, 4])
def test_auto_uses_the_usable_cores(monkeypatch, cores) -> None:
    """Workers never wait at a barrier, so auto takes every usable core, busy or not."""
    monkeypatch.setattr(threads, "usable_cores", lambda: cores)
    plan = choose_threads()
    assert (plan.threads, plan.source, plan.cores_usable) == (cores, "auto", cores)
    assert f"{cores} usable core(s)" in plan.reason


def test_auto_is_capped_by_omp_num_threads(monkeypatch) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    plan = choose_threads()
    assert plan.threads == 2 and "OMP_NUM_THREADS=2" in plan.reason


def test_explicit_count_wins(monkeypatch) -> None:
    """The argument, then SURROTAG_THREADS."""
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setenv(ENV_VAR, "2")
    plan = choose_threads()
    assert (plan.threads, plan.source) == (2, f"env {ENV_VAR}")
    plan = choose_threads(3)
    assert (plan.threads, plan.source) == (3, "argument")
    monkeypatch.setenv(ENV_VAR, "auto")
    assert choose_threads().source == "auto"
    monkeypatch.setenv(ENV_VAR, "many")
    with pytest.raises(SurrogateInputError):
        choose_threads()


def test_solve_threads_applies_and_restores() -> None:
    """Inside: one intra-op thread and the plan's workers; after (even on error): as before."""
    torch.set_num_threads(2)
    assert solve_workers() is None
    with solve_threads(3) as plan:
        assert torch.get_num_threads() == 1 and plan.previous == 2
        assert solve_workers() == 3
    assert torch.get_num_threads() == 2 and solve_workers() is None
    with pytest.raises(RuntimeError), solve_threads(1):
        raise RuntimeError("solve failed")
    assert torch.get_num_threads() == 2 and solve_workers() is None


def test_summarize_plans() -> None:
    plans = [choose_threads(1).to_dict(), choose_threads(2).to_dict()]
    record = summarize_plans(plans, "auto")
    assert record["setting"] == "auto" and record["solves"] == 2 and record["used"] == [1, 2]
    assert record["first"]["threads"] == 1 and record["last"]["threads"] == 2
    assert summarize_plans([], 3) | {"env": None} == {
        "setting": 3,
        "env": None,
        "solves": 0,
        "used": [],
        "first": None,
        "last": None,
    }


def test_chunk_rows_rule() -> None:
    assert flow.chunk_rows("cpu", 1) == flow.CHUNK_ROWS == 2048
    assert flow.chunk_rows("cpu", 2) == flow.CHUNK_ROWS_THREADED == 16_384
    assert flow.chunk_rows("meta", 8) == flow.CHUNK_ROWS
    for workers in (1, 2, 5):  # workers: one chunk size whatever their number
        with solve_threads(workers):
            assert flow.chunk_rows("cpu") == flow.CHUNK_ROWS_WORKERS == 8192


@pytest.fixture(scope="module")
def solve_case() -> tuple[Surrogate, torch.Tensor, np.ndarray]:
    """A surrogate and 2500 objects x 4 thresholds x 2 draws = 20k rows: 2 and 10 chunks."""
    torch.manual_seed(0)
    model = Surrogate(["a", "b"], hidden=32, depth=2, bayes="vi", draws=2)
    with torch.no_grad():
        for parameter in model.parameters():  # a field far from the identity map
            parameter.mul_(3.0)
    c = torch.as_tensor(np.random.default_rng(1).normal(size=(2500, 2)), dtype=torch.float32)
    return model, c, np.array([-1.0, -0.2, 0.4, 1.3])


def _probabilities(case, chunk: int, n_threads: int) -> np.ndarray:
    model, c, thresholds = case
    saved = flow.CHUNK_ROWS, flow.CHUNK_ROWS_THREADED, flow.CHUNK_ROWS_WORKERS
    flow.CHUNK_ROWS = flow.CHUNK_ROWS_THREADED = flow.CHUNK_ROWS_WORKERS = chunk
    try:
        with solve_threads(n_threads):
            return model(c, draws=2).prob_above(thresholds).double().numpy()
    finally:
        flow.CHUNK_ROWS, flow.CHUNK_ROWS_THREADED, flow.CHUNK_ROWS_WORKERS = saved


def test_chunk_size_and_threads_do_not_change_probabilities(solve_case) -> None:
    """Chunks of 2048 and 16,384 rows, 1 and 2 workers: the same probabilities to 1e-6."""
    reference = _probabilities(solve_case, 2048, 1)
    assert reference.shape == (2, 2500, 4)
    assert 0.01 < reference.mean() < 0.99 and reference.std() > 0.05  # not a trivial case
    for chunk, n_threads in ((16_384, 1), (2048, 2), (16_384, 2)):
        np.testing.assert_allclose(
            _probabilities(solve_case, chunk, n_threads), reference, rtol=0, atol=1e-6
        )


def test_workers_give_identical_probabilities_and_run_in_parallel(solve_case, monkeypatch) -> None:
    """1, 2 and 3 workers: the same chunks, so the same bits; more than one thread solves."""
    one = _probabilities(solve_case, 2048, 1)
    seen: set[int] = set()
    original = TrunkSolve.__call__

    def spy(self, *args, **kwargs):
        seen.add(threading.get_ident())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TrunkSolve, "__call__", spy)
    for workers in (2, 3):
        seen.clear()
        np.testing.assert_array_equal(_probabilities(solve_case, 2048, workers), one)
        assert len(seen) > 1, f"{workers} workers: the solve ran on one thread"
    seen.clear()
    _probabilities(solve_case, 2048, 1)
    assert seen == {threading.get_ident()}


@pytest.mark.parametrize(("train_threads", "bayes"), [(1, "mcmc"), (None, "none")])
def test_training_runs_on_train_threads_and_restores(train_threads, bayes) -> None:
    """Every progress event of the training (epochs, bootstrap refits, posterior stages) sees
    ``train_threads`` intra-op threads (None: torch's own count); the count is restored."""
    from surrotag.surrogates.train import TrainConfig, train_surrogate

    rng = np.random.default_rng(3)
    c = rng.normal(size=(600, 2))
    x = c[:, 0] + 0.5 * rng.normal(size=600)
    seen: list[tuple[int, str]] = []
    torch.set_num_threads(2)
    cfg = TrainConfig(
        hidden=8, cond_hidden=8, epochs=2, steps=4, draws=4, mcmc_chains=2, mcmc_adam_steps=5,
        mcmc_hessian_rows=256, mcmc_calibration_rows=200, train_threads=train_threads,
    )  # fmt: skip

    def record(event: dict) -> None:
        seen.append((torch.get_num_threads(), event.get("stage", "epoch")))

    train_surrogate(c, x, feature_names=["c1", "c2"], bayes=bayes, config=cfg, progress=record)
    stages = {stage for _, stage in seen}
    assert {"epoch"} <= stages and (bayes == "none" or {"bootstrap", "chains"} <= stages)
    assert {n for n, _ in seen} == {1 if train_threads == 1 else 2}
    assert torch.get_num_threads() == 2
