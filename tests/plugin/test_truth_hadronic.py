"""Truth means hadronic top: matching, containment, labels and the efficiency-map tagger.

Expectations are computed independently of :mod:`surrotag.features.truth` (which follows
mothers with whole-array hops): from the raw Delphes branches by a per-event loop over
Pythia's *daughter* ranges, from the raw LHE text by a loop over pylhe's records, and from a
hand-made canonical event whose geometry is chosen so that every case occurs.
"""

from __future__ import annotations

import math
import warnings

import awkward as ak
import numpy as np
import pytest

from surrotag.features import build_features
from surrotag.features.truth import TRUTH_CATEGORIES, jet_truth_category
from surrotag.tagging import EFFICIENCY_MAP_FEATURES, efficiency_map_probabilities, tag_objects

R = 0.8
TRUTH = [
    "truth_top_matched",
    "truth_top_hadronic",
    "truth_top_n_contained",
    "truth_top_contained",
    "truth_top_dr",
]


def _eta_phi(px: float, py: float, pz: float) -> tuple[float, float]:
    pt = math.hypot(px, py)
    return math.asinh(pz / pt), math.atan2(py, px)


def _dr(a: tuple[float, float], b: tuple[float, float]) -> float:
    dphi = (a[1] - b[1] + math.pi) % (2 * math.pi) - math.pi
    return math.hypot(a[0] - b[0], dphi)


# -- reference loop over a raw Pythia record (Delphes Particle: D1/D2 daughter ranges) ------


def _daughters(d1: int, d2: int) -> list[int]:
    if d1 < 0:
        return []
    return list(range(d1, d2 + 1)) if d2 >= d1 else [d1] + ([d2] if d2 >= 0 else [])


def _reference_tops(pid, d1, d2, direction) -> list[dict]:
    """Last top copies with hadronic flag and the directions of b, f, f' (one event)."""
    tops = []
    for i, p in enumerate(pid):
        children = _daughters(d1[i], d2[i])
        if abs(p) != 6 or any(abs(pid[c]) == 6 for c in children):
            continue
        w = next(c for c in children if abs(pid[c]) == 24)
        b = next(c for c in children if abs(pid[c]) in (1, 3, 5))
        while True:  # follow W -> W copies through the daughter ranges
            copy = [c for c in _daughters(d1[w], d2[w]) if pid[c] == pid[w]]
            if not copy:
                break
            w = copy[0]
        f = _daughters(d1[w], d2[w])
        assert len(f) == 2
        tops.append(
            {
                "direction": direction[i],
                "hadronic": all(abs(pid[c]) <= 5 for c in f),
                "products": [direction[b], direction[f[0]], direction[f[1]]],
            }
        )
    return tops


def _reference_jet(jet: tuple[float, float], tops: list[dict]) -> dict:
    """Expected truth of one jet: nearest hadronic top within R, leptonic-only flag."""
    hadronic = [t for t in tops if t["hadronic"] and _dr(jet, t["direction"]) < R]
    leptonic = [t for t in tops if not t["hadronic"] and _dr(jet, t["direction"]) < R]
    if not hadronic:
        return {"matched": False, "leptonic": bool(leptonic), "n": math.nan}
    top = min(hadronic, key=lambda t: _dr(jet, t["direction"]))
    n = sum(_dr(jet, d) < R for d in top["products"])
    return {"matched": True, "leptonic": False, "n": float(n), "dr": _dr(jet, top["direction"])}


@pytest.fixture(scope="module")
def delphes_expected(delphes_file):
    import uproot

    tree = uproot.open(delphes_file)["Delphes"]
    raw = tree.arrays(
        ["Particle.PID", "Particle.D1", "Particle.D2", "Particle.Px", "Particle.Py",
         "Particle.Pz", "FatJet.Eta", "FatJet.Phi"],
        library="np",
    )  # fmt: skip
    rows = []
    for event in range(len(raw["Particle.PID"])):  # ten events: a loop is the reference
        px, py, pz = (raw[f"Particle.{c}"][event] for c in ("Px", "Py", "Pz"))
        direction = [
            _eta_phi(x, y, z) if math.hypot(x, y) > 0 else (math.nan, math.nan)
            for x, y, z in zip(px, py, pz, strict=True)
        ]
        tops = _reference_tops(
            raw["Particle.PID"][event].tolist(),
            raw["Particle.D1"][event].tolist(),
            raw["Particle.D2"][event].tolist(),
            direction,
        )
        for eta, phi in zip(raw["FatJet.Eta"][event], raw["FatJet.Phi"][event], strict=True):
            rows.append(_reference_jet((float(eta), float(phi)), tops))
    return rows


