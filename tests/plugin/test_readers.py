"""Readers on real files: Delphes, ExRootAnalysis, LHE, LHE.gz and own Parquet."""

from __future__ import annotations

import gzip
import shutil

import awkward as ak
import numpy as np
import pytest
import uproot

from surrotag.io import (
    cross_section,
    iter_events,
    level_of,
    lhe_cross_section,
    read_events,
    sniff_format,
    write_parquet,
)

# --------------------------------------------------------------------------- Delphes


@pytest.fixture(scope="module")
def delphes_events(delphes_file):
    return read_events(delphes_file)


@pytest.fixture(scope="module")
def delphes_raw(delphes_file):
    with uproot.open(delphes_file) as file:
        return file["Delphes"].arrays(
            ["FatJet.Tau[5]", "FatJet.SoftDroppedJet", "FatJet.PT"], library="ak"
        )


def test_sniff_and_level(delphes_file, exroot_file, lhe_ttbar_file):
    assert sniff_format(delphes_file) == "delphes"
    assert sniff_format(exroot_file) == "exroot"
    assert sniff_format(lhe_ttbar_file) == "lhe"
    assert level_of("delphes") == "delphes"
    assert level_of("exroot") == level_of("lhe") == "parton"


def test_delphes_fatjet_multiplicity(delphes_events):
    assert len(delphes_events) == 10
    assert ak.num(delphes_events.fatjets, axis=1).tolist() == [0, 0, 0, 1, 2, 2, 1, 0, 0, 0]


def test_delphes_nsubjettiness_is_raw_branch(delphes_events, delphes_raw):
    taus = delphes_events.fatjets.nsubjettiness
    assert ak.to_list(taus) == ak.to_list(delphes_raw["FatJet.Tau[5]"])
    tau32 = taus[:, :, 2] / taus[:, :, 1]
    raw = delphes_raw["FatJet.Tau[5]"]
    expected = ak.flatten(raw[:, :, 2] / raw[:, :, 1])
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(tau32)), ak.to_numpy(expected))
    assert ak.all((ak.flatten(tau32) > 0) & (ak.flatten(tau32) < 1.5))


def test_delphes_soft_drop_mass(delphes_events, delphes_raw):
    jets = delphes_events.fatjets
    sd = ak.to_numpy(ak.flatten(jets.sd_mass))
    mass = ak.to_numpy(ak.flatten(jets.mass))
    assert sd.size == 6
    assert np.all(sd > 0)
    assert np.all(sd <= mass * (1 + 1e-4) + 1e-3)
    # Cross-check against the separate SoftDroppedJet branch (same four-vector in Delphes).
    p4 = ak.flatten(delphes_raw["FatJet.SoftDroppedJet"])
    e, px, py, pz = (ak.to_numpy(x) for x in (p4.fE, p4.fP.fX, p4.fP.fY, p4.fP.fZ))
    np.testing.assert_allclose(sd, np.sqrt(e**2 - px**2 - py**2 - pz**2), rtol=1e-5)
    trimmed = ak.to_numpy(ak.flatten(jets.trimmed_mass))
    assert np.all((trimmed > 0) & (trimmed <= mass * (1 + 1e-4) + 1e-3))
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(jets.pt)), ak.to_numpy(ak.flatten(delphes_raw["FatJet.PT"]))
    )


def test_delphes_two_last_copy_tops(delphes_events):
    particles = delphes_events.particles
    pid = particles.pid
    d1 = particles.daughter1
    daughter_pid = pid[ak.where(d1 >= 0, d1, 0)]
    last_top = (abs(pid) == 6) & ((d1 < 0) | (daughter_pid != pid))
    assert ak.sum(last_top, axis=1).tolist() == [2] * 10
    assert ak.sum(pid[last_top], axis=1).tolist() == [0] * 10  # one t, one tbar
    tops = particles[last_top]
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(tops.mass)), 173.0, atol=15.0)


def test_delphes_objects(delphes_events):
    events = delphes_events
    assert ak.all(events.weight > 0)
    assert np.all(np.isfinite(ak.to_numpy(events.met.met)))
    muons = ak.flatten(events.muons)
    assert ak.all(abs(muons.mass - 0.10566) < 1e-6)
    assert ak.all(abs(muons.charge) == 1)
    assert ak.all(ak.flatten(events.jets.btag) >= 0)
    # vector behaviour works on every momentum collection
    assert ak.all(ak.flatten(events.jets.pt) > 0)
    assert ak.all(ak.flatten(events.fatjets.deltaR(events.fatjets)) == 0)


