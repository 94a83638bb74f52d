"""The reference detector against Delphes outputs that others made and published on GitHub.

Each file in :data:`SOURCES` was written by Delphes itself (tree ``Delphes`` with the
generator ``Particle`` branch and the energy-flow branches ``EFlowTrack`` / ``EFlowPhoton`` /
``EFlowNeutralHadron``). The tests read each file where it sits, never from a copy in the
repository: in ``~/.cache/surrotag/third_party_delphes/<owner>+<name>/<path>`` (override the
folder with ``SURROTAG_THIRD_PARTY_DELPHES``), re-extracted from a local mirror of the
repository (``$SURROTAG_MIRRORS/<owner>+<name>/repo``, default ``../.mirror`` beside the
repository, where ``fetch`` puts them, as ``../shared``) when the
cache lacks it, and skipped with the command to get it when neither is there.

For each file:

1. EFlow objects per (kind, pT, |eta|) bin: the file's ``Status == 1`` particles, with
   their production vertices, through :func:`surrotag.reference.detector.pf_candidates`
   for ``N_SEEDS`` detector seeds, against the file's one detector realisation (as
   ``test_detector_delphes.py``). Neither file was made with the Delphes 3.4.2 CMS card
   that the detector transcribes, so the issue's goal (every bin within 10 % or 2 sigma)
   is asserted only for the (kind, pT) ranges whose chain the file's card shares with it
   (``SOURCES[...].asserted``, each reason given there); the rest is printed (run with
   ``-s``) and only sanity-checked.
2. ``MissingET`` (where the file has it) is the negative vector sum of the file's own
   EFlow objects: :func:`surrotag.reference.objects.missing_et`, exact.
3. Deterministic parts of the card, on the file's own objects: the tower maps (the edges
   of every EFlow photon and neutral hadron), the track impact points of the particle
   propagation, the ``Jet`` branch as anti-kT of the EFlow with the card's radius and the
   CMS jet energy scale (jets holding the file's isolated photons, electrons or muons
   removed), and the isolation ``SumPt`` of the file's leptons and photons with the card's
   cone.

How the files were found: public repositories whose names or code mention Delphes (GitHub
index searches for Delphes file names, ``EFlow`` readers, MadGraph ``Events/run_*``
layouts), their ``.root`` blobs of all commits scanned for a ``Delphes`` tree. Files of
4 MiB and more could not be retrieved (``Star9daisy/hep-ml-lab`` test data, CoffeaTeam/coffea
``tests/samples/delphes.root`` = scikit-hep-testdata ``uproot-delphes-pr442.root``,
``uproot-FCCDelphesOutput.root``); ``Preet-Mann/delphes_d2eic`` ``delphes_output.root``
(EIC, 1000 events) and ``key4hep/k4SimDelphes`` ``tests/data/gev91ee_zboson_100events.root``
are Delphes trees without EFlow branches; ``professor-calculus/AlexDataFramesTutorial``
``delphes.root`` is a Git LFS pointer.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import awkward as ak
import numpy as np
import pytest
import vector
from eflow_counts import KINDS, N_SEEDS, PT_BINS, compare_counts, print_bins

from surrotag.io.delphes import EFLOW, eflow_candidates
from surrotag.jets.clustering import antikt_jets
from surrotag.reference import objects
from surrotag.reference.calorimeter import ECAL, HCAL
from surrotag.reference.objects import isolation, jet_energy_scale, missing_et
from surrotag.reference.propagation import propagate

uproot = pytest.importorskip("uproot")
vector.register_awkward()

CALORIMETERS: Final = {"ECAL": ECAL, "HCAL": HCAL}
_PARTICLE = ("PID", "Status", "Charge", "Px", "Py", "Pz", "E", "X", "Y", "Z", "fUniqueID")
_TRACK = ("Particle", "XOuter", "YOuter", "ZOuter", "Phi")
_ISOLATED = ("Photon", "Electron", "Muon")  # UniqueObjectFinder order of the CMS cards

CACHE: Final = Path(
    os.environ.get(
        "SURROTAG_THIRD_PARTY_DELPHES", Path.home() / ".cache" / "surrotag" / "third_party_delphes"
    )
)
MIRRORS: Final = Path(
    os.environ.get("SURROTAG_MIRRORS", Path(__file__).resolve().parents[3].parent / ".mirror")
)


@dataclass(frozen=True)
class ThirdParty:
    """Where a Delphes file comes from and what its card is, as established from the file."""

    repo: str  # GitHub owner/name
    commit: str  # the snapshot the file was extracted at
    added_in: str  # the commit that added the file (same blob)
    path: str  # path in the repository
    sha256: str  # of the file's bytes
    size: int  # bytes
    events: int
    delphes: str  # version, from the classes' layout
    layout: str  # "3.3": Track.Phi at the vertex, one calorimeter; "3.4": ECal + HCal
    card: str
    process: str
    photon_towers: str  # tower map of EFlowPhoton ("ECAL" or "HCAL")
    jet_radius: float  # anti-kT R of the file's Jet branch (before the CMS energy scale)
    isolation_cone: float | None  # Delta R of the file's SumPt; None: no lepton branches
    met: bool  # MissingET branch present (the EFlow sum)
    asserted: tuple[tuple[str, float, str], ...]  # (kind, pT min, why) held to the goal

    @property
    def cached(self) -> Path:
        return CACHE / self.repo.replace("/", "+") / self.path


#: The files, their origin and what is known of their cards (all checked in this module).
SOURCES: Final = {
    "zh_cms_delphes33": ThirdParty(
        repo="denglert/Zh-Analysis",
        commit="c2cc45865ef2aca90254a15ad7cc1565f148049e",
        added_in="816c81ee20d248ebfc2c685c1e1f562483b76916",
        path="data/tag_1_delphes_events.root",
        sha256="f91f7b72ee19922416a68d3636147da354af1ac6b665c07410359487986f972b",
        size=2_482_873,
        events=100,
        delphes="3.3.x (Track.Dxy/SDxy leaves; ROOT 5.34/36), through MadGraph5_aMC@NLO",
        layout="3.3",
        card=(
            "CMS card of Delphes 3.3: one Calorimeter module, photons and neutral hadrons "
            "both on the 0.087 HCAL tower map; anti-kT R = 0.5; isolation cone 0.5"
        ),
        process="pp -> Z h at 13 TeV, inclusive Z and h decays, Pythia 6 (status-3 record)",
        photon_towers="HCAL",
        jet_radius=0.5,
        isolation_cone=0.5,
        met=True,
        asserted=(
            (
                "EFlowTrack",
                1.0,
                "charged-hadron tracking efficiency, momentum smearing and propagation are "
                "the same in the 3.3.2 and 3.4.2 CMS cards and codes; below 1 GeV, where "
                "helices of pT < 0.3 B R / 2 = 0.735 GeV curl out through the endcaps, the "
                "file has fewer tracks under 0.5 GeV (279, ours 381) and more at 0.5-1 GeV "
                "(691, ours 649), which the official cards do not explain",
            ),
        ),
    ),
    "ttbar_cms_like_delphes343": ThirdParty(
        repo="scikit-hep/scikit-hep-testdata",
        commit="f51b8fb0aa3b3609996375a745eac8084472245f",
        added_in="b848a5cfecb5862a780a29259fdc56457f972dd3",
        path="src/skhep_testdata/data/uproot-issue513.root",
        sha256="e4739101c9ecc6b748d233647786a96ba1be552e608d7aa9ffbad5bbe1fbc25d",
        size=1_217_150,
        events=10,
        delphes="3.4.3pre (Jet.NeutralEnergyFraction, added in 3.4.3pre01; ROOT 6.20/06)",
        layout="3.4",
        card=(
            "modified CMS card: the CMS ECal (0.0174) and HCal (0.087) tower maps, anti-kT "
            "R = 0.5 with the CMS jet energy scale, but tracks not smeared (Track.PT equals "
            "Particle.PT) and 374 of the 818 EFlowTracks written with pT = 0 (Eta = 999.9); "
            "no Electron, Muon, Photon or MissingET branches"
        ),
        process="pp -> t tbar at 13 TeV, Pythia 8 (ProcessID 601/602); uproot issue #513",
        photon_towers="ECAL",
        jet_radius=0.5,
        isolation_cone=None,
        met=False,
        asserted=(
            ("EFlowPhoton", 0.0, "the CMS ECal tower map (checked) and response"),
            ("EFlowNeutralHadron", 0.0, "the CMS HCal tower map (checked) and response"),
        ),
    ),
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _git_dir(repo: str) -> Path | None:
    base = MIRRORS / repo.replace("/", "+") / "repo"
    return next((d for d in (base, base / ".git") if (d / "objects").is_dir()), None)


def _locate(source: ThirdParty) -> Path:
    """The cached file; extracted from the mirror first when the cache lacks it."""
    target = source.cached
    if target.is_file() and _sha256(target.read_bytes()) == source.sha256:
        return target
    git_dir = _git_dir(source.repo)
    if git_dir is not None:
        shown = subprocess.run(
            ["git", "--git-dir", str(git_dir), "show", f"{source.commit}:{source.path}"],
            capture_output=True,
            check=False,
        )
        if shown.returncode == 0 and _sha256(shown.stdout) == source.sha256:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            partial.write_bytes(shown.stdout)
            partial.replace(target)
            return target
    state = "has other bytes" if target.is_file() else "is absent"
    pytest.skip(
        f"{target} {state}: fetch github:{source.repo} and extract {source.path} at "
        f"{source.commit} to {target} (sha256 {source.sha256})"
    )


@dataclass(frozen=True)
class Sample:
    name: str
    source: ThirdParty
    branches: frozenset[str]
    arrays: ak.Array


@pytest.fixture(scope="module")
def sample(request: pytest.FixtureRequest) -> Sample:
    source = SOURCES[request.param]
    tree = uproot.open(_locate(source))["Delphes"]
    branches = frozenset(key.split("/")[0] for key in tree.keys(recursive=False))
    leaves = [f"Particle.{leaf}" for leaf in _PARTICLE]
    leaves += [f"{b}.{leaf}" for b, (pt, rest) in EFLOW.items() for leaf in (pt, *rest)]
    leaves += [f"{b}.Edges[4]" for b in KINDS[1:]]
    leaves += [f"Track.{leaf}" for leaf in _TRACK]
    leaves += [f"Jet.{leaf}" for leaf in ("PT", "Eta", "Phi")]
    leaves += [f"{b}.{leaf}" for b in _ISOLATED if b in branches for leaf in ("PT", "SumPt")]
    leaves += ["MissingET.MET", "MissingET.Phi"] if "MissingET" in branches else []
    return Sample(request.param, source, branches, tree.arrays(leaves))


def _with(flag: str) -> list[str]:
    return [name for name, source in SOURCES.items() if getattr(source, flag)]


def _momenta(eflow: ak.Array) -> ak.Array:
    fields = ("px", "py", "pz", "E")
    return ak.zip({f: eflow[f] for f in fields}, with_name="Momentum4D")


def _positions(flow_pt: ak.Array, candidate_pt: ak.Array) -> ak.Array:
    """Each candidate's position in the event's EFlow (the object of equal pT)."""
    delta = abs(flow_pt[:, None, :] - candidate_pt[:, :, None])
    assert ak.all(ak.min(delta, axis=2) < 1e-4 * np.maximum(1.0, candidate_pt))
    return ak.values_astype(ak.fill_none(ak.argmin(delta, axis=2), -1), np.int64)


def _flat(array: ak.Array) -> np.ndarray:
    return np.asarray(ak.to_numpy(ak.flatten(array, axis=None)))


@pytest.mark.parametrize("sample", list(SOURCES), indirect=True)
def test_file_is_the_recorded_delphes_output(sample: Sample) -> None:
    source = sample.source
    print(f"\n{sample.name}: github:{source.repo} @ {source.commit} {source.path}")
    print(f"  added in {source.added_in}; sha256 {source.sha256}; {source.size} bytes")
    print(f"  Delphes {source.delphes}\n  card: {source.card}\n  process: {source.process}")
    assert source.cached.stat().st_size == source.size
    assert {"Particle", *KINDS, "Track", "Jet"} <= sample.branches
    assert ("MissingET" in sample.branches) == source.met
    assert len(sample.arrays) == source.events
    uid = sample.arrays["Particle.fUniqueID"] & 0xFFFFFF
    assert ak.all(uid == ak.local_index(uid) + 1)  # TRef -> position in the event


@pytest.mark.parametrize("sample", list(SOURCES), indirect=True)
@pytest.mark.parametrize("branch", KINDS[1:])
def test_tower_map_of_the_card(sample: Sample, branch: str) -> None:
    """Every EFlow tower's edges are a tower of the map the card uses for that branch."""
    name = sample.source.photon_towers if branch == "EFlowPhoton" else "HCAL"
    calo = CALORIMETERS[name]
    edges = _flat(sample.arrays[f"{branch}.Edges[4]"]).reshape(-1, 4).astype(np.float64)
    row, column = calo.tower_index(edges[:, :2].mean(axis=1), edges[:, 2:].mean(axis=1))
    assert (row >= 0).all()
    phi_lo, phi_hi = calo.tower_phi(row, column)
    ours = np.stack([calo.eta_edges[row], calo.eta_edges[row + 1], phi_lo, phi_hi], axis=1)
    np.testing.assert_allclose(ours, edges, atol=1e-6)


