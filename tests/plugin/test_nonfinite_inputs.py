"""Non-finite or sentinel kinematics never reach fastjet and never give a silent wrong number.

Fat jets (and every other momentum collection) with NaN, infinite or sentinel kinematics are
refused with one line by the common validation step of the readers; Delphes' EFlow
constituents with such values (Delphes writes ``Eta = 999.9`` for zero-pT tracks) are dropped
with a counted warning before reclustering.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

from surrotag.errors import InputValueError, SurrotagError
from surrotag.io import read_events
from surrotag.io.canonical import check_finite

EXAMPLE = (
    Path(__file__).resolve().parents[2]
    / "analyses"
    / "zprime_ttbar_allhad"
    / "example_signal.parquet"
)
EFLOW_LEAVES = {
    "EFlowTrack": ("PT", "Eta", "Phi", "Charge"),
    "EFlowPhoton": ("ET", "Eta", "Phi"),
    "EFlowNeutralHadron": ("ET", "Eta", "Phi"),
}
FATJET_LEAVES = ("PT", "Eta", "Phi", "Mass")


def _write_delphes(path: Path, arrays: dict[str, ak.Array], *, parents: bool = False) -> Path:
    """Write ``{branch: events x var * {leaf}}`` as Delphes' split ``Delphes`` tree.

    With ``parents``, each class also gets a top-level branch of its own name (as the
    ``TClonesArray`` branch of a real Delphes file), holding the object count.
    """
    prefix = "_" if parents else ""
    columns = {f"{prefix}{branch}": array for branch, array in arrays.items()}
    types = {name: array.type.content for name, array in columns.items()}
    if parents:
        columns |= {branch: ak.num(array, axis=1) for branch, array in arrays.items()}
        types |= {branch: np.int64 for branch in arrays}
    with uproot.recreate(path) as file:
        tree = file.mktree(
            "Delphes",
            types,
            counter_name=lambda counted: f"{counted.removeprefix(prefix)}_size",
            field_name=lambda outer, inner: f"{outer.removeprefix(prefix)}.{inner}",
        )
        tree.extend(columns)
    return path


def _real(delphes_file: Path, branch: str, leaves: tuple[str, ...]) -> ak.Array:
    source = uproot.open(delphes_file)["Delphes"]
    return ak.zip({leaf: source[f"{branch}.{leaf}"].array() for leaf in leaves}, depth_limit=2)


def _with_sentinel_tracks(tracks: ak.Array, n_extra: int = 3) -> ak.Array:
    """Append ``n_extra`` zero-pT tracks with Delphes' sentinel ``Eta = 999.9`` per event."""
    n = len(tracks)
    extra = ak.unflatten(
        ak.zip(
            {
                "PT": np.zeros(n * n_extra, np.float32),
                "Eta": np.full(n * n_extra, 999.9, np.float32),
                "Phi": np.zeros(n * n_extra, np.float32),
                "Charge": np.ones(n * n_extra, np.int32),
            }
        ),
        np.full(n, n_extra),
    )
    return ak.concatenate([tracks, extra], axis=1)


@pytest.fixture(scope="module")
def eflow_files(delphes_file: Path, tmp_path_factory) -> tuple[Path, Path]:
    """The real file's EFlow objects without FatJet: clean, and with sentinel tracks."""
    pytest.importorskip("fastjet", reason="reclustering needs the 'reference' extra (fastjet)")
    folder = tmp_path_factory.mktemp("eflow")
    arrays = {
        branch: _real(delphes_file, branch, leaves) for branch, leaves in EFLOW_LEAVES.items()
    }
    clean = _write_delphes(folder / "clean.root", arrays)
    arrays["EFlowTrack"] = _with_sentinel_tracks(arrays["EFlowTrack"])
    sentinel = _write_delphes(folder / "sentinel.root", arrays)
    return clean, sentinel


RECLUSTER = textwrap.dedent(
    """
    import json, logging, sys
    import awkward as ak
    from surrotag.io import read_events
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    jets = read_events(sys.argv[1], collections=["fatjets"]).fatjets
    print(json.dumps({"pt": ak.to_list(jets.pt), "n": ak.to_list(ak.num(jets, axis=1))}))
    """
)


def _recluster(path: Path) -> subprocess.CompletedProcess[str]:
    """Read fat jets in a subprocess: a segfault in fastjet fails the test, not the session."""
    return subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", RECLUSTER, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_sentinel_eflow_tracks_are_dropped_with_a_count(eflow_files):
    clean, sentinel = eflow_files
    done = _recluster(sentinel)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert "dropped 30 of" in done.stderr and "EFlowTrack" in done.stderr
    reference = _recluster(clean)
    assert reference.returncode == 0, reference.stderr[-2000:]
    assert "dropped" not in reference.stderr
    # zero-pT tracks carry no momentum: the reclustered jets are those of the clean file
    assert done.stdout == reference.stdout


