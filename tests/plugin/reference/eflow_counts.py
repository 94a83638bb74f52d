"""Shared by the detector tests against real Delphes files: EFlow objects per (kind, pT,
|eta|) bin, our mean over detector seeds against the file's one realisation.

A bin passes within 10 % or within 2 sigma, sigma^2 = max(N_file, 1) (the Poisson error of
the one Delphes realisation) + the squared standard error of our seed mean.
"""

from __future__ import annotations

from typing import NamedTuple

import awkward as ak
import numpy as np

from surrotag.io.delphes import EFLOW
from surrotag.reference.detector import pf_candidates

__all__ = [
    "ETA_BINS",
    "KINDS",
    "N_SEEDS",
    "PT_BINS",
    "Comparison",
    "compare_counts",
    "print_bins",
    "stable_particles",
]

N_SEEDS = 20
PT_BINS = (0.0, 0.5, 1.0, 5.0, 20.0, np.inf)
ETA_BINS = (0.0, 1.5, 2.5, 5.0)
KINDS = tuple(EFLOW)  # EFlowTrack, EFlowPhoton, EFlowNeutralHadron


def stable_particles(arrays: ak.Array) -> ak.Array:
    """Status-1 particles as the detector's input (vertex in mm, as Delphes stores it)."""
    stable = arrays["Particle.Status"] == 1
    names = {"px": "Px", "py": "Py", "pz": "Pz", "E": "E", "pid": "PID", "charge": "Charge"}
    names |= {"x": "X", "y": "Y", "z": "Z"}
    return ak.zip({ours: arrays[f"Particle.{theirs}"][stable] for ours, theirs in names.items()})


def _counts(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    return np.histogram2d(pt, np.abs(eta), [PT_BINS, ETA_BINS])[0]


def _flat(array: ak.Array) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(array, axis=None)))


class Comparison(NamedTuple):
    """Counts ``[kind, pT bin, |eta| bin]``: ours (seed mean), the file's, sigma, pass."""

    mean: np.ndarray
    theirs: np.ndarray
    sigma: np.ndarray
    good: np.ndarray

    @property
    def pull(self) -> np.ndarray:
        return (self.mean - self.theirs) / self.sigma


def compare_counts(arrays: ak.Array) -> Comparison:
    """Our EFlow counts of the file's stable particles (N_SEEDS seeds) against its own."""
    particles = stable_particles(arrays)
    theirs = np.stack(
        [_counts(_flat(arrays[f"{b}.{EFLOW[b][0]}"]), _flat(arrays[f"{b}.Eta"])) for b in KINDS]
    )
    ours = []
    for seed in range(N_SEEDS):
        flat = ak.flatten(pf_candidates(particles, np.random.default_rng(seed)))
        pt = np.hypot(ak.to_numpy(flat.px), ak.to_numpy(flat.py))
        eta = np.arcsinh(ak.to_numpy(flat.pz) / pt)
        kind = ak.to_numpy(flat.kind)
        ours.append(np.stack([_counts(pt[kind == k], eta[kind == k]) for k in range(3)]))
    ours = np.array(ours)
    mean, error = ours.mean(axis=0), ours.std(axis=0, ddof=1) / np.sqrt(N_SEEDS)
    sigma = np.sqrt(np.maximum(theirs, 1.0) + error**2)
    diff = mean - theirs
    good = (np.abs(diff) <= 0.1 * theirs) | (np.abs(diff) <= 2 * sigma)
    return Comparison(mean, theirs, sigma, good)


def print_bins(result: Comparison, file_label: str, marks: np.ndarray | None = None) -> None:
    """The table (run pytest with ``-s``); ``marks``: bins to flag with ``*`` (asserted)."""
    print(f"{'kind':19s} {'pT (GeV)':10s} {'|eta|':8s} {'ours':>7s} {file_label:>7s} {'pull':>5s}")
    for k, name in enumerate(KINDS):
        for i in range(len(PT_BINS) - 1):
            for j in range(len(ETA_BINS) - 1):
                pts = f"{PT_BINS[i]:g}-{PT_BINS[i + 1]:g}"
                etas = f"{ETA_BINS[j]:g}-{ETA_BINS[j + 1]:g}"
                mark = "" if marks is None else ("*" if marks[k, i, j] else " ")
                flag = mark + ("" if result.good[k, i, j] else "  <-- off")
                print(
                    f"{name:19s} {pts:10s} {etas:8s} {result.mean[k, i, j]:7.1f} "
                    f"{result.theirs[k, i, j]:7.0f} {result.pull[k, i, j]:+5.1f} {flag}"
                )