@pytest.mark.parametrize("sample", list(SOURCES), indirect=True)
def test_propagation_reproduces_the_impact_points(sample: Sample) -> None:
    arrays = sample.arrays
    index = arrays["Track.Particle"].ref - 1
    take = {k: _flat(arrays[f"Particle.{k}"][index]).astype(np.float64) for k in _PARTICLE}
    out = propagate(*(take[k] for k in ("Px", "Py", "Pz", "E", "Charge", "X", "Y", "Z")))
    outer = [_flat(arrays[f"Track.{c}Outer"]) for c in "XYZ"]
    distance = np.sqrt(sum((o - t) ** 2 for o, t in zip(out[1:4], outer, strict=True)))
    print(f"\n{sample.name}: {distance.size} tracks, impact points within {distance.max():.2g} mm")
    # measured: 3468 tracks within 0.016 mm (zh), 818 within 0.0016 mm (ttbar)
    assert out.kept.all()
    assert distance.max() < 0.1  # mm; float32 storage
    if sample.source.layout == "3.4":  # Delphes 3.3 stores the momentum phi at the vertex
        dphi = out.phi_momentum - _flat(arrays["Track.Phi"])
        assert np.abs((dphi + np.pi) % (2 * np.pi) - np.pi).max() < 1e-5


