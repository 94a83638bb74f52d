"""Inputs of the wrong type or without what the analysis needs: one line, never a traceback.

Every input is the shipped example signal (real simulated Z' -> t tbar events, read with
pyarrow), modified and written to ``tmp_path``:

* Parquet provenance (the ``surrotag`` key-value metadata) that is not a JSON object, or
  whose keys surrotag reads have another JSON type, and canonical columns that do not hold
  numbers (a string ``weight``, boolean ``eta``, text truth indices) are one
  :class:`~surrotag.errors.FormatError` line naming the file, the key or column, the type
  found and the type expected;
* a collection the selection cannot do without that is empty in every event is refused
  after the last chunk (:class:`~surrotag.errors.EmptyCollectionError`), while one empty
  in some chunks only, and leptons absent everywhere for a lepton-veto analysis, are valid;
* the collision energy of several inputs does not depend on their order, and files at
  different energies give one warning line listing them.
"""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from surrotag.errors import EmptyCollectionError, FormatError
from surrotag.io import read_events, read_parquet_metadata, sniff_format
from surrotag.io.inputs import input_collision_energy, input_sqrt_s, resolve_inputs
from surrotag.io.parquet import read_parquet
from surrotag.io.sniff import level_of

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "analyses" / "zprime_ttbar_allhad" / "example_signal.parquet"
ANALYSIS = "zprime-ttbar-allhad"


@pytest.fixture(scope="module")
def table() -> pa.Table:
    """The shipped example signal as an Arrow table, its provenance metadata included."""
    if not EXAMPLE.exists():
        pytest.skip("example signal not shipped in this checkout")
    return pq.read_table(EXAMPLE)


def _provenance(table: pa.Table) -> dict:
    return json.loads(table.schema.metadata[b"surrotag"])


def _with_metadata(table: pa.Table, raw: bytes, path: Path) -> Path:
    metadata = {**table.schema.metadata, b"surrotag": raw}
    pq.write_table(table.replace_schema_metadata(metadata), path)
    return path


def _with_events(table: pa.Table, events: ak.Array, path: Path) -> Path:
    """``events`` written with the example's metadata."""
    out = ak.to_arrow_table(events, extensionarray=False)
    pq.write_table(out.replace_schema_metadata(table.schema.metadata), path)
    return path


def _with_field(events: ak.Array, collection: str, name: str, values: ak.Array) -> ak.Array:
    return ak.with_field(events, ak.with_field(events[collection], values, name), collection)


