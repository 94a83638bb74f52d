"""The stop-pair and znunu presets: SLHA spectrum, refusals, decay chains, MET, sigma."""

from __future__ import annotations

import doctest
import hashlib
import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from surrotag.errors import GenerationError
from surrotag.reference import susy
from surrotag.reference.susy import DECOUPLED_MASS, slha_setting, stop_slha

#: Pythia 8.317 LO sigma(pp -> stop stop*) at 13 TeV, m_stop = 1000 GeV, m_lsp = 100 GeV (pb).
_SIGMA_STOP_1000_PB = 0.00403


def _parse_slha(text: str) -> tuple[dict[str, dict[tuple[int, ...], float]], dict[int, dict]]:
    """Blocks (name -> {integer indices: value}) and decays (pid -> {width, channels})."""
    blocks: dict[str, dict[tuple[int, ...], float]] = {}
    decays: dict[int, dict] = {}
    current: dict | None = None
    for raw in text.splitlines():
        words = raw.split("#")[0].split()
        if not words:
            continue
        head = words[0].upper()
        if head == "BLOCK":
            current = blocks.setdefault(words[1].upper(), {})
        elif head == "DECAY":
            current = None
            decay = decays.setdefault(int(words[1]), {"width": float(words[2]), "channels": []})
        elif current is not None:
            current[tuple(int(w) for w in words[:-1])] = float(words[-1])
        else:
            br, n_daughters = float(words[0]), int(words[1])
            decay["channels"].append((br, tuple(int(w) for w in words[2 : 2 + n_daughters])))
    return blocks, decays


def test_doctests() -> None:
    result = doctest.testmod(susy)
    assert result.attempted >= 3 and result.failed == 0


@pytest.mark.parametrize(("m_stop", "m_lsp"), [(1000.0, 100.0), (400.0, 0.0), (2500.0, 1200.0)])
def test_slha_text_holds_the_two_masses_and_the_decay(m_stop: float, m_lsp: float) -> None:
    blocks, decays = _parse_slha(stop_slha(m_stop, m_lsp))
    for name in ("MODSEL", "SMINPUTS", "MASS", "NMIX", "UMIX", "VMIX", "STOPMIX", "SBOTMIX",
                 "STAUMIX", "ALPHA", "HMIX"):  # fmt: skip
        assert name in blocks, name
    mass = {key[0]: value for key, value in blocks["MASS"].items()}
    assert mass[1000006] == m_stop and mass[1000022] == m_lsp
    light = (1000006, 1000022)
    others = {pid: m for pid, m in mass.items() if pid > 1_000_000 and pid not in light}
    assert len(others) == 26 and set(others.values()) == {DECOUPLED_MASS}
    assert blocks["SMINPUTS"][(6,)] == 173.0  # Pythia 8.317's own top mass
    for name, size in (("NMIX", 4), ("UMIX", 2), ("STOPMIX", 2), ("STAUMIX", 2)):
        matrix = np.zeros((size, size))
        for (i, j), value in blocks[name].items():
            matrix[i - 1, j - 1] = value
        np.testing.assert_array_equal(matrix, np.eye(size))
    stop = decays[1000006]
    assert stop["width"] > 0
    assert sum(br for br, _ in stop["channels"]) == pytest.approx(1.0)
    assert [kids for _, kids in stop["channels"]] == [(6, 1000022)]
    assert decays[1000022] == {"width": 0.0, "channels": []}


@pytest.mark.parametrize(("m_stop", "m_lsp"), [(250.0, 100.0), (600.0, 430.0), (90.0, 0.0)])
def test_between_the_w_b_and_top_thresholds_the_stop_decays_to_b_w_neutralino(
    m_stop: float, m_lsp: float
) -> None:
    blocks, decays = _parse_slha(stop_slha(m_stop, m_lsp))
    assert susy.stop_decay(m_stop, m_lsp) == "bW"
    assert decays[1000006]["channels"] == [(1.0, (5, 24, 1000022))]
    mass = {key[0]: value for key, value in blocks["MASS"].items()}
    assert mass[1000006] == m_stop and mass[1000022] == m_lsp
    assert susy.stop_decay(m_lsp + 173.5, m_lsp) == "t"  # just above the top threshold


