"""Outputs that are whole or absent: one line for a write that fails, no partial set.

Report, patch and plot of one run are one unit (:func:`surrotag.io.atomic.atomic_outputs`):
a failure or a signal during the output stage leaves none of the new files and the previous
complete set byte for byte. This machine may run as root, where ``chmod`` does not block a
write, so unwritable paths are made by putting them under a regular file, and failing
renames by wrapping ``os.replace``.
"""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from surrotag.errors import OutputError, SurrotagError
from surrotag.io import atomic
from surrotag.io.atomic import atomic_output, atomic_outputs, write_json_atomic

ANALYSIS = "zprime-ttbar-allhad"
EXAMPLE = (
    Path(__file__).resolve().parents[2]
    / "analyses"
    / "zprime_ttbar_allhad"
    / "example_signal.parquet"
)


def _debris(folder: Path) -> list[str]:
    """Temporary and backup files left in ``folder`` (recursively)."""
    return sorted(str(p) for p in folder.rglob(".*") if p.is_file())


def _snapshot(paths: list[Path]) -> dict[Path, tuple[bytes, int] | None]:
    """Content and mode of each path (None where there is no file)."""
    return {
        p: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) if p.exists() else None for p in paths
    }


def _failing_replace(
    monkeypatch: pytest.MonkeyPatch, fails: Callable[[int, Path], bool]
) -> list[Path]:
    """Wrap ``os.replace``: the renames of temporaries (``*.tmp*``) are counted from 1 and
    ``fails(count, target)`` makes one raise ``PermissionError``; returns the targets."""
    real = os.replace
    targets: list[Path] = []

    def replace(source: os.PathLike[str] | str, target: os.PathLike[str] | str) -> None:
        if ".tmp" in Path(source).name and not Path(target).name.startswith("."):
            targets.append(Path(target))
            if fails(len(targets), Path(target)):
                raise PermissionError(13, "Permission denied", os.fspath(target))
        real(source, target)

    monkeypatch.setattr(os, "replace", replace)
    return targets


def _write_set(temporaries: list[Path], text: str) -> None:
    for number, temporary in enumerate(temporaries):
        temporary.write_text(f"{text} {number}\n")


# --- the multi-file commit ------------------------------------------------------------------


def test_unit_commits_every_file_with_the_umask_mode(umask: int, tmp_path: Path) -> None:
    targets = [tmp_path / "r.json", tmp_path / "sub" / "p.patch.json", tmp_path / "p.png"]
    targets[0].write_text("old report\n")
    with atomic_outputs(targets) as temporaries:
        assert [t.suffix for t in temporaries] == [".json", ".json", ".png"]
        _write_set(temporaries, "new")
    assert [t.read_text() for t in targets] == [f"new {n}\n" for n in range(3)]
    assert {stat.S_IMODE(t.stat().st_mode) for t in targets} == {umask}
    assert _debris(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt, SystemExit])
def test_failure_while_writing_leaves_the_previous_set(
    error: type[BaseException], tmp_path: Path
) -> None:
    targets = [tmp_path / "r.json", tmp_path / "p.json", tmp_path / "new.png"]
    _write_set(targets[:2], "old")
    before = _snapshot(targets)
    with pytest.raises(error), atomic_outputs(targets) as temporaries:
        _write_set(temporaries[:2], "new")
        raise error("interrupted")
    assert _snapshot(targets) == before
    assert _debris(tmp_path) == []


