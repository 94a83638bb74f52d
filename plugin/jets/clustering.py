"""Fat jets from particle-flow candidates: anti-kT R = 0.8, soft drop, trimming, tau_1..5.

Mirrors the FatJetFinder of the Delphes 3.4 CMS card (JetAlgorithm 6 = anti-kT,
ParameterR 0.8, JetPTMin 200 GeV; soft drop BetaSoftDrop 0, SymmetryCutSoftDrop 0.1,
R0SoftDrop 0.8 (arXiv:1402.2657); trimming RTrim 0.2, PtFracTrim 0.05 (arXiv:0912.1342);
N-subjettiness beta = 1, R0 = 0.8). Every step runs through fastjet's awkward interface on
many events (or many jets, each treated as one "event") at once:

* clustering: ``fastjet.ClusterSequence(events, antikt 0.8)``, jets sorted by pT;
* tau_N: by default fastjet contrib Nsubjettiness (shipped in the fastjet 3.5.2 wheel as
  ``ClusterSequence.njettiness``) with one-pass-minimised exclusive-kT axes
  (``OnePass_KT_Axes``), NormalizedMeasure(beta = 1, R0 = 0.8): this reproduces the real
  Delphes 3.4.2 file's ``FatJet.Tau`` to 4 digits. ``tau_axes="kt"`` uses plain
  exclusive-kT axes (``kt`` reclustering, R = 1000, ``exclusive_jets_up_to(N)``) with the
  vectorised :func:`surrotag.jets.nsubjettiness.nsubjettiness` (tau_1 up to ~25 %
  larger: no minimisation step);
* soft-drop mass: C/A reclustering of each jet and fastjet's SoftDrop grooming;
* trimmed mass: kT subjets of R = 0.2 with pT >= 5 % of the jet pT, summed. It is NaN for
  no jet here; it is documented NaN-capable because readers of other formats may lack it.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from typing import Final

import awkward as ak
import numpy as np
import vector

from surrotag.errors import MissingDependencyError
from surrotag.jets.nsubjettiness import nsubjettiness

__all__ = [
    "N_TAU",
    "antikt_jets",
    "kt_axes",
    "recluster_fatjets",
    "substructure",
    "without_constituents",
]

vector.register_awkward()

#: Number of N-subjettiness ratios stored (tau_1 .. tau_5, Delphes ``FatJet.Tau[5]``).
N_TAU: Final = 5
_MAX_R: Final = 1000.0  # fastjet's JetDefinition::max_allowable_R


@contextlib.contextmanager
def _quiet_fastjet():
    """Silence fastjet's one-time banner (printed from C++ to stdout)."""
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def _fastjet():
    """The fastjet module, its banner silenced; one line when it is not installed."""
    try:
        import fastjet
    except ImportError as error:
        raise MissingDependencyError(
            f"clustering jets needs fastjet ({error}); pip install fastjet"
        ) from None
    with _quiet_fastjet(), contextlib.redirect_stdout(io.StringIO()):
        fastjet.ClusterSequence(
            ak.Array([[{"px": 1.0, "py": 0.0, "pz": 0.0, "E": 1.0}]]),
            fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4),
        ).inclusive_jets(0.0)  # the banner is printed on first clustering
    return fastjet


def _momenta(array: ak.Array) -> ak.Array:
    return ak.zip({"px": array.px, "py": array.py, "pz": array.pz, "E": array.E})


def kt_axes(constituents: ak.Array, n_max: int = N_TAU) -> list[ak.Array]:
    """Exclusive-kT axes of each jet for N = 1 .. n_max.

    Args:
        constituents: jets x var * {px, py, pz, E} (GeV), no empty jet.
        n_max: largest N.

    Returns:
        ``n_max`` arrays, the N-th of jets x min(N, n_constituents) * {px, py, pz, E}.
    """
    fastjet = _fastjet()
    sequence = fastjet.ClusterSequence(
        _momenta(constituents), fastjet.JetDefinition(fastjet.kt_algorithm, _MAX_R)
    )
    with warnings.catch_warnings():  # fastjet warns for every exclusive call, even for kt
        warnings.simplefilter("ignore", UserWarning)
        return [sequence.exclusive_jets_up_to(n) for n in range(1, n_max + 1)]


