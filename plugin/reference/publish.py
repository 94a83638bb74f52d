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
  the new files' sha256 (:func:`surrotag.analysis_card.seal_analysis_card`).

Example:
    >>> json_digest({"b": 1, "a": [1.0]}) == json_digest({"a": [1.0], "b": 1})
    True
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from surrotag.errors import AnalysisError

if TYPE_CHECKING:
    from surrotag.analysis_card import AnalysisCard
    from surrotag.yields import Yields

__all__ = [
    "background_workspace",
    "json_digest",
    "official_patch",
    "region_record",
    "signal_limits",
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
        samples = []
        for name, yields in backgrounds.items():
            y = yields[region.name]
            norm = normalisation[name]
            samples.append(
                {
                    "name": name,
                    "data": y.nominal.tolist(),
                    "modifiers": [
                        {"name": "lumi", "type": "lumi", "data": None},
                        {
                            "name": f"{name}_norm",
                            "type": "normsys",
                            "data": {"hi": 1 + norm, "lo": 1 - norm},
                        },
                        {
                            "name": f"staterror_{channel}",
                            "type": "staterror",
                            "data": y.mc_stat_error.tolist(),
                        },
                    ],
                }
            )
        channels.append({"name": channel, "samples": samples})
        observations.append({"name": channel, "data": rng.poisson(total).astype(float).tolist()})
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
        ``{"cls_mu1": {"observed", "expected" [5]}, "mu_up": {...}, "sensitive": bool}``.
    """
    from surrotag.stats.infer import cls, upper_limit

    patch = official_patch(workspace, card, yields)
    at_one = cls(workspace, patch, mu=1.0)
    limit = upper_limit(workspace, patch, rtol=rtol)
    return {
        "cls_mu1": {"observed": at_one.observed, "expected": list(at_one.expected)},
        "mu_up": {"observed": limit.observed, "expected": list(limit.expected)},
        "sensitive": bool(at_one.sensitive),
    }


def region_record(card: AnalysisCard, name: str, y: Yields) -> dict[str, Any]:
    """One region's yields as JSON: channel, observable, edges, yields, MC errors, total."""
    return {
        "channel": card.statistics.channels[name],
        "observable": card.region(name).observable.name,
        "bin_edges_gev": y.bin_edges.tolist(),
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


def json_digest(document: Mapping[str, Any]) -> str:
    """sha256 of a document's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
