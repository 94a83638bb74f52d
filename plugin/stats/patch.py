"""Build the JSON patch that adds a recast signal to a background-only workspace.

The patch is an RFC 6902 list of operations, like the signal patches that experiments
publish on HEPData. The signal sample carries

- the measurement's POI as a ``normfactor`` (the signal strength mu),
- the workspace's luminosity modifier (the signal yield scales with the luminosity),
- its Monte Carlo statistical error as a ``shapesys`` of its own per channel
  (``<signal>_mcstat_<channel>``), *not* the shared ``staterror``: the background
  constraints stay exactly those of the published likelihood,
- the surrogate uncertainty (arXiv:2402.15558, Bayesian weight draws) as correlated
  ``histosys`` modifiers: the draw covariance over all bins of all channels jointly is
  eigen-decomposed, ``C = sum_i lambda_i e_i e_i^T``; each kept component
  ``u_i = sqrt(lambda_i) e_i`` becomes ``<analysis>_<surrogate>_eig<i>`` with
  ``hi = nominal + u_i`` and ``lo = nominal - u_i`` (clipped at zero),
- the objects out of the surrogate's training support, whose tag probability may be
  anything in its allowed range [0, 1] (:func:`surrotag.yields.ood_region_yields`): the
  signal's data are the *least* yields that range allows (:attr:`Yields.ood_down`), and one
  more ``histosys``, ``<analysis>_<surrogate>_ood``, correlated over channels, reaches the
  most (``hi`` = :attr:`Yields.ood_up`, ``lo`` = the data). A surrogate's extrapolation can
  be confident and wrong (P = 1 with no Bayesian spread far outside its training data), so
  it is never the likelihood's nominal: with the data at the least-signal end, adding
  flagged objects to a signal never strengthens its limit. The eigen-variations and the
  MC-statistics error follow the data (shifted, and scaled by data / nominal). A signal
  without flagged objects gets exactly the patch it had before.

:func:`patchset` bundles many signal points into pyhf's patchset format (HEPData's
``patchset.json``, readable by :class:`pyhf.PatchSet`).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyhf

from surrotag.errors import StatisticsError
from surrotag.io.atomic import write_text_atomic
from surrotag.stats.workspace import BackgroundWorkspace, load_workspace
from surrotag.yields import Yields

__all__ = [
    "EigenVariations",
    "PatchPoint",
    "SignalPatch",
    "build_patch",
    "eigen_variations",
    "patchset",
    "write_patchset",
]


@dataclass(frozen=True)
class EigenVariations:
    """Leading eigen-variations of a yield covariance.

    Attributes:
        components: ``u_i = sqrt(lambda_i) e_i``, shape ``[M, B]`` (M kept components, in
            decreasing variance; sign fixed so that the largest entry is positive).
        eigenvalues: all eigenvalues in decreasing order ``[B]`` (negative round-off set to 0).
        explained: fraction of the total variance that the kept components carry (1 when the
            covariance is zero).
    """

    components: np.ndarray
    eigenvalues: np.ndarray
    explained: float

    @property
    def n_components(self) -> int:
        """Number of kept components M."""
        return int(self.components.shape[0])


def eigen_variations(
    covariance: np.ndarray, *, variance_fraction: float = 0.95, max_components: int = 5
) -> EigenVariations:
    """Keep the fewest leading eigen-components carrying ``variance_fraction`` of the variance.

    Args:
        covariance: symmetric positive semi-definite matrix ``[B, B]`` (events^2).
        variance_fraction: fraction of ``trace(C)`` to keep, in (0, 1].
        max_components: hard cap on the number of components.

    Returns:
        :class:`EigenVariations`; ``components @ components.T``-style reconstruction
        ``sum_i u_i u_i^T`` approximates ``C``.

    Raises:
        StatisticsError: the matrix is not square, symmetric and finite.
    """
    cov = np.asarray(covariance, dtype=np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or not np.all(np.isfinite(cov)):
        raise StatisticsError(f"draw covariance of shape {cov.shape} is not a finite square matrix")
    scale = max(float(np.abs(cov).max(initial=0.0)), 1e-300)
    if not np.allclose(cov, cov.T, rtol=1e-8, atol=1e-12 * scale):
        raise StatisticsError("draw covariance is not symmetric; build it with np.cov over draws")
    if not 0.0 < variance_fraction <= 1.0 or max_components < 0:
        raise StatisticsError(
            f"variance_fraction {variance_fraction} must lie in (0, 1] and max_components "
            f"{max_components} be >= 0"
        )
    values, vectors = np.linalg.eigh(0.5 * (cov + cov.T))
    order = np.argsort(values)[::-1]
    values = np.clip(values[order], 0.0, None)
    vectors = vectors[:, order]
    total = float(values.sum())
    if total <= 0.0 or max_components == 0:
        return EigenVariations(np.zeros((0, cov.shape[0])), values, 1.0 if total <= 0 else 0.0)
    cumulative = np.cumsum(values) / total
    n_keep = int(np.searchsorted(cumulative, variance_fraction * (1 - 1e-12)) + 1)
    n_keep = min(n_keep, max_components, int(np.count_nonzero(values)))
    vecs = vectors[:, :n_keep]
    signs = np.sign(vecs[np.argmax(np.abs(vecs), axis=0), np.arange(n_keep)])
    components = (vecs * signs * np.sqrt(values[:n_keep])).T
    return EigenVariations(components, values, float(cumulative[n_keep - 1]))


@dataclass(frozen=True)
class SignalPatch:
    """A JSON patch adding one signal to a workspace, and what went into it.

    Attributes:
        ops: RFC 6902 operations (``json.dump`` them to get a HEPData-style patch file).
        signal: the signal sample's name.
        channels: channels that received the signal, in the order of the joint covariance.
        variations: the eigen-variations used for the surrogate uncertainty.
        clipped: ``(modifier, channel, bin)`` of every histosys template clipped at zero.
        ood_modifier: name of the out-of-support histosys, None when no channel has one.
    """

    ops: list[dict[str, Any]]
    signal: str
    channels: tuple[str, ...]
    variations: EigenVariations
    clipped: tuple[tuple[str, str, int], ...] = field(default=())
    ood_modifier: str | None = None

    def to_json(self) -> str:
        """The patch as JSON text."""
        return json.dumps(self.ops, indent=2)


def _joint_draws(yields: Mapping[str, Yields]) -> np.ndarray:
    """Concatenate the per-draw yields of all channels along the bin axis ``[K, sum B]``."""
    draws = {name: y.n_draws for name, y in yields.items()}
    if len(set(draws.values())) != 1:
        raise StatisticsError(
            f"channels have different numbers of weight draws {draws}: all regions must come "
            "from the same surrogate draws"
        )
    return np.concatenate([np.asarray(y.per_draw, dtype=np.float64) for y in yields.values()], 1)


def build_patch(
    workspace: BackgroundWorkspace | str | Path | Mapping[str, Any],
    yields: Mapping[str, Yields],
    *,
    signal: str = "signal",
    analysis: str = "analysis",
    surrogate: str = "surrogate",
    variance_fraction: float = 0.95,
    max_components: int = 5,
    mc_stat: bool = True,
    lumi: bool = True,
    remove_channels: Sequence[str] = (),
    ood: bool = True,
) -> SignalPatch:
    """Build the JSON patch adding a signal sample to the given channels.

    Args:
        workspace: the background-only workspace (loaded, path or dict).
        yields: per channel name, the signal :class:`~surrotag.yields.Yields` (expected
            events per bin at mu = 1); bins must match the channel's.
        signal: name of the signal sample (letters, digits, ``_``).
        analysis: analysis name, prefix of the surrogate-uncertainty modifiers.
        surrogate: surrogate name, second part of those modifiers' names.
        variance_fraction: fraction of the draw variance the eigen-variations must keep.
        max_components: at most this many eigen-variations.
        mc_stat: add the ``<signal>_mcstat_<channel>`` shapesys (skipped where the error is 0).
        lumi: add the workspace's ``lumi`` modifier (when it has exactly one).
        remove_channels: channels to drop from the fit (e.g. validation regions, as the
            HEPData patches do).
        ood: put the out-of-support objects at their least-signal end in the data and add
            the ``<analysis>_<surrogate>_ood`` histosys to their most-signal end (in the
            channels whose :attr:`Yields.ood_down` / :attr:`Yields.ood_up` differ from
            their nominal); False: the nominal as it is.

    Returns:
        :class:`SignalPatch`. A warning names the number of clipped template bins.

    Raises:
        StatisticsError: unknown channel, wrong number of bins, negative or non-finite
            yields, a name that collides with the workspace, or mismatched draw counts.
    """
    ws = load_workspace(workspace)
    if not yields:
        raise StatisticsError("no channel yields given: pass {channel name: Yields}")
    channels = {name: ws.channel(name) for name in list(yields) + list(remove_channels)}
    overlap = set(yields) & set(remove_channels)
    if overlap:
        raise StatisticsError(f"channels {sorted(overlap)} both receive the signal and are removed")
    for name, y in yields.items():
        nominal = np.asarray(y.nominal, dtype=np.float64)
        if nominal.shape != (channels[name].n_bins,):
            raise StatisticsError(
                f"signal yields for channel {name!r} have {nominal.size} bins; the workspace "
                f"{ws.source} has {channels[name].n_bins}"
            )
        if not np.all(np.isfinite(nominal)) or np.any(nominal < 0):
            raise StatisticsError(
                f"signal yields for channel {name!r} must be finite and >= 0, "
                f"got {nominal.tolist()}"
            )
        if signal in channels[name].samples:
            raise StatisticsError(f"channel {name!r} already has a sample named {signal!r}")

    joint = _joint_draws(yields)
    covariance = (
        np.atleast_2d(np.cov(joint, rowvar=False))
        if joint.shape[0] > 1
        else np.zeros((joint.shape[1],) * 2)
    )
    variations = eigen_variations(
        covariance, variance_fraction=variance_fraction, max_components=max_components
    )
    eig_names = [f"{analysis}_{surrogate}_eig{i}" for i in range(variations.n_components)]
    mcstat_names = [f"{signal}_mcstat_{name}" for name in yields]
    data = {
        name: np.asarray(y.ood_down if ood else y.nominal, dtype=np.float64)
        for name, y in yields.items()
    }
    spans = {name: ood and not np.array_equal(y.ood_up, data[name]) for name, y in yields.items()}
    ood_name = f"{analysis}_{surrogate}_ood" if any(spans.values()) else None
    taken = ws.modifier_names & {*eig_names, *mcstat_names, *([ood_name] if ood_name else [])}
    if taken:
        raise StatisticsError(
            f"modifier names {sorted(taken)} already exist in {ws.source}; choose other "
            "signal/analysis/surrogate names"
        )
    lumi_names = ws.modifiers_of_type("lumi") if lumi else ()

    ops: list[dict[str, Any]] = []
    clipped: list[tuple[str, str, int]] = []
    start = 0
    for name, y in yields.items():
        nominal = data[name]
        stop = start + nominal.size
        modifiers: list[dict[str, Any]] = (
            [{"name": lumi_names[0], "type": "lumi", "data": None}] if len(lumi_names) == 1 else []
        )
        modifiers.append({"name": ws.poi, "type": "normfactor", "data": None})
        error = np.asarray(y.mc_stat_error, dtype=np.float64)
        if ood and y.has_ood_variation:  # the same relative MC error on the least yields
            given = np.asarray(y.nominal, dtype=np.float64)
            error = error * np.divide(nominal, given, out=np.zeros_like(given), where=given > 0)
        if mc_stat and np.any(error > 0):
            modifiers.append(
                {"name": f"{signal}_mcstat_{name}", "type": "shapesys", "data": error.tolist()}
            )
        for eig_name, u in zip(eig_names, variations.components[:, start:stop], strict=True):
            hi, lo = nominal + u, nominal - u
            for b in np.flatnonzero((hi < 0) | (lo < 0)):
                clipped.append((eig_name, name, int(b)))
            modifiers.append(
                {
                    "name": eig_name,
                    "type": "histosys",
                    "data": {
                        "hi_data": np.clip(hi, 0.0, None).tolist(),
                        "lo_data": np.clip(lo, 0.0, None).tolist(),
                    },
                }
            )
        if ood_name is not None and spans[name]:
            modifiers.append(
                {
                    "name": ood_name,
                    "type": "histosys",
                    "data": {
                        "hi_data": np.clip(y.ood_up, 0.0, None).tolist(),
                        "lo_data": nominal.tolist(),
                    },
                }
            )
        ops.append(
            {
                "op": "add",
                "path": f"/channels/{channels[name].index}/samples/0",
                "value": {"name": signal, "data": nominal.tolist(), "modifiers": modifiers},
            }
        )
        start = stop
    for index in sorted((channels[name].index for name in remove_channels), reverse=True):
        ops.append({"op": "remove", "path": f"/channels/{index}"})
    if clipped:
        warnings.warn(
            f"signal {signal!r}: {len(clipped)} surrogate-variation template bin(s) fell below "
            "zero and were clipped to 0 (the variation there is one-sided)",
            stacklevel=2,
        )
    return SignalPatch(ops, signal, tuple(yields), variations, tuple(clipped), ood_name)


class PatchPoint(NamedTuple):
    """One signal point of a patchset.

    Attributes:
        name: point name (letters, digits, ``_``), e.g. ``sbottom_1300_850_60``.
        values: the model parameters of the point, one per patchset label (e.g. masses in GeV).
        patch: its :class:`SignalPatch` or raw list of operations.
    """

    name: str
    values: tuple[float | str, ...]
    patch: SignalPatch | list[dict[str, Any]]


def patchset(
    points: Sequence[PatchPoint],
    *,
    workspace: BackgroundWorkspace | str | Path | Mapping[str, Any],
    labels: Sequence[str],
    hepdata: str,
    description: str,
) -> dict[str, Any]:
    """Bundle signal patches into pyhf's patchset format (as HEPData publishes them).

    Args:
        points: the signal points.
        workspace: the background-only workspace the patches apply to (its sha256 digest is
            recorded, so ``pyhf.PatchSet.verify`` / ``patchset.apply`` check it).
        labels: names of the point parameters, e.g. ``("m_sbottom", "m_neutralino2")``.
        hepdata: INSPIRE id of the analysis as HEPData writes it, ``insNNNNNNN``.
        description: one-line description.

    Returns:
        The patchset dict (validated with :class:`pyhf.PatchSet`).

    Raises:
        StatisticsError: the patchset fails pyhf's schema (bad names, label/value count
            mismatch, duplicate points, bad hepdata id).
    """
    ws = load_workspace(workspace)
    spec = {
        "metadata": {
            "references": {"hepdata": hepdata},
            "digests": {"sha256": pyhf.utils.digest(dict(ws.spec), algorithm="sha256")},
            "labels": list(labels),
            "description": description,
        },
        "patches": [
            {
                "metadata": {"name": p.name, "values": list(p.values)},
                "patch": p.patch.ops if isinstance(p.patch, SignalPatch) else list(p.patch),
            }
            for p in points
        ],
        "version": "1.0.0",
    }
    try:
        with warnings.catch_warnings():  # pyhf 0.7 uses jsonschema's deprecated RefResolver
            warnings.simplefilter("ignore", DeprecationWarning)
            pyhf.PatchSet(spec)
    except (pyhf.exceptions.InvalidSpecification, pyhf.exceptions.InvalidPatchSet) as exc:
        first = str(exc).splitlines()[0]
        raise StatisticsError(f"patchset for {ws.source} is invalid: {first}") from None
    return spec


def write_patchset(path: str | Path, spec: Mapping[str, Any]) -> Path:
    """Write a patchset (or any JSON) atomically: a temporary file renamed into place."""
    return write_text_atomic(path, json.dumps(spec, indent=2))
