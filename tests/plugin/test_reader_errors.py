"""Bad input to the readers: each case ends in one specific SurrotagError naming the file."""

from __future__ import annotations

import gzip
import random
import re

import awkward as ak
import numpy as np
import pytest
import uproot

from surrotag.errors import (
    CorruptFileError,
    EmptyInputError,
    FormatError,
    InputFileError,
    MissingBranchError,
    SurrotagError,
)
from surrotag.io import lhe_cross_section, read_events, sniff_format, write_parquet

# A real PNG header (8-byte signature + IHDR chunk of a 1x1 image).
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.root"
    with pytest.raises(InputFileError, match=rf"{re.escape(str(path))}: no such file"):
        read_events(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.lhe"
    path.write_bytes(b"")
    with pytest.raises(EmptyInputError, match=r"empty\.lhe: empty file \(0 bytes\)"):
        read_events(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [("notes.root", b"just some text, not events\n"), ("image.lhe", PNG)],
)
def test_not_an_event_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FormatError, match=rf"{re.escape(name)}: not an event file"):
        sniff_format(path)
    with pytest.raises(FormatError, match=re.escape(name)):
        read_events(path)


def test_gzip_without_lhe(tmp_path):
    path = tmp_path / "image.lhe.gz"
    path.write_bytes(gzip.compress(PNG))
    with pytest.raises(FormatError, match=r"image\.lhe\.gz: gzip file that does not hold LHE"):
        read_events(path)


def test_root_without_expected_tree(tmp_path):
    path = tmp_path / "other.root"
    with uproot.recreate(path) as file:
        file.mktree("Other", {"x": np.float32}).extend({"x": np.arange(3, dtype=np.float32)})
    with pytest.raises(FormatError, match=r"other\.root: ROOT file without tree 'Delphes'"):
        read_events(path)


def test_delphes_without_fatjet(tmp_path):
    path = tmp_path / "nofat.root"
    # a TTree (mktree; plain assignment writes an RNTuple) with the counter 'Jet' and 'Jet.PT'
    with uproot.recreate(path) as file:
        tree = file.mktree("Delphes", {"Jet.PT": "var * float32"}, counter_name=lambda _: "Jet")
        tree.extend({"Jet.PT": ak.Array([[40.0, 30.0], [25.0]])})
    with pytest.raises(
        MissingBranchError,
        match=r"nofat\.root: tree 'Delphes' has no branch 'FatJet' needed for fatjets",
    ):
        read_events(path, collections=["fatjets"])
    with pytest.raises(MissingBranchError, match=r"no branch 'Jet\.Eta' needed for jets"):
        read_events(path, collections=["jets"])


def test_delphes_without_fatjet_real_branches(delphes_file):
    # the real file has FatJet; asking for a collection at the wrong level is a FormatError
    with pytest.raises(FormatError, match="unknown collection"):
        read_events(delphes_file, collections=["tracks"])


def test_empty_tree(tmp_path):
    path = tmp_path / "empty_tree.root"
    with uproot.recreate(path) as file:
        file.mktree("Delphes", {"x": np.float32})
    with pytest.raises(EmptyInputError, match=r"empty_tree\.root: tree 'Delphes' has 0 entries"):
        read_events(path)


@pytest.mark.parametrize("fraction", [0.0001, 0.01, 0.25, 0.5, 0.9, 0.999])
def test_truncated_delphes(delphes_file, tmp_path, fraction):
    data = delphes_file.read_bytes()
    path = tmp_path / "cut.root"
    path.write_bytes(data[: max(4, int(len(data) * fraction))])
    with pytest.raises(CorruptFileError, match=r"cut\.root: truncated ROOT"):
        read_events(path, collections=["fatjets"])


def _fuzz(source, tmp_path, seed, trials, collections):
    """Seeded truncations and byte corruptions: a SurrotagError or the original result."""
    original = ak.to_list(read_events(source, collections=collections))
    data = source.read_bytes()
    rng = random.Random(seed)
    path = tmp_path / f"fuzz{source.suffix}"
    outcomes = {"error": 0, "same": 0}
    for _ in range(trials):
        damaged = bytearray(data)
        if rng.random() < 0.3:
            damaged = damaged[: rng.randrange(len(damaged))]
        else:
            start = rng.randrange(len(damaged))
            size = rng.randint(1, 64)
            damaged[start : start + size] = rng.randbytes(size)[: len(damaged) - start]
        path.write_bytes(bytes(damaged))
        try:
            result = ak.to_list(read_events(path, collections=collections))
        except SurrotagError as error:
            assert str(path) in str(error)
            outcomes["error"] += 1
        else:
            assert result == original
            outcomes["same"] += 1
    return outcomes


