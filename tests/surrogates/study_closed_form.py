"""Pre-registered study: is the MCMC surrogate's spread set by the data, and calibrated?

The closed-form case of the surrogate tests (``closed_form.py``: x | c ~ N(c1, 0.5 + 0.3
|c2|), so that the exact tag probability is P(x > w | c) = 1 - Phi((w - c1) / sigma(c))).
Everything below is fixed before any run of a protocol:

* runs: 1e4, 5e4 and 2e5 training rows with the protocol's chain settings; at 5e4 rows also
  the thinning doubled and the chain length (samples per chain) doubled;
* training seed 0; data and evaluation seeds per protocol (:data:`PROTOCOLS`);
* evaluation: 200 in-support points, c uniform in [-1.5, 1.5]^2, x 3 thresholds (-1, 0, 1):
  median spread (standard deviation over draws of P), pulls (P_mean - P_true) / spread with
  their mean, RMS and fraction within 2; the absolute spread at 20 probe points with c1 in
  [4, 6] (beyond the 99.9% quantile of c1 ~ N(0, 1));
* goals: spread falls by >= 1.5x from 1e4 to 2e5 rows; moves by <= 15% when the thinning
  or the chain length doubles; pull RMS in [0.5, 2].

Protocols:

* ``v1``: the Bayesian posterior of the output layer (T = 1), 4 chains x 5 samples, thin 5,
  proposal scale 1.1; data seeds 101-103, evaluation seed 999. Result: the spread follows
  the data, but pull RMS 3.4-5.0 (``artefacts/closed_form_study.json``).
* ``v2``: the temperature calibrated on held-out cells (``mcmc_temperature=None``), 4 chains
  x 10 samples, thin 3, proposal scale 1.05; *fresh* data seeds 201-203 and evaluation seed
  1999, fixed before the first v2 run (``artefacts/closed_form_study_v2.json``). Result:
  pull RMS 1.07-1.15 at 5e4 rows (T = 6.1), 4.4 and 2.8 at 1e4 and 2e5 (cells kept T = 1).
* ``v3``: the temperature at least the bootstrap floor (two refits on bootstrap resamples,
  ``mcmc_bootstrap_fits=2``, :func:`surrotag.surrogates.posterior.bootstrap_temperature`),
  and flows trained to convergence: a fixed number of epochs per training-set size
  (400, 80, 40 at 1e4, 5e4, 2e5 rows: 6,400, 6,320 and 12,520 Adam updates; v1 and v2 gave
  the 1e4 flow 640) with no early stopping (patience = epochs); otherwise v2's sampler;
  *fresh* data seeds 301-303 and evaluation seed 2999, fixed before the first v3 run. Why:
  an exploration on other seeds (9101, 9102; point fits only) found the error of a 40-epoch
  flow at 1e4 rows twice the disagreement of bootstrap refits (an optimisation bias no
  posterior of the weights can see), and at 400 epochs the two equal (RMS 0.014 and 0.013).
  Order of the runs (two processes, one thread each): 2e5 then 5e4 with doubled length;
  1e4, 5e4, then 5e4 with doubled thinning. A run that does not finish within the session
  is reported as not run, never replaced.
* ``v3-vi``: the same case for the mean-field VI surrogate (``bayes="vi"``, its default
  prior and initial width, one weight draw per minibatch, the ELBO), which the issue holds to
  the same checks: v3's epochs per size (400, 80, 40, no early stopping), 40 draws, training
  seed 0; *fresh* data seeds 401-403 and evaluation seed 3999, fixed before its first run.
  Goals: the spread falls >= 1.5x from 1e4 to 2e5 rows and pull RMS in [0.5, 2]; thinning
  and chain length do not exist for VI (not applicable).
* ``v3-skewed``: v3's method and settings on a second case, that the method was not chosen
  on (``closed_form.skewed``: four features, one irrelevant, a non-linear location and a
  Gumbel-skewed noise; exact P from the Gumbel CDF); *fresh* data seeds 501-503 and
  evaluation seed 4999 (200 points uniform in [-1.5, 1.5]^4), fixed before its first run.
  Runs: the three sizes only (the sampler's thinning and length were v3's question); goals:
  the spread falls >= 1.5x from 1e4 to 2e5 rows and pull RMS in [0.5, 2]. The three run as
  three processes of one thread each.

Usage (one configuration per process, then the summary)::

    python tests/surrogates/study_closed_form.py run --protocol v3 --rows 10000 -o study/r1e4.json
    python tests/surrogates/study_closed_form.py summary study/*.json -o summary.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).parent))
from closed_form import closed_form, sigma, skewed, skewed_exceedance

from surrotag.surrogates.train import TrainConfig, train_surrogate

THRESHOLDS = np.array([-1.0, 0.0, 1.0])
#: Seeds and training settings of each protocol (the study varies rows, thinning, length).
PROTOCOLS = {
    "v1": {
        "data_seeds": {10_000: 101, 50_000: 102, 200_000: 103},
        "eval_seed": 999,
        "config": {
            "epochs": 40, "patience": 10, "draws": 20, "mcmc_chains": 4, "mcmc_burn_in": 5,
            "mcmc_thin": 5, "mcmc_temperature": 1.0, "mcmc_proposal_scale": 1.1,
            "mcmc_adam_steps": 0, "mcmc_hessian_rows": 4096, "steps": 8, "seed": 0,
        },
    },
    "v2": {
        "data_seeds": {10_000: 201, 50_000: 202, 200_000: 203},
        "eval_seed": 1999,
        "config": {
            "epochs": 40, "patience": 10, "draws": 40, "mcmc_chains": 4, "mcmc_burn_in": 6,
            "mcmc_thin": 3, "mcmc_temperature": None, "mcmc_proposal_scale": 1.05,
            "steps": 8, "seed": 0,
        },
    },
    "v3": {
        "data_seeds": {10_000: 301, 50_000: 302, 200_000: 303},
        "eval_seed": 2999,
        "epochs": {10_000: 400, 50_000: 80, 200_000: 40},
        "config": {
            "draws": 40, "mcmc_chains": 4, "mcmc_burn_in": 6, "mcmc_thin": 3,
            "mcmc_temperature": None, "mcmc_proposal_scale": 1.05, "mcmc_bootstrap_fits": 2,
            "steps": 8, "seed": 0,
        },
    },
    "v3-vi": {
        "bayes": "vi",
        "data_seeds": {10_000: 401, 50_000: 402, 200_000: 403},
        "eval_seed": 3999,
        "epochs": {10_000: 400, 50_000: 80, 200_000: 40},
        "config": {"draws": 40, "steps": 8, "seed": 0},
    },
}  # fmt: skip
#: v3's method and settings on the skewed case (its own fresh seeds).
PROTOCOLS["v3-skewed"] = {
    **PROTOCOLS["v3"],
    "case": "skewed",
    "data_seeds": {10_000: 501, 50_000: 502, 200_000: 503},
    "eval_seed": 4999,
}


def evaluation_points(
    seed: int, case: str = "gaussian"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(in-support points [200, F], exact P [200, 3], probe points [20, F]) of a case."""
    rng = np.random.default_rng(seed)
    if case == "skewed":
        inside = rng.uniform(-1.5, 1.5, size=(200, 4))
        probes = np.column_stack([np.linspace(4.0, 6.0, 20), rng.uniform(-1, 1, (20, 3))])
        return inside, skewed_exceedance(inside, THRESHOLDS), probes
    inside = rng.uniform(-1.5, 1.5, size=(200, 2))
    truth = norm.sf((THRESHOLDS[None, :] - inside[:, :1]) / sigma(inside)[:, None])
    probes = np.column_stack([np.linspace(4.0, 6.0, 20), rng.uniform(-1, 1, 20)])
    return inside, truth, probes


