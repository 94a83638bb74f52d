"""What the reference experiment publishes for an analysis: likelihood, official limits, files.

The build script of each shipped analysis (e.g.
:mod:`surrotag.analyses.zprime_ttbar_ljets.build`) turns official yields
(:mod:`surrotag.reference.official`) into the files an experiment puts on HEPData:

- :func:`background_workspace`: the background-only HistFactory workspace
  (arXiv:2109.04981) of the card's regions, one sample per background with ``lumi``, a
  normalisation ``normsys`` and ``staterror``, and Poisson **pseudo-data** drawn once
  from the total background with a fixed seed (the measurement's name says so);
- :func:`official_patch` and :func:`signal_limits`: a signal's patch (its MC statistics,
  no surrogate term: the tagger itself was used), CLs at mu = 1 and the 95 % CL upper
  limits (asymptotic qtilde, arXiv:1007.1727);
- :func:`region_record`, :func:`write_analysis_json`, :func:`json_digest`: the JSON
  records, written atomically, after which the analysis card in the same folder records
  the new files' sha256 (:func:`surrotag.analysis_card.seal_analysis_card`);
- :func:`build_analysis`: all of it from a :class:`BuildPlan` (the samples, their seeds
  and the uncertainties), which is all an analysis's build script declares.

Example:
    >>> json_digest({"b": 1, "a": [1.0]}) == json_digest({"a": [1.0], "b": 1})
    True
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from surrotag.errors import AnalysisError

if TYPE_CHECKING:
    from surrotag.analysis_card import AnalysisCard
    from surrotag.jets.response import JetResponse
    from surrotag.yields import Yields

__all__ = [
    "BuildPlan",
    "Sample",
    "background_workspace",
    "build_analysis",
    "build_command",
    "format_mu_up",
    "json_digest",
    "official_patch",
    "particle_response",
    "region_record",
    "signal_limits",
    "simulated_sample",
    "workspace_document",
    "write_analysis_json",
]


def background_workspace(
    card: AnalysisCard,
    backgrounds: Mapping[str, Mapping[str, Yields]],
    normalisation: Mapping[str, float],
    *,
    lumi_sigma: float,
    pseudo_data_seed: int,
    measurement: str = "pseudodata_background_only",
) -> dict[str, Any]:
    """The background-only HistFactory workspace with Poisson pseudo-data.

    Args:
        card: the analysis card (regions, channels, POI).
        backgrounds: per background sample name, per region name, its
            :class:`~surrotag.yields.Yields` (expected events).
        normalisation: per background sample, the relative normalisation uncertainty of
            its ``<name>_norm`` normsys (e.g. 0.10).
        lumi_sigma: relative luminosity uncertainty (every sample is simulated).
        pseudo_data_seed: seed of the one Poisson draw of the observations (numpy
            ``default_rng``, channels in card order).
        measurement: the measurement's name.

    Raises:
        AnalysisError: a bin without expected background (merge bins in the card), or a
            background without a normalisation uncertainty.
    """
    missing = sorted(set(backgrounds) - set(normalisation))
    if missing:
        raise AnalysisError(f"backgrounds {missing} have no normalisation uncertainty")
    rng = np.random.default_rng(pseudo_data_seed)
    channels, observations = [], []
    for region in card.regions:
        channel = card.statistics.channels[region.name]
        total = sum(yields[region.name].nominal for yields in backgrounds.values())
        if np.any(total <= 0):
            empty = np.flatnonzero(total <= 0).tolist()
            raise AnalysisError(
                f"channel {channel}: bins {empty} have no expected background; use larger "
                "background samples or merge bins in the card"
            )
        samples = [
            simulated_sample(name, yields[region.name], normalisation[name], channel)
            for name, yields in backgrounds.items()
        ]
        channels.append({"name": channel, "samples": samples})
        observations.append({"name": channel, "data": rng.poisson(total).astype(float).tolist()})
    return workspace_document(
        card, channels, observations, lumi_sigma=lumi_sigma, measurement=measurement
    )


def simulated_sample(name: str, yields: Yields, norm: float, channel: str) -> dict[str, Any]:
    """A simulated background in one channel: its yields with ``lumi``, the ``<name>_norm``
    normsys of relative size ``norm`` and the channel's ``staterror``."""
    return {
        "name": name,
        "data": yields.nominal.tolist(),
        "modifiers": [
            {"name": "lumi", "type": "lumi", "data": None},
            {"name": f"{name}_norm", "type": "normsys", "data": {"hi": 1 + norm, "lo": 1 - norm}},
            {"name": f"staterror_{channel}", "type": "staterror",
             "data": yields.mc_stat_error.tolist()},
        ],
    }  # fmt: skip


