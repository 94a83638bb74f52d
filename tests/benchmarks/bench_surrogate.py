"""Benchmark of the surrogate core on the CPU: exact tag probabilities per second per draw.

Run as ``python tests/benchmarks/bench_surrogate.py [--json OUT]`` or
``pytest tests/benchmarks/bench_surrogate.py --benchmark -s``. Every figure comes from one
run on this machine (torch threads = 2):

1. trains a VI surrogate of the default architecture (about 30k weights, the size of
   arXiv:2402.15558's networks) on a closed-form case with 4 features, so that the solver
   error is that of a trained velocity field, not of random weights;
2. for RK4 step counts 3..8: the maximum |P_rk4 - P_dopri5| (dopri5 at rtol 1e-7) over 2000
   objects x 4 thresholds, and exact probabilities per second per draw;
3. K = 20 draws in one batched solve against 20 solves of one draw;
4. sampling at equal precision: a sampled tag decision estimates P with variance
   P(1-P)/n, so matching the exact method's solver error eps at P = 0.5 takes
   n = 0.25 / eps^2 samples per object; the cost ratio is n * t_sample / t_exact.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import pytest
import torch

from surrotag.surrogates import TrainConfig, train_surrogate

__all__ = ["run"]

N_OBJECTS = 20_000
THRESHOLDS = np.array([-1.0, -0.3, 0.3, 1.0])


def _best_time(fn, repeat: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _closed_form(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(n, 4))
    return c, rng.normal(c[:, 0] + 0.5 * c[:, 2], 0.5 + 0.3 * np.abs(c[:, 1]))


def run() -> dict:
    """Run every measurement and return the figures."""
    torch.set_num_threads(2)
    c, x = _closed_form(20_000, seed=1)
    model, report = train_surrogate(
        c,
        x,
        feature_names=["c1", "c2", "c3", "c4"],
        bayes="vi",
        config=TrainConfig(epochs=10, seed=0, draws=20),
    )
    out: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        "n_parameters": model.field.n_parameters(),
        "n_parameters_per_step": model.field.n_step_parameters(),
        "train_seconds": report.seconds,
        "objects": N_OBJECTS,
        "thresholds": len(THRESHOLDS),
    }
    cb, _ = _closed_form(N_OBJECTS, seed=2)
    with torch.inference_mode():
        reference = model(cb[:2000], draws=1, solver="dopri5").prob_above(THRESHOLDS)
        per_steps = {}
        for steps in (3, 4, 6, 8):
            error = float(
                (model(cb[:2000], draws=1, steps=steps).prob_above(THRESHOLDS) - reference)
                .abs()
                .max()
            )
            seconds = _best_time(lambda s=steps: model(cb, draws=1, steps=s).prob_above(THRESHOLDS))
            per_steps[steps] = {
                "solver_error": error,
                "exact_probs_per_s_per_draw": N_OBJECTS * len(THRESHOLDS) / seconds,
            }
        out["per_steps"] = per_steps
        steps = model.steps
        out["default_steps"] = steps
        out["solver_error_at_default"] = per_steps[steps]["solver_error"]
        out["exact_probs_per_s_per_draw"] = per_steps[steps]["exact_probs_per_s_per_draw"]

        m = N_OBJECTS // 4
        t_batched = _best_time(lambda: model(cb[:m], draws=20).prob_above(THRESHOLDS), repeat=2)
        t_single = _best_time(lambda: model(cb[:m], draws=1).prob_above(THRESHOLDS), repeat=2)
        out["batched_K20_over_20x_single"] = t_batched / (20 * t_single)

        t_sample = _best_time(lambda: model(cb, draws=1).sample()) / N_OBJECTS
        t_exact = 1.0 / out["exact_probs_per_s_per_draw"]
        eps = max(out["solver_error_at_default"], 1e-6)
        n_samples = 0.25 / eps**2
        out["sample_seconds_per_object"] = t_sample
        out["exact_seconds_per_probability"] = t_exact
        out["samples_for_equal_precision"] = n_samples
        out["sampling_over_exact_cost_at_equal_precision"] = n_samples * t_sample / t_exact
    return out


@pytest.mark.benchmark
def test_bench_surrogate() -> None:
    """Throughput and batching figures (printed; asserts only that the solver converges)."""
    result = run()
    print(json.dumps(result, indent=1))
    assert result["solver_error_at_default"] < 1e-2


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args()
    figures = run()
    print(json.dumps(figures, indent=1))
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(figures, stream, indent=1)