@pytest.mark.parametrize("sample", list(SOURCES), indirect=True)
def test_eflow_counts_against_the_file(sample: Sample) -> None:
    """Objects per (kind, pT, |eta|) bin: our mean over seeds vs the file's realisation.

    Pass (where asserted): within 10 % or within 2 sigma, sigma^2 = max(N_file, 1) + the
    squared standard error of our seed mean. Everywhere: each kind's number of objects
    (the file's zero-pT tracks included) within a factor 1.5 of ours.
    """
    arrays, source = sample.arrays, sample.source
    result = compare_counts(arrays)
    mean, good = result.mean, result.good
    their_totals = np.array([_flat(arrays[f"{b}.Eta"]).size for b in KINDS])
    asserted = np.zeros_like(good)
    for branch, pt_min, _ in source.asserted:
        asserted[KINDS.index(branch), np.asarray(PT_BINS[:-1]) >= pt_min, :] = True
    print(f"\n{sample.name}: EFlow objects in {source.events} events, ours (mean of {N_SEEDS}")
    print(f"seeds, Delphes 3.4.2 CMS card) vs the file ({source.card})")
    print("  (* asserted:", "; ".join(f"{b} >= {p:g} GeV: {why}" for b, p, why in source.asserted))
    print_bins(result, "file", asserted)
    ours_totals = mean.sum(axis=(1, 2))
    print("objects ours / file (file: all, zero-pT tracks included):", np.round(ours_totals, 1),
          their_totals)  # fmt: skip
    print(f"bins within tolerance: {good.sum()} of {good.size}; asserted {asserted.sum()}")
    # measured (zh): tracks >= 1 GeV all 9 bins (|pull| <= 1.0), 0.5-1 GeV barrel -2.3;
    # photons 5 of 15 bins, neutral hadrons 11 of 15 (the 3.3 calorimeter puts ECAL
    # deposits on the 0.087 towers); totals ours / file 1.01, 0.70, 0.89. (ttbar): photons
    # and neutral hadrons all 30 bins, |pull| <= 1.4; tracks off in 5 bins below 5 GeV
    # (unsmeared tracks, zero-pT EFlowTracks); totals 0.97, 1.01, 1.02.
    assert good[asserted].all(), f"{(~good & asserted).sum()} of {asserted.sum()} bins off"
    ratio = ours_totals / their_totals
    assert ((ratio > 1 / 1.5) & (ratio < 1.5)).all(), ratio


