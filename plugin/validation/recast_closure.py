"""A pre-registered closure of any analysis: its recast against the internal tagger, per point.

An analysis declares a :class:`ClosurePlan` (its fresh-seed signal samples, the weight
draws, the tolerances) and commits the history file's header (:func:`history_header`)
before the first run; :func:`run_closure` then, for every sample of the plan:

1. generates (or reuses from ``$SURROTAG_DATA/reference``) the sample and takes the
   internal tagger's 0/1 decisions on the selected events' candidates at the card's
   working point (:mod:`surrotag.reference.official`): the *official* region yields and
   expected upper limit on mu (same workspace, :mod:`surrotag.reference.publish`);
2. recasts the same events as ``surrotag run`` does (:func:`surrotag.recast.recast`) along
   each path of the plan (e.g. the surrogate, and its efficiency map for comparison);
3. a path closes at a point when every region's yield lies within
   ``max(2 sigma, tolerance x official)`` of the official one
   (:func:`surrotag.validation.closure.compare_regions`) and its expected mu_up within
   the plan's relative tolerance of the official one on the same events;
4. appends one JSON line to the history (:func:`surrotag.validation.closure.append_history`:
   never rewritten; a run under another plan is refused).

The verdict (``passed``) is the primary path closing at every point.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from surrotag.errors import AnalysisError
from surrotag.io.atomic import strict_json
from surrotag.reference.publish import Sample, format_mu_up
from surrotag.validation.closure import append_history, compare_regions, git_state, read_history

__all__ = ["ClosurePlan", "closure_command", "history_header", "markdown", "run_closure"]

#: Recast paths at detector level: name -> tagger.
DETECTOR_PATHS: dict[str, str] = {"delphes": "surrogate", "delphes-effmap": "efficiency-map"}


@dataclass(frozen=True)
class ClosurePlan:
    """Everything a closure run may depend on, fixed before the first run.

    Attributes:
        analysis: the analysis's registry name.
        samples: the fresh-seed signal samples (seeds used by no other sample).
        jobs: generation workers per sample (part of a sample's identity).
        draws: Bayesian weight draws of the surrogate.
        yield_tolerance: relative yield tolerance beside 2 sigma.
        mu_up_tolerance: relative tolerance of the recast's expected mu_up.
        paths: recast paths, name -> tagger (``surrogate`` or ``efficiency-map``).
        primary_path: the path whose closure at every point is the verdict.
        level: the input level of the recast.
    """

    analysis: str
    samples: tuple[Sample, ...]
    jobs: int
    draws: int
    yield_tolerance: float
    mu_up_tolerance: float
    paths: Mapping[str, str] = field(default_factory=lambda: dict(DETECTOR_PATHS))
    primary_path: str = "delphes"
    level: str = "delphes"

    def __post_init__(self) -> None:
        seeds = [sample.seed for sample in self.samples]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds {seeds} repeat")
        if self.primary_path not in self.paths:
            raise ValueError(f"primary path {self.primary_path!r} is not among {list(self.paths)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (the samples as dicts, in order)."""
        out = dataclasses.asdict(self)
        out["samples"] = [sample.to_dict() for sample in self.samples]
        out["paths"] = dict(self.paths)
        return out

    def sha256(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict` (sorted keys, no spaces)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def history_header(plan: ClosurePlan, command: str) -> dict[str, Any]:
    """The first line of a history file: the pre-registered plan and its sha256."""
    return {
        "kind": "closure-history",
        "analysis": plan.analysis,
        "format": "JSON lines: this header, then one closure-run object per run, appended "
        "by the closure and never rewritten",
        "command": command,
        "plan": plan.to_dict(),
        "plan_sha256": plan.sha256(),
    }


def _path_result(
    name: str, checks: tuple, mu: float, official_mu: float, plan: ClosurePlan
) -> dict[str, Any]:
    relative = mu / official_mu - 1.0
    mu_closes = abs(relative) <= plan.mu_up_tolerance
    return {
        "path": name,
        "regions": {check.region: check.to_dict() for check in checks},
        "mu_up_expected": strict_json(mu),
        "mu_up_relative_difference": strict_json(relative),
        "mu_up_closes": bool(mu_closes),
        "closes": bool(mu_closes and all(check.closes for check in checks)),
    }


def run_closure(
    plan: ClosurePlan,
    history: str | Path | None,
    command: str,
    *,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the closure of ``plan`` at every sample and append it to ``history``.

    Args:
        plan: the plan; refused unless it is the one pre-registered in ``history``.
        history: the history file (None: do not record; for development only).
        command: the command that runs this closure (recorded).
        progress: called with one line per step.

    Returns:
        The history record (``passed``: every sample ran and the primary path closes at
        each).

    Raises:
        InputFileError: the internal tagger or the reference table is absent.
        IntegrityError: the tagger is not the one the card names.
        AnalysisError: ``plan`` is not the one pre-registered in ``history``.
    """
    from surrotag.analysis import get_analysis
    from surrotag.io.parquet import sha256_file
    from surrotag.recast import recast
    from surrotag.reference.official import internal_decisions, load_official_sample
    from surrotag.reference.publish import official_patch
    from surrotag.stats import upper_limit

    if history is not None and Path(history).exists():
        header, _ = read_history(history)
        if header.get("plan_sha256") != plan.sha256():
            raise AnalysisError(
                f"{history}: this plan is not the pre-registered one; a new plan needs a new "
                "history file"
            )
    start = time.monotonic()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    analysis = get_analysis(plan.analysis)
    card = analysis.card
    commit, dirty = git_state(Path(str(analysis.resource("card.json"))).parent)
    workspace = analysis.workspace()
    if card.taggers:
        raise AnalysisError(
            f"analysis {card.name!r} has further taggers ({', '.join(card.taggers)}): the "
            "closure's official side runs the candidates' internal tagger only"
        )
    points = {r.tag.working_point for r in card.regions if r.tag.working_point is not None}
    if len(points) != 1:
        raise AnalysisError(f"the closure handles one working point, the card uses {points}")
    internal = internal_decisions(card, points.pop())
    tagger, threshold = internal.tagger, internal.threshold
    inputs: dict[str, Any] = {
        "tagger": tagger.sha256,
        "table": sha256_file(internal.table),
        "card_sha256": card.document.get("card_sha256"),
        "workspace": card.files.get(card.statistics.workspace),
        "threshold": threshold,
        "samples": {},
    }
    results = []
    for spec in plan.samples:
        progress(f"{spec.name}: sample of {spec.n_events} events, seed {spec.seed}")
        path = spec.generate(plan.jobs)
        sample = load_official_sample(path, card, tagger)
        inputs["samples"][spec.name] = sample.sha256
        official = sample.yields(card, threshold)
        patch = official_patch(workspace, card, official)
        official_mu = float(upper_limit(workspace, patch, rtol=0.01).expected[2])
        paths = []
        for name, kind in plan.paths.items():
            report = recast(plan.analysis, [path], tagger=kind, draws=plan.draws, level=plan.level)
            checks = compare_regions(
                official, {r: report.region(r) for r in official}, plan.yield_tolerance
            )
            mu = float(report.limit.expected[2])
            paths.append(_path_result(name, checks, mu, official_mu, plan))
            paths[-1]["ood_fraction"] = float(report.ood_fraction)
            first = checks[0]
            progress(
                f"{spec.name} {name:15s} {first.region} {first.recast:.1f} / "
                f"{first.official:.1f}, mu_up exp {mu:.3g} / {official_mu:.3g}, closes: "
                f"{paths[-1]['closes']}"
            )
        results.append(
            {
                "name": spec.name,
                **dict(spec.parameters),
                "sample": sample.summary(),
                "official_totals": {r: float(y.nominal.sum()) for r, y in official.items()},
                "mu_up_expected_official": official_mu,
                "paths": {p["path"]: p for p in paths},
            }
        )
    verdicts = [point["paths"][plan.primary_path]["closes"] for point in results]
    record = {
        "kind": "closure-run",
        "analysis": plan.analysis,
        "date": date,
        "commit": commit,
        "dirty": dirty,
        "command": command,
        "plan": plan.to_dict(),
        "plan_sha256": plan.sha256(),
        "inputs": inputs,
        "points": results,
        "paths_passed": {
            name: all(point["paths"][name]["closes"] for point in results) for name in plan.paths
        },
        "complete": len(results) == len(plan.samples),
        "passed": len(results) == len(plan.samples) and all(verdicts),
        "seconds": round(time.monotonic() - start, 1),
    }
    if history is not None:
        append_history(record, history, history_header(plan, command))
    return record


def markdown(run: Mapping[str, Any]) -> str:
    """A history record as a Markdown table: per point and path, every region's recast and
    official totals, the expected mu_up of both, the share of objects out of support."""
    from surrotag.analysis import get_analysis

    regions = [region.name for region in get_analysis(run["analysis"]).card.regions]
    head = " | ".join(f"{r} recast / official" for r in regions)
    lines = [
        f"Closure run of {run['date']} (commit {str(run.get('commit'))[:10]}"
        f"{', uncommitted changes' if run.get('dirty') else ''}; plan "
        f"{run['plan_sha256'][:12]}): {'PASSED' if run['passed'] else 'FAILED'}",
        "",
        f"| point | path | {head} | mu_up exp recast / official | objects OOD | closes |",
        "|---|---|" + "---|" * len(regions) + "---|---|---|",
    ]
    for point in run["points"]:
        for name, result in point["paths"].items():
            cells = " | ".join(
                f"{result['regions'][r]['recast']:.1f} ± {result['regions'][r]['sigma']:.1f} / "
                f"{result['regions'][r]['official']:.1f}"
                for r in regions
            )
            lines.append(
                f"| {point['name']} | {name} | {cells} "
                f"| {format_mu_up(result['mu_up_expected'])} / "
                f"{format_mu_up(point['mu_up_expected_official'])} "
                f"| {result['ood_fraction']:.1%} | {'yes' if result['closes'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def closure_command(
    plan: ClosurePlan, history: Path, prog: str, argv: list[str] | None = None
) -> int:
    """The command line of an analysis's closure: run it (``--table``: print the last run).

    Returns:
        0 when the run passes, 2 when it ran and failed, 1 on an error (one line).
    """
    from surrotag.errors import SurrotagError

    parser = argparse.ArgumentParser(prog=prog, description=f"Closure of {plan.analysis}.")
    parser.add_argument(
        "--table", action="store_true", help="print the table of the last recorded run"
    )
    args = parser.parse_args(argv)
    try:
        if args.table:
            _, runs = read_history(history)
            if not runs:
                raise AnalysisError(f"{history}: no closure run recorded yet; run {prog}")
            print(markdown(runs[-1]), end="")
            return 0
        run = run_closure(plan, history, prog)
    except SurrotagError as error:
        print(f"error: {error}")
        return 1
    print(markdown(run), end="")
    print(f"appended to {history}")
    return 0 if run["passed"] else 2