@pytest.fixture(scope="module")
def delphes_table(delphes_file):
    import surrotag.io

    events = surrotag.io.read_events([delphes_file], level="delphes")
    return build_features(events, features=[*TRUTH, "jet_pt"])


def test_real_delphes_jets_match_hadronic_tops_only(delphes_table, delphes_expected):
    matched = delphes_table.truth_top_matched.to_numpy()
    leptonic = delphes_table.flag_leptonic_top.to_numpy()
    n_in = delphes_table.truth_top_n_contained.to_numpy()
    assert len(delphes_expected) == len(matched)
    expected_matched = np.array([row["matched"] for row in delphes_expected])
    expected_leptonic = np.array([row["leptonic"] for row in delphes_expected])
    # the ttH file has jets near a leptonic top only (semi- and dileptonic events) and jets
    # of hadronic tops: both cases are exercised
    assert expected_leptonic.sum() >= 2 and expected_matched.sum() >= 2
    np.testing.assert_array_equal(matched, expected_matched)
    np.testing.assert_array_equal(leptonic, expected_leptonic)
    np.testing.assert_array_equal(delphes_table.flag_no_top_match.to_numpy(), ~expected_matched)
    np.testing.assert_array_equal(
        n_in, np.array([row["n"] for row in delphes_expected], dtype=np.float32)
    )
    np.testing.assert_allclose(
        delphes_table.truth_top_dr.to_numpy()[expected_matched],
        [row["dr"] for row in delphes_expected if row["matched"]],
        rtol=1e-5,
    )
    # no jet near only a leptonic top is matched or contained; it says hadronic = 0
    assert not np.any(matched[leptonic])
    assert np.all(np.isnan(n_in[leptonic]))
    assert np.all(np.isnan(delphes_table.truth_top_contained.to_numpy()[leptonic]))
    assert np.all(delphes_table.truth_top_hadronic.to_numpy()[leptonic] == 0)
    assert np.all(delphes_table.truth_top_hadronic.to_numpy()[matched] == 1)


def test_truth_category_of_real_jets(delphes_table, delphes_expected):
    category = jet_truth_category(
        delphes_table.truth_top_matched.to_numpy(),
        delphes_table.truth_top_hadronic.to_numpy(),
        delphes_table.truth_top_n_contained.to_numpy(),
    )
    expected = [
        "unmatched" if not row["matched"] else "contained" if row["n"] == 3 else "partial"
        for row in delphes_expected
    ]
    assert [TRUTH_CATEGORIES[c] for c in category] == expected


# -- a hand-made canonical record: every case in two events --------------------------------


def _momentum(pt: float, eta: float, phi: float, mass: float) -> dict[str, float]:
    pz = pt * math.sinh(eta)
    return {
        "px": pt * math.cos(phi),
        "py": pt * math.sin(phi),
        "pz": pz,
        "E": math.sqrt(pt**2 + pz**2 + mass**2),
    }


def _particle(pid: int, mother: int, eta: float, phi: float, pt: float = 300.0, mass=0.0):
    return {
        **_momentum(pt, eta, phi, mass),
        "pid": pid,
        "status": 2 if abs(pid) in (6, 24) else 1,
        "mother1": mother,
        "mother2": -1,
        "daughter1": -1,
        "daughter2": -1,
    }


#: Event 0: t -> b W+, W+ -> u dbar at (0, 0); tbar -> bbar W-, W- -> e- nuebar at
#: (0.3, 0.5), so close that a jet can see both. Event 1: one top without its decay.
_RECORDS = [
    [
        _particle(6, -1, 0.0, 0.0, 500.0, 173.0),
        _particle(-6, -1, 0.3, 0.5, 500.0, 173.0),
        _particle(5, 0, 0.1, 0.1),
        _particle(24, 0, -0.1, 0.1, 300.0, 80.4),
        _particle(2, 3, -0.2, 0.3),
        _particle(-1, 3, 0.9, 0.0),
        _particle(-5, 1, 0.4, 0.6),
        _particle(-24, 1, 0.3, 0.4, 300.0, 80.4),
        _particle(11, 7, 0.2, 0.3),
        _particle(-12, 7, 0.5, 0.4),
    ],
    [_particle(6, -1, 1.0, -2.0, 400.0, 173.0)],
]
#: Fat jets (eta, phi) and what each one tests.
_JETS = [
    [
        (0.0, 0.0),  # both tops within R, the hadronic one nearest: matched, 2 of 3 inside
        (0.5, 0.9),  # only the leptonic top within R: unmatched, flagged leptonic
        (0.35, 0.55),  # the leptonic top nearest, the hadronic one within R: matched to it
        (2.0, 3.0),  # far from both: unmatched, not leptonic
    ],
    [(1.1, -2.1)],  # a top without decay chain: matched, flagged no_chain
]


