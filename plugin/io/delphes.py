"""Delphes 3 ROOT files (tree ``Delphes``) to canonical events.

Delphes (arXiv:1307.6346) writes split ``TClonesArray`` branches: ``FatJet.PT``,
``FatJet.Tau[5]`` (N-subjettiness tau1..tau5, arXiv:1011.2268), ``FatJet.SoftDroppedP4[5]``
(element 0 the soft-dropped jet, arXiv:1402.2657, then up to four subjets) and
``FatJet.TrimmedP4[5]`` (element 0 the trimmed jet). uproot reads the fixed arrays of
``TLorentzVector`` directly (``AsStridedObjects``, records ``{fP: {fX, fY, fZ}, fE}``); the
masses are computed from (E, px, py, pz), vectorised. Only the branches of the requested
collections are read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import awkward as ak
import numpy as np

from surrotag.errors import FormatError, MissingBranchError
from surrotag.io.canonical import ETA_SENTINEL, check_finite, with_vector_behaviour
from surrotag.io.rootfile import RootTree, event_weight, unit_weight_chunks
from surrotag.io.truth import make_particles

__all__ = [
    "DELPHES_COLLECTIONS",
    "EFLOW",
    "ELECTRON_MASS",
    "MUON_MASS",
    "RECLUSTER_PT_MIN",
    "branches_for",
    "delphes_events",
    "eflow_candidates",
    "iter_delphes",
    "missing_fatjets",
]

log = logging.getLogger(__name__)

#: Electron and muon masses (GeV), PDG 2024.
ELECTRON_MASS: Final = 0.000511
MUON_MASS: Final = 0.10566

TREE: Final = "Delphes"


@dataclass(frozen=True)
class _Spec:
    """Branches of one canonical collection: the Delphes class and its leaves."""

    branch: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    def leaves(self, names: Sequence[str]) -> list[str]:
        return [f"{self.branch}.{name}" for name in names]


_SPECS: Final = {
    "weight": _Spec("Event", (), ("Weight",)),
    "fatjets": _Spec(
        "FatJet",
        ("PT", "Eta", "Phi", "Mass"),
        ("Tau[5]", "SoftDroppedP4[5]", "TrimmedP4[5]", "NCharged", "NNeutrals"),
    ),
    "jets": _Spec("Jet", ("PT", "Eta", "Phi", "Mass", "BTag")),
    "electrons": _Spec("Electron", ("PT", "Eta", "Phi", "Charge")),
    "muons": _Spec("Muon", ("PT", "Eta", "Phi", "Charge")),
    "photons": _Spec("Photon", ("PT", "Eta", "Phi")),
    "met": _Spec("MissingET", ("MET", "Phi")),
    "particles": _Spec(
        "Particle", ("PID", "Status", "M1", "M2", "D1", "D2", "Px", "Py", "Pz", "E")
    ),
}

#: The canonical collections a Delphes file can fill.
DELPHES_COLLECTIONS: Final = tuple(_SPECS)


#: Particle-flow objects from which fat jets are reclustered when a file has no FatJet
#: branch (e.g. Delphes' ATLAS card): branch -> (transverse-momentum leaf, other leaves).
EFLOW: Final = {
    "EFlowTrack": ("PT", ("Eta", "Phi", "Charge")),
    "EFlowPhoton": ("ET", ("Eta", "Phi")),
    "EFlowNeutralHadron": ("ET", ("Eta", "Phi")),
}

#: Fat-jet threshold of the reclustering (GeV), as the Delphes cards' FatJetFinder.
RECLUSTER_PT_MIN: Final = 200.0


def _absent_eflow(tree: RootTree) -> list[str]:
    """The EFlow branches (of :data:`EFLOW`) that lack one of their leaves."""
    return [
        branch
        for branch, (pt, rest) in EFLOW.items()
        if not all(tree.has(f"{branch}.{leaf}") for leaf in (pt, *rest))
    ]


def missing_fatjets(tree: RootTree) -> list[str]:
    """The one place where a Delphes file without ``FatJet`` is handled.

    If the file has the particle-flow objects (``EFlowTrack``, ``EFlowPhoton``,
    ``EFlowNeutralHadron``), fat jets are reclustered from them with the reference
    experiment's jet building (anti-kT R = 0.8, pT > 200 GeV, soft drop, N-subjettiness;
    :func:`surrotag.jets.clustering.recluster_fatjets`), and a warning says so.

    Returns:
        The EFlow leaves to read.

    Raises:
        MissingBranchError: neither FatJet nor the EFlow objects are there.
    """
    absent = _absent_eflow(tree)
    if absent:
        raise MissingBranchError(
            f"{tree.path}: tree '{TREE}' has no branch 'FatJet' needed for fatjets, nor "
            f"{', '.join(absent)} to recluster them from; run Delphes with a FatJetFinder "
            "module or with particle-flow output, or read other collections"
        )
    log.warning(
        "%s: no FatJet branch; reclustering anti-kT R=0.8 fat jets from EFlowTrack, "
        "EFlowPhoton and EFlowNeutralHadron",
        tree.path,
    )
    return [f"{b}.{leaf}" for b, (pt, rest) in EFLOW.items() for leaf in (pt, *rest)]


def branches_for(tree: RootTree, collections: Sequence[str], *, strict: bool) -> list[str]:
    """Return the branches needed for ``collections`` that the tree has.

    Args:
        tree: the opened ``Delphes`` tree.
        collections: canonical collection names.
        strict: raise :class:`MissingBranchError` for an absent collection (else skip it).

    Returns:
        Branch names, in a stable order.
    """
    branches: list[str] = []
    for name in collections:
        spec = _SPECS[name]
        if name == "fatjets" and not tree.has(spec.branch):
            if strict or not _absent_eflow(tree):
                branches += missing_fatjets(tree)
                continue
        if spec.required and not tree.has(spec.branch):
            if not strict:
                log.info("%s: no branch '%s', skipping %s", tree.path, spec.branch, name)
                continue
            tree.require(spec.branch, name)
        for leaf in spec.leaves(spec.required):
            tree.require(leaf, name)
        branches += spec.leaves(spec.required)
        for leaf in spec.leaves(spec.optional):
            if tree.has(leaf):
                branches.append(leaf)
            elif name != "weight":
                log.warning(
                    "%s: tree '%s' has no branch '%s'; %s get NaN/-1 for it",
                    tree.path,
                    TREE,
                    leaf,
                    name,
                )
    return branches


def _p4_mass(p4: ak.Array) -> ak.Array:
    """Invariant mass (GeV) of TLorentzVector records, clipped at 0 for rounding."""
    px, py, pz, energy = p4["fP", "fX"], p4["fP", "fY"], p4["fP", "fZ"], p4["fE"]
    m2 = energy * energy - (px * px + py * py + pz * pz)
    return np.sqrt(np.maximum(m2, 0.0))


def _fill(like: ak.Array, value: float, dtype: type) -> ak.Array:
    return ak.values_astype(ak.full_like(like, value, dtype=np.float64), dtype)


def _lepton(chunk: ak.Array, branch: str, mass: float) -> ak.Array:
    pt = chunk[f"{branch}.PT"]
    return ak.zip(
        {
            "pt": pt,
            "eta": chunk[f"{branch}.Eta"],
            "phi": chunk[f"{branch}.Phi"],
            "mass": _fill(pt, mass, np.float32),
            "charge": ak.values_astype(chunk[f"{branch}.Charge"], np.int32),
        },
        with_name="Momentum4D",
    )


def _fatjets(chunk: ak.Array) -> ak.Array:
    pt = chunk["FatJet.PT"]
    fields = set(chunk.fields)
    nan = _fill(pt, np.nan, np.float32)
    if "FatJet.Tau[5]" in fields:
        tau = chunk["FatJet.Tau[5]"]
    else:
        flat = np.full((int(ak.sum(ak.num(pt, axis=1))), 5), np.nan, dtype=np.float32)
        tau = ak.unflatten(ak.Array(flat), ak.num(pt, axis=1))
    sd = chunk["FatJet.SoftDroppedP4[5]"] if "FatJet.SoftDroppedP4[5]" in fields else None
    trimmed = chunk["FatJet.TrimmedP4[5]"] if "FatJet.TrimmedP4[5]" in fields else None
    return ak.zip(
        {
            "pt": pt,
            "eta": chunk["FatJet.Eta"],
            "phi": chunk["FatJet.Phi"],
            "mass": chunk["FatJet.Mass"],
            "nsubjettiness": tau,
            "sd_mass": nan if sd is None else ak.values_astype(_p4_mass(sd[:, :, 0]), np.float32),
            "trimmed_mass": nan
            if trimmed is None
            else ak.values_astype(_p4_mass(trimmed[:, :, 0]), np.float32),
            "n_charged": ak.values_astype(chunk["FatJet.NCharged"], np.int32)
            if "FatJet.NCharged" in fields
            else _fill(pt, -1, np.int32),
            "n_neutral": ak.values_astype(chunk["FatJet.NNeutrals"], np.int32)
            if "FatJet.NNeutrals" in fields
            else _fill(pt, -1, np.int32),
        },
        with_name="Momentum4D",
        depth_limit=2,
    )


def eflow_candidates(arrays: ak.Array, *, source: object = None) -> ak.Array:
    """Particle-flow candidates of Delphes' EFlow branches as one list per event.

    Candidates with non-finite pT, eta or phi, or a sentinel eta (|eta| >
    :data:`~surrotag.io.canonical.ETA_SENTINEL`; Delphes writes eta = 999.9 for zero-pT
    tracks), would give infinite or NaN four-vectors, which crash fastjet: they are dropped,
    and a warning counts them per branch.

    Args:
        arrays: events with the :data:`EFLOW` leaves (e.g. ``EFlowTrack.PT``), as
            ``uproot`` ``arrays()`` returns them.
        source: the file (or a name) for the warning.

    Returns:
        events x var * {px, py, pz, E (GeV, massless), charge (int32; 0 for photons and
        neutral hadrons), kind (int8: 0 EFlowTrack, 1 EFlowPhoton, 2 EFlowNeutralHadron),
        species (int8: a track's particle, 1 electron, 2 muon, else 0; read from
        ``EFlowTrack.PID`` when the arrays hold it, else 0)}: tracks, then photons, then
        neutral hadrons, all finite. The schema of the reference detector's
        :func:`surrotag.reference.detector.pf_candidates`, so that a file's own EFlow
        objects feed :func:`surrotag.reference.objects.physics_objects` as well.
    """
    pieces = []
    dropped: dict[str, int] = {}
    total = 0
    for kind, (branch, (pt_leaf, _)) in enumerate(EFLOW.items()):
        pt = ak.values_astype(arrays[f"{branch}.{pt_leaf}"], np.float64)
        eta = ak.values_astype(arrays[f"{branch}.Eta"], np.float64)
        phi = ak.values_astype(arrays[f"{branch}.Phi"], np.float64)
        with np.errstate(all="ignore"):  # overflow of sentinels: dropped just below
            momenta = {
                "px": pt * np.cos(phi),
                "py": pt * np.sin(phi),
                "pz": pt * np.sinh(eta),
                "E": pt * np.cosh(eta),
            }
        good = np.abs(eta) <= ETA_SENTINEL
        for component in momenta.values():
            good = good & np.isfinite(component)
        n_bad = int(ak.sum(~good))
        total += int(ak.sum(ak.num(pt, axis=1)))
        if n_bad:
            dropped[branch] = n_bad
        zeros = ak.zeros_like(pt)
        track = branch == "EFlowTrack"
        charge = arrays[f"{branch}.Charge"] if track else zeros
        species = zeros
        if track and f"{branch}.PID" in ak.fields(arrays):
            pid = abs(arrays[f"{branch}.PID"])
            species = ak.where(pid == 11, 1, ak.where(pid == 13, 2, 0))
        extra = {
            "charge": ak.values_astype(charge, np.int32),
            "kind": ak.values_astype(zeros + kind, np.int8),
            "species": ak.values_astype(species, np.int8),
        }
        pieces.append(ak.zip({**momenta, **extra})[good])
    if dropped:
        counts = ", ".join(f"{branch} {n}" for branch, n in dropped.items())
        log.warning(
            "%s: dropped %d of %d EFlow candidates (%s) with non-finite or sentinel "
            "(|eta| > %g) kinematics before reclustering fat jets",
            source if source is not None else "EFlow",
            sum(dropped.values()),
            total,
            counts,
            ETA_SENTINEL,
        )
    return ak.concatenate(pieces, axis=1)


def _reclustered_fatjets(path: Path, chunk: ak.Array) -> ak.Array:
    """Fat jets reclustered from the EFlow objects (see :func:`missing_fatjets`)."""
    from surrotag.jets.clustering import recluster_fatjets, without_constituents

    jets = recluster_fatjets(
        eflow_candidates(chunk, source=path), radius=0.8, pt_min=RECLUSTER_PT_MIN, eta_max=np.inf
    )
    return without_constituents(jets)


def _build(path: Path, chunk: ak.Array, collections: Sequence[str]) -> dict[str, ak.Array]:
    out: dict[str, ak.Array] = {}
    builders: dict[str, Callable[[], ak.Array]] = {
        "weight": lambda: event_weight(chunk),
        "fatjets": lambda: (
            _fatjets(chunk) if "FatJet.PT" in chunk.fields else _reclustered_fatjets(path, chunk)
        ),
        "jets": lambda: ak.zip(
            {
                "pt": chunk["Jet.PT"],
                "eta": chunk["Jet.Eta"],
                "phi": chunk["Jet.Phi"],
                "mass": chunk["Jet.Mass"],
                "btag": ak.values_astype(chunk["Jet.BTag"], np.int32),
            },
            with_name="Momentum4D",
        ),
        "electrons": lambda: _lepton(chunk, "Electron", ELECTRON_MASS),
        "muons": lambda: _lepton(chunk, "Muon", MUON_MASS),
        "photons": lambda: ak.zip(
            {
                "pt": chunk["Photon.PT"],
                "eta": chunk["Photon.Eta"],
                "phi": chunk["Photon.Phi"],
                "mass": _fill(chunk["Photon.PT"], 0.0, np.float32),
            },
            with_name="Momentum4D",
        ),
        "met": lambda: ak.zip(
            {
                "met": ak.fill_none(ak.firsts(chunk["MissingET.MET"], axis=1), np.nan),
                "phi": ak.fill_none(ak.firsts(chunk["MissingET.Phi"], axis=1), np.nan),
            }
        ),
        "particles": lambda: make_particles(
            path,
            px=chunk["Particle.Px"],
            py=chunk["Particle.Py"],
            pz=chunk["Particle.Pz"],
            energy=chunk["Particle.E"],
            pid=chunk["Particle.PID"],
            status=chunk["Particle.Status"],
            mother1=chunk["Particle.M1"],
            mother2=chunk["Particle.M2"],
            daughter1=chunk["Particle.D1"],
            daughter2=chunk["Particle.D2"],
        ),
    }
    for name in collections:
        spec = _SPECS[name]
        reclustered = name == "fatjets" and "EFlowTrack.PT" in chunk.fields
        if spec.required and spec.leaves(spec.required)[0] not in chunk.fields and not reclustered:
            continue  # skipped (absent, not requested explicitly)
        out[name] = builders[name]()
    return out


def iter_delphes(
    path: Path,
    collections: Sequence[str],
    *,
    strict: bool,
    entry_stop: int | None,
    step_size: int,
) -> Iterator[dict[str, ak.Array]]:
    """Yield chunks of canonical collections from a Delphes file.

    Args:
        path: the ROOT file.
        collections: canonical collections to fill (subset of :data:`DELPHES_COLLECTIONS`).
        strict: raise for a collection whose branch is absent (else skip it).
        entry_stop: read at most this many entries.
        step_size: entries per chunk.

    Yields:
        ``{collection: array}`` per chunk.
    """
    tree = RootTree(path, TREE, "delphes")
    try:
        branches = branches_for(tree, collections, strict=strict)
        log.debug("%s: reading branches %s", path, branches)
        if not branches:  # e.g. only "weight" from a file without Event.Weight
            yield from unit_weight_chunks(tree.num_entries, entry_stop, step_size)
            return
        for chunk in tree.iterate(branches, entry_stop=entry_stop, step_size=step_size):
            yield _build(path, chunk, collections)
    finally:
        tree.close()


class _ReadBranches(RootTree):
    """The leaves of arrays already read (``FatJet.PT``; ``FatJet`` is there when one of its
    leaves is), checked as :class:`RootTree` checks a file's branches."""

    def __init__(self, names: Iterable[str], source: Path) -> None:  # no file to open
        leaves = set(names)
        self.path, self.tree_name = source, TREE
        self.branches = leaves | {name.partition(".")[0] for name in leaves}