def substructure(
    constituents: ak.Array,
    jet_pt: np.ndarray,
    radius: float = 0.8,
    sd_beta: float = 0.0,
    sd_zcut: float = 0.1,
    trim_radius: float = 0.2,
    trim_fraction: float = 0.05,
    tau_axes: str = "onepass_kt",
) -> dict[str, np.ndarray]:
    """tau_1..5, soft-drop mass and trimmed mass of jets given by their constituents.

    Args:
        constituents: jets x var * {px, py, pz, E} (GeV), no empty jet.
        jet_pt: pT of each jet (GeV), the trimming reference.
        radius: jet radius, R0 of tau_N and of soft drop.
        sd_beta, sd_zcut: soft-drop angular exponent and z_cut.
        trim_radius, trim_fraction: trimming subjet radius and pT fraction.
        tau_axes: ``"onepass_kt"`` (default): fastjet contrib Nsubjettiness with
            ``OnePass_KT_Axes``, exactly Delphes' ``FatJet.Tau`` (verified to 4 digits on the
            real Delphes 3.4.2 file); ``"kt"``: plain exclusive-kT axes with the vectorised
            :func:`~surrotag.jets.nsubjettiness.nsubjettiness` (no minimisation; tau_1
            up to ~25 % larger).

    Returns:
        ``tau`` (n_jets, 5) float32, ``sd_mass`` and ``trimmed_mass`` (n_jets,) GeV.
    """
    fastjet = _fastjet()
    n_jets = len(constituents)
    if n_jets == 0:
        empty = np.zeros(0)
        return {"tau": np.zeros((0, N_TAU), np.float32), "sd_mass": empty, "trimmed_mass": empty}
    momenta = _momenta(constituents)
    if tau_axes == "kt":
        tau = np.stack(
            [nsubjettiness(momenta, axes, r0=radius) for axes in kt_axes(momenta)], axis=1
        ).astype(np.float32)
    elif tau_axes == "onepass_kt":
        sequence = fastjet.ClusterSequence(
            momenta, fastjet.JetDefinition(fastjet.antikt_algorithm, _MAX_R)
        )
        tau = (
            ak.to_numpy(
                sequence.njettiness(
                    axes_definition="OnePass_KT_Axes",
                    njets=list(range(1, N_TAU + 1)),
                    beta=1.0,
                    R0=radius,
                )
            )
            .astype(np.float32)
            .reshape(n_jets, N_TAU)
        )
    else:
        raise ValueError(f"tau_axes must be 'onepass_kt' or 'kt', got {tau_axes!r}")
    groomer = fastjet.ClusterSequence(
        momenta, fastjet.JetDefinition(fastjet.cambridge_algorithm, _MAX_R)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        groomed = groomer.exclusive_jets_softdrop_grooming(
            njets=1, beta=sd_beta, symmetry_cut=sd_zcut, R0=radius
        )
    sd_mass = np.asarray(ak.to_numpy(groomed.msoftdrop), dtype=np.float64)
    subjets = fastjet.ClusterSequence(
        momenta, fastjet.JetDefinition(fastjet.kt_algorithm, trim_radius)
    ).inclusive_jets(0.0)
    keep = np.hypot(subjets.px, subjets.py) >= trim_fraction * jet_pt
    kept = subjets[keep]
    e, px, py, pz = (ak.to_numpy(ak.sum(kept[f], axis=1)) for f in ("E", "px", "py", "pz"))
    trimmed = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))
    return {"tau": tau, "sd_mass": sd_mass, "trimmed_mass": trimmed}


def without_constituents(jets: ak.Array) -> ak.Array:
    """Fat jets as readers return them: ``Momentum4D`` records without their constituents."""
    return ak.with_name(jets[[f for f in jets.fields if f != "constituents"]], "Momentum4D")


def antikt_jets(candidates: ak.Array, radius: float, pt_min: float) -> tuple[ak.Array, ak.Array]:
    """Anti-kT jets of many events, with the positions of their constituents.

    Args:
        candidates: events x var * {px, py, pz, E (GeV)}.
        radius: distance parameter R.
        pt_min: minimum jet pT (GeV).

    Returns:
        ``(jets, index)``: events x var * Momentum4D jets by decreasing pT, and events x
        jets x var int64 positions of each jet's constituents in the event's candidates.
    """
    n_events = len(candidates)
    if n_events == 0 or ak.sum(ak.num(candidates, axis=1)) == 0:
        empty = ak.Array([[]] * n_events)
        jets = ak.zip({"px": empty, "py": empty, "pz": empty, "E": empty})
        return ak.with_name(jets, "Momentum4D"), ak.Array([[]] * n_events)
    fastjet = _fastjet()
    sequence = fastjet.ClusterSequence(
        _momenta(candidates), fastjet.JetDefinition(fastjet.antikt_algorithm, radius)
    )
    jets, index = sequence.inclusive_jets(pt_min), sequence.constituent_index(pt_min)
    vectors = ak.zip(
        {"px": jets.px, "py": jets.py, "pz": jets.pz, "E": jets.E}, with_name="Momentum4D"
    )
    order = ak.argsort(vectors.pt, axis=1, ascending=False, stable=True)
    return vectors[order], index[order]