def _recording_source(monkeypatch, path):
    """Record the byte ranges uproot fetches from the file (instrumentation, not a mock)."""
    with uproot.open(path) as file:
        cls = type(file.file.source)
    ranges: list[tuple[int, int]] = []
    original_chunks, original_chunk = cls.chunks, cls.chunk

    def chunks(self, requested, notifications):
        ranges.extend(requested)
        return original_chunks(self, requested, notifications)

    def chunk(self, start, stop):
        ranges.append((start, stop))
        return original_chunk(self, start, stop)

    monkeypatch.setattr(cls, "chunks", chunks)
    monkeypatch.setattr(cls, "chunk", chunk)
    return ranges


def _basket_starts(path, prefix):
    with uproot.open(path) as file:
        tree = file["Delphes"]
        starts = set()
        for branch in tree.itervalues(recursive=True):
            if branch.name.startswith(prefix) and branch.num_baskets:
                starts.update(int(s) for s in branch.member("fBasketSeek")[: branch.num_baskets])
        return starts


def test_delphes_reads_only_needed_branches(delphes_file, monkeypatch):
    particle = _basket_starts(delphes_file, "Particle.")
    fatjet = _basket_starts(delphes_file, "FatJet.")
    ranges = _recording_source(monkeypatch, delphes_file)
    events = read_events(delphes_file, collections=["fatjets"])
    assert events.fields == ["fatjets"]
    fetched = {start for start, _ in ranges}
    assert fatjet & fetched, "instrumentation saw no FatJet basket"
    assert not (particle & fetched), "Particle baskets were read for collections=['fatjets']"


def test_delphes_chunked_equals_one_read(delphes_file, delphes_events):
    chunks = list(iter_events(delphes_file, step_size=3))
    assert [len(chunk) for chunk in chunks] == [3, 3, 3, 1]
    assert ak.to_list(ak.concatenate(chunks)) == ak.to_list(delphes_events)
    assert ak.to_list(read_events(delphes_file, step_size=3)) == ak.to_list(delphes_events)


def test_entry_stop_across_files(delphes_file, delphes_events):
    events = read_events([delphes_file, delphes_file], collections=["fatjets"], entry_stop=13)
    assert len(events) == 13
    assert ak.to_list(events.fatjets[10:]) == ak.to_list(delphes_events.fatjets[:3])


def test_delphes_at_parton_level(delphes_file):
    events = read_events(delphes_file, level="parton")
    assert events.fields == ["weight", "particles"]


# ---------------------------------------------------------------- ExRootAnalysis


def test_exroot_zz(exroot_file):
    events = read_events(exroot_file)
    assert len(events) == 100
    particles = events.particles
    assert ak.sum(particles.pid == 23, axis=1).tolist() == [2] * 100
    n = ak.num(particles, axis=1)
    for name in ("mother1", "mother2", "daughter1", "daughter2"):
        assert ak.all((particles[name] >= -1) & (particles[name] < n))
    incoming = particles.status == -1
    assert ak.all(particles.mother1[incoming] == -1)
    zs = particles[particles.pid == 23]
    assert ak.all(particles.status[ak.where(zs.mother1 >= 0, zs.mother1, 0)] == -1)
    # daughters derived from mothers: the two incoming partons produce the two Z bosons
    first_in = particles[:, 0]
    assert ak.all(particles.pid[ak.unflatten(first_in.daughter1, 1)] == 23)
    assert ak.all(particles.pid[ak.unflatten(first_in.daughter2, 1)] == 23)
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(zs.mass)), 91.19, atol=15.0)
    assert cross_section(exroot_file) is None


# ------------------------------------------------------------------------ LHE


def test_lhe_counts(lhe_ttbar_file, lhe_zprime_file):
    assert len(read_events(lhe_ttbar_file)) == 100
    zprime = read_events(lhe_zprime_file)
    assert len(zprime) == 10
    assert ak.all(ak.any(abs(zprime.particles.pid) == 1023, axis=1))