@pytest.mark.parametrize("sample", _with("met"), indirect=True)
def test_missing_et_is_the_eflow_sum(sample: Sample) -> None:
    """The card's MissingET merges EFlowMerger/eflow: the file's own EFlow gives it."""
    arrays = sample.arrays
    met = missing_et(eflow_candidates(arrays))
    theirs = _flat(arrays["MissingET.MET"])
    np.testing.assert_allclose(ak.to_numpy(met.met), theirs, rtol=1e-5, atol=1e-4)
    dphi = ak.to_numpy(met.phi) - _flat(arrays["MissingET.Phi"])
    assert np.abs((dphi + np.pi) % (2 * np.pi) - np.pi).max() < 1e-5
    # measured (zh, 100 events): |Delta MET| <= 3e-5 GeV, |Delta phi| <= 3e-6


@pytest.mark.parametrize("sample", list(SOURCES), indirect=True)
def test_jets_are_antikt_of_the_eflow(sample: Sample) -> None:
    """The ``Jet`` branch: anti-kT of the file's EFlow (the card's R), pT > 20 GeV, the CMS
    energy scale, jets holding an isolated photon, electron or muon of the file removed."""
    arrays, source = sample.arrays, sample.source
    eflow = eflow_candidates(arrays)
    flow_pt = _momenta(eflow).pt
    taken = [_positions(flow_pt, arrays[f"{b}.PT"]) for b in _ISOLATED if b in sample.branches]
    raw, index = antikt_jets(eflow, source.jet_radius, objects.JET_PT_MIN)
    if taken:
        held = ak.concatenate(taken, axis=1)
        flat_index = ak.flatten(index, axis=2)
        claimed = ak.any(flat_index[:, :, None] == held[:, None, :], axis=2)
        per_jet = ak.flatten(ak.num(index, axis=2))
        raw = raw[~ak.any(ak.unflatten(claimed, per_jet, axis=1), axis=2)]
    scale = ak.unflatten(jet_energy_scale(_flat(raw.pt), _flat(raw.eta)), ak.num(raw))
    pt = raw.pt * scale
    order = ak.argsort(pt, axis=1, ascending=False, stable=True)
    ours = {"PT": pt[order], "Eta": raw.eta[order], "Phi": raw.phi[order]}
    assert ak.to_list(ak.num(ours["PT"])) == ak.to_list(ak.num(arrays["Jet.PT"]))
    np.testing.assert_allclose(_flat(ours["PT"]), _flat(arrays["Jet.PT"]), rtol=2e-5)
    np.testing.assert_allclose(_flat(ours["Eta"]), _flat(arrays["Jet.Eta"]), atol=2e-5)
    dphi = _flat(ours["Phi"]) - _flat(arrays["Jet.Phi"])
    assert np.abs((dphi + np.pi) % (2 * np.pi) - np.pi).max() < 2e-5
    print(f"\n{sample.name}: all {_flat(ours['PT']).size} jets (anti-kT R = {source.jet_radius})")
    # measured: zh 358 jets, ttbar 60 jets, pT within 1e-7; with R = 0.4 (ours) the jet
    # counts differ in 15 of 100 (zh) and 1 of 10 (ttbar) events


