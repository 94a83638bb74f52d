"""Hostile and unusual inputs: refused with one line, or accepted when they are valid physics.

Canonical Parquet input gets the checks the LHE reader makes (truth indices in range,
finite weights); events passed to ``recast()`` in memory get the checks of every reader's
output; NLO samples with negative event weights are accepted (a negative bin clipped to 0
with a warning, the sum of weights kept signed); an edited analysis card or workspace is
refused by its hash.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest

from surrotag.errors import CorruptFileError, InputValueError, IntegrityError
from surrotag.io import read_events
from surrotag.io.parquet import read_parquet

ANALYSIS_DIR = Path(__file__).resolve().parents[2] / "analyses" / "zprime_ttbar_allhad"
EXAMPLE = ANALYSIS_DIR / "example_signal.parquet"


@pytest.fixture(scope="module")
def example() -> ak.Array:
    """The shipped example signal as plain awkward records (no behaviour)."""
    if not EXAMPLE.exists():
        pytest.skip("example signal not shipped in this checkout")
    return ak.from_parquet(EXAMPLE)


def _write(events: ak.Array, path: Path) -> Path:
    table = ak.to_arrow_table(events, extensionarray=False)
    pq.write_table(table.replace_schema_metadata(pq.read_schema(EXAMPLE).metadata), path)
    return path


def _with_particle_field(events: ak.Array, field: str, value: int) -> ak.Array:
    column = ak.to_numpy(ak.flatten(events.particles[field])).copy()
    column[0] = value  # the first particle of the first event
    particles = ak.with_field(
        events.particles, ak.unflatten(column, ak.num(events.particles, axis=1)), field
    )
    return ak.with_field(events, particles, "particles")


@pytest.mark.parametrize(("field", "value"), [("mother1", 10_000), ("daughter2", -7)])
def test_parquet_with_out_of_range_truth_index_is_refused(example, tmp_path, field, value):
    path = _write(_with_particle_field(example, field, value), tmp_path / "bad.parquet")
    for read in (read_events, read_parquet):
        with pytest.raises(CorruptFileError, match=f"{field} index out of range") as caught:
            read(path)
        assert "\n" not in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_parquet_with_non_finite_weight_is_refused(example, tmp_path, value):
    weight = ak.to_numpy(example.weight).astype(np.float64).copy()
    weight[5] = value
    path = _write(ak.with_field(example, weight, "weight"), tmp_path / "w.parquet")
    with pytest.raises(
        InputValueError, match=r"1 event\(s\) with a non-finite weight \(first: event 5\)"
    ):
        read_events(path)


def test_in_memory_events_get_the_readers_checks(example):
    """recast() on arrays in memory: NaN kinematics, NaN weights, bad indices are refused."""
    from surrotag.recast import recast

    phi = ak.to_numpy(ak.flatten(example.fatjets.phi)).copy()
    phi[0] = np.nan
    fatjets = ak.with_field(
        example.fatjets, ak.unflatten(phi, ak.num(example.fatjets, axis=1)), "phi"
    )
    weight = ak.to_numpy(example.weight).astype(np.float64).copy()
    weight[3] = np.nan
    cases = {
        "fatjets .*phi": ak.with_field(example, fatjets, "fatjets"),
        "non-finite weight": ak.with_field(example, weight, "weight"),
        "mother1 index out of range": _with_particle_field(example, "mother1", 99_999),
    }
    for words, events in cases.items():
        with pytest.raises((InputValueError, CorruptFileError), match=words) as caught:
            recast("zprime-ttbar-allhad", events, xsec_pb=0.02, tagger="efficiency-map")
        assert "events in memory" in str(caught.value) and "\n" not in str(caught.value)


def test_nlo_negative_bins_are_clipped_with_a_warning_and_the_sum_stays_signed():
    """MC@NLO weights: a bin whose weighted yield is negative becomes 0, with a warning."""
    from types import SimpleNamespace

    from surrotag.analysis import get_analysis
    from surrotag.recast.pipeline import YieldSums, _region_yields
    from surrotag.yields import normalisation

    analysis = get_analysis("zprime-ttbar-allhad")
    acc = YieldSums()
    for index, region in enumerate(analysis.card.regions):
        n_bins = len(region.observable.bin_edges) - 1
        sums = np.linspace(-3.0, 9.0, n_bins) + index  # signed sums of w p per bin
        acc.per_draw[region.name] = np.stack([sums, sums + 0.5])  # two weight draws
        acc.mc_stat2[region.name] = np.ones(n_bins)
    norm = normalisation(0.02, analysis.card.luminosity_ifb, 10.0 - 4.0)  # a signed sum
    lines: list[str] = []
    regions = _region_yields(analysis, acc, SimpleNamespace(draws=2), norm, lines)
    assert len(lines) == 2 and all("clipped to 0" in line for line in lines)
    for region in regions:
        assert np.all(region.yields.per_draw >= 0) and np.all(region.yields.nominal >= 0)
        assert region.yields.nominal[-1] > 0  # positive bins untouched
    assert normalisation(0.02, 139.0, -6.0) < 0  # a negative total weight is accepted


def test_report_schema_allows_a_negative_total_weight():
    import jsonschema

    from surrotag.recast.report import report_schema

    schema = report_schema()["properties"]
    jsonschema.validate(-0.5, schema["normalisation"])  # sigma L / sum(w) with sum(w) < 0
    jsonschema.validate(-1234.5, schema["sum_weights"])


@pytest.fixture
def analysis_copy(tmp_path) -> Path:
    folder = tmp_path / "analysis"
    folder.mkdir()
    for name in ("card.json", "workspace.json", "official_yields.json"):
        if not (ANALYSIS_DIR / name).exists():
            pytest.skip(f"{name} not built in this checkout")
        shutil.copyfile(ANALYSIS_DIR / name, folder / name)
    return folder


def test_shipped_analysis_card_covers_its_files():
    from surrotag.analysis import get_analysis

    analysis = get_analysis("zprime-ttbar-allhad")
    assert {"workspace.json", "official_yields.json"} <= set(analysis.card.files)
    analysis.workspace()  # the shipped files match their recorded sha256


def test_edited_analysis_card_is_refused(analysis_copy):
    from surrotag.analysis import get_analysis

    path = analysis_copy / "card.json"
    document = json.loads(path.read_text("utf-8"))
    document["luminosity_ifb"] = 1390.0  # ten times the signal, silently
    path.write_text(json.dumps(document, indent=2), "utf-8")
    with pytest.raises(IntegrityError, match=r"card content sha256 .* differs") as caught:
        get_analysis(analysis_copy)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["workspace.json", "official_yields.json"])
def test_edited_workspace_or_official_yields_is_refused(analysis_copy, name):
    from surrotag.analysis import get_analysis

    path = analysis_copy / name
    path.write_text(path.read_text("utf-8").replace("1", "2", 1), "utf-8")
    analysis = get_analysis(analysis_copy)
    with pytest.raises(IntegrityError, match=f"{name}: sha256 .* differs"):
        analysis.resource(name)
    if name == "workspace.json":
        with pytest.raises(IntegrityError):
            analysis.workspace()


def test_sealing_records_a_rebuilt_file(analysis_copy):
    """The writers' step (build script) records the new sha256: no manual edit needed."""
    from surrotag.analysis import get_analysis
    from surrotag.analysis_card import seal_analysis_card

    path = analysis_copy / "official_yields.json"
    document = json.loads(path.read_text("utf-8"))
    document["description"] += " (rebuilt)"
    path.write_text(json.dumps(document), "utf-8")
    seal_analysis_card(analysis_copy)
    assert (
        json.loads(get_analysis(analysis_copy).resource(path.name).read_text("utf-8")) == document
    )