@pytest.mark.parametrize(
    ("m_stop", "m_lsp"),
    [(180.0, 100.0), (1000.0, 916.0), (1000.0, -1.0), (5000.0, 100.0), (math.nan, 100.0)],
)
def test_masses_outside_the_modelled_decays_are_refused(m_stop: float, m_lsp: float) -> None:
    with pytest.raises(GenerationError) as error:
        stop_slha(m_stop, m_lsp)
    message = str(error.value)
    assert "\n" not in message
    assert "stop mass > lsp mass + 85.185 GeV" in message and "< 5000 GeV" in message
    assert "four-body decays are not modelled" in message


def test_process_spec_refuses_bad_mass_combinations() -> None:
    from surrotag.reference.processes import PROCESSES, process_spec

    assert {"stop-pair", "znunu"} <= set(PROCESSES)
    spec = process_spec("stop-pair", 1000.0, 100.0)
    assert (spec.mass, spec.lsp_mass, spec.objects) == (1000.0, 100.0, True)
    assert spec.slha == stop_slha(1000.0, 100.0)
    assert not any("pTHat" in line for line in spec.settings)  # no bias: weights 1
    for mass, lsp in ((None, 100.0), (1000.0, None), (None, None)):
        with pytest.raises(GenerationError, match=r"stop-pair needs --mass .* and --lsp-mass"):
            process_spec("stop-pair", mass, lsp)
    with pytest.raises(GenerationError, match="lsp mass"):
        process_spec("stop-pair", 150.0, 100.0)
    dilepton = process_spec("stop-pair-dilepton", 250.0, 100.0)
    assert dilepton.slha == stop_slha(250.0, 100.0) and "b W+ ~chi_10" in dilepton.slha
    assert (dilepton.forced_w, dilepton.w_channels, dilepton.objects) == (2, "l nu", True)
    assert "24:onIfAny = 11 13 15" in dilepton.settings
    assert not any("pTHat" in line for line in dilepton.settings)
    ttbar = process_spec("ttbar-dilepton")
    assert (ttbar.forced_w, ttbar.objects, ttbar.slha) == (2, True, "")
    assert not any("pTHat" in line for line in ttbar.settings)  # the bulk: weights 1
    with pytest.raises(GenerationError, match=r"stop-pair-dilepton needs --mass"):
        process_spec("stop-pair-dilepton", 250.0)
    for name, mass in (("ttbar", None), ("znunu", None), ("zprime-ttbar", 1500.0)):
        with pytest.raises(GenerationError, match=f"process {name} takes no --lsp-mass"):
            process_spec(name, mass, 100.0)
    with pytest.raises(GenerationError, match="process znunu takes no --mass"):
        process_spec("znunu", 1000.0)
    znunu = process_spec("znunu")
    assert znunu.objects and (znunu.forced_z, znunu.z_channels) == (1, "nu nu")
    assert znunu.lsp_mass is None and znunu.slha == ""


def test_cli_bad_combinations_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from surrotag.cli import main

    for argv in (
        ["stop-pair", "--events", "5", "--mass", "1000"],
        ["stop-pair", "--events", "5", "--mass", "250", "--lsp-mass", "200"],
        ["ttbar", "--events", "5", "--lsp-mass", "100"],
    ):
        assert main(["reference", "generate", *argv]) != 0, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("surrotag: error:") and "\n" not in err, err
    assert main(["reference", "generate", "--help"]) == 0
    assert "neutralino mass in GeV (stop-pair presets only)" in capsys.readouterr().out