@pytest.mark.parametrize("sample", _with("isolation_cone"), indirect=True)
def test_isolation_sum_pt_with_the_cards_cone(
    sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SumPt`` of every photon, electron and muon of the file: the pT sum of the other EFlow
    objects above 0.5 GeV within the card's cone (0.5 in the Delphes 3.3 CMS card; 0.4 in the
    3.4.2 file the reference objects follow)."""
    arrays, source = sample.arrays, sample.source
    eflow = eflow_candidates(arrays)
    flow = _momenta(eflow)
    monkeypatch.setitem(objects.ISOLATION, "delta_r", source.isolation_cone)
    for branch in _ISOLATED:
        position = _positions(flow.pt, arrays[f"{branch}.PT"])
        candidates = flow[position]
        mine = _flat(isolation(candidates, position, eflow) * candidates.pt)
        theirs = _flat(arrays[f"{branch}.SumPt"])
        print(f"\n{sample.name}: {theirs.size} {branch} SumPt, cone {source.isolation_cone}")
        assert theirs.size > 0
        np.testing.assert_allclose(mine, theirs, atol=1e-3)
    # measured (zh): 4 photons, 9 electrons, 8 muons, all within 1e-7 GeV; with the cone
    # 0.4 the electrons are off by up to 1.3 GeV, the muons by 0.8 GeV
