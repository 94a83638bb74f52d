"""The recast report: a typed result, its JSON document, schema validation, atomic writing.

:class:`RecastReport` holds everything a recast produced; :meth:`RecastReport.to_dict` gives
the JSON document described by ``schemas/report.schema.json`` (shipped in the package, JSON
Schema 2020-12). :func:`write_report` validates the document *before* writing and writes it
atomically (temporary file in the target folder, then :func:`os.replace`), so a failed run
never leaves a partial or invalid report behind.

Infinite upper limits (a signal that changes nothing, or one too weak to bracket) are
written as ``null``; ``statistics.sensitive`` says which.

Out-of-support objects: ``ood`` gives the flagged share of the tagged objects, how they were
judged (``joint``, ``box`` with a note on what a box misses, or the efficiency map's
``pt-range``), the treatment (``nuisance`` or ``strict``), the nuisance's modifier name and,
per region, the OOD share of the signal yield; each region carries its ``ood_down`` and
``ood_up`` yields (the least and the most signal the flagged objects' allowed tag
probabilities give; ``ood_down`` is the signal of the likelihood).
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from surrotag.errors import SurrotagError
from surrotag.surrogates.schema_check import check_document, schema_validator

if TYPE_CHECKING:
    from surrotag.io.inputs import CrossSection
    from surrotag.stats.infer import CLsResult, UpperLimit
    from surrotag.stats.patch import SignalPatch
    from surrotag.yields import Yields

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "RecastReport",
    "RegionResult",
    "report_schema",
    "validate_report",
    "write_many_outputs",
    "write_outputs",
    "write_report",
]

#: Version of the report document (``schema_version``).
REPORT_SCHEMA_VERSION: Final = 1


@dataclass(frozen=True)
class RegionResult:
    """Signal yields of one region (expected events at mu = 1).

    Attributes:
        name: region name of the analysis card (``SR``).
        channel: workspace channel it patches (``SR_mjj``).
        requirement: tag requirement (``both``, ``exactly_one``, ..., ``any``).
        working_point: working point of the tag (None for ``any``).
        observable: binned observable (``mjj``; its unit: :attr:`unit`).
        yields: :class:`surrotag.yields.Yields` (nominal, per draw, MC stat, covariance).
        tag_counts: the further taggers' tag counts the region requires
            (:class:`surrotag.analysis_card.TagCount`; in the report only when there are).
    """

    name: str
    channel: str
    requirement: str
    working_point: str | None
    observable: str
    yields: Yields
    tag_counts: tuple[Any, ...] = ()

    @property
    def unit(self) -> str:
        """The observable's unit (:func:`surrotag.observables.get`): GeV, rad or ""."""
        from surrotag.observables import get

        return get(self.observable).unit

    @property
    def surrogate_error(self) -> np.ndarray:
        """Per-bin standard deviation over weight draws (events)."""
        return np.sqrt(np.clip(np.diag(self.yields.covariance), 0.0, None))

    @property
    def total(self) -> float:
        """Total yield over bins."""
        return float(np.sum(self.yields.nominal))

    @property
    def total_mc_stat(self) -> float:
        """MC statistical error of the total (bins are disjoint sets of events)."""
        return float(np.sqrt(np.sum(self.yields.mc_stat_error**2)))

    @property
    def total_surrogate(self) -> float:
        """Surrogate (weight-draw) standard deviation of the total (0 for one draw)."""
        totals = self.yields.per_draw.sum(axis=1)
        return float(totals.std(ddof=1)) if totals.size > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description."""
        y = self.yields
        edges = y.bin_edges.tolist()
        return {
            "name": self.name,
            "channel": self.channel,
            "requirement": self.requirement,
            "working_point": self.working_point,
            "observable": self.observable,
            "unit": self.unit,
            "bin_edges": edges,
            **({"bin_edges_gev": edges} if self.unit == "GeV" else {}),
            "nominal": y.nominal.tolist(),
            "mc_stat_error": y.mc_stat_error.tolist(),
            "surrogate_error": self.surrogate_error.tolist(),
            "per_draw": y.per_draw.tolist(),
            "total": self.total,
            "total_mc_stat_error": self.total_mc_stat,
            "total_surrogate_error": self.total_surrogate,
            "ood_share": y.ood_share,
            "ood_down": np.asarray(y.ood_down, dtype=np.float64).tolist(),
            "ood_up": np.asarray(y.ood_up, dtype=np.float64).tolist(),
        } | (
            {"tag_counts": [asdict(count) for count in self.tag_counts]} if self.tag_counts else {}
        )


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class RecastReport:
    """Everything one recast produced.

    Attributes:
        analysis: analysis name; ``analysis_info``: sqrt(s) (GeV), luminosity (fb^-1),
            origin, POI.
        level: input level (``delphes`` or ``parton``).
        inputs: per input file: path, sha256, format, n_events, sum_weights.
        n_events: events read; ``sum_weights``: their generator weights summed.
        cross_section: sigma (pb) and its source.
        sqrt_s_gev: collision energy recorded by the inputs (None when unknown).
        tagger: tagger description (kind, name, version, sha256s, draws, stochastic, ...).
        jet_response: at particle level, the detector's jet response applied before the
            selection (collection, file, sha256, seed and stream of its draws), else None.
        cutflow: events passing each selection cut (:func:`surrotag.selection.cut_names`);
            ``cutflow_weighted`` the same in generator weight.
        normalisation: expected events per unit generator weight, ``sigma L / sum w``.
        regions: per region, :class:`RegionResult`.
        ood_fraction: fraction of tagged objects outside the tagger's support;
            ``n_objects`` how many were tagged.
        patch: the :class:`surrotag.stats.patch.SignalPatch`.
        cls: CLs at mu = 1; ``limit``: 95% CL upper limits on mu.
        timings: seconds per stage.
        warnings: one line each (sqrt(s) mismatch, OOD fraction, clipped templates, ...).
        ood_policy: ``nuisance`` or ``strict`` (:data:`surrotag.recast.OOD_POLICIES`).
        ood_method: ``joint``, ``box`` or ``pt-range``: how objects were judged.
        ood_note: what the check misses (a surrogate without a joint support), else None.
        n_ood: tagged objects flagged out of support.
    """

    analysis: str
    analysis_info: dict[str, Any]
    level: str
    inputs: list[dict[str, Any]]
    n_events: int
    sum_weights: float
    cross_section: CrossSection
    sqrt_s_gev: float | None
    tagger: dict[str, Any]
    cutflow: dict[str, int]
    cutflow_weighted: dict[str, float]
    normalisation: float
    regions: tuple[RegionResult, ...]
    ood_fraction: float
    n_objects: int
    patch: SignalPatch
    cls: CLsResult
    limit: UpperLimit
    timings: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    ood_policy: str = "nuisance"
    ood_method: str = "box"
    ood_note: str | None = None
    n_ood: int = 0
    jet_response: dict[str, Any] | None = None

    @property
    def selection_efficiency(self) -> float:
        """Weighted share of the events passing every cut (the cutflow's last entry)."""
        passed = list(self.cutflow_weighted.values())[-1] if self.cutflow_weighted else 0.0
        return float(passed / self.sum_weights) if self.sum_weights else 0.0

    @property
    def excluded(self) -> bool:
        """Whether the signal (mu = 1) is excluded at 95% CL (observed CLs < 0.05)."""
        return bool(self.cls.sensitive and self.cls.excluded)

    def region(self, name: str) -> RegionResult:
        """The region called ``name``."""
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The report document (``report.schema.json``)."""
        import surrotag

        variations = self.patch.variations
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "surrotag_version": surrotag.__version__,
            "analysis": {"name": self.analysis, **self.analysis_info},
            "level": self.level,
            "inputs": self.inputs,
            "n_events": int(self.n_events),
            "sum_weights": float(self.sum_weights),
            "cross_section": {
                "value_pb": float(self.cross_section.value_pb),
                "error_pb": float(self.cross_section.error_pb),
                "source": self.cross_section.source,
                "detail": self.cross_section.detail,
            },
            "sqrt_s_gev": None if self.sqrt_s_gev is None else float(self.sqrt_s_gev),
            "tagger": self.tagger,
            "selection": {
                "cutflow": dict(self.cutflow),
                "cutflow_weighted": dict(self.cutflow_weighted),
                "efficiency": self.selection_efficiency,
                "jet_response": self.jet_response,
            },
            "normalisation": float(self.normalisation),
            "regions": [region.to_dict() for region in self.regions],
            "ood": {
                "fraction": float(self.ood_fraction),
                "n_objects": int(self.n_objects),
                "n_flagged": int(self.n_ood),
                "policy": self.ood_policy,
                "method": self.ood_method,
                "note": self.ood_note,
                "modifier": self.patch.ood_modifier,
                "share": {region.name: region.yields.ood_share for region in self.regions},
            },
            "patch": {
                "signal": self.patch.signal,
                "channels": list(self.patch.channels),
                "n_components": variations.n_components,
                "explained_variance": float(variations.explained),
                "modifiers": sorted(
                    {
                        m["name"]
                        for op in self.patch.ops
                        if op["op"] == "add"
                        for m in op["value"]["modifiers"]
                    }
                ),
                "clipped_bins": len(self.patch.clipped),
            },
            "statistics": {
                "poi": self.analysis_info.get("poi"),
                "sensitive": bool(self.cls.sensitive),
                "mu": float(self.cls.mu),
                "cls_observed": float(self.cls.observed),
                "cls_expected": [float(v) for v in self.cls.expected],
                "excluded": self.excluded,
                "mu_up_observed": _finite_or_none(self.limit.observed),
                "mu_up_expected": [_finite_or_none(v) for v in self.limit.expected],
                "level": float(self.limit.level),
                "expected_kind": self.cls.expected_kind,
                "backend": self.cls.backend,
                "reliable": bool(self.cls.reliable and self.limit.reliable),
                "reliability_warnings": sorted({*self.cls.warnings, *self.limit.warnings}),
            },
            "environment": environment(),
            "timings_s": {name: float(value) for name, value in self.timings.items()},
            "warnings": list(self.warnings),
        }


def environment() -> dict[str, Any]:
    """Versions of what a result rests on, and the command line that produced it."""
    import sys
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("surrotag", "torch", "pyhf", "jax", "jaxlib", "numpy", "awkward", "uproot"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "python": sys.version.split()[0],
        "versions": versions,
        "command_line": [os.path.basename(sys.argv[0]), *sys.argv[1:]] if sys.argv else [],
    }


@functools.cache
def report_schema() -> dict[str, Any]:
    """The report JSON schema shipped in ``surrotag/schemas``."""
    return json.loads((files("surrotag") / "schemas" / "report.schema.json").read_text("utf-8"))


@functools.cache
def _validator() -> Any:
    return schema_validator(report_schema())


def validate_report(document: dict[str, Any]) -> None:
    """Check a report document against the shipped schema.

    Raises:
        SurrotagError: one line naming the JSON path of the first problem (a bug in
            surrotag, never the user's fault, but never written to disk either).
    """
    check_document(
        document, _validator(), SurrotagError, "recast report fails its schema", limit=200
    )


def write_report(document: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Validate, then write a report (or any JSON) atomically; returns the path."""
    from surrotag.io.atomic import write_json_atomic

    validate_report(document)
    return write_json_atomic(path, document)


def write_outputs(
    report: RecastReport,
    analysis: str | os.PathLike[str],
    *,
    output: str | os.PathLike[str] | None = None,
    patch_out: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
    workspace: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Validate the report's document, then write the files asked for as one unit.

    Report, patch and plot are written to temporary files and committed together
    (:func:`surrotag.io.atomic.atomic_outputs`): a failure or a signal during the output
    stage leaves none of them, and the files a previous run left at those paths unchanged.

    Args:
        report: the recast's result.
        analysis: name or folder of the analysis (its background-only workspace is drawn).
        output: the JSON report.
        patch_out: the signal's pyhf JSON patch(set).
        plot: the image of each region's observable (:func:`surrotag.recast.plot.plot_regions`).
        workspace: a background-only workspace drawn instead of the analysis's.

    Returns:
        The files written, in the order report, patch, plot.

    Raises:
        SurrotagError: the document fails its schema (nothing is written).
        OutputError: a file cannot be written (nothing of this run is left).
    """
    products = _products(report, analysis, output, patch_out, plot, workspace)
    return _write_unit(products)


def write_many_outputs(
    reports: list[RecastReport],
    analyses: list[str | os.PathLike[str]],
    *,
    output: str | os.PathLike[str] | None = None,
    patch_out: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """The outputs of several analyses' reports, one file per analysis in each folder given.

    ``output``, ``patch_out`` and ``plot`` name folders (created if absent): each gets
    ``<analysis>.json``, ``<analysis>.patch.json`` or ``<analysis>.png``. Every document is
    validated before the first file is written, and the files of all analyses are committed
    as one unit (:func:`surrotag.io.atomic.atomic_outputs`): all of them, or none.

    Raises:
        SurrotagError: a document fails its schema (nothing is written), or a folder is a file.
        OutputError: a file cannot be written (nothing of this call is left).
    """
    folders = {"output": output, "patch_out": patch_out, "plot": plot}
    for option, folder in folders.items():
        if folder is not None and Path(folder).exists() and not Path(folder).is_dir():
            raise SurrotagError(
                f"{folder}: a file; with several analyses --{option.replace('_', '-')} names a "
                "folder (one file per analysis)"
            )
    suffixes = {"output": ".json", "patch_out": ".patch.json", "plot": ".png"}
    products: list[tuple[Path, Callable[[Path], object]]] = []
    for report, analysis in zip(reports, analyses, strict=True):
        paths = {
            option: None
            if folder is None
            else Path(folder) / f"{report.analysis}{suffixes[option]}"
            for option, folder in folders.items()
        }
        products += _products(report, analysis, **paths)
    return _write_unit(products)


def _products(
    report: RecastReport,
    analysis: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    patch_out: str | os.PathLike[str] | None = None,
    plot: str | os.PathLike[str] | None = None,
    workspace: str | os.PathLike[str] | None = None,
) -> list[tuple[Path, Callable[[Path], object]]]:
    """Each file asked for and the writer that fills a path with it (report, patch, plot).

    The document is validated and the workspace of the plot found here, before any write.
    """
    from surrotag.io.atomic import write_json_atomic
    from surrotag.stats.patch import write_patchset

    document = report.to_dict()
    validate_report(document)
    products: list[tuple[Path, Callable[[Path], object]]] = []
    if output is not None:  # validated above: write it as it is
        products.append((Path(output), lambda path: write_json_atomic(path, document)))
    if patch_out is not None:
        products.append((Path(patch_out), lambda path: write_patchset(path, report.patch.ops)))
    if plot is not None:
        from surrotag.analysis import get_analysis
        from surrotag.recast.plot import plot_regions

        ws = workspace if workspace is not None else get_analysis(analysis).workspace()
        products.append((Path(plot), lambda path: plot_regions(report, ws, path)))
    return products


def _write_unit(products: list[tuple[Path, Callable[[Path], object]]]) -> list[Path]:
    """Run each writer on a temporary path, then commit all files together; their targets."""
    from surrotag.io.atomic import atomic_outputs

    targets = [target for target, _ in products]
    with atomic_outputs(targets) as temporaries:
        for (_, writer), temporary in zip(products, temporaries, strict=True):
            writer(temporary)
    return targets