def test_settings_and_sample_path_carry_the_lsp_mass() -> None:
    from surrotag.reference.cache import reference_dir, sample_path, settings_key
    from surrotag.reference.generate import _settings
    from surrotag.reference.processes import process_spec

    settings = _settings(process_spec("stop-pair", 1000.0, 100.0), 100, 1, 1, 13000.0)
    assert (settings["mass"], settings["lsp_mass"]) == (1000.0, 100.0)
    text = stop_slha(1000.0, 100.0)
    assert settings["slha_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    other = _settings(process_spec("stop-pair", 1000.0, 200.0), 100, 1, 1, 13000.0)
    assert settings_key(other) != settings_key(settings)
    key = "0123456789abcdef"
    path = sample_path("stop-pair", 100, 1, 1, 13000.0, 1000.0, key, 100.0)
    assert path == reference_dir() / "stop-pair_m1000_lsp100_13TeV_100ev_s1_j1_0123456789.parquet"
    plain = sample_path("zprime-ttbar", 100, 1, 1, 13000.0, 1500.0, key)
    assert plain.name == "zprime-ttbar_m1500_13TeV_100ev_s1_j1_0123456789.parquet"


def test_slha_file_avoids_blanks(tmp_path: Path) -> None:
    """Pythia reads SLHA:file up to the first blank: such paths go to a temporary folder."""
    with slha_setting("", tmp_path / "none.slha") as lines:
        assert lines == ()
    with slha_setting("BLOCK MASS\n", tmp_path / "spectrum.slha") as lines:
        assert lines == (f"SLHA:file = {tmp_path / 'spectrum.slha'}",)
    blank = tmp_path / "a folder"
    blank.mkdir()
    with slha_setting("BLOCK MASS\n", blank / "spectrum.slha") as lines:
        (line,) = lines
        path = Path(line.removeprefix("SLHA:file = "))
        assert " " not in str(path) and path.read_text() == "BLOCK MASS\n"
    assert not path.exists() and not any(blank.iterdir())


@pytest.fixture(scope="module")
def stop_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 stop-pair events at m_stop = 1000 GeV, m_lsp = 100 GeV, seed 7, one job."""
    pytest.importorskip("pythia8mc")
    from surrotag.reference.generate import generate

    out = tmp_path_factory.mktemp("stop") / "stop.parquet"
    return generate("stop-pair", 200, seed=7, jobs=1, mass=1000.0, lsp_mass=100.0, out=out)


def test_stop_pair_events(stop_file: Path) -> None:
    """Two stops per event, each last copy decays to t + neutralino, neutralinos escape."""
    from surrotag.io.parquet import read_parquet, read_parquet_metadata

    assert [p.name for p in stop_file.parent.iterdir()] == [stop_file.name]  # no scratch left
    events = read_parquet(stop_file, events=False)
    assert len(events) == 200
    for name in ("electrons", "muons", "photons", "jets", "met", "fatjets", "particles"):
        assert name in events.fields, name
    p = events.particles
    index = ak.local_index(p.pid)
    d1, d2 = p.daughter1, p.daughter2
    kid1 = p.pid[ak.where(d1 >= 0, d1, 0)]
    stop = abs(p.pid) == 1000006
    last = stop & ((d1 < 0) | (abs(kid1) != 1000006))
    assert ak.all(ak.sum(last, axis=1) == 2)
    assert ak.all(ak.sum(np.sign(p.pid[last]), axis=1) == 0)  # a stop and an anti-stop
    first, second = d1[last], d2[last]
    assert ak.all(first >= 0) and ak.all(second == first + 1)
    kids = ak.concatenate([p.pid[first][..., None], p.pid[second][..., None]], axis=-1)
    kids = ak.sort(abs(kids), axis=-1)
    assert ak.all(kids[..., 0] == 6) and ak.all(kids[..., 1] == 1000022)
    top = ak.where(abs(p.pid[first]) == 6, p.pid[first], p.pid[second])
    assert ak.all(np.sign(top) == np.sign(p.pid[last]))  # stop -> t, anti-stop -> tbar
    assert ak.all(p.mother1[first] == index[last]) and ak.all(p.mother1[second] == index[last])
    # the neutralinos leave the event: final-state (Pythia status > 0) copies, two per event
    final_lsp = (p.pid == 1000022) & (p.status > 0)
    assert ak.all(ak.sum(final_lsp, axis=1) == 2)
    met = ak.to_numpy(events.met.met)
    assert np.median(met) > 200.0, np.median(met)
    assert ak.all(events.weight == 1.0)  # no pTHat bias
    meta = read_parquet_metadata(stop_file)
    assert meta["sigma_pb"] == pytest.approx(_SIGMA_STOP_1000_PB, rel=0.3), meta["sigma_pb"]
    assert (meta["settings"]["mass"], meta["settings"]["lsp_mass"]) == (1000.0, 100.0)
    assert meta["br_applied"] == 1.0 and meta["br_applied_note"] == "no forced decay"
    assert "stop and neutralino copies" in meta["truth"]


def test_stop_pair_is_bit_reproducible(stop_file: Path, tmp_path: Path) -> None:
    from surrotag.io.parquet import sha256_file
    from surrotag.reference.generate import generate

    again = generate(
        "stop-pair", 200, seed=7, jobs=1, mass=1000.0, lsp_mass=100.0, out=tmp_path / "b.parquet"
    )
    assert sha256_file(again) == sha256_file(stop_file)


def test_znunu_has_large_met_and_records_the_z_branching_ratio(tmp_path: Path) -> None:
    """pp -> Z(-> nu nu) + jet, pTHat-biased: MET recoils against the jet; sigma includes
    BR(Z -> nu nu) = 0.2 (measured: the processes docstring)."""
    pytest.importorskip("pythia8mc")
    from surrotag.io.parquet import read_parquet, read_parquet_metadata
    from surrotag.reference.generate import generate
    from surrotag.reference.processes import BR_Z_INVISIBLE_PDG

    path = generate("znunu", 200, seed=7, jobs=1, out=tmp_path / "znunu.parquet")
    events = read_parquet(path, events=False)
    met = ak.to_numpy(events.met.met)
    assert np.median(met) > 150.0, np.median(met)
    assert "jets" in events.fields and np.ptp(ak.to_numpy(events.weight)) > 0  # biased
    meta = read_parquet_metadata(path)
    assert meta["br_in_sigma"] and meta["br_pdg"] == BR_Z_INVISIBLE_PDG
    assert meta["br_applied"] == pytest.approx(BR_Z_INVISIBLE_PDG, rel=0.01)
    assert meta["br_applied_note"].startswith("BR(Z -> nu nu)^1")
    assert meta["jobs"][0]["br_w_forced_pythia"] == 1.0
    assert 0 < meta["sigma_pb"] < 20.0  # about 4.7 pb with pTHat > 250 GeV


def test_stop_pair_hepmc(tmp_path: Path) -> None:
    """The HepMC writer hands Pythia the same SLHA spectrum."""
    pytest.importorskip("pythia8mc")
    pyhepmc = pytest.importorskip("pyhepmc")
    from surrotag.reference.hepmc_out import write_hepmc

    path = write_hepmc("stop-pair", 3, 5, tmp_path / "stop.hepmc", mass=800.0, lsp_mass=50.0)
    with pyhepmc.open(path) as reader:
        events = list(reader)
    assert len(events) == 3
    for event in events:
        assert sum(abs(p.pid) == 1000006 for p in event.particles) >= 2
        lsp = [p for p in event.particles if p.pid == 1000022 and p.status == 1]
        assert len(lsp) == 2


def test_three_body_dilepton_stop_events(tmp_path: Path) -> None:
    """40 stop-pair-dilepton events at (250, 100) GeV: each stop -> b W neutralino (no top),
    each W -> l nu, and the cross-section includes BR(W -> l nu)^2."""
    pytest.importorskip("pythia8mc")
    from surrotag.io.parquet import read_parquet, read_parquet_metadata
    from surrotag.reference.generate import generate
    from surrotag.reference.processes import BR_W_LEPTONIC_PDG

    path = generate("stop-pair-dilepton", 40, seed=11, jobs=1, mass=250.0, lsp_mass=100.0,
                    out=tmp_path / "stop3.parquet")  # fmt: skip
    events = read_parquet(path, events=False)
    p = events.particles
    d1 = p.daughter1
    kid = p.pid[ak.where(d1 >= 0, d1, 0)]
    last = (abs(p.pid) == 1000006) & ((d1 < 0) | (abs(kid) != 1000006))
    assert ak.all(ak.sum(last, axis=1) == 2)
    assert ak.all(p.daughter2[last] == d1[last] + 2)  # three daughters each
    kids = ak.concatenate([abs(p.pid[d1[last] + i])[..., None] for i in range(3)], axis=-1)
    assert ak.all(ak.sort(kids, axis=-1) == ak.Array([[[5, 24, 1000022]] * 2] * len(p)))
    assert not ak.any(abs(p.pid) == 6)  # no top anywhere
    w_last = (abs(p.pid) == 24) & (abs(p.pid[ak.where(d1 >= 0, d1, 0)]) != 24) & (d1 >= 0)
    w_kids = abs(p.pid[d1[w_last]])
    assert ak.all((w_kids == 11) | (w_kids == 13) | (w_kids == 15))
    meta = read_parquet_metadata(path)
    assert meta["br_in_sigma"] and meta["br_pdg"] == pytest.approx(BR_W_LEPTONIC_PDG**2)
    assert meta["br_applied"] == pytest.approx(BR_W_LEPTONIC_PDG**2, rel=0.02)
    assert "b W chi_10 (three-body)" in stop_slha(250.0, 100.0).splitlines()[0]
