"""Scans on Dask: grid checks, atomic per-point files, resuming, failures, kills, patchset.

The per-point function is :func:`scan_points.count_point` (reads the real event files and
builds a real pyhf patch) until the analysis's workspace exists; the real recast is used
by :func:`test_real_recast_scan` when it does. The scan machinery is never mocked: a real
``dask.distributed`` LocalCluster runs the points in worker processes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from surrotag.cli import main
from surrotag.errors import GridError, InputFileError, ScanError
from surrotag.scan import ScanOptions, load_grid, parse_grid, run_scan, scan
from surrotag.scan.contour import interpolate_cls, plot_contour

pytest.importorskip("dask.distributed")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLE = ROOT / "analyses" / "zprime_ttbar_allhad" / "example_signal.parquet"
ANALYSIS = "zprime-ttbar-allhad"

sys.path.insert(0, str(HERE))
from cls_grid import log_linear_cls, log_linear_cls_rows  # noqa: E402
from scan_points import ATLAS_WORKSPACE, count_point  # noqa: E402


def _no_temporaries(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.name.startswith(".") and ".tmp" in p.name]


@pytest.fixture(scope="module")
def example_file() -> Path:
    if not EXAMPLE.is_file():
        pytest.skip("analyses/zprime_ttbar_allhad/example_signal.parquet not built yet")
    return EXAMPLE


@pytest.fixture(scope="module")
def atlas_workspace_file() -> Path:
    if not ATLAS_WORKSPACE.is_file():
        pytest.skip("real ATLAS likelihood not found: needs ../shared/data beside the repo")
    return ATLAS_WORKSPACE


@pytest.fixture(scope="module")
def calls_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("calls") / "calls.txt"


@pytest.fixture(scope="module")
def client(calls_file):
    """One LocalCluster of two single-thread worker processes for the module."""
    from dask.distributed import Client, LocalCluster

    os.environ["SURROTAG_TEST_CALLS"] = str(calls_file)  # inherited by the spawned workers
    try:
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as dask_client,
        ):
            yield dask_client
    finally:
        os.environ.pop("SURROTAG_TEST_CALLS", None)


def _calls(calls_file: Path) -> list[str]:
    return calls_file.read_text().split() if calls_file.exists() else []


# --------------------------------------------------------------------------- grid


def _grid_yaml(folder: Path, events: str, extra: str = "") -> Path:
    path = folder / "grid.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            description: test grid
            points:
              - name: a
                parameters: {{mass_gev: 1000, coupling: 0.5}}
                events: {events}
                xsec_pb: 1.5
              - name: b
                parameters: {{mass_gev: 2000, coupling: 0.5}}
                events: [{events}]
            {extra}"""
        )
    )
    return path


def test_grid_formats_agree_and_resolve_relative_to_the_grid(tmp_path, delphes_file):
    data = tmp_path / "sig"
    data.mkdir()
    shutil.copy(delphes_file, data / "one.root")
    shutil.copy(delphes_file, data / "two.root")
    yaml_grid = load_grid(_grid_yaml(tmp_path, "sig/*.root"))
    (tmp_path / "grid.csv").write_text(
        "name,mass_gev,coupling,events,xsec_pb\n"
        "a,1000,0.5,sig/*.root,1.5\n"
        "b,2000,0.5,sig/one.root;sig/two.root,\n"
    )
    csv_grid = load_grid(tmp_path / "grid.csv")
    (tmp_path / "grid.json").write_text(
        json.dumps(
            {
                "points": [
                    {
                        "name": "a",
                        "parameters": {"mass_gev": 1000, "coupling": 0.5},
                        "events": "sig/*.root",
                        "xsec_pb": 1.5,
                    },
                    {
                        "name": "b",
                        "parameters": {"mass_gev": 2000, "coupling": 0.5},
                        "events": [str(data / "one.root"), "sig/two.root"],
                    },
                ]
            }
        )
    )
    json_grid = load_grid(tmp_path / "grid.json")
    expected = (data.resolve() / "one.root", data.resolve() / "two.root")
    for grid in (yaml_grid, csv_grid, json_grid):
        assert grid.parameter_names == ("mass_gev", "coupling")
        assert [p.name for p in grid.points] == ["a", "b"]
        assert grid.points[0].events == expected
        assert grid.points[0].xsec_pb == 1.5 and grid.points[1].xsec_pb is None
        assert grid.points[1].parameters == {"mass_gev": 2000.0, "coupling": 0.5}
    assert yaml_grid.points == csv_grid.points == json_grid.points


