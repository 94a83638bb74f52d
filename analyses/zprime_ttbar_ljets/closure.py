"""Pre-registered closure of the recast against official Z' yields of ``zprime-ttbar-ljets``.

The plan (:data:`PLAN`) fixes before any run the Z' masses, the events per mass, *fresh*
generation seeds 4201-4204 (used by no other sample of the project: not this analysis's
official samples, 2201-2204, or backgrounds, 3101-3102, nor any sample of
zprime-ttbar-allhad or the training set), the weight draws and the tolerances. The
committed history (:data:`HISTORY_FILE`) opens with the plan's sha256; a run under another
plan is refused (:mod:`surrotag.validation.closure`). One run, for every mass:

1. generates (or reuses from ``$SURROTAG_DATA/reference``) the fresh Z' sample and takes
   the internal tagger's 0/1 decision on each selected event's hadronic top candidate at
   wp50 (:mod:`surrotag.reference.official`): the *official* region yields and expected
   upper limit on mu;
2. recasts the same events with ``surrotag run`` semantics (:func:`surrotag.recast.recast`)
   at detector level, with the ``top-tagger-delphes`` surrogate (the verdict) and with its
   efficiency map (for comparison);
3. a path closes at a mass when every region's yield lies within
   ``max(2 sigma, 10 % x official)`` of the official one
   (:func:`surrotag.validation.closure.compare_regions`: sigma combines the surrogate's
   spread over weight draws and the binomial noise of the official decisions) and its
   expected mu_up lies within 10 % of the official expected mu_up on the same events;
4. appends one JSON line to the history (never rewritten).

Run (about 15 minutes of generation on two cores the first time, then about a minute)::

    SURROTAG_DATA=... python -m surrotag.analyses.zprime_ttbar_ljets.closure
    python -m surrotag.analyses.zprime_ttbar_ljets.closure --table   # README table

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from surrotag.errors import AnalysisError, InputFileError, IntegrityError
from surrotag.io.atomic import strict_json
from surrotag.validation.closure import (
    RegionCheck,
    append_history,
    compare_regions,
    git_state,
    read_history,
)

__all__ = [
    "HISTORY_FILE",
    "PATHS",
    "PLAN",
    "ClosurePlan",
    "history_header",
    "main",
    "markdown",
    "run_closure",
]

HERE: Final = Path(__file__).resolve().parent
ANALYSIS: Final = "zprime-ttbar-ljets"
COMMAND: Final = "python -m surrotag.analyses.zprime_ttbar_ljets.closure"
#: The committed record of every closure run: a header line, then one JSON line per run.
HISTORY_FILE: Final = HERE / "closure_history.jsonl"
#: Recast paths at detector level: name -> tagger; the first is the verdict.
PATHS: Final = {"delphes": "surrogate", "delphes-effmap": "efficiency-map"}
#: Relative tolerance on the mu_up limits' root finding (as the official build's).
LIMIT_RTOL: Final = 0.01


@dataclass(frozen=True)
class ClosurePlan:
    """Everything a closure run may depend on, fixed before the first run.

    Attributes:
        masses_gev: Z' masses (GeV); events: generated events per mass; seeds: master
            generation seed per mass (fresh); jobs: generation workers per sample.
        draws: Bayesian weight draws of the surrogate.
        yield_tolerance: relative yield tolerance beside 2 sigma.
        mu_up_tolerance: relative tolerance of the recast's expected mu_up.
        primary_path: the path whose closure at every mass is the verdict.
    """

    masses_gev: tuple[float, ...]
    events: tuple[int, ...]
    seeds: tuple[int, ...]
    jobs: int
    draws: int
    yield_tolerance: float
    mu_up_tolerance: float
    primary_path: str = "delphes"

    def __post_init__(self) -> None:
        if not len(self.masses_gev) == len(self.events) == len(self.seeds):
            raise ValueError("masses_gev, events and seeds need one entry per mass")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds} repeat")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (lists for the per-mass tuples)."""
        out = dataclasses.asdict(self)
        for key in ("masses_gev", "events", "seeds"):
            out[key] = list(out[key])
        return out

    def sha256(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict` (sorted keys, no spaces)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


#: The pre-registered plan (masses and sizes as the official samples of :mod:`.build`).
PLAN: Final = ClosurePlan(
    masses_gev=(1000.0, 1500.0, 2000.0, 3000.0),
    events=(20_000, 10_000, 10_000, 10_000),
    seeds=(4201, 4202, 4203, 4204),
    jobs=2,
    draws=20,
    yield_tolerance=0.10,
    mu_up_tolerance=0.10,
)


def history_header(plan: ClosurePlan = PLAN) -> dict[str, Any]:
    """The first line of the history file: the pre-registered plan and its sha256."""
    return {
        "kind": "closure-history",
        "analysis": ANALYSIS,
        "format": "JSON lines: this header, then one closure-run object per run, appended "
        "by the closure and never rewritten",
        "command": COMMAND,
        "plan": plan.to_dict(),
        "plan_sha256": plan.sha256(),
    }


def _path_result(
    name: str, checks: tuple[RegionCheck, ...], mu: float, official_mu: float, plan: ClosurePlan
) -> dict[str, Any]:
    mu_closes = abs(mu / official_mu - 1.0) <= plan.mu_up_tolerance
    return {
        "path": name,
        "regions": {check.region: check.to_dict() for check in checks},
        "mu_up_expected": strict_json(mu),
        "mu_up_relative_difference": strict_json(mu / official_mu - 1.0),
        "mu_up_closes": bool(mu_closes),
        "closes": bool(mu_closes and all(check.closes for check in checks)),
    }


def run_closure(
    plan: ClosurePlan = PLAN,
    *,
    history: str | Path | None = HISTORY_FILE,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the closure of ``plan`` at every mass and append it to ``history``.

    Returns:
        The history record (``passed``: every mass ran and the primary path closes at each).

    Raises:
        InputFileError: the internal tagger or the reference table is absent.
        IntegrityError: the tagger is not the one the card names.
        AnalysisError: ``plan`` is not the one pre-registered in ``history``.
    """
    from surrotag.analysis import get_analysis
    from surrotag.io.parquet import sha256_file
    from surrotag.recast import recast
    from surrotag.reference.cache import TABLE_NAME, TAGGER_NAME, reference_dir
    from surrotag.reference.generate import generate
    from surrotag.reference.official import load_official_sample, working_point
    from surrotag.reference.publish import official_patch
    from surrotag.reference.tagger import load_tagger
    from surrotag.stats import upper_limit

    reference = reference_dir()
    tagger_dir, table = reference / TAGGER_NAME, reference / TABLE_NAME
    missing = [str(p) for p in (tagger_dir, table) if not p.exists()]
    if missing:
        raise InputFileError(
            f"closure inputs absent ({', '.join(missing)}): regenerate them with `surrotag "
            f"reference pipeline` (SURROTAG_DATA selects the data folder), then rerun {COMMAND}"
        )
    if history is not None and Path(history).exists():
        header, _ = read_history(history)
        if header.get("plan_sha256") != plan.sha256():
            raise AnalysisError(
                f"{history}: this plan is not the pre-registered one; a new plan needs a new "
                "history file"
            )
    start = time.monotonic()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    commit, dirty = git_state(HERE)
    analysis = get_analysis(ANALYSIS)
    card = analysis.card
    workspace = analysis.workspace()
    tagger = load_tagger(tagger_dir)
    if tagger.sha256 != card.surrogate.tagger_sha256:
        raise IntegrityError(
            f"{tagger_dir}: tagger sha256 {tagger.sha256[:12]}... differs from the card's"
        )
    threshold = float(working_point(table, "wp50")["threshold"])
    inputs: dict[str, Any] = {
        "tagger": tagger.sha256,
        "table": sha256_file(table),
        "card": sha256_file(HERE / "card.json"),
        "workspace": sha256_file(HERE / "workspace.json"),
        "closure_py": sha256_file(Path(__file__)),
        "wp50_threshold": threshold,
        "samples": {},
    }
    masses = []
    for mass, n_events, seed in zip(plan.masses_gev, plan.events, plan.seeds, strict=True):
        progress(f"Z' {mass:g} GeV: sample of {n_events} events, seed {seed}")
        path = generate("zprime-ttbar-inclusive", n_events, seed, jobs=plan.jobs, mass=mass)
        sample = load_official_sample(path, card, tagger)
        inputs["samples"][f"{mass:g}"] = sample.sha256
        official = sample.yields(card, threshold)
        patch = official_patch(workspace, card, official)
        official_mu = float(upper_limit(workspace, patch, rtol=LIMIT_RTOL).expected[2])
        paths = []
        for name, kind in PATHS.items():
            report = recast(ANALYSIS, [path], tagger=kind, draws=plan.draws, level="delphes")
            checks = compare_regions(
                official, {r: report.region(r) for r in official}, plan.yield_tolerance
            )
            mu = float(report.limit.expected[2])
            paths.append(_path_result(name, checks, mu, official_mu, plan))
            paths[-1]["ood_fraction"] = float(report.ood_fraction)
            progress(
                f"Z' {mass:g} GeV {name:15s} SR {checks[0].recast:.1f} / {checks[0].official:.1f}"
                f" mu_up exp {mu:.3g} / {official_mu:.3g} closes: {paths[-1]['closes']}"
            )
        masses.append(
            {
                "mass_gev": mass,
                "sample": {**sample.summary(), "seed": seed},
                "official_totals": {r: float(y.nominal.sum()) for r, y in official.items()},
                "mu_up_expected_official": official_mu,
                "paths": {p["path"]: p for p in paths},
            }
        )
    primary = [m["paths"][plan.primary_path]["closes"] for m in masses]
    record = {
        "kind": "closure-run",
        "analysis": ANALYSIS,
        "date": date,
        "commit": commit,
        "dirty": dirty,
        "command": COMMAND,
        "plan": plan.to_dict(),
        "plan_sha256": plan.sha256(),
        "inputs": inputs,
        "masses": masses,
        "paths_passed": {name: all(m["paths"][name]["closes"] for m in masses) for name in PATHS},
        "complete": len(masses) == len(plan.masses_gev),
        "passed": len(masses) == len(plan.masses_gev) and all(primary),
        "seconds": round(time.monotonic() - start, 1),
    }
    if history is not None:
        append_history(record, history, history_header(plan))
    return record


