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

Steps 1-4 (``--solver-study``) use a toy model trained here. The figures of issue 7 come
from the SHIPPED surrogate ``top-tagger-delphes`` (:func:`run_shipped`,
:func:`surrotag.surrogates.registry.resolve_surrogate`) on real features: the fat jets of
the shipped example signal of ``zprime-ttbar-allhad`` (2000 generated Z' -> t tbar events,
``build_features``), tiled to N objects, at the card's three working points (wp30/50/70) and
its solver (RK4, 12 steps):

5. exact tag probabilities per second per draw (K = 1, N x 3 probabilities per call), on
   the CPU with 2 torch threads and, where CUDA exists, on the GPU (else the result says
   ``no CUDA device``);
6. K = 20 draws in one batched call against 20 calls of one draw;
7. GPU only: achieved TFLOP/s from a FLOP count of the velocity MLP
   (:func:`velocity_flops`: trunk per RK4 stage x 4 stages x steps per (object, threshold,
   draw), plus the conditioner once per (object, draw)) and the fraction of the fp32 peak
   (:func:`fp32_peak_tflops`), with the shipped solve chunking and with one large chunk.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from surrotag.surrogates import TrainConfig, train_surrogate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import example_signal, machine, main_parser, portable_path, write_results

__all__ = [
    "FP32_PEAK_TFLOPS",
    "SHIPPED",
    "fp32_peak_tflops",
    "run",
    "run_shipped",
    "shipped_features",
    "velocity_flops",
]

#: The shipped surrogate of the issue-7 figures.
SHIPPED = "top-tagger-delphes"
#: Dense fp32 (non-tensor-core) peak in TFLOP/s by device name (vendor data sheets: boost
#: clock x SMs x 128 fp32 lanes x 2 for FMA). H100 SXM5: 132 SMs x 1.98 GHz = 66.9; H100
#: PCIe: 114 SMs x 1.755 GHz = 51.2; H100 NVL 60.0; H200 (SXM, same GH100 die and clocks as
#: H100 SXM): 66.9; GH200: 66.9; A100: 19.5; L40S: 91.6; RTX 4090: 82.6. Matched in order,
#: so the more specific names come first.
FP32_PEAK_TFLOPS: dict[str, float] = {
    "H100 PCIe": 51.2,
    "H100 NVL": 60.0,
    "GH200": 66.9,
    "H200": 66.9,
    "H100": 66.9,
    "A100": 19.5,
    "L40S": 91.6,
    "RTX 4090": 82.6,
}
#: fp32 lanes per SM by compute capability (CUDA programming guide, arithmetic throughput).
_FP32_PER_SM = {(7, 0): 64, (8, 0): 64, (8, 6): 128, (8, 9): 128, (9, 0): 128}

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
        for steps in sorted({3, 4, 6, 8, model.steps}):  # the model's own grid at its steps
            kw = {} if steps == model.steps else {"steps": steps}
            error = float(
                (model(cb[:2000], draws=1, **kw).prob_above(THRESHOLDS) - reference).abs().max()
            )
            seconds = _best_time(lambda kw=kw: model(cb, draws=1, **kw).prob_above(THRESHOLDS))
            per_steps[steps] = {
                "solver_error": error,
                "exact_probs_per_s_per_draw": N_OBJECTS * len(THRESHOLDS) / seconds,
            }
        out["per_steps"] = per_steps
        steps = model.steps
        out["default_steps"] = steps
        out["grid_power"] = model.grid_power
        out["nodes"] = None if model.nodes is None else list(model.nodes)
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


