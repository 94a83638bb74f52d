"""The observable registry: every quantity an analysis card may cut on or bin in, by name.

A card's cuts and regions name observables (``"observable": "pt"``); this module says what
each name computes. Three kinds, by what they are computed from:

==========  ===============================================================================
kind        value per event
==========  ===============================================================================
``object``  one per candidate (the selection's leading objects), ``[N, k]``; a cut names the
            candidate (``"object": 0``) or asks every one to pass (``"object": "each"``)
``system``  one for the system of all k candidates (their invariant mass, their separation)
``event``   one from the whole event (object counts, H_T, missing transverse momentum); a
            cut may name the collection it counts (``"collection"``, default the selection's)
==========  ===============================================================================

Candidates are absent (NaN) in events with fewer than k objects, so every comparison on
them fails: a cut on a missing object removes the event, as a physicist expects.

Built in (units GeV and rad): ``pt``, ``eta``, ``abs_eta``, ``phi``, ``mass``, ``rapidity``,
``abs_rapidity`` (object); ``mjj`` (invariant mass of the candidates), ``pt_system``,
``abs_delta_y`` (|y1 - y2|), ``abs_delta_eta``, ``abs_delta_phi``, ``delta_r`` (system of two);
``count``, ``ht`` (scalar pT sum), ``met``, ``n_btag`` (b-tagged small-R jets),
``n_leptons`` (electrons and muons), ``lepton_pt`` (the hardest one's), ``mt`` (transverse
mass of the hardest lepton and MET), ``delta_phi_met`` and ``delta_phi_lepton`` (|Delta phi|
of the leading candidate and MET, or the hardest lepton), ``min_delta_phi_jets_met``
(smallest |Delta phi| of MET and the four leading small-R jets), ``mt2_ll`` (stransverse
mass of the two hardest leptons and MET, :func:`mt2_massless`) (event).

**Registering more.** An analysis package adds observables without touching surrotag: a
module that calls :func:`register` for each, named by an entry point of the group
``surrotag.observables`` (loaded the first time an unknown name is looked up)::

    [project.entry-points."surrotag.observables"]
    my-search = "my_package.observables"

Example:
    >>> import numpy as np
    >>> from surrotag.observables import Candidates, get
    >>> pair = Candidates.from_arrays(
    ...     pt=np.array([[100.0, 100.0]]), eta=np.zeros((1, 2)),
    ...     phi=np.array([[0.0, np.pi]]), mass=np.zeros((1, 2)))
    >>> float(get("mjj").compute(pair)[0])  # back-to-back massless: m = 2 pT
    200.0
    >>> get("pt").kind, get("pt").unit
    ('object', 'GeV')
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any, Final, Literal

import numpy as np

from surrotag.errors import AnalysisError
from surrotag.surrogates.errors import describe

__all__ = [
    "ENTRY_POINT_GROUP",
    "Candidates",
    "ObservableDefinition",
    "get",
    "leading_leptons",
    "mt2_massless",
    "mt2_of_leptons",
    "names",
    "register",
]

#: Entry-point group of modules that register extra observables.
ENTRY_POINT_GROUP: Final = "surrotag.observables"

Kind = Literal["object", "system", "event"]


@dataclass(frozen=True)
class Candidates:
    """The selection's k leading objects per event, and the events they come from.

    Attributes:
        pt, eta, phi, mass: float64 ``[N, k]`` (GeV, rad), NaN where an event has fewer.
        events: the canonical events (awkward), for event observables; None in tests of
            object and system observables.
        collection: name of the candidates' collection in ``events``.
    """

    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    events: Any = field(default=None, repr=False)
    collection: str = ""

    @classmethod
    def from_arrays(cls, **columns: Any) -> Candidates:
        """Candidates from ``pt``, ``eta``, ``phi``, ``mass`` arrays ``[N, k]`` (and options)."""
        kinematics = {
            name: np.asarray(columns.pop(name), dtype=np.float64)
            for name in ("pt", "eta", "phi", "mass")
        }
        return cls(**kinematics, **columns)

    @property
    def vectors(self) -> Any:
        """The candidates as a ``vector`` numpy ``Momentum4D`` array ``[N, k]``."""
        import vector

        return vector.array({"pt": self.pt, "eta": self.eta, "phi": self.phi, "mass": self.mass})

    @property
    def complete(self) -> np.ndarray:
        """bool ``[N]``: the event has all k candidates."""
        return ~np.isnan(self.pt).any(axis=1)


@dataclass(frozen=True)
class ObservableDefinition:
    """What an observable name computes.

    Attributes:
        name: the name cards use.
        kind: ``object`` (``[N, k]``), ``system`` or ``event`` (``[N]``); see the module.
        unit: unit of the value (``GeV``, ``rad`` or ``""``), shown with bin edges.
        description: one line for listings and errors.
        function: ``(candidates) -> values`` for object and system observables,
            ``(candidates, collection) -> values`` for event ones; call :meth:`compute`.
        pairs_only: a system observable defined for exactly two candidates.
        reads: the collections an event observable always reads (``("met",)``), else
            empty (it reads the cut's ``collection``).
    """

    name: str
    kind: Kind
    unit: str
    description: str
    function: Callable[..., np.ndarray] = field(repr=False)
    pairs_only: bool = False
    reads: tuple[str, ...] = ()

    def collections_read(self, collection: str | None, default: str) -> set[str]:
        """The collections this observable reads for a cut naming ``collection`` (empty: it
        reads the candidates only)."""
        if self.kind != "event":
            return set()
        return set(self.reads) or {collection or default}

    def compute(self, candidates: Candidates, collection: str | None = None) -> np.ndarray:
        """The values, float64 (NaN where undefined).

        Args:
            candidates: the selection's candidates (and their events).
            collection: the collection an event observable reads (None: the candidates').
        """
        if self.kind == "event":
            values = self.function(candidates, collection or candidates.collection)
        else:
            with np.errstate(invalid="ignore"):
                values = self.function(candidates)
            if self.kind == "system":
                values = np.where(candidates.complete, values, np.nan)
        return np.asarray(values, dtype=np.float64)


_REGISTRY: dict[str, ObservableDefinition] = {}


def register(
    name: str,
    kind: Kind,
    unit: str,
    description: str,
    *,
    pairs_only: bool = False,
    reads: tuple[str, ...] = (),
) -> Callable[[Callable[..., np.ndarray]], Callable[..., np.ndarray]]:
    """Decorator adding ``function`` to the registry as observable ``name``.

    Object and system functions take :class:`Candidates`; event functions take
    ``(candidates, collection)`` and read ``candidates.events[collection]`` (or the fixed
    collections ``reads``, so that the recast knows to read them).

    Raises:
        AnalysisError: ``name`` is registered already (two packages may not disagree), or
            ``kind`` is not one of ``object``, ``system``, ``event``.
    """
    if kind not in ("object", "system", "event"):
        raise AnalysisError(
            f"observable {name!r}: kind {kind!r} unknown; use 'object', 'system' or 'event'"
        )

    def add(function: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        if name in _REGISTRY:
            raise AnalysisError(
                f"observable {name!r} is registered twice ({_REGISTRY[name].description!r} "
                f"and {description!r}); rename one"
            )
        _REGISTRY[name] = ObservableDefinition(
            name, kind, unit, description, function, pairs_only, reads
        )
        return function

    return add


@functools.cache
def _load_plugins() -> tuple[str, ...]:
    """Import the modules of :data:`ENTRY_POINT_GROUP` once; one line per broken one."""
    problems = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            entry.load()
        except (Exception, SystemExit) as error:  # a broken package must not end surrotag
            problems.append(f"entry point {entry.name!r} ({entry.value}): {describe(error)}")
    return tuple(problems)


def names() -> Mapping[str, ObservableDefinition]:
    """Every registered observable (built in and from entry points), by name."""
    _load_plugins()
    return MappingProxyType(dict(sorted(_REGISTRY.items())))


def get(name: str) -> ObservableDefinition:
    """The observable called ``name``.

    Raises:
        AnalysisError: no such observable (the message lists the known ones and any
            observable plugin that failed to load).
    """
    if name not in _REGISTRY:
        problems = _load_plugins()
        if name not in _REGISTRY:
            broken = f"; broken plugins: {'; '.join(problems)}" if problems else ""
            raise AnalysisError(
                f"no observable {name!r} (known: {', '.join(sorted(_REGISTRY))}){broken}; "
                f"register it from the analysis package (entry-point group {ENTRY_POINT_GROUP!r})"
            )
    return _REGISTRY[name]


# ---- built in: objects -------------------------------------------------------------------


@register("pt", "object", "GeV", "transverse momentum")
def _pt(c: Candidates) -> np.ndarray:
    return c.pt


@register("eta", "object", "", "pseudorapidity")
def _eta(c: Candidates) -> np.ndarray:
    return c.eta


@register("abs_eta", "object", "", "|pseudorapidity|")
def _abs_eta(c: Candidates) -> np.ndarray:
    return np.abs(c.eta)


@register("phi", "object", "rad", "azimuth")
def _phi(c: Candidates) -> np.ndarray:
    return c.phi


@register("mass", "object", "GeV", "mass")
def _mass(c: Candidates) -> np.ndarray:
    return c.mass


@register("rapidity", "object", "", "rapidity y")
def _rapidity(c: Candidates) -> np.ndarray:
    return np.asarray(c.vectors.rapidity)


@register("abs_rapidity", "object", "", "|rapidity y|")
def _abs_rapidity(c: Candidates) -> np.ndarray:
    return np.abs(np.asarray(c.vectors.rapidity))


# ---- built in: the system of candidates --------------------------------------------------


def _system(c: Candidates) -> Any:
    vectors = c.vectors
    total = vectors[:, 0]
    for column in range(1, vectors.shape[1]):
        total = total + vectors[:, column]
    return total


@register("mjj", "system", "GeV", "invariant mass of the candidates")
def _mjj(c: Candidates) -> np.ndarray:
    return np.asarray(_system(c).mass)


@register("pt_system", "system", "GeV", "transverse momentum of the candidates' sum")
def _pt_system(c: Candidates) -> np.ndarray:
    return np.asarray(_system(c).pt)


@register("abs_delta_y", "system", "", "|y1 - y2| (rapidity)", pairs_only=True)
def _abs_delta_y(c: Candidates) -> np.ndarray:
    rapidity = np.asarray(c.vectors.rapidity)
    return np.abs(rapidity[:, 0] - rapidity[:, 1])


@register("abs_delta_eta", "system", "", "|eta1 - eta2|", pairs_only=True)
def _abs_delta_eta(c: Candidates) -> np.ndarray:
    return np.abs(c.eta[:, 0] - c.eta[:, 1])


@register("abs_delta_phi", "system", "rad", "|phi1 - phi2| in [0, pi]", pairs_only=True)
def _abs_delta_phi(c: Candidates) -> np.ndarray:
    return np.abs(np.asarray(c.vectors[:, 0].deltaphi(c.vectors[:, 1])))


@register("delta_r", "system", "", "sqrt(delta eta^2 + delta phi^2)", pairs_only=True)
def _delta_r(c: Candidates) -> np.ndarray:
    return np.asarray(c.vectors[:, 0].deltaR(c.vectors[:, 1]))


# ---- built in: events --------------------------------------------------------------------


def _collection(c: Candidates, name: str) -> Any:
    import awkward as ak

    fields = ak.fields(c.events)
    if name not in fields:
        raise AnalysisError(
            f"events have no {name!r} collection (have: {', '.join(fields) or 'none'}); "
            f"read the events with {name!r}, or cut on another collection"
        )
    return c.events[name]


@register("count", "event", "", "number of objects in the collection")
def _count(c: Candidates, collection: str) -> np.ndarray:
    import awkward as ak

    return ak.to_numpy(ak.num(_collection(c, collection), axis=1))


@register("ht", "event", "GeV", "scalar sum of the collection's pT")
def _ht(c: Candidates, collection: str) -> np.ndarray:
    import awkward as ak

    return ak.to_numpy(ak.sum(_collection(c, collection).pt, axis=1))


@register("met", "event", "GeV", "missing transverse momentum (collection 'met')", reads=("met",))
def _met(c: Candidates, collection: str) -> np.ndarray:
    import awkward as ak

    return ak.to_numpy(_collection(c, "met").met)


@register("n_btag", "event", "", "number of b-tagged small-R jets", reads=("jets",))
def _n_btag(c: Candidates, collection: str) -> np.ndarray:
    import awkward as ak

    return ak.to_numpy(ak.sum(_collection(c, "jets").btag == 1, axis=1))


def leading_leptons(
    electrons: Any, muons: Any, n: int, fields: tuple[str, ...] = ("pt", "eta", "phi", "mass")
) -> dict[str, np.ndarray]:
    """The ``n`` hardest leptons, electrons and muons together by decreasing pT.

    Args:
        electrons, muons: canonical collections (awkward, var * {pt, eta, phi, mass}).
        n: how many leptons per event.
        fields: the fields wanted (GeV, rad).

    Returns:
        field -> float64 ``[N, n]``, NaN where the event has fewer leptons (ties in pT keep
        the electrons first).
    """
    import awkward as ak

    merged = ak.concatenate([electrons, muons], axis=1)
    merged = merged[ak.argsort(merged.pt, axis=1, ascending=False, stable=True)]
    padded = ak.pad_none(merged, n, axis=1, clip=True)
    return {
        f: np.asarray(ak.to_numpy(ak.fill_none(padded[f], np.nan)), dtype=np.float64).reshape(-1, n)
        for f in fields
    }


def mt2_of_leptons(
    pt: np.ndarray, phi: np.ndarray, met: np.ndarray, met_phi: np.ndarray
) -> np.ndarray:
    """m_T2 (GeV) of the two leptons ``pt``, ``phi`` ``[N, 2]`` (GeV, rad) and MET
    (:func:`mt2_massless`; NaN where a lepton is missing)."""
    return mt2_massless(
        pt[:, 0] * np.cos(phi[:, 0]), pt[:, 0] * np.sin(phi[:, 0]),
        pt[:, 1] * np.cos(phi[:, 1]), pt[:, 1] * np.sin(phi[:, 1]),
        met * np.cos(met_phi), met * np.sin(met_phi),
    )  # fmt: skip


def _leading_lepton(c: Candidates) -> tuple[np.ndarray, np.ndarray]:
    """pT and phi of the hardest electron or muon (NaN without one)."""
    lep = leading_leptons(_collection(c, "electrons"), _collection(c, "muons"), 1, ("pt", "phi"))
    return lep["pt"][:, 0], lep["phi"][:, 0]


@register("n_leptons", "event", "", "number of electrons and muons",
          reads=("electrons", "muons"))  # fmt: skip
def _n_leptons(c: Candidates, collection: str) -> np.ndarray:
    import awkward as ak

    electrons, muons = _collection(c, "electrons"), _collection(c, "muons")
    return ak.to_numpy(ak.num(electrons, axis=1) + ak.num(muons, axis=1))


@register("lepton_pt", "event", "GeV", "pT of the hardest electron or muon",
          reads=("electrons", "muons"))  # fmt: skip
def _lepton_pt(c: Candidates, collection: str) -> np.ndarray:
    return _leading_lepton(c)[0]


@register("delta_phi_lepton", "event", "rad",
          "|Delta phi| of the leading candidate and the hardest electron or muon",
          reads=("electrons", "muons"))  # fmt: skip
def _delta_phi_lepton(c: Candidates, collection: str) -> np.ndarray:
    return np.abs((c.phi[:, 0] - _leading_lepton(c)[1] + np.pi) % (2 * np.pi) - np.pi)


@register("mt", "event", "GeV", "transverse mass of the hardest lepton and MET",
          reads=("electrons", "muons", "met"))  # fmt: skip
def _mt(c: Candidates, collection: str) -> np.ndarray:
    import awkward as ak

    pt, phi = _leading_lepton(c)
    met = _collection(c, "met")
    met_pt, met_phi = ak.to_numpy(met.met), ak.to_numpy(met.phi)
    return np.sqrt(2.0 * pt * met_pt * (1.0 - np.cos(phi - met_phi)))


@register("delta_phi_met", "event", "rad", "|Delta phi| of the leading candidate and MET",
          reads=("met",))  # fmt: skip
def _delta_phi_met(c: Candidates, collection: str) -> np.ndarray:
    import awkward as ak

    met_phi = ak.to_numpy(_collection(c, "met").phi)
    return np.abs((c.phi[:, 0] - met_phi + np.pi) % (2 * np.pi) - np.pi)


@register("min_delta_phi_jets_met", "event", "rad",
          "smallest |Delta phi| of MET and the four leading small-R jets",
          reads=("jets", "met"))  # fmt: skip
def _min_delta_phi_jets_met(c: Candidates, collection: str) -> np.ndarray:
    """The multijet veto of the all-hadronic SUSY searches (NaN without jets): a jet
    mismeasurement fakes MET along that jet."""
    import awkward as ak

    jets = _collection(c, "jets")
    leading = jets[ak.argsort(jets.pt, axis=1, ascending=False)][:, :4]
    met_phi = ak.to_numpy(_collection(c, "met").phi)
    d_phi = np.abs((leading.phi - met_phi + np.pi) % (2 * np.pi) - np.pi)
    return ak.to_numpy(ak.fill_none(ak.min(d_phi, axis=1), np.nan)).astype(np.float64)


#: The golden ratio's conjugate, (sqrt 5 - 1) / 2.
_GOLDEN: Final = 0.5 * (5**0.5 - 1.0)


def mt2_massless(
    p1x: np.ndarray,
    p1y: np.ndarray,
    p2x: np.ndarray,
    p2y: np.ndarray,
    met_x: np.ndarray,
    met_y: np.ndarray,
    iterations: int = 40,
) -> np.ndarray:
    """The stransverse mass m_T2 of two massless visible particles and massless invisibles.

    ``m_T2 = min over q1 + q2 = MET of max(m_T(p1, q1), m_T(p2, q2))`` (Lester & Summers,
    arXiv:hep-ph/9906349), with ``m_T^2(p, q) = 2 (|p| |q| - p . q)`` in the transverse
    plane. ``m_T^2`` is convex in q (a norm minus a linear term), so the maximum of the two
    is convex and so is its minimum over one coordinate of q1: the minimum is found by
    nested golden-section searches, vectorised over events (``iterations`` steps each, the
    bracket shrinking by 0.618 per step from +-(|p1| + |p2| + MET) / sin(p1, p2) per
    coordinate). MET inside the cone of p1 and p2 gives 0 exactly.

    Args:
        p1x, p1y, p2x, p2y: transverse momenta of the visible particles ``[N]`` (GeV).
        met_x, met_y: the missing transverse momentum ``[N]`` (GeV).
        iterations: golden-section steps per coordinate (40: 4e-9 of the bracket).

    Returns:
        m_T2 in GeV ``[N]`` (NaN where an input is NaN). Cost: about 0.2 ms per event on
        one core (1e5 events in 22 s; the bisection of Lester & Nachman, arXiv:1411.4312,
        would be faster).

    Example:
        >>> import numpy as np
        >>> one = np.array([1.0])
        >>> # back-to-back visibles, no MET: q1 = q2 = 0 is allowed, m_T2 = 0
        >>> float(mt2_massless(50 * one, 0 * one, -50 * one, 0 * one, 0 * one, 0 * one)[0])
        0.0
    """
    p1x, p1y, p2x, p2y, met_x, met_y = (
        np.asarray(v, dtype=np.float64) for v in (p1x, p1y, p2x, p2y, met_x, met_y)
    )
    p1, p2 = np.hypot(p1x, p1y), np.hypot(p2x, p2y)

    def objective(qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
        mt1 = 2.0 * (p1 * np.hypot(qx, qy) - p1x * qx - p1y * qy)
        rx, ry = met_x - qx, met_y - qy
        mt2 = 2.0 * (p2 * np.hypot(rx, ry) - p2x * rx - p2y * ry)
        return np.maximum(mt1, mt2)

    # MET inside the cone of p1 and p2: q1 = l p1, q2 = m p2 with l, m >= 0 gives m_T2 = 0,
    # possibly far out when p1 and p2 are nearly collinear; the bracket must reach that far
    cross = p1x * p2y - p1y * p2x
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = (met_x * p2y - met_y * p2x) / cross
        mu = (p1x * met_y - p1y * met_x) / cross
    in_cone = (lam >= 0) & (mu >= 0) & (cross != 0)
    sine = np.abs(cross) / np.maximum(p1 * p2, 1e-300)
    reach = (p1 + p2 + np.hypot(met_x, met_y) + 1.0) / np.clip(sine, 1e-3, 1.0)

    def golden(function: Any) -> np.ndarray:
        """The minimum of a convex function on [-reach, reach] per event (golden section:
        one new evaluation per step, the bracket shrinking by 0.618)."""
        lo, hi = -reach, reach.copy()
        a, b = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
        fa, fb = function(a), function(b)
        for _ in range(iterations):
            left = fa < fb  # the minimum lies in [lo, b]: b becomes hi, a becomes b
            lo, hi = np.where(left, lo, a), np.where(left, b, hi)
            a, b, fa, fb = (
                np.where(left, hi - _GOLDEN * (hi - lo), b),
                np.where(left, a, lo + _GOLDEN * (hi - lo)),
                np.where(left, np.nan, fb),
                np.where(left, fa, np.nan),
            )
            fresh = np.where(left, a, b)
            value = function(fresh)
            fa, fb = np.where(left, value, fa), np.where(left, fb, value)
        return 0.5 * (lo + hi)

    def best_over_y(qx: np.ndarray) -> np.ndarray:
        return objective(qx, golden(lambda qy: objective(qx, qy)))

    value = np.sqrt(np.clip(best_over_y(golden(best_over_y)), 0.0, None))
    return np.where(in_cone, 0.0, value)


@register("mt2_ll", "event", "GeV",
          "stransverse mass of the two hardest leptons and MET (massless invisibles)",
          reads=("electrons", "muons", "met"))  # fmt: skip
def _mt2_ll(c: Candidates, collection: str) -> np.ndarray:
    """m_T2(ll) of the dilepton stop searches (NaN with fewer than two leptons)."""
    import awkward as ak

    lep = leading_leptons(_collection(c, "electrons"), _collection(c, "muons"), 2, ("pt", "phi"))
    met = _collection(c, "met")
    met_pt = ak.to_numpy(met.met).astype(np.float64)
    return mt2_of_leptons(lep["pt"], lep["phi"], met_pt, ak.to_numpy(met.phi).astype(np.float64))