def run(
    protocol: str, rows: int, thin_factor: int, length_factor: int, device: str, weights: str
) -> dict:
    """Train one Bayesian surrogate and evaluate it on the pre-registered points."""
    plan = PROTOCOLS[protocol]
    bayes = plan.get("bayes", "mcmc")
    base = plan["config"]
    case = plan.get("case", "gaussian")
    c, x = (skewed if case == "skewed" else closed_form)(rows, plan["data_seeds"][rows])
    names = [f"c{j + 1}" for j in range(c.shape[1])]
    epochs = (
        {"epochs": plan["epochs"][rows], "patience": plan["epochs"][rows]}
        if "epochs" in plan
        else {}
    )
    cfg = TrainConfig(
        **{
            **base,
            **epochs,
            "mcmc_thin": base.get("mcmc_thin", TrainConfig.mcmc_thin) * thin_factor,
            "draws": base["draws"] * length_factor,
            "device": device,
            "mcmc_weights": tuple(weights.split(",")),
        }
    )
    start = time.perf_counter()
    model, report = train_surrogate(c, x, feature_names=names, bayes=bayes, config=cfg)
    seconds = time.perf_counter() - start
    inside, truth, probes = evaluation_points(plan["eval_seed"], case)
    with torch.inference_mode():
        p = model(inside, draws=cfg.draws).prob_above(THRESHOLDS).numpy()
        p_probe = model(probes, draws=cfg.draws).prob_above(THRESHOLDS).numpy()
        q_probe = model(probes, draws=cfg.draws).quantile([0.16, 0.5, 0.84]).numpy()
        q_in = model(inside, draws=cfg.draws).quantile([0.16, 0.5, 0.84]).numpy()
    mean, spread = p.mean(0), p.std(0, ddof=1)
    pull = (mean - truth) / spread
    return {
        "protocol": protocol,
        "rows": rows,
        "bayes": bayes,
        "temperature": report.mcmc["temperature"] if report.mcmc else None,
        "epochs_run": report.epochs_run,
        "thin": cfg.mcmc_thin,
        "draws": cfg.draws,
        "weights": weights,
        "device": device,
        "seconds": seconds,
        "mcmc": report.mcmc,
        "median_spread": float(np.median(spread)),
        "mean_abs_error": float(np.abs(mean - truth).mean()),
        "pull_mean": float(pull.mean()),
        "pull_rms": float(np.sqrt((pull**2).mean())),
        "pull_within_2": float((np.abs(pull) < 2).mean()),
        "probe_median_spread": float(np.median(p_probe.std(0, ddof=1))),
        "probe_median_quantile_spread": float(np.median(q_probe.std(0, ddof=1))),
        "inside_median_quantile_spread": float(np.median(q_in.std(0, ddof=1))),
        "points": {"mean": mean.tolist(), "spread": spread.tolist(), "truth": truth.tolist()},
    }