def shipped_features(n_objects: int) -> np.ndarray:
    """Real fat-jet features ``[n_objects, F]`` of the shipped surrogate's card.

    The fat jets of the shipped example signal (``build_features`` at Delphes level, the
    card's fills applied), tiled to ``n_objects`` rows.
    """
    from surrotag.features import build_features
    from surrotag.io import read_events
    from surrotag.surrogates.card import load_card
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.tagging import feature_matrix

    card = load_card(resolve_surrogate(SHIPPED))
    events = read_events([example_signal()], level="delphes")
    table = build_features(events, level="delphes", features=card.feature_names)
    x = feature_matrix(table, card.feature_names, card.feature_fills)
    return np.tile(x, (-(-n_objects // len(x)), 1))[:n_objects]


def velocity_flops(field: Any, n: int, m: int, k: int, steps: int) -> dict[str, float]:
    """FLOPs of ``prob_above`` for n objects x m thresholds x k draws with RK4 ``steps``.

    Counted as 2 per multiply-add of every matmul, 1 per bias add or elementwise add; the
    SiLU and erfc evaluations (transcendental) are not counted, as in the usual MLP
    convention. Per (object, draw): the conditioner (:meth:`VelocityField.condition`),
    once; per RK4 stage and (object, draw): ``hc`` + time term (H); per RK4 stage and
    (object, threshold, draw): the trunk (``x w_x + base``: 2H; each hidden layer 2H^2 + H;
    output 2H + 1); per RK4 step and row: the state updates (12).

    Returns:
        ``{"conditioner", "trunk", "total"}`` FLOPs and ``per_stage_row`` (trunk FLOPs per row
        and stage).
    """
    f, h, c = field.n_features, field.hidden, field.cond_hidden
    cond, fan = 0.0, f
    for _ in range(field.cond_depth):
        cond += 2 * fan * c + c
        fan = c
    cond += 2 * fan * h + h
    per_row = 2 * h + (field.depth - 1) * (2 * h * h + h) + 2 * h + 1
    stages = 4 * steps
    trunk = k * n * stages * h + k * n * m * (stages * per_row + 12 * steps)
    return {
        "conditioner": float(k * n * cond),
        "trunk": float(trunk),
        "total": float(k * n * cond + trunk),
        "per_stage_row": float(per_row),
    }


def fp32_peak_tflops(device: int = 0) -> tuple[float | None, str]:
    """The GPU's dense fp32 peak (TFLOP/s) and where the number comes from.

    From :data:`FP32_PEAK_TFLOPS` by the name ``torch.cuda.get_device_properties`` gives;
    otherwise SMs x fp32 lanes per SM (by compute capability) x 2 x the SM clock (the
    properties' ``clock_rate`` where this torch exposes it).
    """
    import torch

    props = torch.cuda.get_device_properties(device)
    for name, peak in FP32_PEAK_TFLOPS.items():
        if name.lower() in props.name.lower():
            return peak, f"table FP32_PEAK_TFLOPS[{name!r}] (device {props.name!r})"
    lanes = _FP32_PER_SM.get((props.major, props.minor))
    clock_khz = getattr(props, "clock_rate", None)
    if lanes and clock_khz:
        peak = props.multi_processor_count * lanes * 2 * clock_khz * 1e3 / 1e12
        return peak, (
            f"{props.multi_processor_count} SMs x {lanes} lanes x 2 x {clock_khz / 1e6:.3f} GHz"
        )
    return None, f"unknown device {props.name!r}: add it to FP32_PEAK_TFLOPS"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _shipped_rates(
    model: Any, x: torch.Tensor, thresholds: np.ndarray, device: str, repeat: int
) -> dict[str, Any]:
    """Exact-probability throughput of one device: K=1, K=20 batched, 20 x K=1."""
    n, m = x.shape[0], len(thresholds)
    steps = model.steps

    def call(rows: torch.Tensor, k: int) -> None:
        model(rows, draws=k).prob_above(thresholds)
        _sync(device)

    t1 = _best_time(lambda: call(x, 1), repeat=repeat)
    rate = n * m / t1
    flops = velocity_flops(model.field, n, m, 1, steps)
    out: dict[str, Any] = {
        "objects": n,
        "thresholds": m,
        "rk4_steps": steps,
        "grid_power": model.grid_power,
        "seconds_k1": t1,
        "exact_probs_per_s_per_draw": rate,
        "flops_per_probability": flops["total"] / (n * m),
        "achieved_tflops": flops["total"] / t1 / 1e12,
    }
    few = x[: max(1, n // 20)]
    t_batched = _best_time(lambda: call(few, 20), repeat=repeat)
    t_single = _best_time(lambda: call(few, 1), repeat=repeat)
    out.update(
        batched_objects=len(few),
        seconds_k20_batched=t_batched,
        seconds_k1_on_batched_objects=t_single,
        batched_K20_over_20x_single=t_batched / (20 * t_single),
        exact_probs_per_s_per_draw_k20=20 * len(few) * m / t_batched,
    )
    return out


def trunk_roofline(model: Any, k: int = 20, rows: int = 8192, repeat: int = 3) -> dict:
    """The trunk's evaluations in a solve against their own matrix multiplies, one CPU thread.

    One chunk of a solve as a worker solves it (K = ``k`` draws x ``rows`` rows, one value
    per object, the surrogate's RK4 steps and time grid): the time per evaluation of the
    velocity trunk inside a whole graph-free RK4 solve
    (:class:`~surrotag.surrogates.velocity.TrunkSolve`, its conditioning term given; the
    solver's own state updates included), against the time of its hidden-layer matrix
    multiplies alone (``bmm`` of the same shapes), which run at this machine's measured
    matmul speed. The ratio is the fraction of the matmul roofline that the whole
    evaluation reaches (issue 21: >= 70%); the rest is element-wise work (SiLU, the first
    layer's rank-one update, the time term, the output). The same solve through the
    graph-capable evaluation (:meth:`~surrotag.surrogates.velocity.VelocityField.__call__`,
    fresh tensors at every call) is timed beside it (``seconds_trunk_graph_capable``).
    """
    from surrotag.surrogates.ode import rk4

    field = model.field
    w = {name: value[:k] for name, value in model.weights.draws(k, torch.Generator()).items()}
    n = rows // k
    hc = torch.randn(k, n, field.hidden, generator=torch.Generator().manual_seed(0))
    state = torch.randn(k, n, 1, generator=torch.Generator().manual_seed(1))
    z = torch.randn(k, n, field.hidden)
    steps, power, nodes = model.steps, model.grid_power, model.nodes
    evaluations = 4 * steps
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            t_trunk = _best_time(
                lambda: rk4(field.solve_trunk(w, hc, 1), state, 1.0, 0.0, steps, power, nodes),
                repeat=max(repeat, 5) * 3,
            )
            t_graph = _best_time(
                lambda: rk4(lambda t, x: field(w, x, t, hc), state, 1.0, 0.0, steps, power, nodes),
                repeat=max(repeat, 5) * 3,
            )
            layers = [w[f"h{i}_w"].transpose(1, 2) for i in range(field.depth - 1)]
            t_mm = _best_time(lambda: [torch.bmm(z, m) for m in layers], repeat=max(repeat, 5) * 20)
    finally:
        torch.set_num_threads(previous)
    flops_mm = 2.0 * k * n * field.hidden**2 * (field.depth - 1)
    return {
        "draws": k,
        "rows": k * n,
        "threads": 1,
        "rk4_steps": steps,
        "grid_power": power,
        "nodes": None if nodes is None else list(nodes),
        "seconds_trunk": t_trunk / evaluations,
        "seconds_trunk_graph_capable": t_graph / evaluations,
        "seconds_hidden_matmuls": t_mm,
        "matmul_gflops": flops_mm / t_mm / 1e9,
        "fraction_of_matmul_roofline": t_mm / (t_trunk / evaluations),
    }


def run_shipped(n_objects: int = N_OBJECTS, device: str = "cpu", repeat: int = 3) -> dict:
    """Throughput of the shipped surrogate on one device (see the module docstring, 5-7).

    Returns:
        The figures; ``{"device": ..., "status": "no CUDA device"}`` for ``cuda`` without one.
    """
    from surrotag.surrogates import flow
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import load_surrogate

    if device.startswith("cuda") and not torch.cuda.is_available():
        return {"device": device, "status": "no CUDA device"}
    folder = resolve_surrogate(SHIPPED)
    model, card = load_surrogate(folder, device=device)
    thresholds = np.array(
        [card.model_threshold(p["name"]) for p in card.working_points], dtype=np.float64
    )
    x = torch.as_tensor(shipped_features(n_objects), dtype=torch.float32, device=device)
    out: dict[str, Any] = {
        "device": device,
        "status": "measured",
        "surrogate": SHIPPED,
        "surrogate_folder": portable_path(folder),
        "architecture": model.field.config(),
        "parameters_per_draw": model.field.n_parameters(),
        "trunk_parameters_per_draw": model.field.n_step_parameters(),
        "chunk_rows": flow.chunk_rows(device),
        "torch_threads": torch.get_num_threads(),
    }
    with torch.inference_mode():
        out.update(_shipped_rates(model, x, thresholds, device, repeat))
        if device == "cpu":
            out["trunk_roofline"] = trunk_roofline(model, repeat=repeat)
        if device.startswith("cuda"):
            props = torch.cuda.get_device_properties(torch.device(device))
            peak, source = fp32_peak_tflops(torch.device(device).index or 0)
            out.update(
                gpu=props.name,
                tf32_matmul_allowed=bool(torch.backends.cuda.matmul.allow_tf32),
                fp32_peak_tflops=peak,
                fp32_peak_source=source,
                fraction_of_fp32_peak=None if peak is None else out["achieved_tflops"] / peak,
            )
            shipped_chunk = flow.CHUNK_ROWS
            flow.CHUNK_ROWS = 1 << 22  # one large chunk: what the GPU could do
            try:
                large = _shipped_rates(model, x, thresholds, device, repeat)
            finally:
                flow.CHUNK_ROWS = shipped_chunk
            out["large_chunk"] = {
                "chunk_rows": 1 << 22,
                **large,
                "fraction_of_fp32_peak": None if peak is None else large["achieved_tflops"] / peak,
            }
    return out


@pytest.mark.benchmark
def test_bench_surrogate() -> None:
    """Throughput and batching figures (printed; asserts only that the solver converges)."""
    result = run()
    print(json.dumps(result, indent=1))
    assert result["solver_error_at_default"] < 1e-2


@pytest.mark.benchmark
def test_bench_shipped_surrogate() -> None:
    """The shipped surrogate's throughput on the CPU (and on a GPU where one exists)."""
    torch.set_num_threads(2)
    result = {"cpu": run_shipped(4000), "cuda": run_shipped(100_000, "cuda")}
    print(json.dumps(result, indent=1))
    assert result["cpu"]["exact_probs_per_s_per_draw"] > 0


def main(argv: list[str] | None = None) -> dict:
    parser = main_parser("surrogate", __doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="alias of -o")
    parser.add_argument("--objects", type=int, default=None, help="CPU objects (20k; quick 4k)")
    parser.add_argument(
        "--gpu-objects", type=int, default=None, help="GPU objects (1e6; quick 1e5)"
    )
    parser.add_argument(
        "--solver-study",
        action="store_true",
        help="also run steps 1-4 on a toy model trained here (solver error vs RK4 steps)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    info = machine()
    n_cpu = args.objects or (4000 if args.quick else N_OBJECTS)
    n_gpu = args.gpu_objects or (100_000 if args.quick else 1_000_000)
    results: dict[str, Any] = {
        "cpu": run_shipped(n_cpu, "cpu", repeat=2 if args.quick else 3),
        "cuda": run_shipped(n_gpu, "cuda", repeat=2 if args.quick else 3),
    }
    if args.solver_study:
        results["toy_solver_study"] = run()
    print(json.dumps(results, indent=1))
    document = {"machine": info, "quick": args.quick, "results": results}
    write_results("surrogate", document, args.output or args.json)
    return results


if __name__ == "__main__":
    main()