def _one_line(error: pytest.ExceptionInfo, *words: str) -> None:
    message = str(error.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, message


# ---------------------------------------------------------------------------------------
# 1. Parquet provenance and columns of the wrong type


@pytest.mark.parametrize(
    ("document", "found"),
    [([1, 2], "array"), ("a string", "string"), (3.5, "number"), (None, "null"), (True, "boolean")],
)
def test_provenance_that_is_not_a_json_object_is_one_line(table, tmp_path, document, found):
    path = _with_metadata(table, json.dumps(document).encode(), tmp_path / "meta.parquet")
    for read in (
        read_parquet_metadata,
        sniff_format,
        read_events,
        lambda p: level_of("parquet", p),
    ):
        with pytest.raises(FormatError) as caught:
            read(path)
        _one_line(caught, str(path), f"JSON {found}", "expected an object")


@pytest.mark.parametrize(
    ("edit", "key", "found", "expected"),
    [
        (lambda d: d.__setitem__("level", 3), "'level'", "integer", "string"),
        (lambda d: d.__setitem__("sigma_pb", "0.02"), "'sigma_pb'", "string", "number"),
        (lambda d: d.__setitem__("n_events", 2000.5), "'n_events'", "number", "integer"),
        (lambda d: d.__setitem__("settings", [13000]), "'settings'", "array", "object"),
        (
            lambda d: d["settings"].__setitem__("ecm", "13 TeV"),
            "'settings.ecm'",
            "string",
            "number",
        ),
        (lambda d: d.__setitem__("sum_weights", None), "'sum_weights'", "null", "number"),
    ],
)
def test_provenance_key_of_the_wrong_json_type_is_one_line(
    table, tmp_path, edit, key, found, expected
):
    document = _provenance(table)
    edit(document)
    path = _with_metadata(table, json.dumps(document).encode(), tmp_path / "meta.parquet")
    with pytest.raises(FormatError) as caught:
        read_parquet_metadata(path)
    _one_line(caught, str(path), key, f"JSON {found}", f"expected {expected}")
    with pytest.raises(FormatError, match=key):
        read_events(path)


def _retyped(events: ak.Array, case: str) -> ak.Array:
    """The example with one canonical column of another type."""
    counts = ak.num(events.fatjets, axis=1)
    if case == "weight-string":
        return ak.with_field(
            events, ak.Array([str(w) for w in ak.to_list(events.weight)]), "weight"
        )
    if case == "weight-list":
        return ak.with_field(events, ak.unflatten(events.weight, 1), "weight")
    if case == "weight-bool":
        return ak.with_field(events, events.weight > 0, "weight")
    if case == "fatjets-pt-string":
        text = ak.Array([str(v) for v in ak.to_list(ak.flatten(events.fatjets.pt))])
        return _with_field(events, "fatjets", "pt", ak.unflatten(text, counts))
    if case == "fatjets-eta-bool":
        return _with_field(events, "fatjets", "eta", events.fatjets.eta > 0)
    if case == "fatjets-not-records":
        return ak.with_field(events, events.fatjets.pt, "fatjets")
    if case == "mother1-string":
        particles = events.particles
        text = ak.Array([str(v) for v in ak.to_list(ak.flatten(particles.mother1))])
        values = ak.unflatten(text, ak.num(particles, axis=1))
        return _with_field(events, "particles", "mother1", values)
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "column", "found", "expected"),
    [
        ("weight-string", "'weight'", "type string", "expected a number"),
        ("weight-list", "'weight'", "type list<double>", "expected a number"),
        ("weight-bool", "'weight'", "type bool", "expected a number"),
        ("fatjets-pt-string", "'fatjets.pt'", "type string", "expected a number"),
        ("fatjets-eta-bool", "'fatjets.eta'", "type bool", "expected a number"),
        ("fatjets-not-records", "'fatjets'", "type list<double>", "expected a list of records"),
        ("mother1-string", "'particles.mother1'", "type string", "expected a number"),
    ],
)
def test_column_of_the_wrong_type_is_one_line(table, tmp_path, case, column, found, expected):
    events = _retyped(ak.from_arrow(table), case)
    path = _with_events(table, events, tmp_path / "typed.parquet")
    for read in (read_events, read_parquet, sniff_format):
        with pytest.raises(FormatError) as caught:
            read(path)
        _one_line(caught, str(path), f"column {column}", found, expected)


def test_string_weight_through_the_cli_is_one_line(table, tmp_path, capfd):
    """The traceback of issue 20 (TypeError in the event stream's sum of weights)."""
    from surrotag.cli import main

    events = _retyped(ak.from_arrow(table), "weight-string")
    path = _with_events(table, events, tmp_path / "typed.parquet")
    out = tmp_path / "report.json"
    for command in (
        ["run", ANALYSIS, str(path), "--xsec-pb", "1", "--draws", "2", "-o", str(out)],
        ["features", str(path), "-o", str(tmp_path / "features.parquet")],
    ):
        capfd.readouterr()
        assert main(command) == 1
        err = capfd.readouterr().err.strip()
        assert err.count("\n") == 0 and "column 'weight' has type string" in err, err
    assert not out.exists()


def test_type_checks_accept_written_files_and_refuse_a_mistyped_copy(table, tmp_path):
    """The checks refuse no file surrotag or awkward writes, and do refuse the same events
    with a JSON list for provenance."""
    from surrotag.io import write_parquet

    events = read_events(EXAMPLE)
    copy = write_parquet(events, tmp_path / "copy.parquet", read_parquet_metadata(EXAMPLE))
    assert sniff_format(copy) == "parquet" and len(read_parquet(copy)) == len(events)
    ak.to_parquet(ak.from_parquet(EXAMPLE), tmp_path / "extension.parquet")  # awkward's types
    assert len(read_events(tmp_path / "extension.parquet")) == len(events)
    listed = _with_metadata(table, b"[]", tmp_path / "listed.parquet")
    with pytest.raises(FormatError, match="is a JSON array, expected an object"):
        read_events(listed)


# ---------------------------------------------------------------------------------------
# 2. empty collections


def _without_fatjets(events: ak.Array, stop: int | None = None) -> ak.Array:
    """The example with every fat-jet list emptied (of the first ``stop`` events only)."""
    n = len(events)
    stop = n if stop is None else stop
    keep = ak.local_index(events.fatjets, axis=1) < np.where(np.arange(n) < stop, 0, 1_000)[:, None]
    return ak.with_field(events, events.fatjets[keep], "fatjets")