def test_non_finite_number_in_analysis_card_is_refused(analysis_copy):
    from surrotag.analysis_card import load_analysis_card
    from surrotag.errors import CardError

    path = analysis_copy / "card.json"
    text = path.read_text("utf-8").replace('"luminosity_ifb": 139.0', '"luminosity_ifb": NaN')
    path.write_text(text, "utf-8")
    with pytest.raises(CardError, match="non-finite"):
        load_analysis_card(path)


def _finished_point(directory: Path, events: Path):
    """A scan folder holding one finished point whose report records ``events``' sha256."""
    import hashlib

    from surrotag.scan.adapter import ScanOptions
    from surrotag.scan.grid import GridPoint
    from surrotag.scan.run import point_folder, write_json

    point = GridPoint("zp", {"mass_gev": 2000.0}, (events,), 0.02)
    options = ScanOptions(tagger="efficiency-map")
    folder = point_folder(directory, point.name)
    digest = hashlib.sha256(events.read_bytes()).hexdigest()
    write_json(
        folder / "point.json", {**point.to_json(), "analysis": "a", "options": options.to_json()}
    )
    write_json(folder / "report.json", {"inputs": [{"path": str(events), "sha256": digest}]})
    write_json(folder / "patch.json", [])
    return point, options


def test_scan_rerun_redoes_a_point_whose_events_changed_under_the_same_path(tmp_path):
    from surrotag.scan.run import finished_points

    events = tmp_path / "signal.parquet"
    events.write_bytes(b"first sample")
    point, options = _finished_point(tmp_path / "scan", events)
    assert finished_points(tmp_path / "scan", [point], "a", options, None) == ["zp"]
    events.write_bytes(b"a regenerated sample")  # same path, other events
    assert finished_points(tmp_path / "scan", [point], "a", options, None) == []
    events.unlink()  # gone: the stored result cannot be vouched for either
    assert finished_points(tmp_path / "scan", [point], "a", options, None) == []


def test_rerun_finishing_no_point_removes_the_stale_patchset(tmp_path):
    from surrotag.scan.grid import Grid
    from surrotag.scan.summary import scan_patchset

    stale = tmp_path / "patchset.json"
    stale.write_text('{"stale": true}')
    grid = Grid(points=(), parameter_names=("mass_gev",), source="<dict>")
    rows = [{"name": "zp", "status": "failed"}]
    assert scan_patchset(tmp_path, grid, rows, {}, analysis="a") is None
    assert not stale.exists()


def test_surrogate_show_reports_an_edited_card_in_one_line(tmp_path, capsys):
    """The shipped card with a working point moved (3.93 -> 1.0): refused, exit 1."""
    from surrotag.cli import main
    from surrotag.surrogates.registry import resolve_surrogate

    folder = tmp_path / "edited"
    shutil.copytree(resolve_surrogate("top-tagger-delphes"), folder)
    document = json.loads((folder / "card.json").read_text("utf-8"))
    document["working_points"][1]["threshold"] = 1.0
    (folder / "card.json").write_text(json.dumps(document, indent=2), "utf-8")
    capsys.readouterr()
    assert main(["surrogate", "show", str(folder)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "card.json: card content sha256" in err
    assert "Traceback" not in err