def test_lhe_ttbar_decay_chain(lhe_ttbar_file):
    particles = read_events(lhe_ttbar_file).particles
    pid = particles.pid
    index = ak.local_index(pid, axis=1)
    assert ak.all(ak.sum(pid == 6, axis=1) == 1)
    assert ak.all(ak.sum(pid == -6, axis=1) == 1)
    for sign in (1, -1):
        top = ak.firsts(index[pid == 6 * sign])
        children = pid[particles.mother1 == top]
        assert ak.all(ak.num(children, axis=1) == 2)
        assert ak.all(ak.sum(children == 24 * sign, axis=1) == 1)
        # t -> W q with q down-type; q = b except one CKM-suppressed t -> W s (event 37)
        down = children[children != 24 * sign]
        assert ak.all((down * sign == 1) | (down * sign == 3) | (down * sign == 5))
        assert int(ak.sum(down == 5 * sign)) == (99 if sign == 1 else 100)
        w = ak.firsts(index[pid == 24 * sign])
        decay = pid[particles.mother1 == w]
        assert ak.all(ak.num(decay, axis=1) == 2)
        assert ak.all(ak.all(abs(decay) <= 16, axis=1))  # quarks or leptons
        # charge conservation in W -> f f': up-type/neutrino vs down-type/lepton pair
        assert ak.all(ak.sum(decay, axis=1) != 0)
        # derived daughter range of the top covers its b and W
        top_record = particles[ak.local_index(pid) == top]
        d1 = ak.firsts(top_record.daughter1)
        d2 = ak.firsts(top_record.daughter2)
        assert ak.all(d1 >= 0) and ak.all(d2 >= d1)


def test_lhe_cross_section(lhe_ttbar_file, lhe_zprime_file):
    sigma, error = lhe_cross_section(lhe_ttbar_file)
    # <init>: two processes, XSECUP 5.220106 and 0.2602564 pb
    assert sigma == pytest.approx(5.220106 + 0.2602564)
    assert error == pytest.approx(np.hypot(0.5384128, 0.1062492))
    sigma, _ = lhe_cross_section(lhe_zprime_file)
    assert sigma == pytest.approx(2.894732e-19)
    assert cross_section(lhe_zprime_file) == lhe_cross_section(lhe_zprime_file)


def test_lhe_gz(lhe_ttbar_file, tmp_path):
    target = tmp_path / "ttbar.lhe.gz"
    with open(lhe_ttbar_file, "rb") as source, gzip.open(target, "wb") as sink:
        shutil.copyfileobj(source, sink)
    assert sniff_format(target) == "lhe"
    assert ak.to_list(read_events(target)) == ak.to_list(read_events(lhe_ttbar_file))
    assert lhe_cross_section(target) == lhe_cross_section(lhe_ttbar_file)


def test_lhe_chunks_and_weights(lhe_ttbar_file):
    chunks = list(iter_events(lhe_ttbar_file, step_size=30))
    assert [len(chunk) for chunk in chunks] == [30, 30, 30, 10]
    assert ak.all(ak.concatenate(chunks).weight == 1.0)  # XWGTUP of this file
    assert "weights" not in chunks[0].fields  # no LHEF v3 named weights in this file


def test_lhe_named_weights(lhe_zprime_file, tmp_path):
    # LHEF v3 <rwgt> block added to a copy of a real file: named weights are kept.
    text = lhe_zprime_file.read_text()
    text = text.replace("</event>", "<rwgt>\n<wgt id='mu2'> 1.5e-20 </wgt>\n</rwgt>\n</event>")
    target = tmp_path / "rwgt.lhe"
    target.write_text(text)
    events = read_events(target)
    assert events.weights.fields == ["mu2"]
    assert ak.all(events.weights.mu2 == 1.5e-20)
    assert ak.all(events.weight == read_events(lhe_zprime_file).weight)


# -------------------------------------------------------------------- Parquet


def test_parquet_round_trip(delphes_file, delphes_events, tmp_path):
    target = write_parquet(delphes_events, tmp_path / "events.parquet", {"level": "delphes"})
    assert sniff_format(target) == "parquet"
    assert level_of("parquet", target) == "delphes"
    back = read_events(target)
    assert ak.to_list(back) == ak.to_list(delphes_events)
    assert ak.all(ak.flatten(back.fatjets.pt) == ak.flatten(delphes_events.fatjets.pt))
    only = read_events(target, collections=["fatjets"], step_size=4)
    assert only.fields == ["fatjets"]
    assert ak.flatten(only.fatjets.eta).tolist() == ak.flatten(delphes_events.fatjets.eta).tolist()