@pytest.fixture(scope="module")
def handmade():
    particles = ak.with_name(ak.Array(_RECORDS), "Momentum4D")
    fatjets = ak.with_name(
        ak.Array(
            [[{"pt": 400.0, "eta": e, "phi": p, "mass": 170.0} for e, p in jets] for jets in _JETS]
        ),
        "Momentum4D",
    )
    events = ak.zip(
        {"weight": np.ones(2), "fatjets": fatjets, "particles": particles}, depth_limit=1
    )
    return build_features(events, level="delphes", features=[*TRUTH, "jet_pt"])


def _expected_handmade() -> list[dict]:
    rows = []
    for record, jets in zip(_RECORDS, _JETS, strict=True):
        tops = []
        for i, top in enumerate(record):
            if abs(top["pid"]) != 6:
                continue
            w = [j for j, p in enumerate(record) if p["mother1"] == i and abs(p["pid"]) == 24]
            if not w:  # no decay: the reference counts it as a candidate without products
                tops.append({"direction": (top_eta(top), top_phi(top)), "hadronic": None})
                continue
            b = next(p for p in record if p["mother1"] == i and abs(p["pid"]) == 5)
            f = [p for p in record if p["mother1"] == w[0]]
            tops.append(
                {
                    "direction": (top_eta(top), top_phi(top)),
                    "hadronic": all(abs(p["pid"]) <= 5 for p in f),
                    "products": [(top_eta(p), top_phi(p)) for p in (b, *f)],
                }
            )
        for jet in jets:
            near = [t for t in tops if _dr(jet, t["direction"]) < R]
            candidates = [t for t in near if t["hadronic"] is not False]
            if candidates:
                top = min(candidates, key=lambda t: _dr(jet, t["direction"]))
                n = (
                    math.nan
                    if top["hadronic"] is None
                    else float(sum(_dr(jet, d) < R for d in top["products"]))
                )
                rows.append({"matched": True, "leptonic": False, "n": n, "chain": n == n})
            else:
                rows.append({"matched": False, "leptonic": bool(near), "n": math.nan})
    return rows


def top_eta(p: dict) -> float:
    return _eta_phi(p["px"], p["py"], p["pz"])[0]


def top_phi(p: dict) -> float:
    return _eta_phi(p["px"], p["py"], p["pz"])[1]


def test_handmade_record_covers_every_case(handmade):
    expected = _expected_handmade()
    matched = handmade.truth_top_matched.to_numpy()
    leptonic = handmade.flag_leptonic_top.to_numpy()
    assert matched.tolist() == [r["matched"] for r in expected] == [True, False, True, False, True]
    assert leptonic.tolist() == [r["leptonic"] for r in expected]
    assert leptonic.tolist() == [False, True, False, False, False]
    np.testing.assert_array_equal(
        handmade.truth_top_n_contained.to_numpy(),
        np.array([r["n"] for r in expected], dtype=np.float32),
    )
    # jet 2: its nearest top is the leptonic one, yet it is matched to the hadronic top
    assert handmade.truth_top_dr.to_numpy()[2] == pytest.approx(_dr(_JETS[0][2], (0.0, 0.0)))
    hadronic = handmade.truth_top_hadronic.to_numpy()
    assert hadronic[[0, 2]].tolist() == [1.0, 1.0] and hadronic[1] == 0.0
    assert np.isnan(hadronic[[3, 4]]).all()
    no_chain = handmade.flag_no_decay_chain.to_numpy()
    assert no_chain.tolist() == [False, False, False, False, True]


# -- the efficiency-map tagger: three truth categories, and two-category cards ----------


def _map(partial: bool) -> dict:
    edges = [200.0, 500.0, 6500.0]
    entry = {"pt_edges": edges, "efficiency": [0.6, 0.5], "mistag": [0.02, 0.01]}
    if partial:
        entry["partial"] = [0.3, 0.2]
    return {"wp50": entry}


def _expected_rates(table, entry, partial_key: str) -> np.ndarray:
    out = []
    for i in range(len(table)):  # reference loop over the rows
        pt = float(table.jet_pt[i])
        b = 0 if pt < entry["pt_edges"][1] else 1
        if bool(table.truth_top_matched[i]) and table.truth_top_n_contained[i] == 3:
            out.append(entry["efficiency"][b])
        elif bool(table.truth_top_matched[i]):
            out.append(entry[partial_key][b])
        else:
            out.append(entry["mistag"][b])
    return np.array(out)