def saturation_aware_pulls(run: dict) -> dict | None:
    """Pulls with the saturated points counted apart (a figure added after v3-skewed's runs).

    Where P is exactly 0 or 1 in float arithmetic for the truth and for every draw, the
    pull is 0 / 0: undefined, and the registered RMS is NaN. Those points are counted
    apart; a zero spread with a nonzero error counts as an infinite pull (never dropped).

    Returns:
        ``{"saturated", "pull_rms", "pull_within_2"}`` over the other points, or None for runs
        that did not store their points.
    """
    if "points" not in run:
        return None
    mean, spread, truth = (np.asarray(run["points"][k]) for k in ("mean", "spread", "truth"))
    saturated = (spread == 0) & (mean == truth)
    with np.errstate(divide="ignore"):
        pull = np.abs(mean - truth)[~saturated] / spread[~saturated]
    return {
        "saturated": int(saturated.sum()),
        "pull_rms": float(np.sqrt(np.mean(pull**2))),
        "pull_within_2": float(np.mean(pull < 2)),
    }


def summary(results: list[dict]) -> dict:
    """The study's figures and goals from the runs (of one protocol)."""
    protocols = {r.get("protocol", "v1") for r in results}
    if len(protocols) != 1:
        raise SystemExit(f"runs of several protocols ({', '.join(sorted(protocols))})")
    protocol = protocols.pop()
    config = PROTOCOLS[protocol]["config"]
    sampler = PROTOCOLS[protocol].get("bayes", "mcmc") == "mcmc"
    thin = config.get("mcmc_thin", TrainConfig.mcmc_thin)
    base = {r["rows"]: r for r in results if r["thin"] == thin and r["draws"] == config["draws"]}
    thin2 = next((r for r in results if r["thin"] == 2 * thin), None)
    long2 = next((r for r in results if r["draws"] == 2 * config["draws"]), None)

    def change(run: dict | None) -> float | None:
        if run is None or 50_000 not in base:
            return None
        return run["median_spread"] / base[50_000]["median_spread"] - 1

    shrink = (
        base[10_000]["median_spread"] / base[200_000]["median_spread"]
        if {10_000, 200_000} <= base.keys()
        else None
    )
    thin_move, long_move = change(thin2), change(long2)
    rms = [r["pull_rms"] for r in results]

    def goal(value: float | None, ok: bool, applies: bool = True) -> bool | str:
        if not applies:
            return "not applicable (no sampler)"
        return "not run" if value is None else ok

    return {
        "study": "closed-form calibration of the Bayesian surrogate (pre-registered, see "
        "tests/surrogates/study_closed_form.py)",
        "protocol": protocol,
        "spread_shrink_1e4_to_2e5": shrink,
        "spread_change_thin_doubled": thin_move,
        "spread_change_length_doubled": long_move,
        "pull_rms": rms,
        "saturation_aware_pulls": [saturation_aware_pulls(r) for r in results],
        "goals": {
            "spread_shrinks_1.5x": goal(shrink, shrink is not None and shrink >= 1.5),
            "thin_within_15pct": goal(
                thin_move, thin_move is not None and abs(thin_move) <= 0.15, sampler
            ),
            "length_within_15pct": goal(
                long_move, long_move is not None and abs(long_move) <= 0.15, sampler
            ),
            "pull_rms_0.5_to_2": all(0.5 <= v <= 2 for v in rms),
        },
        "runs": results,
    }