def recluster_fatjets(
    pf_candidates: ak.Array,
    radius: float = 0.8,
    pt_min: float = 200.0,
    eta_max: float = 2.0,
    substructure_observables: bool = True,
    tau_axes: str = "onepass_kt",
) -> ak.Array:
    """Cluster particle-flow candidates into fat jets with substructure, many events at once.

    Args:
        pf_candidates: events x var * {px, py, pz, E (GeV), charge}; e.g. the reference
            detector's output, or Delphes' EFlowTrack + EFlowPhoton + EFlowNeutralHadron.
        radius: anti-kT distance parameter R.
        pt_min: minimum jet pT (GeV).
        eta_max: maximum jet |eta|.
        substructure_observables: compute tau, sd_mass, trimmed_mass (else NaN).
        tau_axes: N-subjettiness axes, see :func:`substructure`.

    Returns:
        events x var * {pt, eta, phi, mass, nsubjettiness (5 * float32: tau_1..tau_5), sd_mass,
        trimmed_mass, n_charged, n_neutral (int32), constituents (var * {px, py, pz, E
        (float32), charge (int32)})}, jets sorted by decreasing pT. See
        :mod:`surrotag.io.canonical`. The records are left unnamed (readers name them
        ``Momentum4D``); tau_N is stored as ``nsubjettiness`` because ``vector`` reads a
        field ``tau`` as an alias of the mass.
    """
    fastjet = _fastjet()
    n_events = len(pf_candidates)
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, radius)
    if n_events == 0 or ak.sum(ak.num(pf_candidates, axis=1)) == 0:
        return _no_jets(n_events)
    sequence = fastjet.ClusterSequence(_momenta(pf_candidates), definition)
    jets = sequence.inclusive_jets(pt_min)
    index = sequence.constituent_index(pt_min)
    return _assemble(
        pf_candidates, jets, index, pt_min, eta_max, radius, substructure_observables, tau_axes
    )


def _assemble(
    pf: ak.Array,
    jets: ak.Array,
    index: ak.Array,
    pt_min: float,
    eta_max: float,
    radius: float,
    with_substructure: bool,
    tau_axes: str,
) -> ak.Array:
    n_events = len(pf)
    if ak.sum(ak.num(jets, axis=1)) == 0:
        return _no_jets(n_events)
    vectors = ak.zip(
        {"px": jets.px, "py": jets.py, "pz": jets.pz, "E": jets.E}, with_name="Momentum4D"
    )
    order = ak.argsort(vectors.pt, axis=1, ascending=False)
    vectors, index = vectors[order], index[order]
    good = (vectors.pt >= pt_min) & (np.abs(vectors.eta) < eta_max)
    vectors, index = vectors[good], index[good]
    counts = ak.to_numpy(ak.num(vectors, axis=1))
    # constituents: events x jets x var, gathered from the candidates of each event
    per_jet = ak.num(index, axis=2)
    gathered = pf[ak.flatten(index, axis=2)]
    constituents = ak.unflatten(gathered, ak.flatten(per_jet), axis=1)
    flat_constituents = ak.flatten(constituents, axis=1)  # jets x var
    flat_vectors = ak.flatten(vectors, axis=1)
    jet_pt = ak.to_numpy(flat_vectors.pt)
    n_jets = len(jet_pt)
    if with_substructure and n_jets:
        sub = substructure(flat_constituents, jet_pt, radius=radius, tau_axes=tau_axes)
    else:
        sub = {
            "tau": np.full((n_jets, 5), np.nan, np.float32),
            "sd_mass": np.full(n_jets, np.nan),
            "trimmed_mass": np.full(n_jets, np.nan),
        }
    charge = ak.values_astype(flat_constituents.charge, np.int32)
    stored = ak.zip(
        {
            "px": ak.values_astype(flat_constituents.px, np.float32),
            "py": ak.values_astype(flat_constituents.py, np.float32),
            "pz": ak.values_astype(flat_constituents.pz, np.float32),
            "E": ak.values_astype(flat_constituents.E, np.float32),
            "charge": charge,
        }
    )
    n_charged = ak.to_numpy(ak.sum(charge != 0, axis=1)).astype(np.int32)
    n_total = ak.to_numpy(ak.num(charge, axis=1)).astype(np.int32)
    flat = ak.zip(
        {
            "pt": jet_pt,
            "eta": ak.to_numpy(flat_vectors.eta),
            "phi": ak.to_numpy(flat_vectors.phi),
            "mass": ak.to_numpy(flat_vectors.mass),
            "nsubjettiness": ak.to_regular(ak.Array(sub["tau"]), axis=1),
            "sd_mass": sub["sd_mass"],
            "trimmed_mass": sub["trimmed_mass"],
            "n_charged": n_charged,
            "n_neutral": n_total - n_charged,
            "constituents": stored,
        },
        depth_limit=1,
    )
    return ak.unflatten(flat, counts)


def _no_jets(n_events: int) -> ak.Array:
    """Events without jets, with the full jet schema (so Parquet types stay stable)."""
    f32, i32 = np.zeros(0, np.float32), np.zeros(0, np.int32)
    constituents = ak.unflatten(
        ak.zip({"px": f32, "py": f32, "pz": f32, "E": f32, "charge": i32}), i32
    )
    flat = ak.zip(
        {
            "pt": np.zeros(0),
            "eta": np.zeros(0),
            "phi": np.zeros(0),
            "mass": np.zeros(0),
            "nsubjettiness": ak.to_regular(ak.Array(np.zeros((0, N_TAU), np.float32)), axis=1),
            "sd_mass": np.zeros(0),
            "trimmed_mass": np.zeros(0),
            "n_charged": i32,
            "n_neutral": i32,
            "constituents": constituents,
        },
        depth_limit=1,
    )
    return ak.unflatten(flat, np.zeros(n_events, np.int64))