def test_nan_eflow_constituents_never_reach_fastjet():
    pytest.importorskip("fastjet", reason="reclustering needs the 'reference' extra (fastjet)")
    from surrotag.io.delphes import eflow_candidates

    def leaves(branch: str, pt: list[float], eta: list[float]) -> dict[str, ak.Array]:
        names = EFLOW_LEAVES[branch]
        out = {
            f"{branch}.{names[0]}": ak.Array([pt]),
            f"{branch}.Eta": ak.Array([eta]),
            f"{branch}.Phi": ak.Array([[0.1] * len(pt)]),
        }
        if branch == "EFlowTrack":
            out[f"{branch}.Charge"] = ak.Array([[1] * len(pt)])
        return out

    arrays = ak.zip(
        {
            **leaves("EFlowTrack", [10.0, np.nan, 0.0], [0.5, 0.1, -999.9]),
            **leaves("EFlowPhoton", [5.0, np.inf], [1.0, 0.2]),
            **leaves("EFlowNeutralHadron", [3.0], [np.nan]),
        },
        depth_limit=1,
    )
    candidates = eflow_candidates(arrays)
    assert ak.num(candidates, axis=1).tolist() == [2]
    for field in ("px", "py", "pz", "E"):
        assert np.all(np.isfinite(ak.to_numpy(ak.flatten(candidates[field]))))


@pytest.fixture
def example_with_nan(tmp_path: Path):
    """The shipped example signal with one NaN in a field of a leading fat jet."""
    if not EXAMPLE.exists():
        pytest.skip("example signal not shipped in this checkout")

    def write(field: str, value: float = np.nan) -> Path:
        events = ak.from_parquet(EXAMPLE)
        column = ak.to_numpy(ak.flatten(events.fatjets[field])).copy()
        column[0] = value  # the leading fat jet of the first event
        fatjets = ak.with_field(
            events.fatjets, ak.unflatten(column, ak.num(events.fatjets, axis=1)), field
        )
        path = tmp_path / f"signal_{field}.parquet"
        table = ak.to_arrow_table(ak.with_field(events, fatjets, "fatjets"), extensionarray=False)
        table = table.replace_schema_metadata(pq.read_schema(EXAMPLE).metadata)
        pq.write_table(table, path)
        return path

    return write


@pytest.mark.parametrize("field", ["phi", "eta", "pt"])
def test_nan_fatjet_in_parquet_is_refused_with_one_line(example_with_nan, field):
    path = example_with_nan(field)
    with pytest.raises(InputValueError) as error:
        read_events(path)
    message = str(error.value)
    assert "\n" not in message
    for part in (str(path), "fatjets", field, "1 object", "drop"):
        assert part in message


def test_sentinel_eta_fatjet_in_parquet_is_refused(example_with_nan):
    path = example_with_nan("eta", 999.9)
    with pytest.raises(InputValueError, match=r"fatjets.*eta"):
        read_events(path, collections=["fatjets"])


def test_clean_example_signal_reads(example_with_nan):
    events = read_events(EXAMPLE)
    assert len(events) == 2000


@pytest.mark.parametrize("leaf", ["Eta", "PT"])
def test_nan_delphes_fatjet_is_refused(delphes_file: Path, tmp_path: Path, leaf: str):
    fatjets = _real(delphes_file, "FatJet", FATJET_LEAVES)
    values = ak.to_numpy(ak.flatten(fatjets[leaf])).copy()
    values[[0, 2]] = np.nan
    fatjets = ak.with_field(fatjets, ak.unflatten(values, ak.num(fatjets, axis=1)), leaf)
    path = _write_delphes(tmp_path / "nan_fatjet.root", {"FatJet": fatjets}, parents=True)
    field = {"Eta": "eta", "PT": "pt"}[leaf]
    with pytest.raises(SurrotagError, match=rf"nan_fatjet.root: 2 objects of fatjets .* {field};"):
        read_events(path, collections=["fatjets"])


def test_check_finite_accepts_nan_where_the_schema_allows_it():
    events = ak.zip(
        {
            "weight": ak.Array([1.0]),
            "fatjets": ak.zip(
                {
                    "pt": [[500.0]],
                    "eta": [[0.1]],
                    "phi": [[0.2]],
                    "mass": [[170.0]],
                    "sd_mass": [[np.nan]],
                    "trimmed_mass": [[np.nan]],
                }
            ),
            "met": ak.zip({"met": [np.nan], "phi": [np.nan]}),
        },
        depth_limit=1,
    )
    check_finite(events, "memory")
