"""Pythia event records -> canonical truth particles and final-state particles, vectorised.

Input is one ``Pythia.nextBatch`` result (awkward: ``prt`` per event with ``id, status,
mother1, mother2, daughter1, daughter2, p{px, py, pz, e}``). Pythia's record starts with the
system entry 0 (id 90), and 0 in a mother/daughter slot means "none"; the canonical schema
(:mod:`surrotag.io.canonical`) wants 0-based positions in the stored list and -1 for none.
So entry 0 is dropped and every pointer ``p`` becomes ``p - 1`` (``0 -> -1``).

Pruning (keeps files small: a 13 TeV event has ~1000 entries, the kept record ~20). Kept:

* the hard process (``|status|`` 21-29), e.g. incoming partons and the outgoing t, tbar;
* every copy of a top, W or Z' (``|pid|`` in 6, 24, 32), and of a stop or the lightest
  neutralino (1000006, 1000022; only ``stop-pair`` has them), so each chain
  (22 -> 44 ... -> 62 for a top) is complete;
* every direct daughter of those copies: the W and b of the last top copy, the q q' of
  the last W copy, the t and neutralino of the last stop copy (their later shower copies
  are not kept, except those of t, W and neutralino).

Pointers into dropped entries become -1 (e.g. the beam protons above the incoming partons,
the showered copies below a hard gluon). Because all daughters of a kept t/W/Z' are kept,
their ``daughter1..daughter2`` ranges stay contiguous ranges in the pruned list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import awkward as ak
import numpy as np

__all__ = ["CHAIN_PIDS", "final_state", "truth_particles"]

#: |PDG id| whose every copy (and its daughters) the pruned truth record keeps: t, W, Z',
#: stop, lightest neutralino.
CHAIN_PIDS: Final = (6, 24, 32, 1000006, 1000022)


def _flat(prt: ak.Array, field: str) -> np.ndarray:
    return ak.to_numpy(ak.flatten(prt[field], axis=1))


def truth_particles(batch: ak.Array, extra_pids: tuple[int, ...] = ()) -> ak.Array:
    """Pruned canonical truth record of a Pythia batch (see the module docstring).

    Args:
        batch: ``Pythia.nextBatch`` output (events with a ``prt`` list).
        extra_pids: further |PDG id| kept like :data:`CHAIN_PIDS` (every copy and its
            daughters), e.g. the Z and W' of ``wprime-wz``.

    Returns:
        events x var * {px, py, pz, E (GeV), pid, status, mother1, mother2, daughter1,
        daughter2 (0-based, -1 for none)}.
    """
    prt = batch.prt[:, 1:]  # drop the system entry 0
    counts = ak.to_numpy(ak.num(prt, axis=1)).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    event = np.repeat(np.arange(len(counts)), counts)
    start = starts[event]
    pid = _flat(prt, "id")
    status = _flat(prt, "status")
    ptr = {
        name: _flat(prt, name).astype(np.int64) - 1
        for name in ("mother1", "mother2", "daughter1", "daughter2")
    }

    chain = np.isin(np.abs(pid), (*CHAIN_PIDS, *extra_pids))
    keep = chain | ((np.abs(status) >= 21) & (np.abs(status) <= 29))
    # daughters of chain particles: Pythia's d1..d2 range, or {d1} (d2 none), or {d1, d2}
    d1, d2 = ptr["daughter1"][chain], ptr["daughter2"][chain]
    base = start[chain]
    has = d1 >= 0
    stop = np.where(d2 >= d1, d2, d1)
    for offset in range(int((stop - d1)[has].max(initial=0)) + 1):
        inside = has & (d1 + offset <= stop)
        keep[base[inside] + d1[inside] + offset] = True
    apart = (d2 >= 0) & (d2 < d1)
    keep[base[apart] + d2[apart]] = True

    # old global position -> new local position (or -1)
    cumulative = np.cumsum(keep) - 1
    kept_before = np.concatenate([[0], np.cumsum(keep)])[starts]
    new_local = np.where(keep, cumulative - kept_before[event], -1)

    def remap(local: np.ndarray) -> np.ndarray:
        valid = local >= 0
        out = np.full(local.shape, -1, dtype=np.int32)
        out[valid] = new_local[start[valid] + local[valid]]
        return out

    kept_counts = np.bincount(event[keep], minlength=len(counts))
    columns = {
        "px": _flat(prt.p, "px")[keep],
        "py": _flat(prt.p, "py")[keep],
        "pz": _flat(prt.p, "pz")[keep],
        "E": _flat(prt.p, "e")[keep],
        "pid": pid[keep].astype(np.int32),
        "status": status[keep].astype(np.int32),
        **{name: remap(value)[keep] for name, value in ptr.items()},
    }
    record = ak.zip({k: ak.Array(v) for k, v in columns.items()})
    return ak.with_name(ak.unflatten(record, kept_counts), "Momentum4D")


def final_state(batch: ak.Array, charge_of: Callable[[int], float]) -> ak.Array:
    """Final-state (``status > 0``) particles of a Pythia batch for the detector.

    Args:
        batch: ``Pythia.nextBatch`` output.
        charge_of: PDG id -> electric charge (units of e), e.g. Pythia's
            ``particleData.charge``; called once per distinct id of the batch.

    Returns:
        events x var * {px, py, pz, E (GeV), pid (int32), charge (float64)}.
    """
    prt = batch.prt[batch.prt.status > 0]
    counts = ak.to_numpy(ak.num(prt, axis=1))
    pid = ak.to_numpy(ak.flatten(prt.id))
    unique, inverse = np.unique(pid, return_inverse=True)
    charge = np.array([charge_of(int(u)) for u in unique], dtype=np.float64)[inverse]
    record = ak.zip(
        {
            "px": ak.flatten(prt.p.px),
            "py": ak.flatten(prt.p.py),
            "pz": ak.flatten(prt.p.pz),
            "E": ak.flatten(prt.p.e),
            "pid": pid.astype(np.int32),
            "charge": charge,
        }
    )
    return ak.unflatten(record, counts)