def markdown(run: Mapping[str, Any]) -> str:
    """A history record as the README's Markdown table."""
    lines = [
        f"Closure run of {run['date']} (commit {str(run.get('commit'))[:10]}"
        f"{', uncommitted changes' if run.get('dirty') else ''}; plan "
        f"{run['plan_sha256'][:12]}): {'PASSED' if run['passed'] else 'FAILED'}",
        "",
        "| Z' mass (GeV) | path | SR recast / official | CR recast / official "
        "| mu_up exp recast / official | jets flagged OOD | closes |",
        "|---|---|---|---|---|---|---|",
    ]
    for mass in run["masses"]:
        for name, result in mass["paths"].items():
            sr, cr = result["regions"]["SR"], result["regions"]["CR"]
            lines.append(
                f"| {mass['mass_gev']:g} | {name} "
                f"| {sr['recast']:.1f} ± {sr['sigma']:.1f} / {sr['official']:.1f} "
                f"| {cr['recast']:.1f} ± {cr['sigma']:.1f} / {cr['official']:.1f} "
                f"| {_fmt(result['mu_up_expected'])} / {_fmt(mass['mu_up_expected_official'])} "
                f"| {result['ood_fraction']:.1%} | {'yes' if result['closes'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "inf" if value is None else f"{value:.3g}"


def main(argv: list[str] | None = None) -> int:
    """Command line: run the pre-registered closure and append it to the history.

    Returns:
        0 when the run passes, 2 when it ran and failed, 1 on an error (one line).
    """
    from surrotag.errors import SurrotagError

    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--table", action="store_true", help="print the table of the last recorded run"
    )
    args = parser.parse_args(argv)
    try:
        if args.table:
            _, runs = read_history(HISTORY_FILE)
            if not runs:
                raise AnalysisError(f"{HISTORY_FILE}: no closure run recorded yet; run {COMMAND}")
            print(markdown(runs[-1]), end="")
            return 0
        run = run_closure(PLAN)
    except SurrotagError as error:
        print(f"error: {error}")
        return 1
    print(markdown(run), end="")
    print(f"appended to {HISTORY_FILE}")
    return 0 if run["passed"] else 2


if __name__ == "__main__":
    raise SystemExit(main())
