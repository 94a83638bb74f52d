"""HepMC3/HepMC2 ASCII input: content, units, chunking, cross-section and bad files."""

from __future__ import annotations

import gzip
import re
import shutil
import time

import awkward as ak
import numpy as np
import pytest

import surrotag
from surrotag.cli import main
from surrotag.errors import CorruptFileError, EmptyInputError, FormatError
from surrotag.io import iter_events, read_events, sniff_format
from surrotag.io.inputs import input_cross_section, resolve_inputs
from surrotag.io.readers import cross_section

pyhepmc = pytest.importorskip("pyhepmc")

N_EVENTS = 50


def _truth(n_events: int, seed: int = 7, n_extra: int | None = None) -> list[dict]:
    """The events to write, as plain numbers (the expectation of every test).

    Each event: two beam protons (status 4) -> one vertex -> a top (status 2), a gluon and
    ``i % 3`` extra photons (status 1); the top -> a b quark and a W (status 1).
    """
    rng = np.random.default_rng(seed)
    events = []
    for i in range(n_events):
        extra = i % 3 if n_extra is None else n_extra
        pids = [2212, 2212, 6, 21] + [22] * extra + [5, 24]
        status = [4, 4, 2, 1] + [1] * extra + [1, 1]
        mother1 = [-1, -1, 0, 0] + [0] * extra + [2, 2]
        mother2 = [-1, -1, 1, 1] + [1] * extra + [-1, -1]
        momenta = rng.normal(0.0, 50.0, size=(len(pids), 3))
        momenta[:2] = [[0.0, 0.0, 6500.0], [0.0, 0.0, -6500.0]]
        mass = np.where(np.array(pids) == 2212, 0.938, 1.0)
        energy = np.sqrt((momenta**2).sum(axis=1) + mass**2)
        weights = [] if i == 3 else [1.0 + 0.01 * i, 0.5]
        events.append(
            {
                "pid": pids,
                "status": status,
                "mother1": mother1,
                "mother2": mother2,
                "p": np.column_stack([momenta, energy]),
                "weights": weights,
                "xsec": 10.0 + i,
            }
        )
    return events


def _write(path, events, fmt="hepmc3", unit="GEV"):
    scale = 1000.0 if unit == "MEV" else 1.0
    with pyhepmc.open(path, "w", format=fmt) as out:
        for number, spec in enumerate(events):
            event = pyhepmc.GenEvent(getattr(pyhepmc.Units, unit), pyhepmc.Units.MM)
            event.event_number = number
            particles = [
                pyhepmc.GenParticle(tuple(p * scale), pid, status)
                for p, pid, status in zip(spec["p"], spec["pid"], spec["status"], strict=True)
            ]
            hard = pyhepmc.GenVertex()
            hard.add_particle_in(particles[0])
            hard.add_particle_in(particles[1])
            for particle in particles[2:-2]:
                hard.add_particle_out(particle)
            decay = pyhepmc.GenVertex()
            decay.add_particle_in(particles[2])
            decay.add_particle_out(particles[-2])
            decay.add_particle_out(particles[-1])
            event.add_vertex(hard)
            event.add_vertex(decay)
            if spec["weights"]:
                event.weights = spec["weights"]
            xsec = pyhepmc.GenCrossSection()
            xsec.set_cross_section(spec["xsec"], 0.1 * spec["xsec"], number + 1, number + 1)
            event.cross_section = xsec
            out.write(event)
    return path


def _check(events, truth):
    assert len(events) == len(truth)
    particles = events.particles
    flat = {name: ak.to_numpy(ak.flatten(particles[name])) for name in particles.fields}
    expect = np.concatenate([spec["p"] for spec in truth])
    for column, name in enumerate(("px", "py", "pz", "E")):
        np.testing.assert_allclose(flat[name], expect[:, column], rtol=1e-12, atol=1e-9)
    for name in ("pid", "status", "mother1", "mother2"):
        assert flat[name].tolist() == [value for spec in truth for value in spec[name]], name
    np.testing.assert_allclose(
        ak.to_numpy(events.weight),
        [spec["weights"][0] if spec["weights"] else 1.0 for spec in truth],
    )
    # the top (index 2) decays to the last two particles; the beams enter the hard vertex
    assert ak.all(particles.daughter1[:, 2] == ak.num(particles) - 2)
    assert ak.all(particles.daughter2[:, 2] == ak.num(particles) - 1)
    assert ak.all(particles.daughter1[:, 0] == 2)
    assert ak.all(particles.daughter2[:, 0] == ak.num(particles) - 3)
    assert ak.all(particles.daughter1[:, -1] == -1)
    pt = np.hypot(expect[:, 0], expect[:, 1])
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(particles.pt)), pt, rtol=1e-12)