def test_failing_third_rename_rolls_back_the_first_two(
    umask: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets = [tmp_path / "r.json", tmp_path / "p.json", tmp_path / "c.png", tmp_path / "d.txt"]
    _write_set([targets[0], targets[2]], "old")  # p.json and d.txt do not exist yet
    os.chmod(targets[0], 0o640)  # a previous file keeps its own mode
    before = _snapshot(targets)
    renamed = _failing_replace(monkeypatch, lambda count, _: count == 3)
    with pytest.raises(OutputError) as caught, atomic_outputs(targets) as temporaries:
        _write_set(temporaries, "new")
    assert renamed == targets[:3]
    assert str(caught.value) == (
        f"cannot write {targets[2]}: Permission denied (choose a writable folder)"
    )
    assert _snapshot(targets) == before
    assert _debris(tmp_path) == []


def test_a_rollback_that_fails_names_the_kept_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the documented limit (the rollback's own rename fails): say so, keep the
    previous file as its backup, never a silent mix."""
    targets = [tmp_path / "r.json", tmp_path / "p.json"]
    _write_set(targets, "old")
    old_report = targets[0].read_bytes()
    real = os.replace

    def replace(source: os.PathLike[str] | str, target: os.PathLike[str] | str) -> None:
        if Path(target) == targets[1] or Path(source).name.endswith(".bak"):
            raise PermissionError(13, "Permission denied", os.fspath(target))
        real(source, target)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OutputError) as caught, atomic_outputs(targets) as temporaries:
        _write_set(temporaries, "new")
    backups = sorted(tmp_path.glob(".r.json.*.bak"))
    assert len(backups) == 1 and backups[0].read_bytes() == old_report
    assert str(caught.value) == (
        f"cannot write {targets[1]}: Permission denied (choose a writable folder); and cannot "
        f"restore {targets[0]} (Permission denied); its previous file is {backups[0]}: "
        "restore it by hand"
    )
    assert targets[1].read_text() == "old 1\n"
    assert not list(tmp_path.glob(".*.tmp*"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_the_renames_rolls_them_back(
    signum: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C or a ``kill`` (``SystemExit`` under the CLI) between two renames is held
    until the renames end, then rolls them back and is raised."""
    from surrotag.cli import exit_on_sigterm

    targets = [tmp_path / "r.json", tmp_path / "p.json", tmp_path / "p.png"]
    _write_set(targets, "old")
    before = _snapshot(targets)

    def kill(count: int, _: Path) -> bool:
        if count == 2:
            os.kill(os.getpid(), signum)
        return False

    _failing_replace(monkeypatch, kill)
    # Python's own Ctrl-C handler, as in a terminal (a process started in the background by a
    # non-interactive shell, e.g. a CI job under nohup, inherits SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    expected = KeyboardInterrupt if signum == signal.SIGINT else SystemExit
    try:
        with exit_on_sigterm(), pytest.raises(expected):
            with atomic_outputs(targets) as temporaries:
                _write_set(temporaries, "new")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert _snapshot(targets) == before
    assert _debris(tmp_path) == []


def test_a_folder_in_the_way_rolls_back(tmp_path: Path) -> None:
    targets = [tmp_path / "r.json", tmp_path / "plot.png"]
    _write_set(targets[:1], "old")
    targets[1].mkdir()
    before = _snapshot(targets[:1])
    with pytest.raises(OutputError, match=r"plot\.png: .*\(it is a folder; name a file\)"):
        with atomic_outputs(targets) as temporaries:
            _write_set(temporaries, "new")
    assert _snapshot(targets[:1]) == before
    assert targets[1].is_dir() and not any(targets[1].iterdir())
    assert _debris(tmp_path) == []


def test_unit_under_a_file_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    targets = [tmp_path / "p.json", tmp_path / "file" / "r.json"]
    with pytest.raises(OutputError) as caught, atomic_outputs(targets) as temporaries:
        _write_set(temporaries, "new")  # pragma: no cover - never reached
    assert str(caught.value) == (
        f"cannot write {targets[1]}: {tmp_path / 'file'} is a file, not a folder "
        "(choose another path)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_the_same_file_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="named twice"):
        with atomic_outputs([tmp_path / "a.json", tmp_path / "." / "a.json"]):
            pass  # pragma: no cover - never reached
    assert list(tmp_path.iterdir()) == []


def test_writers_given_a_temporary_name_the_target_in_their_errors(tmp_path: Path) -> None:
    """The module's writers nested in a unit: an error names the user's file."""
    targets = [tmp_path / "r.json"]
    with pytest.raises(OutputError) as caught, atomic_outputs(targets) as temporaries:
        raise atomic.output_error(temporaries[0], OSError(28, "No space left on device"))
    assert str(caught.value) == (
        f"cannot write {targets[0]}: No space left on device "
        "(free disk space or choose another folder)"
    )
    assert _debris(tmp_path) == []


# --- single-file writers ----------------------------------------------------------------------


def test_single_writer_under_a_file_raises_output_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder") as caught:
        write_json_atomic(tmp_path / "file" / "r.json", {"a": 1})
    assert isinstance(caught.value, SurrotagError)


def test_single_writer_full_disk_raises_output_error(tmp_path: Path) -> None:
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")
    with pytest.raises(OutputError, match=r"t\.bin: No space left on device"):
        with atomic_output(target):
            raise OSError(28, "No space left on device")
    assert target.read_bytes() == b"old"
    assert _debris(tmp_path) == []


# --- through the CLI --------------------------------------------------------------------------


def _outputs(folder: Path) -> dict[str, Path]:
    return {
        "-o": folder / "r.json",
        "--patch-out": folder / "p.patch.json",
        "--plot": folder / "p.png",
    }


def _run(capsys: pytest.CaptureFixture[str], outputs: dict[str, Path]) -> tuple[int, str]:
    from surrotag.cli import main

    if not EXAMPLE.is_file():
        pytest.skip("example signal not shipped in this checkout")
    args = ["run", ANALYSIS, str(EXAMPLE), "--draws", "2"]
    for option, path in outputs.items():
        args += [option, str(path)]
    code = main(args)
    return code, capsys.readouterr().err.strip()


def test_cli_unwritable_report_is_one_line_and_no_partial_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    outputs = _outputs(tmp_path)
    outputs["-o"] = tmp_path / "file" / "r.json"
    code, err = _run(capsys, outputs)
    assert code == 1
    assert err == (
        f"surrotag: error: cannot write {outputs['-o']}: {tmp_path / 'file'} is a file, "
        "not a folder (choose another path)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_cli_failing_rerun_keeps_the_previous_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = _outputs(tmp_path)
    assert _run(capsys, outputs)[0] == 0
    paths = list(outputs.values())
    before = _snapshot(paths)
    assert all(before.values())
    renamed = _failing_replace(monkeypatch, lambda count, _: count == 3)
    code, err = _run(capsys, outputs)
    assert code == 1
    assert renamed == paths  # report and patch were renamed, then rolled back
    assert err == (
        f"surrotag: error: cannot write {outputs['--plot']}: Permission denied "
        "(choose a writable folder)"
    )
    assert _snapshot(paths) == before
    assert _debris(tmp_path) == []


def test_cli_reports_a_stray_os_error_as_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last defence: an ``OSError`` no writer converted is still one line, exit 1."""
    from surrotag import cli

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(5, "Input/output error", "/mnt/x/r.json")

    monkeypatch.setattr(cli.cli, "main", broken)
    assert cli.main(["--version"]) == 1
    assert capsys.readouterr().err == (
        "surrotag: error: /mnt/x/r.json: Input/output error "
        "(check the path, its permissions and the free space)\n"
    )


def test_cli_features_output_under_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from surrotag.cli import main

    if not EXAMPLE.is_file():
        pytest.skip("example signal not shipped in this checkout")
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "x.parquet"
    assert main(["features", str(EXAMPLE), "-o", str(target)]) == 1
    assert capsys.readouterr().err == (
        f"surrotag: error: cannot write {target}: {tmp_path / 'file'} is a file, not a folder "
        "(choose another path)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
