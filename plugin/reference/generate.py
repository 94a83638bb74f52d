"""Generate a reference sample: Pythia 8 -> CMS-like detector -> fat jets -> Parquet.

``generate("ttbar-allhad", 20000, seed=1, jobs=2)`` runs J worker processes; job j
generates its share of the events with Pythia seed and detector seed derived from
(seed, j) by sha256, writes a part file, and the parts are merged in job order. The output
is bit-reproducible for equal (process, n_events, seed, jobs, ecm, mass, lsp_mass) and code
version. Presets with an SLHA spectrum (``stop-pair``) have each job write it to a file
beside its part (``partNNNN.slha``) and pass it to Pythia with ``SLHA:file``; the settings
record the neutralino mass and the sha256 of the SLHA text instead of the file's path.

Each event holds (canonical schema, :mod:`surrotag.io.canonical`): ``weight`` (Pythia's
pTHat-bias compensating weight; the event's cross-section is ``sigma_pb * weight /
sum_weights``), ``fatjets`` (:func:`surrotag.jets.clustering.recluster_fatjets` of the
detector's EFlow objects), ``particlejets`` (the same clustering of the visible stable
particles, no detector: the particle level, :mod:`surrotag.jets.particle`), ``met`` (from
all particle-flow candidates) and ``particles`` (the pruned truth record,
:mod:`surrotag.reference.truth`). The Parquet provenance (``surrotag`` key) records
sigma_pb, sigma_err_pb, sum_weights, n_events, the Pythia settings, the seeds of every job,
the branching ratios forced (and that sigma includes them), versions and ``settings_key``.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import socket
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Final

import awkward as ak
import numpy as np

from surrotag.errors import GenerationError
from surrotag.io.parquet import read_parquet, read_parquet_metadata, write_parquet
from surrotag.jets.clustering import recluster_fatjets
from surrotag.jets.particle import visible
from surrotag.reference.cache import cached_sample, sample_path, settings_key
from surrotag.reference.detector import pf_candidates
from surrotag.reference.objects import missing_et, physics_objects
from surrotag.reference.processes import (
    ProcessSpec,
    common_settings,
    process_spec,
)
from surrotag.reference.susy import slha_setting
from surrotag.reference.truth import final_state, truth_particles

__all__ = [
    "BATCH_SIZE",
    "SCHEMA_VERSION",
    "SCRATCH_PREFIX",
    "describe_sample",
    "generate",
    "job_seeds",
    "remove_stale_scratch",
]

#: Events per ``Pythia.nextBatch`` call (and per detector/jet pass).
BATCH_SIZE: Final = 100
#: Version of what this module writes; part of ``settings_key`` (bump when output changes).
SCHEMA_VERSION: Final = 3
_MB_TO_PB: Final = 1.0e9

Progress = Callable[[int, int], None]


def job_seeds(seed: int, job: int) -> tuple[int, int]:
    """Pythia seed (1 .. 900000000) and detector seed (64 bit) of job ``job``."""
    digest = hashlib.sha256(f"surrotag-reference:{seed}:{job}".encode()).digest()
    pythia = int.from_bytes(digest[:8], "little") % 900_000_000 + 1
    detector = int.from_bytes(digest[8:16], "little")
    return pythia, detector


def _shares(n_events: int, jobs: int) -> list[int]:
    return [n_events // jobs + (1 if j < n_events % jobs else 0) for j in range(jobs)]


def _open_fraction(pythia: Any, pid: int) -> float:
    """Sum of the branching ratios of the channels left on (Pythia's decay table)."""
    entry = pythia.particleData.particleDataEntryPtr(pid)
    total = on = 0.0
    for i in range(entry.sizeChannels()):
        channel = entry.channel(i)
        total += channel.bRatio()
        on += channel.bRatio() if channel.onMode() > 0 else 0.0
    return on / total if total > 0 else 1.0


def _partons(batch: ak.Array) -> ak.Array:
    """The quarks and gluons of a Pythia batch's records (for the jet flavour)."""
    prt = batch.prt[:, 1:]
    prt = prt[(abs(prt.id) <= 5) | (prt.id == 21)]
    return ak.zip({"px": prt.p.px, "py": prt.p.py, "pz": prt.p.pz, "E": prt.p.e, "pid": prt.id})


def _events_of_batch(
    batch: ak.Array,
    pythia: Any,
    rng: np.random.Generator,
    objects_rng: np.random.Generator | None = None,
    truth_pids: tuple[int, ...] = (),
) -> ak.Array:
    """Canonical events of one batch; with ``objects_rng`` also the physics objects (their
    own generator, so that the EFlow objects and fat jets do not depend on it);
    ``truth_pids`` are kept in the truth record beside the usual chains."""
    final = final_state(batch, pythia.particleData.charge)
    pf = pf_candidates(final, rng)
    fields = {
        "weight": ak.to_numpy(batch.info.weights[:, 0]).astype(np.float64),
        "fatjets": recluster_fatjets(pf),
        "particlejets": recluster_fatjets(visible(final)),
        "met": missing_et(pf),
        "particles": truth_particles(batch, truth_pids),
    }
    if objects_rng is not None:
        objects = physics_objects(pf, _partons(batch), objects_rng)
        fields |= {name: objects[name] for name in ("electrons", "muons", "photons", "jets")}
    return ak.zip(fields, depth_limit=1)


def _run_job(
    spec: ProcessSpec,
    ecm: float,
    n_events: int,
    seed: int,
    job: int,
    part: str,
    queue: Any = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Generate one job's events into the Parquet file ``part``; return its numbers."""
    import pythia8mc

    warnings.filterwarnings("ignore", message="dcut and exclusive jets")
    pythia_seed, detector_seed = job_seeds(seed, job)
    pythia = pythia8mc.Pythia("", False)
    with slha_setting(spec.slha, Path(part).with_suffix(".slha")) as slha:
        for line in (*common_settings(ecm, pythia_seed), *spec.settings, *slha):
            if not pythia.readString(line):
                refused = f"Pythia refused the setting {line!r} of process {spec.name}"
                raise GenerationError(refused)
        if not pythia.init():
            failed = f"Pythia failed to initialise process {spec.name} at {ecm} GeV"
            raise GenerationError(failed)
    rng = np.random.default_rng(detector_seed)
    objects_rng = np.random.default_rng([detector_seed, 1]) if spec.objects else None
    chunks, done = [], 0
    while done < n_events:
        size = min(BATCH_SIZE, n_events - done)
        batch = pythia.nextBatch(size)
        if len(batch) != size:
            raise GenerationError(f"Pythia returned {len(batch)} of {size} events ({spec.name})")
        chunks.append(_events_of_batch(batch, pythia, rng, objects_rng, spec.truth_pids))
        done += size
        if queue is not None:
            queue.put(size)
        if progress is not None:
            progress(size, n_events)
    info = pythia.infoPython()
    events = ak.concatenate(chunks) if chunks else ak.Array([])
    numbers = {
        "job": job,
        "n_events": n_events,
        "pythia_seed": pythia_seed,
        "detector_seed": detector_seed,
        "sigma_pb": info.sigmaGen() * _MB_TO_PB,
        "sigma_err_pb": info.sigmaErr() * _MB_TO_PB,
        "sum_weights": float(np.sum(ak.to_numpy(events.weight))) if n_events else 0.0,
        "pythia_weight_sum": info.weightSum(),
        "br_w_forced_pythia": _open_fraction(pythia, 24) if spec.forced_w else 1.0,
        # only presets forcing Z decays carry the key, so the others' files stay as they were
        **({"br_z_forced_pythia": _open_fraction(pythia, 23)} if spec.forced_z else {}),
    }
    write_parquet(events, part, {"job": numbers})
    return numbers


def _settings(spec: ProcessSpec, n_events: int, seed: int, jobs: int, ecm: float) -> dict:
    import fastjet
    import pythia8mc

    return {
        "schema_version": SCHEMA_VERSION,
        "process": spec.name,
        "mass": spec.mass,
        # only presets with a neutralino / SLHA spectrum carry these keys (cache keys as before)
        **({"lsp_mass": spec.lsp_mass} if spec.lsp_mass is not None else {}),
        **({"slha_sha256": hashlib.sha256(spec.slha.encode()).hexdigest()} if spec.slha else {}),
        "n_events": n_events,
        "seed": seed,
        "jobs": jobs,
        "ecm": ecm,
        "pythia_settings": list(spec.settings),
        "common_settings": [
            line for line in common_settings(ecm, 0) if not line.startswith("Random:seed =")
        ],
        "pythia8mc": getattr(pythia8mc, "__version__", "8.317"),
        "fastjet": fastjet.__version__,
        "batch_size": BATCH_SIZE,
        # only presets with objects carry the key, so the others' cache keys stay as they were
        **({"physics_objects": "delphes-cms-3.4.2"} if spec.objects else {}),
        **({"truth_pids": list(spec.truth_pids)} if spec.truth_pids else {}),
        **({"x_masses": list(spec.x_masses)} if spec.x_masses is not None else {}),
        **(
            {"benchmark_sigma_pb": spec.benchmark_sigma_pb}
            if spec.benchmark_sigma_pb is not None
            else {}
        ),
    }


#: Prefix of the scratch folders that hold the workers' parts until the sample is written.
SCRATCH_PREFIX: Final = ".surrotag-gen-"
_OWNER_FILE: Final = "owner"
#: Age (s) after which a scratch folder without an owner record counts as abandoned.
_ORPHAN_AGE_S: Final = 3600.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_scratch(folder: str | Path) -> list[Path]:
    """Remove scratch folders left by generations that died without cleaning up.

    An interrupted generation removes its scratch folder itself (Ctrl-C, SIGTERM through the
    CLI, an exception); a SIGKILL or a crash of the machine cannot. A folder counts as stale
    when its owner record names this host and a process that no longer exists, or when it
    has no owner record and is older than an hour. Folders of running generations (this
    host or another one sharing the file system) are left alone.

    Args:
        folder: the folder the samples are written to.

    Returns:
        The scratch folders removed.
    """
    removed = []
    host = socket.gethostname()
    for scratch in Path(folder).glob(f"{SCRATCH_PREFIX}*"):
        if not scratch.is_dir():
            continue
        try:
            owner = (scratch / _OWNER_FILE).read_text().split()
        except OSError:
            owner = []
        if len(owner) == 2 and owner[1].isdigit():
            stale = owner[0] == host and not _alive(int(owner[1]))
        else:
            stale = time.time() - scratch.stat().st_mtime > _ORPHAN_AGE_S
        if stale:
            shutil.rmtree(scratch, ignore_errors=True)
            removed.append(scratch)
    return removed


def generate(
    process: str,
    n_events: int,
    seed: int,
    jobs: int = 1,
    ecm: float = 13000.0,
    out: str | Path | None = None,
    mass: float | None = None,
    progress: Progress | None = None,
    reuse: bool = True,
    *,
    lsp_mass: float | None = None,
    x_masses: tuple[float, float] | None = None,
) -> Path:
    """Generate (or reuse) a reference sample and return its Parquet file.

    Args:
        process: preset name (:data:`surrotag.reference.processes.PROCESSES`).
        n_events: number of events (>= 1).
        seed: master seed; job j uses :func:`job_seeds` (seed, j).
        jobs: worker processes J (each generates about n_events / J events).
        ecm: centre-of-mass energy (GeV).
        out: output file; default :func:`surrotag.reference.cache.sample_path`.
        mass: Z' mass (GeV) for the Z' presets, stop mass (GeV) for ``stop-pair``.
        progress: called as ``progress(events_just_done, n_events)``.
        reuse: return an existing ``out`` whose recorded settings match instead of
            regenerating.
        lsp_mass: neutralino mass (GeV) for ``stop-pair``.
        x_masses: (X, X') masses (GeV) for ``y-xx``.

    Returns:
        The path of the sample.

    Raises:
        GenerationError: bad arguments, or Pythia fails.
    """
    if n_events < 1 or jobs < 1:
        raise GenerationError(f"need --events >= 1 and --jobs >= 1, got {n_events} and {jobs}")
    if not ecm > 0:
        raise GenerationError(f"--ecm must be a positive energy in GeV, got {ecm}")
    spec = process_spec(process, mass, lsp_mass, x_masses)
    jobs = min(jobs, n_events)
    settings = _settings(spec, n_events, seed, jobs, ecm)
    key = settings_key(settings)
    path = (
        Path(out)
        if out is not None
        else sample_path(
            process, n_events, seed, jobs, ecm, spec.mass, key, spec.lsp_mass, spec.x_masses
        )
    )
    if reuse and cached_sample(path, key) is not None:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_scratch(path.parent)
    with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX, dir=path.parent) as scratch:
        (Path(scratch) / _OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}\n")
        parts = [str(Path(scratch) / f"part{j:04d}.parquet") for j in range(jobs)]
        shares = _shares(n_events, jobs)
        if jobs == 1:
            numbers = [_run_job(spec, ecm, shares[0], seed, 0, parts[0], progress=progress)]
        else:
            numbers = _run_parallel(spec, ecm, shares, seed, parts, progress)
        events = ak.concatenate([read_parquet(part, events=False) for part in parts])
    write_parquet(events, path, _provenance(spec, settings, key, numbers, events))
    return path


def _run_parallel(
    spec: ProcessSpec,
    ecm: float,
    shares: list[int],
    seed: int,
    parts: list[str],
    progress: Progress | None,
) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(len(parts), mp_context=context) as pool:
        queue = manager.Queue()
        futures = [
            pool.submit(_run_job, spec, ecm, share, seed, job, part, queue)
            for job, (share, part) in enumerate(zip(shares, parts, strict=False))
        ]
        total, done = sum(shares), 0
        while done < total:
            if all(f.done() for f in futures) and queue.empty():
                break
            try:
                step = queue.get(timeout=0.5)
            except Exception:  # queue.Empty through the manager proxy
                continue
            done += step
            if progress is not None:
                progress(step, total)
        return [future.result() for future in futures]


def _cross_section(
    spec: ProcessSpec, n: np.ndarray, sigma: np.ndarray, error: np.ndarray
) -> dict[str, Any]:
    """``sigma_pb`` and its error: Pythia's (jobs weighted by their events), or the preset's
    benchmark cross-section where Pythia's is no physical benchmark (``y-xx``), with
    Pythia's own recorded beside it."""
    pythia = float(np.sum(n * sigma) / np.sum(n))
    pythia_error = float(np.sqrt(np.sum((n * error) ** 2)) / np.sum(n))
    if spec.benchmark_sigma_pb is None:
        return {"sigma_pb": pythia, "sigma_err_pb": pythia_error}
    return {
        "sigma_pb": spec.benchmark_sigma_pb,
        "sigma_err_pb": 0.0,
        "sigma_pythia_pb": pythia,
        "sigma_note": "benchmark cross-section of the preset (sigma x BR), not Pythia's "
        "(sigma_pythia_pb), which is no physical benchmark for this process",
    }


def _provenance(
    spec: ProcessSpec, settings: dict, key: str, numbers: list[dict[str, Any]], events: ak.Array
) -> dict[str, Any]:
    n = np.array([j["n_events"] for j in numbers], dtype=np.float64)
    sigma = np.array([j["sigma_pb"] for j in numbers])
    error = np.array([j["sigma_err_pb"] for j in numbers])
    br_w = numbers[0]["br_w_forced_pythia"]
    br_z = numbers[0].get("br_z_forced_pythia", 1.0)
    notes = [
        f"BR({boson} -> {channels})^{count} from Pythia's decay table "
        f"({count} {boson} forced to {channels})"
        for boson, channels, count in (
            ("W", spec.w_channels, spec.forced_w),
            ("Z", spec.z_channels, spec.forced_z),
        )
        if count
    ]
    return {
        "kind": "reference-sample",
        "level": "delphes",
        "settings": settings,
        "settings_key": key,
        "process": spec.name,
        "description": spec.description,
        "n_events": len(events),
        **_cross_section(spec, n, sigma, error),
        "sum_weights": float(np.sum(ak.to_numpy(events.weight))),
        "weight_convention": "event cross-section (pb) = sigma_pb * weight / sum_weights",
        "br_applied": br_w**spec.forced_w * br_z**spec.forced_z,
        "br_applied_note": " x ".join(notes) if notes else "no forced decay",
        "br_in_sigma": True,
        "br_pdg": spec.br_w_pdg**spec.forced_w * spec.br_z_pdg**spec.forced_z,
        "jobs": numbers,
        "detector": "surrotag.reference.detector: Delphes 3.4.2 CMS card EFlow chain",
        "fatjets": "anti-kT R=0.8, pT > 200 GeV, |eta| < 2; soft drop beta=0 zcut=0.1; "
        "trimming R=0.2 f=0.05; tau_N beta=1 R0=0.8 OnePass_KT_Axes (as Delphes)",
        "truth": "pruned Pythia record: hard process, all t/W/Z' copies and their daughters"
        + (", all stop and neutralino copies and their daughters" if spec.slha else "")
        + "".join(f", all |pid| = {pid} copies and their daughters" for pid in spec.truth_pids),
    }


def describe_sample(path: str | Path, *, jobs: int, since: float, seconds: float) -> str:
    """One line about a sample :func:`generate` returned: events, cross-section, sum of
    weights, and the generation rate, or that the sample came from the cache.

    Args:
        path: the sample (its provenance is read).
        jobs: the worker processes it was generated with.
        since: when the :func:`generate` call started (:func:`time.time`); a file written
            before was reused from the cache.
        seconds: how long the call took.

    Returns:
        ``PATH: N events, sigma = S +- E pb, sum of weights W (T s, R events/s per job)``.
    """
    meta = read_parquet_metadata(path)
    rate = (
        "reused from the cache"
        if Path(path).stat().st_mtime < since
        else f"{seconds:.1f} s, {meta['n_events'] / max(seconds, 1e-9) / jobs:.1f} events/s per job"
    )
    return (
        f"{path}: {meta['n_events']} events, sigma = {meta['sigma_pb']:.4g} +- "
        f"{meta['sigma_err_pb']:.2g} pb, sum of weights {meta['sum_weights']:.4g} ({rate})"
    )