def test_fuzz_delphes(delphes_file, tmp_path):
    outcomes = _fuzz(delphes_file, tmp_path, seed=11, trials=6, collections=["fatjets", "met"])
    assert outcomes["error"] > 0


def test_fuzz_exroot(exroot_file, tmp_path):
    outcomes = _fuzz(exroot_file, tmp_path, seed=12, trials=10, collections=None)
    assert outcomes["error"] > 0


def test_fuzz_parquet(lhe_zprime_file, tmp_path):
    # write_parquet stores page checksums and the reader verifies them: damage is caught
    source = write_parquet(read_events(lhe_zprime_file), tmp_path / "zprime.parquet")
    outcomes = _fuzz(source, tmp_path, seed=13, trials=15, collections=None)
    assert outcomes["error"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fuzz_many(delphes_file, exroot_file, lhe_zprime_file, tmp_path, seed):
    for source, collections in ((delphes_file, None), (exroot_file, None)):
        _fuzz(source, tmp_path, seed=seed, trials=40, collections=collections)
    packed = tmp_path / "zprime.lhe.gz"  # gzip: its CRC makes every corruption detectable
    packed.write_bytes(gzip.compress(lhe_zprime_file.read_bytes()))
    _fuzz(packed, tmp_path, seed=seed, trials=40, collections=None)


@pytest.mark.parametrize("fraction", [0.01, 0.3, 0.7, 0.99])
def test_truncated_lhe(lhe_ttbar_file, tmp_path, fraction):
    data = lhe_ttbar_file.read_bytes()
    path = tmp_path / "cut.lhe"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CorruptFileError, match=r"cut\.lhe: corrupt or truncated LHE file"):
        read_events(path)


def test_truncated_lhe_gz(lhe_ttbar_file, tmp_path):
    packed = gzip.compress(lhe_ttbar_file.read_bytes())
    path = tmp_path / "cut.lhe.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(CorruptFileError, match=r"cut\.lhe\.gz: corrupt or truncated LHE"):
        read_events(path)


def test_lhe_garbled_number(lhe_ttbar_file, tmp_path):
    text = lhe_ttbar_file.read_text()
    # the first particle line of event 3 (0.0 px of the incoming quark) becomes garbage
    events = text.split("<event>")
    lines = events[4].split("\n")
    fields = lines[2].split()
    fields[6] = "0.0x7E+01"
    lines[2] = " ".join(fields)
    events[4] = "\n".join(lines)
    path = tmp_path / "garbled.lhe"
    path.write_text("<event>".join(events))
    with pytest.raises(CorruptFileError, match=r"garbled\.lhe: corrupt or truncated LHE.*0\.0x7E"):
        read_events(path)


def test_lhe_particle_count_mismatch(lhe_zprime_file, tmp_path):
    text = lhe_zprime_file.read_text()
    head, first, rest = text.partition("<event>\n")
    info, newline, body = rest.partition("\n")
    fields = info.split()
    fields[0] = str(int(fields[0]) + 1)
    path = tmp_path / "count.lhe"
    path.write_text(head + first + " ".join(fields) + newline + body)
    with pytest.raises(CorruptFileError, match=r"count\.lhe: event 0 declares \d+ particles"):
        read_events(path)


def test_lhe_bad_mother_index(lhe_zprime_file, tmp_path):
    text = lhe_zprime_file.read_text()
    head, first, rest = text.partition("<event>\n")
    lines = rest.split("\n")
    fields = lines[3].split()
    fields[2] = "99"  # mother1 of the third particle points past the event
    lines[3] = " ".join(fields)
    path = tmp_path / "mother.lhe"
    path.write_text(head + first + "\n".join(lines))
    with pytest.raises(CorruptFileError, match=r"mother\.lhe: particle mother1 index out of range"):
        read_events(path)


def test_lhe_without_events(lhe_zprime_file, tmp_path):
    text = lhe_zprime_file.read_text()
    path = tmp_path / "noevents.lhe"
    path.write_text(text[: text.index("<event>")] + "</LesHouchesEvents>\n")
    with pytest.raises(EmptyInputError, match=r"noevents\.lhe: LHE file holds no <event>"):
        read_events(path)
    assert lhe_cross_section(path)[0] > 0


def test_parton_file_at_delphes_level(lhe_zprime_file, exroot_file):
    with pytest.raises(FormatError, match=r"zprime.*parton-level lhe file cannot be read at le"):
        read_events(lhe_zprime_file, level="delphes")
    with pytest.raises(FormatError, match=r"exroot.*has no fatjets"):
        read_events(exroot_file, collections=["fatjets"])
    with pytest.raises(FormatError, match=r"zprime.*LHE parton-level file has no jets"):
        read_events(lhe_zprime_file, collections=["jets"])
