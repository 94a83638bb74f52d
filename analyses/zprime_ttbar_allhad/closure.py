"""Pre-registered closure of the recast against official Z' yields of ``zprime-ttbar-allhad``.

The plan (:data:`PLAN`, a :class:`ClosurePlan`) fixes before any run the Z' masses, the
events per mass, *fresh* generation seeds (used by no other sample: not the official Z'
samples of :mod:`.build`, 2001-2005, nor the backgrounds, 3001-3002, the example, 2101, or
the training set, 1-6), the weight draws, the bootstrap replicates and their seed, and the
tolerances. The committed history file (:data:`HISTORY_FILE`) opens with a header holding
the plan and its sha256; a run whose plan differs is refused, so a closure cannot be tuned
after looking. One run, for every mass of the plan:

1. generates (or reuses from ``$SURROTAG_DATA/reference``) the fresh Z' sample and tags its
   two leading jets with the internal tagger at wp50: the *official* 0/1 decisions, their
   region yields and expected upper limit on mu (:mod:`surrotag.stats`);
2. bootstraps the official decisions: resamples the sample's events with replacement
   (weights, selection, mjj and decisions travel with each event; the normalisation
   ``sigma L / sum w`` is recomputed on each resample) ``B`` times with the plan's seed and
   recomputes the official expected mu_up each time; its central ``level`` percentile
   interval is the official result's own statistical spread;
3. recasts the same events six ways (:data:`PATHS`): detector-level jets with the
   ``top-tagger-delphes`` surrogate and with the card's efficiency map, the particle-level
   jets of the visible stable particles (no detector) with ``top-tagger-particle`` and its
   map, and the parton-level top quarks with the ``top-tagger-parton`` surrogate and its
   efficiency map;
4. a path closes at a mass when (a) every region's yield lies within
   ``max(2 sigma, tolerance x official)`` of the official one, sigma combining the
   surrogate's spread over weight draws and the binomial noise of the official decisions
   around the tag probabilities (``sum w^2 p (1 - p)``: the official MC variance
   ``sum w^2 t`` minus the recast's ``sum w^2 p^2``; both use the same events, so their
   kinematic fluctuations cancel), and (b) the recast's expected mu_up lies inside the
   official bootstrap interval;
5. appends one JSON line to the history (never rewritten): date, git commit, the plan, the
   sha256 of every input, results per mass and path, pass or fail.

The bootstrap interval also holds the kinematic fluctuation of the sample, which recast and
official share; it is the official result's own uncertainty, the scale on which a
reinterpretation can claim to reproduce it. Run (about 15 minutes of generation on two
cores, then about 3 s per limit: 200 x 5 bootstrap limits take about an hour)::

    SURROTAG_DATA=... python -m surrotag.analyses.zprime_ttbar_allhad.closure
    python -m surrotag.analyses.zprime_ttbar_allhad.closure --table   # README table

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558; Efron & Tibshirani, "An
    Introduction to the Bootstrap" (1993), ch. 13 (percentile intervals).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from surrotag.errors import AnalysisError, InputFileError
from surrotag.io.atomic import strict_json
from surrotag.validation.closure import (
    BootstrapInterval,
    RegionCheck,
    bootstrap_interval,
    compare_regions,
    git_state,
)
from surrotag.validation.closure import append_history as _append_history
from surrotag.validation.closure import read_history as _read_history

if TYPE_CHECKING:
    from surrotag.analysis import AnalysisCard
    from surrotag.yields import Yields

__all__ = [
    "HISTORY_FILE",
    "PARTICLE_HISTORY_FILE",
    "PARTICLE_PLAN",
    "PATHS",
    "PLAN",
    "PLANS",
    "RESHIP_HISTORY_FILE",
    "RESHIP_PLAN",
    "BootstrapInterval",
    "ClosurePlan",
    "ClosureRun",
    "MassResult",
    "PathResult",
    "RegionCheck",
    "append_history",
    "bootstrap_interval",
    "check_inputs",
    "compare_regions",
    "history_header",
    "main",
    "markdown",
    "read_history",
    "run_closure",
]

HERE: Final = Path(__file__).resolve().parent
ANALYSIS: Final = "zprime-ttbar-allhad"
COMMAND: Final = "python -m surrotag.analyses.zprime_ttbar_allhad.closure"
#: The committed record of every closure run: a header line, then one JSON line per run.
HISTORY_FILE: Final = HERE / "closure_history.jsonl"
#: What regenerates the reference inputs (internal tagger, reference table).
REGENERATE: Final = "surrotag reference pipeline"
#: Recast paths: name -> (input level, tagger).
PATHS: Final = {
    "delphes": ("delphes", "surrogate"),
    "delphes-effmap": ("delphes", "efficiency-map"),
    "particle": ("particle", "surrogate"),
    "particle-effmap": ("particle", "efficiency-map"),
    "parton": ("parton", "surrogate"),
    "parton-effmap": ("parton", "efficiency-map"),
}
#: Relative tolerance on the mu_up limits' root finding (as the official build's).
LIMIT_RTOL: Final = 0.01


@dataclass(frozen=True)
class ClosurePlan:
    """Everything a closure run is allowed to depend on, fixed before the first run.

    Attributes:
        masses_gev: Z' masses (GeV).
        events: generated events per mass.
        seeds: master generation seed per mass (fresh: used by no other sample).
        jobs: generation workers per sample (part of a sample's identity).
        draws: Bayesian weight draws of the surrogates.
        bootstrap_replicates: resamples B of the official events per mass.
        bootstrap_seed: seed of the resampling (mass i uses ``SeedSequence([seed, i])``).
        interval_level: central probability of the bootstrap interval.
        yield_tolerance: per input level, the relative yield tolerance (beside 2 sigma).
        primary_path: the path whose closure at every mass is the run's verdict.
        paths: the recast paths run (None: every path of :data:`PATHS`; a plan without
            them keeps the JSON, and so the sha256, it was registered with).
    """

    masses_gev: tuple[float, ...]
    events: tuple[int, ...]
    seeds: tuple[int, ...]
    jobs: int
    draws: int
    bootstrap_replicates: int
    bootstrap_seed: int
    interval_level: float
    yield_tolerance: Mapping[str, float]
    primary_path: str = "delphes"
    paths: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not len(self.masses_gev) == len(self.events) == len(self.seeds):
            raise ValueError("masses_gev, events and seeds need one entry per mass")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds} repeat")
        if self.paths is not None and (
            set(self.paths) - set(PATHS) or self.primary_path not in self.paths
        ):
            raise ValueError(f"paths {self.paths} must be paths of PATHS including the primary")
        if not 0.0 < self.interval_level < 1.0 or self.bootstrap_replicates < 2:
            raise ValueError("need 0 < interval_level < 1 and >= 2 bootstrap replicates")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (lists for the per-mass tuples, as JSON reads them back)."""
        out = dataclasses.asdict(self)
        out["yield_tolerance"] = dict(self.yield_tolerance)
        for key in ("masses_gev", "events", "seeds"):
            out[key] = list(out[key])
        if self.paths is None:
            del out["paths"]
        else:
            out["paths"] = list(self.paths)
        return out

    @property
    def path_names(self) -> tuple[str, ...]:
        """The paths this plan runs, in :data:`PATHS` order."""
        return tuple(name for name in PATHS if self.paths is None or name in self.paths)

    def sha256(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_dict` (sorted keys, no spaces)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


#: The pre-registered plan. Masses and sizes as the official samples of :mod:`.build`;
#: seeds 4101-4105 and bootstrap seed 4199 are used by no other sample of the project.
PLAN: Final = ClosurePlan(
    masses_gev=(1000.0, 1500.0, 2000.0, 2500.0, 3500.0),
    events=(50_000, 20_000, 20_000, 5_000, 5_000),
    seeds=(4101, 4102, 4103, 4104, 4105),
    jobs=2,
    draws=20,
    bootstrap_replicates=200,
    bootstrap_seed=4199,
    interval_level=0.95,
    yield_tolerance={"delphes": 0.10, "particle": 0.10, "parton": 0.25},
)

#: The second pre-registered plan (2026-11-30, before its samples existed): the particle-level
#: paths again, after the particle-level recast gained the detector's jet response
#: (``particle_response.json``, :mod:`surrotag.jets.response`), on fresh seeds 4111-4115 and
#: bootstrap seed 4119 (used by no other sample), with the first plan's masses, sizes, draws
#: and tolerances; its own history file, :data:`PARTICLE_HISTORY_FILE`.
PARTICLE_PLAN: Final = ClosurePlan(
    masses_gev=(1000.0, 1500.0, 2000.0, 2500.0, 3500.0),
    events=(50_000, 20_000, 20_000, 5_000, 5_000),
    seeds=(4111, 4112, 4113, 4114, 4115),
    jobs=2,
    draws=20,
    bootstrap_replicates=200,
    bootstrap_seed=4119,
    interval_level=0.95,
    yield_tolerance={"delphes": 0.10, "particle": 0.10, "parton": 0.25},
    primary_path="particle",
    paths=("particle", "particle-effmap"),
)
#: The history of :data:`PARTICLE_PLAN`'s runs.
PARTICLE_HISTORY_FILE: Final = HERE / "closure_history_particle.jsonl"

#: The third pre-registered plan (2026-12-02, before its samples existed and before the
#: re-ship it tests): the detector-level paths again, after ``top-tagger-delphes`` is
#: re-shipped with the bootstrap floor of its posterior temperature
#: (:func:`surrotag.surrogates.posterior.bootstrap_temperature`), on fresh seeds 4121-4125
#: and bootstrap seed 4129 (used by no other sample), with the first plan's masses, sizes,
#: draws and tolerances; its own history, :data:`RESHIP_HISTORY_FILE`.
RESHIP_PLAN: Final = dataclasses.replace(
    PLAN,
    seeds=(4121, 4122, 4123, 4124, 4125),
    bootstrap_seed=4129,
    paths=("delphes", "delphes-effmap"),
)
#: The history of :data:`RESHIP_PLAN`'s runs.
RESHIP_HISTORY_FILE: Final = HERE / "closure_history_reship.jsonl"
#: The plans by name (``--plan``) with their history files.
PLANS: Final = {
    "all": (PLAN, HISTORY_FILE),
    "particle": (PARTICLE_PLAN, PARTICLE_HISTORY_FILE),
    "reship": (RESHIP_PLAN, RESHIP_HISTORY_FILE),
}


def expected_mu_up(workspace: Any, card: AnalysisCard, yields: Mapping[str, Yields]) -> float:
    """Median expected 95 % CL upper limit on mu of official yields (no surrogate term)."""
    from surrotag.reference.publish import official_patch
    from surrotag.stats import upper_limit

    patch = official_patch(workspace, card, yields)
    return float(upper_limit(workspace, patch, rtol=LIMIT_RTOL).expected[2])


# ---------------------------------------------------------------- comparison


@dataclass(frozen=True)
class PathResult:
    """One recast path at one mass.

    Attributes:
        path: path name (:data:`PATHS`).
        regions: the yield checks.
        mu_up_expected: the recast's median expected upper limit on mu.
        mu_up_inside: it lies inside the official bootstrap interval.
        ood_fraction: fraction of objects flagged out of distribution.
        seconds: recast time.
    """

    path: str
    regions: tuple[RegionCheck, ...]
    mu_up_expected: float
    mu_up_inside: bool
    ood_fraction: float
    seconds: float

    @property
    def closes(self) -> bool:
        """Every region's yield and the expected mu_up close."""
        return self.mu_up_inside and all(r.closes for r in self.regions)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {
            "path": self.path,
            "regions": {r.region: r.to_dict() for r in self.regions},
            "mu_up_expected": strict_json(self.mu_up_expected),
            "mu_up_inside_interval": self.mu_up_inside,
            "ood_fraction": self.ood_fraction,
            "seconds": self.seconds,
            "closes": self.closes,
        }


@dataclass(frozen=True)
class MassResult:
    """Official result, its bootstrap interval and every path at one Z' mass.

    Attributes:
        mass_gev: Z' mass (GeV).
        sample: the fresh sample (file, sha256, events, seed, cross-section).
        official_totals: per region, the official total (expected events at mu = 1).
        interval: bootstrap interval of the official expected mu_up.
        paths: the recast paths.
    """

    mass_gev: float
    sample: Mapping[str, Any]
    official_totals: Mapping[str, float]
    interval: BootstrapInterval
    paths: tuple[PathResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {
            "mass_gev": self.mass_gev,
            "sample": dict(self.sample),
            "official_totals": dict(self.official_totals),
            "mu_up_expected_official": self.interval.to_dict(),
            "paths": {p.path: p.to_dict() for p in self.paths},
        }


@dataclass(frozen=True)
class ClosureRun:
    """One closure run: what is appended to the history.

    Attributes:
        date: UTC start time (ISO 8601).
        commit: git commit of the working tree (None outside a repository).
        dirty: the tree had uncommitted changes (None when unknown).
        plan: the plan.
        inputs: sha256 of every input, by role.
        masses: per mass, the results.
        seconds: wall time.
    """

    date: str
    commit: str | None
    dirty: bool | None
    plan: ClosurePlan
    inputs: Mapping[str, Any]
    masses: tuple[MassResult, ...]
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """Every mass of the plan ran."""
        return sorted(m.mass_gev for m in self.masses) == sorted(self.plan.masses_gev)

    def path_passed(self, path: str) -> bool:
        """The path closes at every mass that ran."""
        return all(p.closes for m in self.masses for p in m.paths if p.path == path)

    @property
    def passed(self) -> bool:
        """The run's verdict: complete, and the primary path closes at every mass."""
        return self.complete and self.path_passed(self.plan.primary_path)

    def to_dict(self) -> dict[str, Any]:
        """The history line (JSON-able dict)."""
        return {
            "kind": "closure-run",
            "analysis": ANALYSIS,
            "date": self.date,
            "commit": self.commit,
            "dirty": self.dirty,
            "command": COMMAND,
            "plan": self.plan.to_dict(),
            "plan_sha256": self.plan.sha256(),
            "inputs": dict(self.inputs),
            "masses": [m.to_dict() for m in self.masses],
            "paths_passed": {path: self.path_passed(path) for path in self.plan.path_names},
            "complete": self.complete,
            "passed": self.passed,
            "seconds": self.seconds,
        }


# ---------------------------------------------------------------- history


def history_header(plan: ClosurePlan = PLAN) -> dict[str, Any]:
    """The first line of a history file: the pre-registered plan and its sha256."""
    return {
        "kind": "closure-history",
        "analysis": ANALYSIS,
        "format": "JSON lines: this header, then one closure-run object per run, appended "
        "by the closure and never rewritten",
        "command": COMMAND,
        "plan": plan.to_dict(),
        "plan_sha256": plan.sha256(),
    }


def read_history(path: str | os.PathLike[str] = HISTORY_FILE) -> tuple[dict, list[dict]]:
    """The header and the runs of the history (:func:`surrotag.validation.closure.read_history`)."""
    return _read_history(path)


def append_history(
    record: Mapping[str, Any],
    path: str | os.PathLike[str] = HISTORY_FILE,
    plan: ClosurePlan = PLAN,
) -> Path:
    """Append one run to the history (:func:`surrotag.validation.closure.append_history`
    with this analysis's :func:`history_header`)."""
    return _append_history(record, path, history_header(plan))


# ---------------------------------------------------------------- the run


def check_inputs(reference: Path | None = None) -> tuple[Path, Path]:
    """The internal tagger folder and the reference table, or a one-line error.

    Raises:
        InputFileError: one of them is absent; the message names :data:`REGENERATE`.
    """
    from surrotag.reference.cache import TABLE_NAME, TAGGER_NAME, reference_dir

    folder = reference if reference is not None else reference_dir()
    tagger, table = folder / TAGGER_NAME, folder / TABLE_NAME
    missing = [str(p) for p in (tagger, table) if not p.exists()]
    if missing:
        raise InputFileError(
            f"closure inputs absent ({', '.join(missing)}): regenerate them with "
            f"`{REGENERATE}` (SURROTAG_DATA selects the data folder), then rerun `{COMMAND}`"
        )
    return tagger, table


def _sha256(path: Path) -> str:
    from surrotag.io.parquet import sha256_file

    return sha256_file(path)


def _parton_events(path: Path) -> Any:
    from surrotag.io import read_events

    events = read_events(str(path))
    return events[[name for name in events.fields if name != "fatjets"]]


def run_closure(
    plan: ClosurePlan = PLAN,
    *,
    masses: Sequence[float] | None = None,
    history: str | os.PathLike[str] | None = HISTORY_FILE,
    progress: Callable[[str], None] = print,
) -> ClosureRun:
    """Run the closure of ``plan`` (see the module docstring) and append it to ``history``.

    Args:
        plan: the plan; refused unless it is the one pre-registered in ``history``.
        masses: only these masses of the plan (the run is then marked incomplete).
        history: the history file (None: do not record; for development only).
        progress: called with one line per step.

    Raises:
        InputFileError: the tagger or the reference table is absent (one line naming the
            command that regenerates them).
        AnalysisError: a mass outside the plan, or a plan other than the history's.
    """
    tagger_dir, table = check_inputs()  # first: a missing input costs no import

    from surrotag.analysis import get_analysis
    from surrotag.errors import IntegrityError
    from surrotag.recast import recast
    from surrotag.reference.generate import generate
    from surrotag.reference.official import load_official_sample, working_point
    from surrotag.reference.tagger import load_tagger
    from surrotag.stats import load_workspace
    from surrotag.surrogates.registry import resolve_surrogate

    if history is not None and Path(history).exists():
        header, _ = read_history(history)
        if header.get("plan_sha256") != plan.sha256():
            raise AnalysisError(
                f"{history}: this plan is not the pre-registered one; a new plan needs a new "
                "history file"
            )
    chosen = list(plan.masses_gev) if not masses else [float(m) for m in masses]
    unknown = sorted(set(chosen) - set(plan.masses_gev))
    if unknown:
        raise AnalysisError(f"masses {unknown} GeV are not in the plan {plan.masses_gev}")
    start = time.monotonic()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    commit, dirty = git_state(HERE)
    analysis = get_analysis(ANALYSIS)
    card = analysis.card
    tagger = load_tagger(tagger_dir)
    if tagger.sha256 != card.surrogate.tagger_sha256:
        raise IntegrityError(
            f"{tagger_dir}: tagger sha256 {tagger.sha256[:12]}... differs from the card's "
            f"{card.surrogate.tagger_sha256[:12]}...; regenerate it with `{REGENERATE}`"
        )
    threshold = float(working_point(table, "wp50")["threshold"])
    workspace = load_workspace(HERE / "workspace.json")
    inputs: dict[str, Any] = {
        "tagger": tagger.sha256,
        "table": _sha256(table),
        "workspace": _sha256(HERE / "workspace.json"),
        "card": _sha256(HERE / "card.json"),
        "closure_py": _sha256(Path(__file__)),
        "surrogates": {
            level: _sha256(resolve_surrogate(name) / "weights.safetensors")
            for level, name in card.surrogate.names.items()
        },
        "wp50_threshold": threshold,
        "samples": {},
    }
    results = []
    for index, mass in enumerate(plan.masses_gev):
        if mass not in chosen:
            continue
        n_events, seed = plan.events[index], plan.seeds[index]
        progress(f"Z' {mass:g} GeV: sample of {n_events} events, seed {seed}")
        path = generate("zprime-ttbar", n_events, seed, jobs=plan.jobs, mass=mass)
        official = load_official_sample(path, card, tagger)
        inputs["samples"][f"{mass:g}"] = official.sha256
        yields = official.yields(card, threshold)
        rng = np.random.default_rng(np.random.SeedSequence([plan.bootstrap_seed, index]))
        progress(f"Z' {mass:g} GeV: bootstrap of the official mu_up ({plan.bootstrap_replicates})")
        interval = bootstrap_interval(
            lambda idx, official=official: expected_mu_up(
                workspace, card, official.yields(card, threshold, idx)
            ),
            official.n_events,
            plan.bootstrap_replicates,
            rng,
            plan.interval_level,
        )
        paths = []
        for name in plan.path_names:
            level, tagger_kind = PATHS[name]
            clock = time.monotonic()
            if level in ("delphes", "particle"):
                report = recast(ANALYSIS, [path], tagger=tagger_kind, draws=plan.draws, level=level)
            else:
                report = recast(
                    ANALYSIS,
                    _parton_events(path),
                    xsec_pb=official.sigma_pb,
                    tagger=tagger_kind,
                    draws=plan.draws,
                )
            regions = compare_regions(
                yields,
                {r: report.region(r) for r in yields},
                plan.yield_tolerance[level],
            )
            mu = float(report.limit.expected[2])
            paths.append(
                PathResult(
                    name,
                    regions,
                    mu,
                    interval.contains(mu),
                    float(report.ood_fraction),
                    round(time.monotonic() - clock, 1),
                )
            )
            progress(
                f"Z' {mass:g} GeV {name:15s} mu_up exp {mu:.3g} (official {interval.central:.3g}"
                f", {plan.interval_level:.0%} [{interval.lower:.3g}, {interval.upper:.3g}]) "
                f"closes: {paths[-1].closes}"
            )
        results.append(
            MassResult(
                mass_gev=mass,
                sample={
                    "file": path.name,
                    "sha256": official.sha256,
                    "n_events": n_events,
                    "seed": seed,
                    "sigma_pb": official.sigma_pb,
                    "n_selected": int(official.selected.sum()),
                },
                official_totals={r: float(y.nominal.sum()) for r, y in yields.items()},
                interval=interval,
                paths=tuple(paths),
            )
        )
    run = ClosureRun(
        date=date,
        commit=commit,
        dirty=dirty,
        plan=plan,
        inputs=inputs,
        masses=tuple(results),
        seconds=round(time.monotonic() - start, 1),
    )
    if history is not None:
        append_history(run.to_dict(), history, plan)
    return run


# ---------------------------------------------------------------- output


def markdown(run: Mapping[str, Any]) -> str:
    """A history record as the README's Markdown table: per mass and path, SR and CR yields
    against the official ones and the expected mu_up against the bootstrap interval."""
    lines = [
        f"Closure run of {run['date']} (commit {str(run.get('commit'))[:10]}"
        f"{', uncommitted changes' if run.get('dirty') else ''}; plan "
        f"{run['plan_sha256'][:12]}): {'PASSED' if run['passed'] else 'FAILED'}",
        "",
        "| Z' mass (GeV) | path | SR recast / official | CR recast / official "
        "| mu_up exp recast | official [95 % bootstrap] | jets flagged OOD | closes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mass in run["masses"]:
        ci = mass["mu_up_expected_official"]
        for name, result in mass["paths"].items():
            sr, cr = result["regions"]["SR"], result["regions"]["CR"]
            lines.append(
                f"| {mass['mass_gev']:g} | {name} "
                f"| {sr['recast']:.1f} ± {sr['sigma']:.1f} / {sr['official']:.1f} "
                f"| {cr['recast']:.1f} / {cr['official']:.1f} "
                f"| {_fmt(result['mu_up_expected'])} "
                f"| {_fmt(ci['central'])} [{_fmt(ci['lower'])}, {_fmt(ci['upper'])}] "
                f"| {result['ood_fraction']:.1%} | {'yes' if result['closes'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "inf" if value is None else f"{value:.3g}"


def main(argv: list[str] | None = None) -> int:
    """Command line: run the pre-registered closure and append it to the history.

    Returns:
        0 when the run passes, 2 when it ran and failed, 1 on an error (one line, e.g. the
        reference inputs are absent).
    """
    from surrotag.errors import SurrotagError

    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mass", type=float, action="append", help="only these masses of the plan (GeV)"
    )
    parser.add_argument(
        "--table", action="store_true", help="print the table of the last recorded run"
    )
    parser.add_argument(
        "--plan",
        choices=sorted(PLANS),
        default="all",
        help="the pre-registered plan: all (every path, the first plan), particle (the "
        "particle-level paths with the jet response) or reship (the detector-level paths "
        "after the re-ship with the bootstrap temperature floor)",
    )
    args = parser.parse_args(argv)
    plan, history = PLANS[args.plan]
    try:
        if args.table:
            _, runs = read_history(history)
            if not runs:
                raise AnalysisError(f"{history}: no closure run recorded yet; run {COMMAND}")
            print(markdown(runs[-1]), end="")
            return 0
        run = run_closure(plan, masses=args.mass, history=history)
    except SurrotagError as error:
        print(f"error: {error}")
        return 1
    print(markdown(run.to_dict()), end="")
    print(f"appended to {history}")
    return 0 if run.passed else 2


if __name__ == "__main__":
    raise SystemExit(main())
