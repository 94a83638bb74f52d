"""The one place where a scan meets the single-point recast (:func:`surrotag.recast.recast`).

A scan point runs :func:`run_point` on a Dask worker; the scan reads the recast's report
only through :func:`check_report` (is a stored report still valid?) and
:func:`report_summary` (the summary-table columns). A change of the recast API or of the
report's JSON layout touches this module only.

A *point function* is any callable with the signature of :func:`run_point`; the scan runner
takes it as a parameter, so a workflow can scan another per-point computation with the same
scheduling, atomic files, resuming and error records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from surrotag.scan.grid import GridPoint

__all__ = [
    "PointFunction",
    "ScanOptions",
    "check_report",
    "report_summary",
    "run_point",
]


@dataclass(frozen=True)
class ScanOptions:
    """Recast options shared by every point of a scan (see :func:`surrotag.recast.recast`).

    Attributes:
        device: torch device of the surrogate, ``cpu`` or ``cuda``.
        draws: Bayesian weight draws K (None: the surrogate card's).
        stochastic: sample one score per object instead of the exact probability.
        tagger: ``surrogate`` or ``efficiency-map``.
        seed: seed of the sampled scores.
        ood: out-of-support objects: ``nuisance`` (a [0, 1] nuisance) or ``strict``
            (the point fails with the recast's one-line error).
        level: input level of the events (None: each file's own).
    """

    device: str = "cpu"
    draws: int | None = None
    stochastic: bool = False
    tagger: str = "surrogate"
    seed: int = 0
    ood: str = "nuisance"
    level: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The options as JSON (recorded per point: a changed option reruns the point)."""
        return asdict(self)


PointFunction = Callable[[GridPoint, str, ScanOptions], tuple[dict[str, Any], list[Any]]]
"""``(point, analysis, options) -> (report JSON dict, pyhf JSON patch as a list of ops)``."""


def run_point(
    point: GridPoint, analysis: str, options: ScanOptions
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Recast one grid point: the report document and the signal's pyhf patch.

    Args:
        point: the grid point (its event files and optional cross-section in pb).
        analysis: installed analysis name or analysis folder.
        options: the scan's recast options.

    Returns:
        ``(report, patch)``: the report JSON (following ``report.schema.json``) and the RFC
        6902 patch operations that add the signal to the background-only workspace.

    Raises:
        SurrotagError: any bad input of the recast (one line).
    """
    from surrotag.recast import recast

    report = recast(
        analysis,
        [str(path) for path in point.events],
        xsec_pb=point.xsec_pb,
        draws=options.draws,
        device=options.device,
        stochastic=options.stochastic,
        tagger=options.tagger,
        seed=options.seed,
        ood=options.ood,
        level=options.level,
    )
    return report.to_dict(), list(report.patch.ops)


def check_report(report: Mapping[str, Any]) -> None:
    """Raise if a stored report is not a valid recast report (then the point reruns)."""
    from surrotag.recast import validate_report

    validate_report(dict(report))


def _get(document: Mapping[str, Any], *keys: str | int) -> Any:
    value: Any = document
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def report_summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """The summary-table columns of one report (None where the report lacks a value).

    Returns:
        ``yield_<region>`` (expected signal events at mu = 1, summed over bins), ``cls_obs``,
        ``cls_exp`` (median expected), ``cls_exp_m1``/``cls_exp_p1`` (-1/+1 sigma),
        ``mu_up_obs``, ``mu_up_exp`` (median), ``ood_fraction``, ``xsec_pb``.
    """
    row: dict[str, Any] = {}
    for region in _get(report, "regions") or []:
        if isinstance(region, Mapping) and "name" in region:
            row[f"yield_{region['name']}"] = region.get("total")
    expected = _get(report, "statistics", "cls_expected") or [None] * 5
    mu_expected = _get(report, "statistics", "mu_up_expected") or [None] * 5
    row.update(
        cls_obs=_get(report, "statistics", "cls_observed"),
        cls_exp=expected[2],
        cls_exp_m1=expected[1],
        cls_exp_p1=expected[3],
        mu_up_obs=_get(report, "statistics", "mu_up_observed"),
        mu_up_exp=mu_expected[2],
        ood_fraction=_get(report, "ood", "fraction"),
        xsec_pb=_get(report, "cross_section", "value_pb"),
    )
    return row