@pytest.fixture(scope="module")
def truth():
    return _truth(N_EVENTS)


@pytest.fixture(scope="module")
def hepmc3_file(tmp_path_factory, truth):
    return _write(tmp_path_factory.mktemp("hepmc") / "events.hepmc", truth)


@pytest.mark.parametrize(
    ("name", "fmt", "unit"),
    [
        ("v3.hepmc", "hepmc3", "GEV"),
        ("v3_mev.hepmc", "hepmc3", "MEV"),
        ("v2.hepmc.gz", "hepmc2", "GEV"),
        ("v2_mev.hepmc", "hepmc2", "MEV"),
        ("v3.hepmc.gz", "hepmc3", "MEV"),
    ],
)
def test_round_trip(tmp_path, truth, name, fmt, unit):
    path = _write(tmp_path / name, truth, fmt, unit)
    assert sniff_format(path) == "hepmc"
    events = read_events(path, level="parton")
    assert events.fields == ["weight", "particles"]
    _check(events, truth)


def test_top_level_and_gzip_by_content(tmp_path, hepmc3_file, truth):
    target = tmp_path / "events.dat"
    target.write_bytes(gzip.compress(hepmc3_file.read_bytes()))
    events = surrotag.read_events(target, level="parton", collections=["particles"])
    assert events.fields == ["particles"]
    assert ak.to_list(events.particles) == ak.to_list(
        read_events(hepmc3_file, level="parton").particles
    )


def test_chunks_equal_one_read(hepmc3_file, truth):
    whole = read_events(hepmc3_file, level="parton")
    chunks = list(iter_events(hepmc3_file, level="parton", step_size=7))
    assert [len(chunk) for chunk in chunks] == [7] * 7 + [1]
    assert ak.to_list(ak.concatenate(chunks)) == ak.to_list(whole)
    head = read_events(hepmc3_file, level="parton", entry_stop=12, step_size=5)
    _check(head, truth[:12])


def test_cross_section_of_last_event(tmp_path, hepmc3_file, truth):
    sigma, error = cross_section(hepmc3_file)
    assert sigma == pytest.approx(truth[-1]["xsec"])
    assert error == pytest.approx(0.1 * truth[-1]["xsec"])
    v2 = _write(tmp_path / "v2.hepmc.gz", truth[:5], "hepmc2")
    assert cross_section(v2) == pytest.approx((truth[4]["xsec"], 0.1 * truth[4]["xsec"]))
    found = input_cross_section(resolve_inputs([hepmc3_file]))
    assert (found.value_pb, found.source) == (pytest.approx(truth[-1]["xsec"]), "hepmc")


def test_madgraph_run_folder(tmp_path, hepmc3_file):
    run = tmp_path / "PROC" / "Events" / "run_01"
    run.mkdir(parents=True)
    target = run / "tag_1_pythia8_events.hepmc.gz"
    target.write_bytes(gzip.compress(hepmc3_file.read_bytes()))
    assert resolve_inputs([tmp_path / "PROC"]).paths == (target,)
    shutil.copy(hepmc3_file, run / "unweighted_events.lhe")  # the shower's record is preferred
    assert resolve_inputs([run]).paths == (target,)
    target.unlink()  # without it, the LHE file (parton level)
    assert resolve_inputs([run]).paths == (run / "unweighted_events.lhe",)


def _cli_error(tmp_path, capfd, path, pattern):
    code = main(["features", str(path), "-o", str(tmp_path / "out.parquet")])
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1
    assert len(lines) == 1, err
    assert re.search(pattern, lines[0]), lines[0]
    assert path.name in lines[0]