def markdown(result: dict) -> str:
    """The README table of a summary."""
    lines = [
        "| rows | thin | draws | T | median spread of P | mean \\|P - P_true\\| | pull mean / RMS "
        "| \\|pull\\| < 2 | acceptance | ESS weights (median / min) "
        "| R-hat weights (median / max) | lag ratio |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(result["runs"], key=lambda r: (r["rows"], r["thin"], r["draws"])):
        temperature = r.get("temperature", 1.0)  # v1 runs predate the field; VI has none
        shown = "-" if temperature is None else f"{temperature:.3g}"
        head = (
            f"| {r['rows']} | {r['thin']} | {r['draws']} | {shown} "
            f"| {r['median_spread']:.4f} "
            f"| {r['mean_abs_error']:.4f} | {r['pull_mean']:.2f} / {r['pull_rms']:.2f} "
            f"| {r['pull_within_2']:.2f} "
        )
        if r["mcmc"] is None:  # VI: no chains
            lines.append(head + "| - | - | - | - |")
            continue
        w = r["mcmc"]["weights"]
        lines.append(
            head + f"| {np.mean(r['mcmc']['acceptance']):.2f} "
            f"| {w['ess_median']:.1f} / {w['ess_min']:.1f} | {w['rhat_median']:.2f} / "
            f"{w['rhat_max']:.2f} | {w['lag_distance_ratio']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run")
    one.add_argument("--protocol", choices=sorted(PROTOCOLS), default="v3")
    one.add_argument("--rows", type=int, choices=(10_000, 50_000, 200_000), required=True)
    one.add_argument("--thin-factor", type=int, default=1)
    one.add_argument("--length-factor", type=int, default=1)
    one.add_argument("--device", default="cpu")
    one.add_argument("--weights", default="out")
    one.add_argument("-o", "--out", type=Path, required=True)
    agg = sub.add_parser("summary")
    agg.add_argument("runs", nargs="+", type=Path)
    agg.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "run":
        result = run(
            args.protocol,
            args.rows,
            args.thin_factor,
            args.length_factor,
            args.device,
            args.weights,
        )
    else:
        result = summary([json.loads(p.read_text()) for p in args.runs])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("runs", "mcmc")}, indent=1))
    if args.command == "summary":
        print(markdown(result))


if __name__ == "__main__":
    main()
