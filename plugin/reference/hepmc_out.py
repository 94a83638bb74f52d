"""Write Pythia 8 events of a reference preset as a HepMC3 file: what a user's shower gives.

A MadGraph + Pythia user holds ``tag_1_pythia8_events.hepmc.gz``, the full generator record
with no detector. :func:`write_hepmc` makes such a file from a reference preset
(:mod:`surrotag.reference.processes`), so that the particle-level path (HepMC -> particle
jets -> ``top-tagger-particle`` -> CLs) can be run and tested end to end on real showered
events. Each event's whole Pythia record (system entry dropped) is converted in one call
(``GenEvent.from_hepevt``) with its mother ranges; HepMC status codes follow Pythia's own
HepMC interface: 1 final state, 4 beam particle, 2 decayed or branched. The cross-section
(pb) and the event weight are stored in every event, in GeV and mm.

References:
    Bierlich et al., Pythia 8.3, arXiv:2203.11601; Buckley et al., HepMC3, arXiv:1912.08005.
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from surrotag.errors import GenerationError
from surrotag.io.atomic import atomic_output
from surrotag.reference.processes import common_settings, process_spec
from surrotag.reference.susy import slha_setting

__all__ = ["hepmc_status", "write_hepmc"]

_MB_TO_PB = 1.0e9
_BATCH = 100


def hepmc_status(status: np.ndarray) -> np.ndarray:
    """HepMC status codes of Pythia status codes (as Pythia's HepMC interface writes them).

    Examples:
        >>> hepmc_status(np.array([-12, -22, 63, -84, 91]))
        array([4, 2, 1, 2, 1], dtype=int32)
    """
    status = np.asarray(status)
    out = np.where(status > 0, 1, 2)
    out = np.where(np.isin(np.abs(status), (11, 12)), 4, out)
    return out.astype(np.int32)


def write_hepmc(
    process: str,
    n_events: int,
    seed: int,
    path: str | Path,
    *,
    mass: float | None = None,
    ecm: float = 13000.0,
    lsp_mass: float | None = None,
    x_masses: tuple[float, float] | None = None,
) -> Path:
    """Generate ``n_events`` of a reference preset with Pythia 8 and write them as HepMC3.

    Args:
        process: preset name (``ttbar-allhad``, ``qcd-dijet``, ``zprime-ttbar``).
        n_events: events to generate.
        seed: Pythia random seed (1 .. 900000000).
        path: output file (``.gz`` is gzip-compressed); written atomically.
        mass: Z' mass (GeV) for the Z' presets, stop mass (GeV) for ``stop-pair``.
        ecm: centre-of-mass energy (GeV).
        lsp_mass: neutralino mass (GeV) for ``stop-pair``.
        x_masses: (X, X') masses (GeV) for ``y-xx``.

    Returns:
        The written path.

    Raises:
        GenerationError: bad arguments or a Pythia failure.
    """
    import pyhepmc
    import pythia8mc

    if n_events < 1:
        raise GenerationError(f"need at least one event, got {n_events}")
    spec = process_spec(process, mass, lsp_mass, x_masses)
    pythia = pythia8mc.Pythia("", False)
    with (
        tempfile.TemporaryDirectory(prefix="surrotag-slha-") as folder,
        slha_setting(spec.slha, Path(folder) / "spectrum.slha") as slha,
    ):
        for line in (*common_settings(ecm, seed), *spec.settings, *slha):
            if not pythia.readString(line):
                refused = f"Pythia refused the setting {line!r} of process {spec.name}"
                raise GenerationError(refused)
        if not pythia.init():
            raise GenerationError(f"Pythia failed to initialise process {spec.name}")
    path = Path(path)
    with atomic_output(path) as temporary:
        writer = pyhepmc.open(temporary, "w", format="hepmc3")
        _fill(writer, pythia, n_events)
        if path.suffix == ".gz":  # pyhepmc compresses by file name; the temporary has none
            data = temporary.read_bytes()
            with gzip.open(temporary, "wb") as packed:
                packed.write(data)
    return path


def _fill(writer: Any, pythia: Any, n_events: int) -> None:
    """Write ``n_events`` of an initialised Pythia to an open pyhepmc writer, then close it."""
    import pyhepmc

    try:
        done = 0
        while done < n_events:
            size = min(_BATCH, n_events - done)
            batch = pythia.nextBatch(size)
            if len(batch) != size:
                raise GenerationError(f"Pythia returned {len(batch)} of {size} events")
            info = pythia.infoPython()
            sigma = (info.sigmaGen() * _MB_TO_PB, info.sigmaErr() * _MB_TO_PB)
            for number, event in enumerate(_events(pyhepmc, batch, sigma), start=done):
                event.event_number = number
                writer.write(event)
            done += size
    finally:
        writer.close()


def _positions(counts: np.ndarray) -> np.ndarray:
    """1-based position of every particle within its event."""
    starts = np.cumsum(counts) - counts
    return np.arange(int(counts.sum())) - np.repeat(starts, counts) + 1


def _events(pyhepmc: Any, batch: ak.Array, sigma: tuple[float, float]) -> Iterator[Any]:
    """GenEvents of a ``Pythia.nextBatch`` result (system entry dropped: 1-based indices).

    The history kept is every particle with exactly one (earlier) mother: the decay and
    shower chains, e.g. t -> W b -> q q' b, which the truth features follow. Particles made
    from several mothers (string-fragmentation hadrons, whose mothers are a range of
    partons shared with other hadrons, and the products of 2 -> n processes) start at the
    event's root: HepMC3 gives each particle one end vertex, and those ranges overlap. The
    final state, its momenta and the top decay chains are exactly Pythia's.
    """
    prt = batch.prt[:, 1:]
    counts = ak.to_numpy(ak.num(prt, axis=1))
    stops = np.cumsum(counts)
    flat = {
        name: ak.to_numpy(ak.flatten(values, axis=1))
        for name, values in (
            ("px", prt.p.px), ("py", prt.p.py), ("pz", prt.p.pz), ("e", prt.p.e),
            ("m", prt.m), ("id", prt.id), ("status", prt.status),
            ("mother1", prt.mother1), ("mother2", prt.mother2),
        )
    }  # fmt: skip
    m1, m2 = flat["mother1"], flat["mother2"]
    single = (m1 > 0) & ((m2 == 0) | (m2 == m1)) & (m1 < _positions(counts))
    mother = np.where(single, m1, 0)
    parents = np.column_stack([mother, mother]).astype(np.int32)
    status = hepmc_status(flat["status"])
    weights = ak.to_numpy(batch.info.weights[:, 0])
    for index, stop in enumerate(stops):
        rows = slice(stop - counts[index], stop)
        event = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
        event.from_hepevt(
            0,
            flat["px"][rows],
            flat["py"][rows],
            flat["pz"][rows],
            flat["e"][rows],
            flat["m"][rows],
            flat["id"][rows].astype(np.int32),
            status[rows],
            parents=parents[rows],
            fortran=True,
        )
        event.weights = [float(weights[index])]
        xsec = pyhepmc.GenCrossSection()
        xsec.set_cross_section(sigma[0], sigma[1], 1, 1)
        event.cross_section = xsec
        yield event