@pytest.mark.parametrize(
    ("mutate", "error", "pattern"),
    [
        (
            lambda d: d["points"][1].update(events="nope.root"),
            InputFileError,
            r"point 'b': events file 'nope\.root' not found",
        ),
        (
            lambda d: d["points"][1].update(events="sig/*.lhe"),
            InputFileError,
            r"point 'b': events glob 'sig/\*\.lhe' matches no file",
        ),
        (lambda d: d["points"][1].update(name="a"), GridError, r"point name 'a' appears twice"),
        (
            lambda d: d["points"][1]["parameters"].update(mass_gev="heavy"),
            GridError,
            r"point 'b' \(points\[1\]\)\.parameters\.mass_gev: 'heavy' is not of type 'number'",
        ),
        (
            lambda d: d["points"][0].update(xsec_pb=-1.0),
            GridError,
            r"point 'a' \(points\[0\]\)\.xsec_pb: -1\.0 is less than or equal to",
        ),
        (
            lambda d: d["points"][1]["parameters"].update(mass_gev=1000),
            GridError,
            r"points 'a' and 'b' have the same parameters",
        ),
        (
            lambda d: d["points"][1]["parameters"].pop("coupling"),
            GridError,
            r"point 'b' has parameters \['mass_gev'\]",
        ),
        (lambda d: d["points"][0].update(name="a b"), GridError, r"does not match"),
        (lambda d: d.update(points=[]), GridError, r"invalid grid at \$\.points"),
    ],
)
def test_grid_errors_are_one_line_naming_the_point(tmp_path, delphes_file, mutate, error, pattern):
    shutil.copy(delphes_file, tmp_path / "one.root")
    document = {
        "points": [
            {"name": "a", "parameters": {"mass_gev": 1000, "coupling": 0.5}, "events": "one.root"},
            {"name": "b", "parameters": {"mass_gev": 2000, "coupling": 0.5}, "events": "one.root"},
        ]
    }
    mutate(document)
    with pytest.raises(error, match=pattern) as caught:
        parse_grid(document, base=tmp_path, source="grid.json")
    assert "\n" not in str(caught.value)


