"""Top-quark decay chains in a truth record and their matching to fat jets, vectorised.

One implementation serves every truth record that the readers put in canonical
``particles`` (Delphes ``Particle`` from Pythia 8, ExRootAnalysis ``LHEF``, LHE): only
``pid`` and ``mother1`` (0-based, -1 for none) and the four-momenta are used, because LHE
records carry mothers but no daughters.

The physics choices (the usual ones of top-tagging studies, e.g. arXiv:1902.09914):

* the top is the **last copy** in its chain: a particle with ``|pid| == 6`` none of whose
  children is a top (in Pythia 8 the status-62 copy, whose children are b and W);
* the top's W is followed through its copies (W -> W, as recoils in the shower) down to
  the copy whose children are two fermions f, f' (q q' or l nu);
* b is the top's down-type quark child (b, s or d), at the decay vertex;
* a decay chain that is not complete (no W child, no quark child, a W without exactly two
  fermion children, e.g. undecayed tops in LHE) is reported as absent: NaN, never guessed;
* truth means **hadronic** top: a fat jet is matched only to a top whose W decays to quarks
  (or whose decay is not in the record, so that it cannot be told apart); a top with
  W -> l nu (tau included) is never matched, and containment counts the hadronic top's
  b, q, q'. A jet near only a leptonic top is unmatched and says so (``leptonic``). The
  shipped surrogates and the efficiency maps were trained on W -> q q' tops only, so a
  b + lepton jet must not pose as a partly contained hadronic top.

Vectorised: the record is flattened to one numpy array of all particles with global
indices; children are found by one stable sort on the global mother index, and chains of
copies are followed by a fixed, small number of whole-array "hops", not by loops over
events or particles.
"""

from __future__ import annotations

from typing import Final

import awkward as ak
import numpy as np

from surrotag.features._common import delta_r, eta_phi_pt

__all__ = [
    "MAX_HOPS",
    "TRUTH_CATEGORIES",
    "jet_truth_category",
    "last_top_copies",
    "match_tops_to_jets",
    "top_decays",
]

#: Upper bound on the W -> W copies followed (Pythia 8 records a handful at most).
MAX_HOPS: Final = 50
#: Truth categories of a fat jet (:func:`jet_truth_category`), in code order 0, 1, 2.
TRUTH_CATEGORIES: Final = ("contained", "partial", "unmatched")

_FERMIONS: Final = np.array([*range(1, 7), *range(11, 17)])
_DOWN_TYPE: Final = np.array([1, 3, 5])


