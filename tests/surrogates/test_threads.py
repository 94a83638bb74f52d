"""The solve's thread policy (``surrotag.surrogates.threads``) and chunk size (issue 21).

The policy must give one thread whenever other processes hold the cores, honour an explicit
count (argument, then ``SURROTAG_THREADS``), restore torch's count after the solve, and
neither the thread count nor the chunk size may change a probability beyond float rounding.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from surrotag.surrogates import Surrogate, SurrogateInputError, flow, threads
from surrotag.surrogates.threads import (
    ENV_VAR,
    choose_threads,
    forget_measurement,
    idle_cores,
    parse_threads,
    solve_threads,
    summarize_plans,
)


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    forget_measurement()
    previous = torch.get_num_threads()
    yield
    forget_measurement()
    torch.set_num_threads(previous)


def _machine(monkeypatch: pytest.MonkeyPatch, cores: int, idle: float | None) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: cores)
    monkeypatch.setattr(threads, "idle_cores", lambda seconds=0.0: idle)


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


@pytest.mark.parametrize(
    ("idle", "expected"),
    [(0.0, 1), (0.9, 1), (1.5, 1), (1.8, 2), (2.0, 2), (3.9, 4), (8.0, 4)],
)
def test_auto_uses_only_idle_cores(monkeypatch, idle, expected) -> None:
    """n threads only when n - 0.25 cores are idle; at least 1, at most the usable cores."""
    _machine(monkeypatch, cores=4, idle=idle)
    plan = choose_threads()
    assert plan.threads == expected and plan.source == "auto"
    assert plan.idle_cores == idle and plan.cores_usable == 4
    assert f"{idle:.2f} of 4 usable cores idle" in plan.reason
    assert ("oversubscribed" in plan.reason) == (expected == 1)


def test_auto_falls_back_to_load_average(monkeypatch) -> None:
    _machine(monkeypatch, cores=2, idle=None)
    monkeypatch.setattr(threads, "_load_average", lambda: (1.5, 1.0, 1.0))
    plan = choose_threads()
    assert plan.threads == 1 and "load 1.50 on 2 cores" in plan.reason
    monkeypatch.setattr(threads, "_load_average", lambda: (0.1, 0.1, 0.1))
    assert choose_threads().threads == 2


def test_auto_is_capped_by_omp_num_threads(monkeypatch) -> None:
    _machine(monkeypatch, cores=4, idle=4.0)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    plan = choose_threads()
    assert plan.threads == 2 and "OMP_NUM_THREADS=2" in plan.reason


def test_explicit_count_wins(monkeypatch) -> None:
    """The argument, then SURROTAG_THREADS; neither measures the load."""
    _machine(monkeypatch, cores=2, idle=0.0)
    monkeypatch.setenv(ENV_VAR, "2")
    plan = choose_threads()
    assert (plan.threads, plan.source, plan.idle_cores) == (2, f"env {ENV_VAR}", None)
    plan = choose_threads(3)
    assert (plan.threads, plan.source) == (3, "argument")
    monkeypatch.setenv(ENV_VAR, "auto")
    assert choose_threads().source == "auto"
    monkeypatch.setenv(ENV_VAR, "many")
    with pytest.raises(SurrogateInputError):
        choose_threads()


def test_measurement_is_reused(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(threads, "idle_cores", lambda seconds=0.0: calls.append(1) or 2.0)
    choose_threads()
    choose_threads()
    assert len(calls) == 1
    forget_measurement()
    choose_threads()
    assert len(calls) == 2


def test_solve_threads_applies_and_restores(monkeypatch) -> None:
    torch.set_num_threads(2)
    with solve_threads(1) as plan:
        assert torch.get_num_threads() == 1 and plan.previous == 2
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), solve_threads(1):
        raise RuntimeError("solve failed")
    assert torch.get_num_threads() == 2


def test_idle_cores_reads_proc_stat(monkeypatch, tmp_path: Path) -> None:
    """Idle + iowait ticks of the usable cores over the sleep, as a number of cores."""
    stat = tmp_path / "stat"
    header = "cpu  0 0 0 0 0 0 0 0 0 0\n"
    stat.write_text(header + "cpu0 100 0 0 100 0 0 0 0 0 0\ncpu1 100 0 0 100 0 0 0 0 0 0\n")

    def sleep(seconds: float) -> None:  # cpu0: 10 busy ticks; cpu1: 8 idle + 2 iowait
        stat.write_text(
            header + "cpu0 110 0 0 100 0 0 0 0 0 0\ncpu1 100 0 0 108 2 0 0 0 0 0\nintr 5\n"
        )

    monkeypatch.setattr(threads.time, "sleep", sleep)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert idle_cores(0.1, stat) == pytest.approx(1.0)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {1}, raising=False)
    assert idle_cores(0.1, stat) == pytest.approx(1.0)
    assert idle_cores(0.1, tmp_path / "absent") is None


def test_idle_cores_on_this_machine() -> None:
    if not Path("/proc/stat").is_file():
        pytest.skip("no /proc/stat on this OS")
    idle = idle_cores(0.05)
    assert idle is not None and 0.0 <= idle <= threads.usable_cores() + 1e-9


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
    saved = flow.CHUNK_ROWS, flow.CHUNK_ROWS_THREADED
    flow.CHUNK_ROWS = flow.CHUNK_ROWS_THREADED = chunk
    try:
        with solve_threads(n_threads):
            return model(c, draws=2).prob_above(thresholds).double().numpy()
    finally:
        flow.CHUNK_ROWS, flow.CHUNK_ROWS_THREADED = saved


def test_chunk_size_and_threads_do_not_change_probabilities(solve_case) -> None:
    """Chunks of 2048 and 16,384 rows, 1 and 2 threads: the same probabilities to 1e-6."""
    reference = _probabilities(solve_case, 2048, 1)
    assert reference.shape == (2, 2500, 4)
    assert 0.01 < reference.mean() < 0.99 and reference.std() > 0.05  # not a trivial case
    for chunk, n_threads in ((16_384, 1), (2048, 2), (16_384, 2)):
        np.testing.assert_allclose(
            _probabilities(solve_case, chunk, n_threads), reference, rtol=0, atol=1e-6
        )