def workspace_document(
    card: AnalysisCard,
    channels: list[dict[str, Any]],
    observations: list[dict[str, Any]],
    *,
    lumi_sigma: float,
    measurement: str,
) -> dict[str, Any]:
    """The HistFactory JSON of ``channels`` and ``observations``: one measurement with the
    card's POI and the luminosity parameter (constraint ``lumi_sigma``, bounds +-5 sigma)."""
    lumi = {
        "name": "lumi",
        "auxdata": [1.0],
        "sigmas": [lumi_sigma],
        "bounds": [[1 - 5 * lumi_sigma, 1 + 5 * lumi_sigma]],
        "inits": [1.0],
    }
    return {
        "channels": channels,
        "measurements": [
            {"name": measurement, "config": {"poi": card.statistics.poi, "parameters": [lumi]}}
        ],
        "observations": observations,
        "version": "1.0.0",
    }


def official_patch(workspace: Any, card: AnalysisCard, yields: Mapping[str, Yields]) -> Any:
    """The signal patch of official yields: their MC statistics, no surrogate uncertainty.

    Args:
        workspace: the background-only workspace.
        card: the analysis card (channel names, signal sample).
        yields: per region of the card, the official yields.
    """
    from surrotag.stats.patch import build_patch

    channels = {card.statistics.channels[name]: y for name, y in yields.items()}
    return build_patch(
        workspace,
        channels,
        signal=card.statistics.signal_sample,
        analysis=card.name.replace("-", "_"),
        surrogate="official",
    )


def signal_limits(
    workspace: Any, card: AnalysisCard, yields: Mapping[str, Yields], rtol: float = 0.01
) -> dict[str, Any]:
    """CLs at mu = 1 and the 95 % CL upper limits on mu of official signal yields.

    Returns:
        ``{"cls_mu1": {"observed", "expected" [5]}, "mu_up": {...}, "sensitive": bool}``;
        a limit that does not exist (no signal in any bin: mu_up is infinite) is None, so
        that the record stays strict JSON.
    """
    from surrotag.io.atomic import strict_json
    from surrotag.stats.infer import cls, upper_limit

    patch = official_patch(workspace, card, yields)
    at_one = cls(workspace, patch, mu=1.0)
    limit = upper_limit(workspace, patch, rtol=rtol)
    return strict_json(
        {
            "cls_mu1": {"observed": at_one.observed, "expected": list(at_one.expected)},
            "mu_up": {"observed": limit.observed, "expected": list(limit.expected)},
            "sensitive": bool(at_one.sensitive),
        }
    )


def region_record(card: AnalysisCard, name: str, y: Yields) -> dict[str, Any]:
    """One region's yields as JSON: channel, observable, edges, yields, MC errors, total.

    The edges are ``bin_edges_gev`` for an observable in GeV (as every file so far), else
    ``bin_edges`` with the observable's ``unit``."""
    from surrotag.observables import get

    observable = card.region(name).observable.name
    unit = get(observable).unit
    edges = y.bin_edges.tolist()
    return {
        "channel": card.statistics.channels[name],
        "observable": observable,
        **({"bin_edges_gev": edges} if unit == "GeV" else {"unit": unit, "bin_edges": edges}),
        "yield": y.nominal.tolist(),
        "mc_stat_error": y.mc_stat_error.tolist(),
        "total": float(y.nominal.sum()),
        "total_mc_stat_error": float(np.sqrt(np.sum(y.mc_stat_error**2))),
    }