def test_cli_grid_errors_exit_1_before_anything_runs(tmp_path, delphes_file, capsys):
    shutil.copy(delphes_file, tmp_path / "one.root")
    grid = _grid_yaml(tmp_path, "missing.root")
    out = tmp_path / "out"
    assert main(["scan", ANALYSIS, str(grid), "-o", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "point 'a': events file 'missing.root' not found" in err
    assert not out.exists()
    (tmp_path / "bad.csv").write_text("name,mass_gev,events\nx,heavy,one.root\n")
    assert main(["scan", ANALYSIS, str(tmp_path / "bad.csv"), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert "point 'x' (points[0]).parameters.mass_gev: 'heavy' is not of type 'number'" in err
    (tmp_path / "bad.yaml").write_text("points: [name: a\n")
    assert main(["scan", ANALYSIS, str(tmp_path / "bad.yaml"), "-o", str(out)]) == 1
    assert "not valid YAML at line" in capsys.readouterr().err
    assert main(["scan", "no-such-analysis", str(_grid_yaml(tmp_path, "one.root")), "-o", str(out)])
    assert "unknown analysis 'no-such-analysis'" in capsys.readouterr().err
    assert not out.exists()


# --------------------------------------------------------------------------- running


def test_scan_records_failure_skips_finished_and_writes_patchset(
    tmp_path, client, calls_file, delphes_file, example_file, atlas_workspace_file
):
    import awkward as ak
    import pyhf

    from surrotag.io import read_events

    grid_file = tmp_path / "grid.csv"
    grid_file.write_text(
        "name,mass_gev,coupling,events\n"
        f"ttH,1000,0.5,{delphes_file}\n"
        f"zp,2000,0.5,{example_file}\n"
        f"broken,3000,0.5,{atlas_workspace_file}\n"  # a JSON file, not events
    )
    grid = load_grid(grid_file)
    out = tmp_path / "out"
    options = ScanOptions()
    before = len(_calls(calls_file))

    outputs = scan(
        ANALYSIS,
        grid,
        out,
        client=client,
        point_function=count_point,
        report_check=None,
        workspace=atlas_workspace_file,
        progress=False,
    )
    result = outputs.result
    assert [(o.name, o.status) for o in result.outcomes] == [
        ("ttH", "done"),
        ("zp", "done"),
        ("broken", "failed"),
    ]
    assert sorted(_calls(calls_file)[before:]) == ["broken", "ttH", "zp"]
    # reports hold what the real files hold
    for name, path in (("ttH", delphes_file), ("zp", example_file)):
        events = read_events(path, collections=["fatjets"])
        report = json.loads((out / "points" / name / "report.json").read_text())
        assert report["n_events"] == len(events)
        assert report["n_fatjets"] == int(ak.sum(ak.num(events.fatjets)))
        assert set(os.listdir(out / "points" / name)) == {"report.json", "patch.json", "point.json"}
    error = json.loads((out / "points" / "broken" / "error.json").read_text())
    assert error["name"] == "broken" and "\n" not in error["error"]
    assert str(atlas_workspace_file.name) in error["error"]
    assert set(os.listdir(out / "points" / "broken")) == {"error.json"}

    # summary table: every point, with its status
    rows = json.loads((out / "summary.json").read_text())["rows"]
    assert [(r["name"], r["status"]) for r in rows] == [
        ("ttH", "done"),
        ("zp", "done"),
        ("broken", "failed"),
    ]
    assert (out / "summary.csv").read_text().splitlines()[0].startswith("name,mass_gev,coupling")

    # the patchset validates with pyhf and applies to the background workspace
    spec = json.loads((out / "patchset.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        patchset = pyhf.PatchSet(spec)
        background = pyhf.Workspace(json.loads(atlas_workspace_file.read_text()))
        patchset.verify(background)
        assert [p.name for p in patchset.patches] == ["ttH", "zp"]
        assert patchset.labels == ["mass_gev", "coupling"]
        patched = patchset.apply(background, (2000.0, 0.5))
    sr = next(c for c in patched["channels"] if c["name"] == "SR_meff")
    signal_sample = next(s for s in sr["samples"] if s["name"] == "signal")
    n_fat = json.loads((out / "points" / "zp" / "report.json").read_text())["n_fatjets"]
    np.testing.assert_allclose(signal_sample["data"], [0.1 * n_fat] * 3)

    # rerun: the finished points are skipped, only the failed one is tried again
    mtimes = {n: (out / "points" / n / "report.json").stat().st_mtime_ns for n in ("ttH", "zp")}
    before = len(_calls(calls_file))
    again = run_scan(
        ANALYSIS,
        grid.points,
        out,
        client=client,
        point_function=count_point,
        report_check=None,
        progress=False,
    )
    assert [o.status for o in again.outcomes] == ["skipped", "skipped", "failed"]
    assert _calls(calls_file)[before:] == ["broken"]
    assert mtimes == {
        n: (out / "points" / n / "report.json").stat().st_mtime_ns for n in ("ttH", "zp")
    }

    # a half-valid folder (report gone) or other options rerun exactly that point
    (out / "points" / "zp" / "report.json").unlink()
    before = len(_calls(calls_file))
    third = run_scan(
        ANALYSIS,
        grid.points[:2],
        out,
        client=client,
        point_function=count_point,
        report_check=None,
        progress=False,
    )
    assert [o.status for o in third.outcomes] == ["skipped", "done"]
    assert _calls(calls_file)[before:] == ["zp"]
    fourth = run_scan(
        ANALYSIS,
        grid.points[:1],
        out,
        options=ScanOptions(draws=3),
        client=client,
        point_function=count_point,
        report_check=None,
        progress=False,
    )
    assert [o.status for o in fourth.outcomes] == ["done"]
    assert options != ScanOptions(draws=3)
    assert _no_temporaries(out) == []


def test_folder_in_use_by_a_live_scan_is_refused(tmp_path, delphes_file):
    grid = parse_grid(
        {"points": [{"name": "a", "parameters": {"m": 1}, "events": str(delphes_file)}]}
    )
    tmp_path.joinpath(".scan.lock").write_text(str(os.getppid()))
    with pytest.raises(ScanError, match=r"another scan \(pid \d+\) is writing this folder"):
        run_scan(ANALYSIS, grid.points, tmp_path, point_function=count_point, progress=False)
    # a lock left by a dead process is taken over (a pid that has just exited)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    tmp_path.joinpath(".scan.lock").write_text(dead)
    assert run_scan(ANALYSIS, [], tmp_path, progress=False).outcomes == ()
    assert not tmp_path.joinpath(".scan.lock").exists()
    with pytest.raises(ScanError, match="--workers must be at least 1"):
        run_scan(ANALYSIS, grid.points, tmp_path, workers=0, progress=False)


_KILL_SCRIPT = """
import sys
sys.path.insert(0, {here!r})
from scan_points import count_point
from surrotag.scan import load_grid, run_scan
grid = load_grid({grid!r})
run_scan({analysis!r}, grid.points, {out!r}, workers=1, point_function=count_point,
         report_check=None, progress=False)
"""


def test_killed_scan_resumes_without_losing_or_duplicating_points(
    tmp_path, client, calls_file, delphes_file, example_file
):
    """Kill the whole scan (client, scheduler and worker processes) mid-way, then rerun."""
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(
        textwrap.dedent(
            f"""\
            points:
              - {{name: fast, parameters: {{mass_gev: 1000, repeat: 1}}, events: {delphes_file}}}
              - {{name: slow, parameters: {{mass_gev: 2000, repeat: 1}}, events: {example_file}}}
            """
        )
    )
    out = tmp_path / "out"
    calls = tmp_path / "calls.txt"
    script = _KILL_SCRIPT.format(
        here=str(HERE), grid=str(grid_file), analysis=ANALYSIS, out=str(out)
    )
    env = {**os.environ, "SURROTAG_TEST_CALLS": str(calls), "SURROTAG_TEST_SLOW": "slow"}
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    fast = out / "points" / "fast" / "point.json"
    try:
        deadline = time.monotonic() + 120
        while not fast.exists():
            assert process.poll() is None, process.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the fast point did not finish in 120 s"
            time.sleep(0.1)
        while "slow" not in _calls(calls):  # the slow point is running now
            assert time.monotonic() < deadline, "the slow point did not start"
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the whole scan: client and its workers
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (out / "points" / "slow" / "point.json").exists(), _calls(calls)  # killed first
    assert _calls(calls) == ["fast", "slow"]

    grid = load_grid(grid_file)
    before = len(_calls(calls_file))
    result = run_scan(
        ANALYSIS,
        grid.points,
        out,
        client=client,
        point_function=count_point,
        report_check=None,
        progress=False,
    )
    assert [(o.name, o.status) for o in result.outcomes] == [("fast", "skipped"), ("slow", "done")]
    assert _calls(calls_file)[before:] == ["slow"]  # only the unfinished point ran again
    for name in ("fast", "slow"):
        folder = out / "points" / name
        assert sorted(os.listdir(folder)) == ["patch.json", "point.json", "report.json"]
        for file in folder.iterdir():
            json.loads(file.read_text())  # whole JSON, no half-written file
    assert sorted(os.listdir(out / "points")) == ["fast", "slow"]
    assert _no_temporaries(out) == []
    assert not (out / ".scan.lock").exists()


# --------------------------------------------------------------------------- contour


def test_contour_interpolation_is_exact_for_log_linear_cls(tmp_path):
    """log10(CLs) linear in the parameters: linear interpolation reproduces it exactly."""
    rows = log_linear_cls_rows()
    mass = np.array([row["mass_gev"] for row in rows])
    coupling = np.array([row["coupling"] for row in rows])
    mesh = np.meshgrid(np.linspace(1000, 3000, 41), np.linspace(0.1, 1.0, 37))
    values = interpolate_cls(mass, coupling, log_linear_cls(mass, coupling), mesh)
    np.testing.assert_allclose(values, log_linear_cls(*mesh), rtol=1e-9)

    path = plot_contour(rows, ("mass_gev", "coupling"), tmp_path / "contour.png", title="t")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_contour(rows, ("mass_gev",), tmp_path / "one.png") is None
    assert plot_contour(rows[:2], ("mass_gev", "coupling"), tmp_path / "two.png") is None
    assert _no_temporaries(tmp_path) == []


def test_killed_worker_reruns_its_point_once(
    tmp_path, client, calls_file, example_file, atlas_workspace_file
):
    """Kill the worker process running a point: Dask restarts it and the point still finishes."""
    import threading

    grid = parse_grid(
        {
            "points": [
                {"name": "slow", "parameters": {"m": 1, "repeat": 6}, "events": str(example_file)},
                {"name": "other", "parameters": {"m": 2, "repeat": 1}, "events": str(example_file)},
            ]
        }
    )
    out = tmp_path / "out"
    before = len(_calls(calls_file))
    box = {}

    def scan_in_thread():
        box["result"] = run_scan(
            ANALYSIS,
            grid.points,
            out,
            client=client,
            point_function=count_point,
            report_check=None,
            progress=False,
        )

    thread = threading.Thread(target=scan_in_thread)
    thread.start()
    deadline = time.monotonic() + 120
    victim = None
    while victim is None:
        assert time.monotonic() < deadline, "the slow point did not start"
        if "slow" in _calls(calls_file)[before:]:
            for address, keys in client.processing().items():
                if any("surrotag-point-slow" in str(key) for key in keys):
                    victim = address
        time.sleep(0.05)
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=180)
    assert not thread.is_alive()
    result = box["result"]
    assert [(o.name, o.status) for o in result.outcomes] == [("slow", "done"), ("other", "done")]
    assert sorted(_calls(calls_file)[before:]) == ["other", "slow", "slow"]  # slow ran twice
    for name in ("slow", "other"):
        folder = out / "points" / name
        assert sorted(os.listdir(folder)) == ["patch.json", "point.json", "report.json"]
    assert _no_temporaries(out) == []


def _analysis_workspace_built() -> bool:
    from surrotag.analysis import get_analysis

    return get_analysis(ANALYSIS).has_resource("workspace.json")


def test_real_recast_scan(tmp_path, delphes_file, example_file, capsys):
    """The real recast at two points: the example Z' signal and a ttH file with no signal."""
    import pyhf

    if not _analysis_workspace_built():
        pytest.skip(f"{ANALYSIS} has no workspace.json yet (analysis build script)")
    from surrotag.analysis import get_analysis
    from surrotag.recast import validate_report

    grid = tmp_path / "grid.yaml"
    grid.write_text(
        textwrap.dedent(
            f"""\
            points:
              - {{name: zp, parameters: {{mass_gev: 2000}}, events: {example_file}, xsec_pb: 1.0}}
              - {{name: ttH, parameters: {{mass_gev: 125}}, events: {delphes_file}, xsec_pb: 0.5}}
            """
        )
    )
    out = tmp_path / "out"
    argv = ["scan", ANALYSIS, str(grid), "-o", str(out), "--draws", "2", "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    for name in ("zp", "ttH"):
        validate_report(json.loads((out / "points" / name / "report.json").read_text()))
    rows = {r["name"]: r for r in json.loads((out / "summary.json").read_text())["rows"]}
    assert rows["ttH"]["cls_obs"] == 1.0 and rows["ttH"]["yield_SR"] == 0.0
    assert rows["zp"]["yield_SR"] > 0 and 0 < rows["zp"]["cls_obs"] < 1
    spec = json.loads((out / "patchset.json").read_text())
    background = get_analysis(ANALYSIS).workspace().workspace
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        patchset = pyhf.PatchSet(spec)
        patchset.verify(background)
        patched = pyhf.Workspace(patchset.apply(background, "zp"))
    assert "signal" in patched.samples
    # a rerun recasts nothing
    assert main(argv) == 0
    assert "0 recast, 2 already finished" in capsys.readouterr().out


def test_several_analyses_scan_into_one_folder_each(
    tmp_path, client, example_file, atlas_workspace_file
):
    """Each analysis gets its own points, summary and patchset; bad lists are one line."""
    sys.path.insert(0, str(Path(__file__).parent))
    from recast_fixtures import analysis_variant

    from surrotag.errors import AnalysisError
    from surrotag.scan import scan_analyses

    variant = analysis_variant(tmp_path, "zprime-variant", leading_pt=600.0)
    grid_file = tmp_path / "grid.csv"
    grid_file.write_text(f"name,mass_gev,events\nzp,2000,{example_file}\n")
    out = tmp_path / "out"
    outputs = scan_analyses(
        [ANALYSIS, variant], grid_file, out, client=client, point_function=count_point,
        report_check=None, progress=False,
    )  # fmt: skip
    assert [o.result.outcomes[0].status for o in outputs] == ["done", "done"]
    for name in (ANALYSIS, "zprime-variant"):
        assert (out / name / "points" / "zp" / "report.json").is_file()
        assert (out / name / "summary.csv").is_file()
    with pytest.raises(AnalysisError, match="named more than once"):
        scan_analyses([ANALYSIS, ANALYSIS], grid_file, out, client=client, progress=False)
    with pytest.raises(AnalysisError, match="unknown analysis 'no-such'"):
        scan_analyses([ANALYSIS, "no-such"], grid_file, tmp_path / "none", progress=False)
    assert not (tmp_path / "none").exists()  # refused before anything was written