def test_recast_refuses_fatjets_empty_in_every_event(table, tmp_path):
    from surrotag.recast import recast, recast_many

    path = _with_events(table, _without_fatjets(ak.from_arrow(table)), tmp_path / "nofj.parquet")
    with pytest.raises(EmptyCollectionError) as caught:
        recast(ANALYSIS, [path], tagger="efficiency-map", step_size=300)
    _one_line(caught, str(path), "collection 'fatjets' is empty in all 2000 events", ANALYSIS)
    with pytest.raises(EmptyCollectionError, match="'fatjets' is empty in all 2000 events"):
        recast_many([ANALYSIS], [path], tagger="efficiency-map")
    # empty in the first chunks but not in the last: a valid input, read to the end
    late = _with_events(
        table, _without_fatjets(ak.from_arrow(table), stop=1_900), tmp_path / "late.parquet"
    )
    report = recast(ANALYSIS, [late], tagger="efficiency-map", step_size=500)
    assert report.n_events == 2000 and report.cutflow["two_objects"] > 0


def test_run_refuses_fatjets_empty_in_every_event_with_one_line(table, tmp_path, capfd):
    from surrotag.cli import main

    path = _with_events(table, _without_fatjets(ak.from_arrow(table)), tmp_path / "nofj.parquet")
    out = tmp_path / "report.json"
    capfd.readouterr()
    assert main(["run", ANALYSIS, str(path), "--draws", "2", "-o", str(out)]) == 1
    err = capfd.readouterr().err.strip()
    assert err.count("\n") == 0 and "'fatjets' is empty in all 2000 events" in err, err
    assert not out.exists()


def test_required_collections_leave_leptons_free_for_a_lepton_veto():
    from surrotag.analysis import get_analysis
    from surrotag.recast.pipeline import required_collections

    allhad = get_analysis(ANALYSIS).card
    assert required_collections(allhad, "delphes") == (("fatjets",),)
    assert required_collections(allhad, "parton") == (("particles",),)
    stop = get_analysis("stop-allhad-toptag").card  # lepton_veto: n_leptons at_most 0
    assert set(required_collections(stop, "delphes")) == {("fatjets",), ("jets",)}
    ljets = get_analysis("zprime-ttbar-ljets").card  # one_lepton: n_leptons at_least 1
    assert ("electrons", "muons") in required_collections(ljets, "delphes")


# ---------------------------------------------------------------------------------------
# 3. collision energy of several inputs


def test_collision_energy_does_not_depend_on_the_order_of_the_files(table, tmp_path):
    document = _provenance(table)
    document["settings"]["ecm"] = 1960.0
    tevatron = _with_metadata(table, json.dumps(document).encode(), tmp_path / "tev.parquet")
    forward = resolve_inputs([EXAMPLE, tevatron])
    backward = resolve_inputs([tevatron, EXAMPLE])
    assert input_sqrt_s(forward) == input_sqrt_s(backward)
    assert input_sqrt_s(forward) is None  # no single energy is claimed
    one, two = input_collision_energy(forward), input_collision_energy(backward)
    assert one.warnings == two.warnings and len(one.warnings) == 1
    line = one.warnings[0]
    assert "\n" not in line and "1960 GeV" in line and "13000 GeV" in line
    assert str(tevatron) in line and str(EXAMPLE) in line
    assert input_sqrt_s(resolve_inputs([EXAMPLE, EXAMPLE.resolve()])) == 13000.0


def test_recast_of_mixed_energies_warns_whatever_the_order(table, tmp_path):
    from surrotag.recast import recast

    document = _provenance(table)
    document["settings"]["ecm"] = 8000.0
    eight = _with_metadata(table, json.dumps(document).encode(), tmp_path / "eight.parquet")
    reports = [
        recast(ANALYSIS, files, tagger="efficiency-map", xsec_pb=0.02)
        for files in ([EXAMPLE, eight], [eight, EXAMPLE])
    ]
    for report in reports:
        assert report.sqrt_s_gev is None
        mixed = [line for line in report.warnings if "mix collision energies" in line]
        assert len(mixed) == 1 and "8000 GeV" in mixed[0] and "13000 GeV" in mixed[0]
    assert reports[0].warnings == reports[1].warnings