def write_analysis_json(
    path: str | Path, document: Mapping[str, Any], package: str | Path, seal: bool = True
) -> Path:
    """Write an analysis file atomically, then re-seal the card in the same folder.

    Args:
        path: the file (e.g. ``<out>/workspace.json``).
        document: the JSON document.
        package: the analysis package's folder, whose ``card.json`` is copied next to
            ``path`` when that folder has none (a build into another folder).
        seal: record the folder's files' sha256 in its card afterwards (for files that
            change results: the workspace, the official yields).
    """
    from surrotag.analysis_card import seal_analysis_card
    from surrotag.io.atomic import write_json_atomic

    path = Path(path)
    written = write_json_atomic(path, document, indent=1)
    if seal:
        card = path.parent / "card.json"
        if not card.is_file():
            shutil.copyfile(Path(package) / "card.json", card)
        seal_analysis_card(path.parent)
    return written


def particle_response(table: str | Path, collection: str = "fatjets") -> JetResponse:
    """The detector's fat-jet response at particle level, from the reference table.

    The table's rows are detector-level jets with their matched particle-level jet
    (``particle_matched``, ``particle_jet_pt``) and event weight; see
    :func:`surrotag.jets.response.measure_response` for the binning and the estimators.

    Raises:
        InputFileError, FormatError: the table is missing or lacks a column.
    """
    from surrotag.io.parquet import sha256_file
    from surrotag.jets.response import measure_response
    from surrotag.reference.ship import read_table

    columns = read_table(table, ["jet_pt", "particle_jet_pt", "particle_matched", "event_weight"])
    matched = columns["particle_matched"].astype(bool)
    return measure_response(
        columns["particle_jet_pt"][matched],
        columns["jet_pt"][matched],
        columns["event_weight"][matched],
        collection=collection,
        source={"table": Path(table).name, "table_sha256": sha256_file(table)},
    )


