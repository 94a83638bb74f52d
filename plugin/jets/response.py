"""The detector's fat-jet response, measured in the reference experiment, for particle level.

A search selects detector-level jets: its pT thresholds and its binned masses see the
calorimeter's jet energy scale and resolution. Particle-level jets (:mod:`.particle`) have
neither, and near a threshold on a falling spectrum the resolution alone moves events across
it: on a 1 TeV Z' -> t tbar sample, 2,396 events pass zprime-ttbar-allhad's two-jet
selection at detector level and only 1,948 with the particle-level jets (-19%), although
the median ratio of matched jet pTs is 1.004. The top-tagger surrogate carries the tagger's
detector effects; this module carries the selection's, as Delphes' jet energy-scale and
momentum-smearing modules do and as Rivet's ``SmearedJets`` does for particle-level
analyses (Bierlich et al., arXiv:1912.05451).

:func:`measure_response` bins the ratio r = pT(detector jet) / pT(matched particle jet) of
the reference table in particle-level pT and keeps its (event-weighted) median, the scale,
and half its 16-84% interval, the resolution (a Gaussian width robust to the tails).
:meth:`JetResponse.apply` multiplies each particle-level jet's four-momentum (pT and mass,
eta and phi unchanged) by a factor drawn from N(scale, resolution) of its pT bin, with the
caller's generator, so a recast is reproducible from its seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import awkward as ak
import numpy as np

from surrotag.errors import FormatError

__all__ = ["RESPONSE_PT_EDGES_GEV", "JetResponse", "measure_response", "weighted_quantiles"]

#: Particle-level pT bin edges of the measured response, GeV (the last bin is open).
RESPONSE_PT_EDGES_GEV: Final = (200.0, 300.0, 400.0, 500.0, 600.0, 800.0, 1000.0, 1500.0)

#: Format tag of the response document.
_FORMAT: Final = "surrotag-jet-response-1"


def weighted_quantiles(
    values: np.ndarray, weights: np.ndarray, quantiles: Sequence[float]
) -> np.ndarray:
    """Quantiles of weighted values (the midpoint rule of the weighted empirical CDF).

    Examples:
        >>> weighted_quantiles(np.array([1.0, 2.0, 3.0]), np.ones(3), [0.5]).tolist()
        [2.0]
        >>> weighted_quantiles(np.array([1.0, 2.0]), np.array([3.0, 1.0]), [0.5]).tolist()
        [1.25]
    """
    order = np.argsort(values, kind="stable")
    x, w = values[order], weights[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(np.asarray(quantiles, dtype=np.float64), cdf, x)


@dataclass(frozen=True)
class JetResponse:
    """A binned Gaussian jet response: factor ~ N(scale, resolution) per particle-level pT bin.

    Attributes:
        collection: the canonical collection it applies to (``fatjets``).
        pt_edges_gev: lower edges of the pT bins, GeV; below the first the first bin's
            response is used, above the last the last bin's.
        scale: median of pT(detector) / pT(particle) per bin.
        resolution: half the 16-84% interval of that ratio per bin.
        source: provenance (table sha256, matched jets per bin, the measurement's rule).
    """

    collection: str
    pt_edges_gev: tuple[float, ...]
    scale: tuple[float, ...]
    resolution: tuple[float, ...]
    source: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        n = len(self.pt_edges_gev)
        if n == 0 or len(self.scale) != n or len(self.resolution) != n:
            raise FormatError(
                "jet response: pt_edges_gev, scale and resolution need one entry per bin"
            )
        edges = np.asarray(self.pt_edges_gev)
        values = np.asarray([*self.scale, *self.resolution])
        if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
            raise FormatError("jet response: pt_edges_gev must be finite and increasing")
        if not np.all(np.isfinite(values)) or min(self.scale) <= 0 or min(self.resolution) < 0:
            raise FormatError("jet response: scales must be > 0 and resolutions >= 0, finite")

    def factors(self, pt: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        """One response factor per jet of pT ``pt`` (GeV), drawn with ``generator``.

        Factors are clipped at 0 (a jet is never given negative energy).

        Examples:
            >>> response = JetResponse("fatjets", (0.0,), (1.0,), (0.0,))
            >>> response.factors(np.array([350.0]), np.random.default_rng(1)).tolist()
            [1.0]
        """
        pt = np.asarray(pt, dtype=np.float64)
        index = np.clip(np.searchsorted(self.pt_edges_gev, pt, side="right") - 1, 0, None)
        scale = np.asarray(self.scale)[index]
        width = np.asarray(self.resolution)[index]
        return np.clip(scale + width * generator.standard_normal(pt.shape), 0.0, None)

    def apply(self, events: ak.Array, generator: np.random.Generator) -> ak.Array:
        """``events`` with each jet of :attr:`collection` scaled by its response factor.

        pT and mass are multiplied by the factor, eta and phi kept: the whole four-momentum
        is scaled, as a jet energy scale does. Other fields and collections are untouched;
        events without the collection are returned as they are.
        """
        if self.collection not in ak.fields(events):
            return events
        jets = events[self.collection]
        counts = ak.num(jets, axis=1)
        pt = np.asarray(ak.to_numpy(ak.flatten(jets.pt, axis=1)), dtype=np.float64)
        factor = ak.unflatten(self.factors(pt, generator), counts)
        scaled = ak.with_field(jets, jets.pt * factor, "pt")
        scaled = ak.with_field(scaled, jets.mass * factor, "mass")
        return ak.with_field(events, scaled, self.collection)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (:meth:`from_dict` reads it back)."""
        return {
            "format": _FORMAT,
            "collection": self.collection,
            "pt_edges_gev": list(self.pt_edges_gev),
            "scale": list(self.scale),
            "resolution": list(self.resolution),
            "source": dict(self.source),
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], where: str = "jet response") -> JetResponse:
        """Read a document written by :meth:`to_dict`.

        Raises:
            FormatError: another format, a missing key or values out of range.
        """
        if not isinstance(document, Mapping) or document.get("format") != _FORMAT:
            raise FormatError(f"{where}: not a surrotag jet response (format {_FORMAT!r})")
        try:
            return cls(
                collection=str(document["collection"]),
                pt_edges_gev=tuple(float(x) for x in document["pt_edges_gev"]),
                scale=tuple(float(x) for x in document["scale"]),
                resolution=tuple(float(x) for x in document["resolution"]),
                source=MappingProxyType(dict(document.get("source", {}))),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise FormatError(f"{where}: malformed jet response ({error})") from None
        except FormatError as error:
            raise FormatError(f"{where}: {error}") from None


def measure_response(
    particle_pt: np.ndarray,
    detector_pt: np.ndarray,
    weight: np.ndarray,
    *,
    edges: Sequence[float] = RESPONSE_PT_EDGES_GEV,
    collection: str = "fatjets",
    source: Mapping[str, Any] | None = None,
    min_jets: int = 50,
) -> JetResponse:
    """Measure the binned response from matched jet pairs.

    Args:
        particle_pt: pT of the particle-level jets, GeV.
        detector_pt: pT of the detector-level jet matched to each, GeV.
        weight: event weight of each pair (the reference samples' pTHat-bias weights).
        edges: lower bin edges in particle-level pT, GeV.
        collection: the collection the response applies to.
        source: provenance recorded in the document (e.g. the table's sha256).
        min_jets: fewest pairs a bin needs; a sparser bin takes its lower neighbour's
            response (the first bin must have them).

    Returns:
        :class:`JetResponse` with the weighted median and half the 16-84% interval of
        detector / particle pT per bin, and the pairs per bin in its source.

    Raises:
        FormatError: the first bin has fewer than ``min_jets`` pairs.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> pt = rng.uniform(250.0, 900.0, 100_000)
        >>> response = measure_response(pt, pt * rng.normal(1.02, 0.05, pt.size), np.ones(pt.size))
        >>> round(response.scale[2], 2), round(response.resolution[2], 2)
        (1.02, 0.05)
    """
    particle_pt = np.asarray(particle_pt, dtype=np.float64)
    ratio = np.asarray(detector_pt, dtype=np.float64) / particle_pt
    weight = np.asarray(weight, dtype=np.float64)
    usable = np.isfinite(ratio) & (particle_pt > 0) & np.isfinite(weight) & (weight > 0)
    index = np.searchsorted(edges, particle_pt, side="right") - 1
    scale, resolution, counts = [], [], []
    for b in range(len(edges)):  # a few bins
        chosen = usable & (index == b)
        counts.append(int(chosen.sum()))
        if counts[-1] < min_jets:
            if b == 0:
                raise FormatError(
                    f"jet response: {counts[-1]} matched jets in the first pT bin "
                    f"({edges[0]:g} GeV), fewer than {min_jets}; use a larger table"
                )
            scale.append(scale[-1])
            resolution.append(resolution[-1])
            continue
        q16, q50, q84 = weighted_quantiles(ratio[chosen], weight[chosen], (0.16, 0.5, 0.84))
        scale.append(float(q50))
        resolution.append(float(0.5 * (q84 - q16)))
    provenance = {
        **dict(source or {}),
        "matched_jets_per_bin": counts,
        "rule": "event-weighted median and half the 16-84% interval of pT(detector) / "
        f"pT(particle) per particle-level pT bin; bins with fewer than {min_jets} pairs take "
        "the lower bin's response",
    }
    return JetResponse(
        collection=collection,
        pt_edges_gev=tuple(float(e) for e in edges),
        scale=tuple(scale),
        resolution=tuple(resolution),
        source=MappingProxyType(provenance),
    )