def _flat_record(particles: ak.Array) -> dict[str, np.ndarray]:
    """Flatten the record: global indices, global mothers and children per particle."""
    counts = np.asarray(ak.num(particles, axis=1), dtype=np.int64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat = ak.flatten(particles, axis=1)
    pid = np.asarray(flat.pid, dtype=np.int64)
    mother = np.asarray(flat.mother1, dtype=np.int64)
    event = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    valid = (mother >= 0) & (mother < counts[event])
    mother = np.where(valid, mother + offsets[event], -1)
    n = len(pid)
    # children of i: all j with mother[j] == i, in record order (stable sort)
    child_of = mother >= 0
    children = np.flatnonzero(child_of)[np.argsort(mother[child_of], kind="stable")]
    n_children = np.bincount(mother[child_of], minlength=n)
    first = np.cumsum(n_children) - n_children
    has = n_children > 0
    first_child = np.full(n, -1, dtype=np.int64)
    last_child = np.full(n, -1, dtype=np.int64)
    first_child[has] = children[first[has]]
    last_child[has] = children[first[has] + n_children[has] - 1]
    return {
        "pid": pid,
        "mother": mother,
        "event": event,
        "counts": counts,
        "offsets": offsets,
        "n_children": n_children,
        "first_child": first_child,
        "last_child": last_child,
        "flat": flat,
    }


def _child_where(record: dict[str, np.ndarray], selected: np.ndarray) -> np.ndarray:
    """For every particle, the global index of one child in ``selected`` (-1 if none)."""
    mother = record["mother"]
    chosen = np.flatnonzero(selected & (mother >= 0))
    out = np.full(len(mother), -1, dtype=np.int64)
    out[mother[chosen]] = chosen
    return out


def _last_top_mask(record: dict[str, np.ndarray]) -> np.ndarray:
    """Tops none of whose children is a top."""
    is_top = np.abs(record["pid"]) == 6
    top_child = _child_where(record, is_top)
    return is_top & (top_child < 0)


def last_top_copies(particles: ak.Array) -> ak.Array:
    """The last copy of every top quark in each event's truth record.

    Args:
        particles: canonical ``particles`` (var * Momentum4D with pid, mother1).

    Returns:
        var * Momentum4D records of the last top copies (the same fields as ``particles``)
        plus ``index`` (int64, position in the event's record).
    """
    record = _flat_record(particles)
    mask = _last_top_mask(record)
    local = np.arange(len(mask), dtype=np.int64) - record["offsets"][record["event"]]
    flat = ak.with_field(record["flat"], local, "index")[mask]
    tops = ak.unflatten(flat, np.bincount(record["event"][mask], minlength=len(particles)))
    return ak.with_name(tops, "Momentum4D")


def _kinematics(flat: ak.Array, index: np.ndarray) -> dict[str, np.ndarray]:
    """pt (GeV), eta, phi (rad) of the particles at global ``index`` (NaN where -1)."""
    safe = np.maximum(index, 0)
    present = index >= 0
    components = []
    for name in ("px", "py", "pz"):
        values = np.asarray(flat[name], dtype=np.float64)
        picked = values[safe] if len(values) else np.zeros(len(safe))
        components.append(np.where(present, picked, np.nan))
    eta, phi, pt = eta_phi_pt(*components)
    return {"pt": pt, "eta": eta, "phi": phi}


def top_decays(particles: ak.Array) -> ak.Array:
    """Every last top copy with the directions of its decay products b, W, f, f'.

    Args:
        particles: canonical ``particles`` (var * Momentum4D with pid, mother1).

    Returns:
        var * record per event, one per last top copy, with float64 fields
        ``{top,b,w,f1,f2}_{pt,eta,phi}`` (GeV, -, rad; NaN where absent): the top, its b,
        the W as produced in the top decay, and the last W copy's two daughters; ``pid``
        (int32), ``index`` (int64, the top's position in the event's record),
        ``has_chain`` (bool: the whole chain t -> b W, W -> f f' is present) and
        ``hadronic`` (float32: 1 for W -> q q', 0 for W -> l nu, NaN without chain).
    """
    record = _flat_record(particles)
    pid = record["pid"]
    mother = record["mother"]
    abs_pid = np.abs(pid)
    tops = np.flatnonzero(_last_top_mask(record))
    w_child = _child_where(record, abs_pid == 24)[tops]
    b_child = _child_where(record, np.isin(abs_pid, _DOWN_TYPE))[tops]
    # a "copy" child has the pid of its mother; follow W -> W copies by whole-array hops
    mother_pid = np.where(mother >= 0, pid[np.maximum(mother, 0)] if len(pid) else 0, 0)
    copy_child = _child_where(record, (mother >= 0) & (pid == mother_pid))
    w_last = w_child.copy()
    for _ in range(MAX_HOPS):
        step = np.where(w_last >= 0, copy_child[np.maximum(w_last, 0)], -1)
        if not np.any(step >= 0):
            break
        w_last = np.where(step >= 0, step, w_last)
    else:  # a W chain longer than MAX_HOPS: report it absent rather than guess
        w_last = np.where(copy_child[np.maximum(w_last, 0)] >= 0, -1, w_last)
    ok_w = w_last >= 0
    safe_w = np.maximum(w_last, 0)
    f1 = np.where(ok_w, record["first_child"][safe_w], -1)
    f2 = np.where(ok_w, record["last_child"][safe_w], -1)
    two = ok_w & (record["n_children"][safe_w] == 2)
    f1_pid = abs_pid[np.maximum(f1, 0)] if len(pid) else np.zeros(0, np.int64)
    f2_pid = abs_pid[np.maximum(f2, 0)] if len(pid) else np.zeros(0, np.int64)
    fermions = np.isin(f1_pid, _FERMIONS) & np.isin(f2_pid, _FERMIONS)
    has_chain = (b_child >= 0) & two & fermions
    quarks = (f1_pid <= 5) & (f2_pid <= 5)
    hadronic = np.where(has_chain, quarks.astype(np.float32), np.float32(np.nan))
    flat = record["flat"]
    fields: dict[str, np.ndarray] = {}
    for name, index in (
        ("top", tops),
        ("b", np.where(has_chain, b_child, -1)),
        ("w", np.where(has_chain, w_child, -1)),
        ("f1", np.where(has_chain, f1, -1)),
        ("f2", np.where(has_chain, f2, -1)),
    ):
        for key, values in _kinematics(flat, index).items():
            fields[f"{name}_{key}"] = values
    fields["pid"] = pid[tops].astype(np.int32)
    fields["index"] = tops - record["offsets"][record["event"][tops]]
    fields["has_chain"] = has_chain
    fields["hadronic"] = hadronic.astype(np.float32)
    counts = np.bincount(record["event"][tops], minlength=len(record["counts"]))
    return ak.unflatten(ak.zip(fields, depth_limit=1), counts)


def match_tops_to_jets(fatjets: ak.Array, decays: ak.Array, radius: float = 0.8) -> ak.Array:
    """Match every fat jet to the nearest hadronically decaying top within ``radius``.

    Candidates are the last top copies whose W decays to quarks, and those whose decay
    chain is absent (their decay mode is unknown: matched, flagged ``no_chain``). Tops with
    W -> l nu are never matched: a jet with only a leptonic top within ``radius`` is
    unmatched (``no_match``) and flagged ``leptonic``, with ``hadronic`` = 0.

    Args:
        fatjets: var * fat-jet records (with ``eta``, ``phi``) per event.
        decays: the output of :func:`top_decays` for the same events.
        radius: the matching and containment radius R in Delta R (the jet radius: 0.8 for
            the CMS AK8 fat jets of Delphes' CMS card).

    Returns:
        var * record per event, aligned with ``fatjets``: ``matched`` (bool: a hadronic
        top lies within R), ``top_pt`` (GeV), ``top_eta``, ``dr``, ``hadronic`` (1 matched
        hadronic top, 0 only a leptonic top within R, else NaN), ``n_contained``,
        ``contained``, ``dr_max`` (float, NaN where unknown; b, q, q' of the matched
        hadronic top), ``no_match``, ``no_chain`` and ``leptonic`` (bool flags).
    """
    pairs = ak.cartesian({"jet": fatjets[["eta", "phi"]], "top": decays}, axis=1, nested=True)
    dr_all = delta_r(pairs.jet.eta, pairs.jet.phi, pairs.top.top_eta, pairs.top.top_phi)
    leptonic_top = pairs.top.hadronic == 0  # NaN (no chain) compares False: a candidate
    dr_candidate = ak.where(leptonic_top, np.inf, dr_all)
    nearest = ak.argmin(dr_candidate, axis=2, keepdims=True)
    best = ak.firsts(pairs.top[nearest], axis=2)
    dr = ak.fill_none(ak.firsts(dr_candidate[nearest], axis=2), np.inf)
    matched = dr < radius
    dr_leptonic = ak.fill_none(ak.min(ak.where(leptonic_top, dr_all, np.inf), axis=2), np.inf)
    leptonic = ~matched & (dr_leptonic < radius)
    nan = np.nan
    has_chain = matched & ak.fill_none(best.has_chain, False)

    def _dr(name: str) -> ak.Array:
        eta = ak.fill_none(best[f"{name}_eta"], nan)
        phi = ak.fill_none(best[f"{name}_phi"], nan)
        return delta_r(fatjets.eta, fatjets.phi, eta, phi)

    dr_b, dr_f1, dr_f2 = _dr("b"), _dr("f1"), _dr("f2")
    n_in = (dr_b < radius) * 1.0 + (dr_f1 < radius) * 1.0 + (dr_f2 < radius) * 1.0
    dr_max = np.maximum(np.maximum(dr_b, dr_f1), dr_f2)
    hadronic = ak.where(has_chain, ak.fill_none(best.hadronic, nan), nan)
    return ak.zip(
        {
            "matched": matched,
            "top_pt": ak.where(matched, ak.fill_none(best.top_pt, nan), nan),
            "top_eta": ak.where(matched, ak.fill_none(best.top_eta, nan), nan),
            "dr": ak.where(matched, dr, nan),
            "hadronic": ak.where(leptonic, 0.0, hadronic),
            "n_contained": ak.where(has_chain, n_in, nan),
            "contained": ak.where(has_chain, (n_in == 3) * 1.0, nan),
            "dr_max": ak.where(has_chain, dr_max, nan),
            "no_match": ~matched,
            "no_chain": matched & ~has_chain,
            "leptonic": leptonic,
        }
    )


def jet_truth_category(
    matched: np.ndarray, hadronic: np.ndarray, n_contained: np.ndarray
) -> np.ndarray:
    """The truth category of each fat jet, as recast tools bin tagging efficiencies.

    Args:
        matched: ``truth_top_matched`` (bool or 0/1): a hadronic top lies within R.
        hadronic: ``truth_top_hadronic`` (1, 0 or NaN).
        n_contained: ``truth_top_n_contained`` (0..3 or NaN).

    Returns:
        int8 array: 0 ``contained`` (matched to a hadronic top whose b, q, q' all lie
        within R: the ``label == 1`` of the reference table), 1 ``partial`` (matched to a
        top, but not all of b, q, q' inside, or its decay chain absent), 2 ``unmatched``
        (no hadronic top within R, also when a leptonic one is): see
        :data:`TRUTH_CATEGORIES`.
    """
    matched = np.asarray(matched).astype(bool)
    hadronic = np.nan_to_num(np.asarray(hadronic, dtype=np.float64)) > 0.5
    contained = np.nan_to_num(np.asarray(n_contained, dtype=np.float64)) == 3
    category = np.where(matched, 1, 2).astype(np.int8)
    category[matched & hadronic & contained] = 0
    return category
