"""Benchmark of the surrogate core: exact probabilities per second per draw on the CPU.

Run as ``python tests/benchmarks/bench_surrogate.py`` or
``pytest tests/benchmarks/bench_surrogate.py --benchmark``. Measures, on 2 threads, for a
velocity net of ~30k weights (hidden 96, depth 4): exact P(score > w) per second per draw at
the default RK4 steps, the solver error vs dopri5 at that step count, the cost of K=20
batched draws vs 20 single-draw solves, and sampling vs exact cost per object.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from surrotag.surrogates import Surrogate

__all__ = ["run"]


def _time(fn, repeat: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(n: int = 20000, n_thr: int = 4, steps: int = 8) -> dict:
    """Run the measurements and return them as a dict."""
    torch.set_num_threads(2)
    s = Surrogate(["a", "b", "c", "d"], hidden=96, depth=4, bayes="vi", steps=steps, draws=20)
    c = np.random.default_rng(0).normal(size=(n, 4))
    thr = np.linspace(-1.0, 1.0, n_thr)
    out = {"n_parameters": s.field.n_parameters(), "steps": steps, "objects": n}
    with torch.inference_mode():
        t1 = _time(lambda: s(c, draws=1).prob_above(thr))
        out["exact_probs_per_s_per_draw"] = n * n_thr / t1
        ref = s(c[:2000], draws=1, solver="dopri5").prob_above(thr)
        out["solver_error_vs_dopri5"] = float(
            (s(c[:2000], draws=1).prob_above(thr) - ref).abs().max()
        )
        m = n // 10
        t20 = _time(lambda: s(c[:m], draws=20).prob_above(thr), repeat=1)
        t1s = _time(lambda: s(c[:m], draws=1).prob_above(thr), repeat=1)
        out["batched_K20_over_20x_single"] = t20 / (20 * t1s)
        ts = _time(lambda: s(c, draws=1).sample())
        out["sample_s_per_object"] = ts / n
        out["exact_s_per_object_per_threshold"] = t1 / (n * n_thr)
    return out


@pytest.mark.benchmark
def test_bench_surrogate() -> None:
    """Throughput and batching figures (printed; asserts only sanity)."""
    res = run()
    print(res)
    assert res["solver_error_vs_dopri5"] < 1e-2


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
