"""Daughters from LHE mothers: the same indices as the pairwise definition, in linear memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import awkward as ak
import numpy as np

from surrotag.io import read_events
from surrotag.io.truth import daughters_from_mothers


def _pairwise(mother1: list[int], mother2: list[int]) -> tuple[list[int], list[int]]:
    """The definition, one event: i is a daughter of j when j lies in i's mother range."""
    n = len(mother1)
    first, last = [-1] * n, [-1] * n
    for j in range(n):
        daughters = [
            i
            for i in range(n)
            if 0
            <= mother1[i]
            <= j
            <= (max(mother1[i], mother2[i]) if mother2[i] >= 0 else mother1[i])
        ]
        if daughters:
            first[j], last[j] = min(daughters), max(daughters)
    return first, last


def _derive(mother1: list[list[int]], mother2: list[list[int]]) -> tuple[list, list]:
    first, last = daughters_from_mothers(
        ak.values_astype(ak.Array(mother1), np.int32), ak.values_astype(ak.Array(mother2), np.int32)
    )
    assert str(first.type).endswith("var * int32") and str(last.type).endswith("var * int32")
    return ak.to_list(first), ak.to_list(last)


def test_hand_made_event():
    """gg -> Z' -> t tbar, t -> b W, W -> q q', 0-based; plus an empty and a 1-particle event."""
    mother1 = [[-1, -1, 0, 2, 2, 3, 3, 6, 6, 1, 20], [], [-1]]
    mother2 = [[-1, -1, 1, 2, -1, 3, -1, 6, 6, 0, 20], [], [-1]]
    first, last = _derive(mother1, mother2)
    # particle 9 has mothers (1, 0): mother2 < mother1 means the single mother 1;
    # particle 10 names a mother outside the event: no daughter for anyone
    assert first == [[2, 2, 3, 5, -1, -1, 7, -1, -1, -1, -1], [], [-1]]
    assert last == [[2, 9, 4, 6, -1, -1, 8, -1, -1, -1, -1], [], [-1]]


def test_agrees_with_the_pairwise_definition_on_random_records():
    rng = np.random.default_rng(20)
    counts = rng.integers(0, 60, 40)
    mother1 = [list(rng.integers(-2, n + 3, n)) for n in counts]
    mother2 = [list(np.where(rng.random(n) < 0.4, -1, rng.integers(-2, n + 3, n))) for n in counts]
    mother1[0] = [-1, -1, *[0] * 30]  # wide ranges: 30 daughters of (0, 1 .. 31)
    mother2[0] = [-1, -1, *range(1, 31)]
    first, last = _derive(mother1, mother2)
    for m1, m2, f, la in zip(mother1, mother2, first, last, strict=True):
        assert (f, la) == _pairwise([int(v) for v in m1], [int(v) for v in m2])


def _write_one_big_event(path: Path, n: int) -> None:
    """One LHE event of ``n`` particles: two gluons, then a cascade 1 -> 2 (1-based mothers)."""
    lines = [
        '<LesHouchesEvents version="3.0">',
        "<init>",
        "2212 2212 6.5e3 6.5e3 0 0 0 0 3 1",
        "1.0 0.0 1.0 1",
        "</init>",
        "<event>",
        f"{n} 1 1.0 100 0.0078 0.118",
        "21 -1 0 0 501 502 0 0 100 100 0 0 9",
        "21 -1 0 0 502 503 0 0 -100 100 0 0 9",
    ]
    for i in range(3, n + 1):  # 1-based position i; mothers (1, 2) for 3 and 4, else i // 2
        first, second = (1, 2) if i < 5 else (i // 2, 0)
        lines.append(f"1 1 {first} {second} 0 0 1.0 0.5 0.2 2.0 0 0 9")
    lines += ["</event>", "</LesHouchesEvents>"]
    path.write_text("\n".join(lines) + "\n")


def test_event_of_12000_particles_in_small_memory(tmp_path):
    """The pairwise comparison grew as n x n records (336 MB at 2000 particles, GBs at 12,000)."""
    n = 12_000
    rng = np.random.default_rng(3)
    mother = [rng.integers(-1, np.arange(2000)).tolist()]  # 2000 particles, earlier mothers
    tracemalloc.start()
    try:
        daughters_from_mothers(
            ak.values_astype(ak.Array(mother), np.int32),
            ak.values_astype(ak.Array([[-1] * 2000]), np.int32),
        )
        small_peak = tracemalloc.get_traced_memory()[1]
        # checked before the big event, which the pairwise comparison cannot afford (~10 GB)
        assert small_peak < 4 * 2**20, small_peak  # pairwise: ~330 MB for 2000 particles
        tracemalloc.reset_peak()
        path = tmp_path / "big.lhe"
        _write_one_big_event(path, n)
        particles = read_events(path, collections=["particles"]).particles[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, peak  # the whole read, pylhe's per-particle objects included
    assert len(particles) == n
    daughter1 = particles.daughter1.to_numpy()
    daughter2 = particles.daughter2.to_numpy()
    # 0-based: particles 2, 3 come from both gluons, 4 from gluon 1, then k -> 2k + 1, 2k + 2
    assert list(daughter1[:4]) == [2, 2, 5, 7] and list(daughter2[:4]) == [3, 4, 6, 8]
    k = np.arange(2, n // 2 - 1)
    np.testing.assert_array_equal(daughter1[k], 2 * k + 1)
    np.testing.assert_array_equal(daughter2[k], 2 * k + 2)
    assert daughter1[-1] == daughter2[-1] == -1