@pytest.mark.parametrize("where", ["footer", "half", "last-event", "gzip-stream", "gzip-text"])
def test_truncated(tmp_path, capfd, hepmc3_file, where):
    data = hepmc3_file.read_bytes()
    cuts = {"footer": len(data) - 30, "half": len(data) // 2, "last-event": len(data) - 400}
    path = tmp_path / "cut.hepmc.gz"
    if where == "gzip-stream":
        packed = gzip.compress(data)
        path.write_bytes(packed[: len(packed) // 2])
    elif where == "gzip-text":
        path.write_bytes(gzip.compress(data[: len(data) - 400]))
    else:
        path = tmp_path / "cut.hepmc"
        path.write_bytes(data[: cuts[where]])
    with pytest.raises(CorruptFileError, match=r"truncated|corrupt"):
        read_events(path, level="parton")
    _cli_error(tmp_path, capfd, path, r"truncated|corrupt")


def test_damaged_event_mid_file(tmp_path, capfd, hepmc3_file):
    lines = hepmc3_file.read_bytes().splitlines(keepends=True)
    index = [i for i, line in enumerate(lines) if line.startswith(b"P ")][40]
    lines[index] = b"P 3 -1 21 not-a-number\n"
    path = tmp_path / "damaged.hepmc"
    path.write_bytes(b"".join(lines))
    with pytest.raises(CorruptFileError, match=r"reading stopped after \d+ events"):
        read_events(path, level="parton")
    _cli_error(tmp_path, capfd, path, r"truncated or damaged")


@pytest.mark.parametrize(
    ("text", "error", "pattern"),
    [
        (
            b"HepMC::Version 3.02.05\nHepMC::Asciiv4-START_EVENT_LISTING\n",
            FormatError,
            r"unsupported HepMC listing 'Asciiv4'",
        ),
        (
            b"HepMC::Version 1.0\nHepMC::IO_Ascii-START_EVENT_LISTING\nE 1\n",
            FormatError,
            r"unsupported HepMC listing 'IO_Ascii'",
        ),
        (b"HepMC::Version 3.02.05\nno listing\n", FormatError, r"without a START_EVENT_LISTING"),
        (b"just text, no events\n", FormatError, r"not an event file"),
        (
            b"HepMC::Version 3.02.05\nHepMC::Asciiv3-START_EVENT_LISTING\n"
            b"HepMC::Asciiv3-END_EVENT_LISTING\n",
            EmptyInputError,
            r"holds no events",
        ),
        (b"", EmptyInputError, r"empty file"),
    ],
)
def test_bad_header(tmp_path, capfd, text, error, pattern):
    path = tmp_path / "bad.hepmc"
    path.write_bytes(text)
    with pytest.raises(error, match=pattern):
        read_events(path, level="parton")
    _cli_error(tmp_path, capfd, path, pattern)


def test_no_final_state(tmp_path, capfd, truth):
    spec = [dict(event, status=[4, 4, 2, 2] + [2] * (len(event["pid"]) - 4)) for event in truth]
    path = _write(tmp_path / "nofinal.hepmc", spec[:4])
    with pytest.raises(FormatError, match=r"event 0 has no final-state \(status 1\)"):
        read_events(path, level="parton")
    _cli_error(tmp_path, capfd, path, r"no final-state")


def test_pythia_file(tmp_path):
    pythia8mc = pytest.importorskip("pythia8mc")
    if not hasattr(pythia8mc, "Pythia8ToHepMC"):
        pytest.skip("pythia8mc has no HepMC writer (Pythia8ToHepMC) in this build")


def test_speed_against_pyhepmc_iteration(tmp_path):
    """Not a timed assertion: prints events/s of the reader and of a bare pyhepmc loop."""
    path = _write(tmp_path / "bench.hepmc", _truth(2000, n_extra=150))
    start = time.perf_counter()
    for event in pyhepmc.open(path):
        assert len(event.particles) == 156
    bare = 2000 / (time.perf_counter() - start)
    start = time.perf_counter()
    events = read_events(path, level="parton", step_size=500)
    ours = 2000 / (time.perf_counter() - start)
    assert len(events) == 2000
    print(
        f"\nHepMC read: surrotag {ours:.0f} ev/s, pyhepmc loop {bare:.0f} ev/s, "
        f"ratio {ours / bare:.2f}"
    )