def json_digest(document: Mapping[str, Any]) -> str:
    """sha256 of a document's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Sample:
    """A reference sample a build generates (or reuses from the cache).

    Attributes:
        name: the sample's name in the files (``ttbar``, ``zprime_1500``).
        process: the preset (:data:`surrotag.reference.processes.PROCESSES`).
        n_events: generated events; seed: master seed (part of the sample's identity).
        mass: the preset's mass parameter (GeV), if it has one.
        lsp_mass: the neutralino mass (GeV) of the stop preset.
        parameters: a signal's model parameters as written to the official yields
            (e.g. ``{"mass_gev": 1500.0}``).
        x_masses: the (X, X') masses (GeV) of the ``y-xx`` preset.
    """

    name: str
    process: str
    n_events: int
    seed: int
    mass: float | None = None
    lsp_mass: float | None = None
    parameters: Mapping[str, float] = field(default_factory=dict)
    x_masses: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields; ``x_masses`` only when set, so that the records and sha256 of
        plans written before it existed stay what they were."""
        out = {**asdict(self), "parameters": dict(self.parameters)}
        if self.x_masses is None:
            del out["x_masses"]
        else:
            out["x_masses"] = list(self.x_masses)
        return out

    def generate(self, jobs: int) -> Path:
        """The sample file: generated with ``jobs`` workers, or reused from the cache."""
        from surrotag.reference.generate import generate

        start = time.monotonic()
        path = generate(
            self.process, self.n_events, self.seed, jobs=jobs, mass=self.mass,
            lsp_mass=self.lsp_mass, x_masses=self.x_masses,
        )  # fmt: skip
        print(f"  sample {self.name}: {path.name} [{time.monotonic() - start:.0f} s]", flush=True)
        return path


@dataclass(frozen=True)
class BuildPlan:
    """Everything an analysis's official files are built from, fixed in its build script.

    Attributes:
        package: the analysis package's folder (holds ``card.json``).
        command: the command that runs the build (recorded in the files).
        backgrounds: the background samples, tagged directly with the internal tagger.
        signals: the official signal samples.
        normalisation: per background, its relative normalisation uncertainty.
        lumi_sigma: relative luminosity uncertainty.
        pseudo_data_seed: seed of the pseudo-data.
        signal_description: one paragraph on the signal and the official yields.
        not_modelled: the backgrounds of the real search the build leaves out, in words.
        jobs: generation workers of every sample (part of their identity).
        working_point: the working point the regions use.
        measurement: name of the workspace's measurement.
        limit_rtol: relative tolerance of the upper limits on mu.
    """

    package: Path
    command: str
    backgrounds: tuple[Sample, ...]
    signals: tuple[Sample, ...]
    normalisation: Mapping[str, float]
    lumi_sigma: float
    pseudo_data_seed: int
    signal_description: str
    not_modelled: str = ""
    jobs: int = 2
    working_point: str = "wp50"
    measurement: str = "pseudodata_background_only"
    limit_rtol: float = 0.01


def build_analysis(
    plan: BuildPlan,
    out_dir: str | Path | None = None,
    *,
    tagger_dir: str | Path | None = None,
    table: str | Path | None = None,
    limits: bool = True,
) -> dict[str, Path]:
    """Build ``workspace.json``, its provenance and ``official_yields.json`` of an analysis.

    Args:
        plan: the analysis's :class:`BuildPlan`.
        out_dir: where to write (default: the analysis package's folder).
        tagger_dir: internal tagger folder (default ``$SURROTAG_DATA/reference/tagger_pfn``;
            ``event_classifier_heavy`` for an event-level card:
            :func:`surrotag.reference.official.internal_decisions`).
        table: reference table (default: the cache's; the event table
            ``stop_event_table.parquet`` for an event-level card), which fixes the
            working point.
        limits: compute CLs at mu = 1 and the upper limits per signal (the yields are
            written first, and the file again after each signal's limits).

    Returns:
        The files written, by role (``workspace``, ``workspace_provenance``,
        ``official_yields``).

    Raises:
        IntegrityError: the tagger's sha256 differs from the card's ``tagger_sha256``.
    """
    from surrotag.analysis_card import load_analysis_card
    from surrotag.reference.official import internal_decisions, load_official_sample
    from surrotag.stats.workspace import load_workspace

    start = time.monotonic()
    package = Path(plan.package)
    out = Path(out_dir) if out_dir is not None else package
    card = load_analysis_card(package / "card.json")
    internal = internal_decisions(card, plan.working_point, folder=tagger_dir, table=table)
    tagger, point, threshold = internal.tagger, dict(internal.point), internal.threshold
    inputs = internal.inputs()
    print(f"{plan.working_point} threshold (logit): {threshold:.6f}", flush=True)

    samples = {
        spec.name: load_official_sample(spec.generate(plan.jobs), card, tagger)
        for spec in plan.backgrounds
    }
    backgrounds = {name: s.yields(card, threshold) for name, s in samples.items()}
    workspace = background_workspace(
        card,
        backgrounds,
        plan.normalisation,
        lumi_sigma=plan.lumi_sigma,
        pseudo_data_seed=plan.pseudo_data_seed,
        measurement=plan.measurement,
    )
    load_workspace(workspace)  # schema check before anything is written
    digest = json_digest(workspace)
    provenance = {
        "kind": "background-workspace-provenance",
        "analysis": card.name,
        "workspace": "workspace.json",
        "workspace_sha256": digest,
        "digest_convention": "sha256 of the canonical JSON (sorted keys, no spaces)",
        "command": plan.command,
        "observations": (
            f"pseudo-data: one Poisson draw of the total background expectation, numpy "
            f"default_rng({plan.pseudo_data_seed}), channels in card order; not real data"
        ),
        "pseudo_data_seed": plan.pseudo_data_seed,
        "luminosity_ifb": card.luminosity_ifb,
        "lumi_uncertainty": plan.lumi_sigma,
        "normalisation_uncertainties": dict(plan.normalisation),
        "working_point": point,
        "inputs": {**inputs, "backgrounds": {n: s.sha256 for n, s in samples.items()}},
        "backgrounds": {
            name: {
                "sample": sample.summary(),
                "regions": {r: region_record(card, r, y) for r, y in backgrounds[name].items()},
            }
            for name, sample in samples.items()
        },
        "not_modelled": plan.not_modelled,
        "surrogates_used": False,
    }
    written = {
        "workspace": write_analysis_json(out / "workspace.json", workspace, package),
        "workspace_provenance": write_analysis_json(
            out / "workspace.provenance.json", provenance, package, seal=False
        ),
    }
    for name, regions in backgrounds.items():
        totals = ", ".join(f"{r} {y.nominal.sum():.1f}" for r, y in regions.items())
        print(f"  {name}: {totals} events", flush=True)

    records, official_yields = [], []
    for spec in plan.signals:  # yields first (seconds), limits after (a minute each)
        sample = load_official_sample(spec.generate(plan.jobs), card, tagger)
        yields = sample.yields(card, threshold)
        official_yields.append(yields)
        records.append(
            {
                "name": spec.name,
                **dict(spec.parameters),
                "sample": sample.summary(),
                "tagger_sha256": tagger.sha256,
                "regions": {name: region_record(card, name, y) for name, y in yields.items()},
                "cls_mu1": None,
                "mu_up": None,
            }
        )
        totals = ", ".join(f"{r} {y.nominal.sum():.2f}" for r, y in yields.items())
        print(f"  {spec.name}: {totals} events", flush=True)
    official = {
        "kind": "official-signal-yields",
        "analysis": card.name,
        "description": plan.signal_description,
        "command": plan.command,
        "luminosity_ifb": card.luminosity_ifb,
        "signal_sample": card.statistics.signal_sample,
        "working_point": point,
        "workspace": {"file": "workspace.json", "sha256": digest, "observations": "pseudo-data"},
        "inputs": {
            **inputs,
            "backgrounds": {n: s.sha256 for n, s in samples.items()},
            "signals": {r["name"]: r["sample"]["sha256"] for r in records},
        },
        "signals": records,
        "surrogates_used": False,
    }
    path = out / "official_yields.json"
    written["official_yields"] = write_analysis_json(path, official, package)
    if limits:
        for record, yields in zip(records, official_yields, strict=True):
            record.update(signal_limits(workspace, card, yields, rtol=plan.limit_rtol))
            write_analysis_json(path, official, package)
            expected = format_mu_up(record["mu_up"]["expected"][2])
            print(
                f"  {record['name']}: expected mu_up {expected} [{time.monotonic() - start:.0f} s]",
                flush=True,
            )
    print(f"official yields written: {written['official_yields']}", flush=True)
    return written


def format_mu_up(value: float | None) -> str:
    """An upper limit on mu for a line of text: 3 digits, ``inf`` where there is none (a
    signal with no yield; the JSON records hold null).

    Example:
        >>> format_mu_up(73.5713), format_mu_up(None)
        ('73.6', 'inf')
    """
    return "inf" if value is None else f"{value:.3g}"


def build_command(plan: BuildPlan, prog: str, argv: list[str] | None = None) -> int:
    """The command line of an analysis's build script (``python -m <package>.build``).

    Returns:
        0 on success, 1 after one line naming what is wrong (no traceback).
    """
    import argparse

    from surrotag.errors import SurrotagError

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Build workspace.json and official_yields.json of the analysis from the "
        "reference experiment (samples reused from $SURROTAG_DATA/reference).",
    )
    parser.add_argument("--out-dir", default=None, help="output folder (default: the package)")
    parser.add_argument("--tagger", default=None, help="internal tagger folder")
    parser.add_argument("--table", default=None, help="reference table (working points)")
    parser.add_argument(
        "--no-limits", action="store_true", help="official yields without CLs / upper limits"
    )
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        build_analysis(
            plan, args.out_dir, tagger_dir=args.tagger, table=args.table, limits=not args.no_limits
        )
    except SurrotagError as error:
        print(f"error: {error}")
        return 1
    print(f"done in {time.monotonic() - start:.0f} s")
    return 0