def delphes_events(
    arrays: ak.Array, collections: Sequence[str], *, source: str | Path = "<arrays>"
) -> ak.Array:
    """Canonical events from Delphes branches already read, e.g. by coffea or uproot.

    The adapter for workflows that read the ``Delphes`` tree themselves (a coffea processor:
    coffea 2026.9's ``DelphesSchema`` raises ``KeyError: 'Mass'`` on Delphes 3.4.2 files,
    its ``BaseSchema`` reads them). The fields of ``arrays`` are the Delphes leaves, named
    as uproot's ``TTree.arrays`` names them (``FatJet.PT``) or as ``BaseSchema`` NanoEvents
    do (``FatJet/FatJet.PT``); only the leaves of ``collections`` are taken, so lazy
    NanoEvents read nothing else. The collections are built by the file reader's own code
    (:func:`iter_delphes`: soft-drop masses from ``SoftDroppedP4[5]``, fat jets reclustered
    from the EFlow branches when there is no ``FatJet``) and checked as its output is.

    Args:
        arrays: one chunk of entries of the ``Delphes`` tree.
        collections: canonical collections to build (of :data:`DELPHES_COLLECTIONS`), e.g.
            :attr:`surrotag.recast.ChunkRecast.collections`.
        source: the file (or a name) for messages.

    Returns:
        Canonical events with ``Momentum4D`` behaviour, as :func:`surrotag.read_events`
        gives them for the same entries.

    Raises:
        FormatError: no collection, or one a Delphes file cannot fill.
        MissingBranchError: ``arrays`` lack a leaf that a collection needs.
        InputValueError: non-finite or sentinel kinematics
            (:func:`surrotag.io.canonical.check_finite`).
    """
    wanted = list(dict.fromkeys(collections))
    unknown = [name for name in wanted if name not in _SPECS]
    if unknown or not wanted:
        raise FormatError(
            f"collections {', '.join(unknown) or '(none)'}: choose from "
            f"{', '.join(DELPHES_COLLECTIONS)}"
        )
    path = Path(source)
    fields = {name.rpartition("/")[2]: name for name in arrays.fields}
    leaves = branches_for(_ReadBranches(fields, path), wanted, strict=True)
    columns = {leaf: ak.without_parameters(arrays[fields[leaf]]) for leaf in leaves}
    chunk = (
        ak.zip(columns, depth_limit=1)
        if columns
        else ak.Array(ak.contents.RecordArray([], None, length=len(arrays)))
    )
    events = ak.zip(_build(path, chunk, wanted), depth_limit=1)
    check_finite(events, path)
    return with_vector_behaviour(events)