@pytest.mark.parametrize("table_name", ["delphes_table", "handmade"])
def test_efficiency_map_uses_three_categories(request, table_name):
    table = request.getfixturevalue(table_name)
    maps = _map(partial=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a three-category map applies without a warning
        result = efficiency_map_probabilities(table, "delphes", maps, ["wp50"])
    expected = _expected_rates(table, maps["wp50"], "partial")
    np.testing.assert_allclose(result.probabilities[0, :, 0], expected)
    matched = table.truth_top_matched.to_numpy()
    partial = matched & (table.truth_top_n_contained.to_numpy() != 3)
    assert partial.any()  # partially contained jets now get their own rate, not the mistag
    assert np.all(np.isin(result.probabilities[0, partial, 0], [0.3, 0.2]))
    leptonic = table.flag_leptonic_top.to_numpy()
    assert leptonic.any()
    assert np.all(np.isin(result.probabilities[0, leptonic, 0], [0.02, 0.01]))


def test_two_category_map_still_works_with_a_warning(delphes_table):
    maps = _map(partial=False)
    with pytest.warns(UserWarning, match="no 'partial' category.*re-ship"):
        result = efficiency_map_probabilities(delphes_table, "delphes", maps, ["wp50"])
    expected = _expected_rates(delphes_table, maps["wp50"], "mistag")
    np.testing.assert_allclose(result.probabilities[0, :, 0], expected)


def test_shipped_three_category_card_applies_without_a_warning(delphes_table):
    from surrotag.surrogates.card import load_card
    from surrotag.surrogates.registry import resolve_surrogate

    card = load_card(resolve_surrogate("top-tagger-delphes"))
    assert set(EFFICIENCY_MAP_FEATURES["delphes"]) <= set(delphes_table.fields)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # re-shipped 2026-11-30 with the 'partial' category
        result = efficiency_map_probabilities(
            delphes_table, "delphes", card.efficiency_map, ["wp30", "wp50"], card.source
        )
    assert result.probabilities.shape == (1, len(delphes_table), 2)
    assert np.all((result.probabilities >= 0) & (result.probabilities <= 1))


# -- parton level: leptonic tops are marked and never tagged ------------------------------


@pytest.fixture(scope="module")
def lhe_tops(lhe_ttbar_file):
    """Expected top_hadronic per top, read from the raw LHE text (no reader), record order."""
    text = lhe_ttbar_file.read_text()
    expected = []
    for block in text.split("<event>")[1:]:  # 100 events: the reference loop
        lines = [line.split() for line in block.split("</event>")[0].strip().splitlines()]
        n_particles = int(lines[0][0])
        record = lines[1 : 1 + n_particles]  # id status mother1 mother2 ... (1-based)
        ids = [int(row[0]) for row in record]
        mothers = [int(row[2]) - 1 for row in record]
        for i, pid in enumerate(ids):
            children = [j for j, m in enumerate(mothers) if m == i]
            if abs(pid) != 6 or any(abs(ids[j]) == 6 for j in children):
                continue
            w = next(j for j in children if abs(ids[j]) == 24)
            f = [j for j, m in enumerate(mothers) if m == w]
            expected.append(float(all(abs(ids[j]) <= 5 for j in f)))
    return np.array(expected, dtype=np.float32)


@pytest.fixture(scope="module")
def parton_table(lhe_ttbar_file):
    import surrotag.io

    events = surrotag.io.read_events([lhe_ttbar_file], level="parton")
    return build_features(events, level="parton")


def test_parton_tops_are_marked_and_leptonic_ones_never_tagged(parton_table, lhe_tops):
    from surrotag.surrogates.card import load_card
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import load_surrogate

    np.testing.assert_array_equal(parton_table.top_hadronic.to_numpy(), lhe_tops)
    leptonic = lhe_tops == 0
    assert 0 < leptonic.sum() < len(lhe_tops)
    folder = resolve_surrogate("top-tagger-parton")
    surrogate, card = load_surrogate(folder)
    points = [p["name"] for p in card.working_points]
    result = tag_objects(
        parton_table, surrogate, card, working_points=points, draws=2, level="parton"
    )
    assert np.all(result.probabilities[:, leptonic, :] == 0)
    assert np.all(result.probabilities[:, ~leptonic, :] > 0)
    assert not result.ood[leptonic].any()
    maps = efficiency_map_probabilities(
        parton_table, "parton", load_card(folder).efficiency_map, points
    )
    assert np.all(maps.probabilities[:, leptonic, :] == 0)
    assert np.any(maps.probabilities[:, ~leptonic, :] > 0)
