"""One atomic writer: the umask decides the mode, a failure leaves the old file and no debris."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from surrotag.io.atomic import (
    atomic_output,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _debris(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _validation_report(path: Path) -> None:
    from surrotag.validation.report import write_json

    write_json({"goals": [], "ks": float("nan")}, path)


def _explain_report(path: Path) -> None:
    from surrotag.explain.report import write_json

    write_json({"shap": [0.5]}, path)


def _scan_json(path: Path) -> None:
    from surrotag.scan.run import write_json

    write_json(path, {"name": "p0"})


def _patch(path: Path) -> None:
    from surrotag.stats.patch import write_patchset

    write_patchset(path, {"patches": [], "version": "1.0.0"})


def _parquet(path: Path) -> None:
    import awkward as ak

    from surrotag.io import write_parquet

    write_parquet(ak.Array({"jet_pt": [500.0, 650.0]}), path, {"command": "test"})


WRITERS: dict[str, Callable[[Path], None]] = {
    "report.json": _validation_report,
    "explain.json": _explain_report,
    "point.json": _scan_json,
    "patch.json": _patch,
    "table.parquet": _parquet,
    "text.txt": lambda path: write_text_atomic(path, "text\n"),
    "bytes.bin": lambda path: write_bytes_atomic(path, b"\x00\x01"),
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_outputs_get_the_umask_mode(name: str, umask: int, tmp_path: Path) -> None:
    target = tmp_path / "sub" / name
    WRITERS[name](target)
    assert _mode(target) == umask
    WRITERS[name](target)  # replacing an existing file: the same mode
    assert _mode(target) == umask
    assert _debris(target.parent) == []


def test_parquet_output_round_trips(tmp_path: Path) -> None:
    from surrotag.io import read_parquet, read_parquet_metadata

    target = tmp_path / "table.parquet"
    _parquet(target)
    assert read_parquet(target, events=False).jet_pt.to_list() == [500.0, 650.0]
    assert read_parquet_metadata(target) == {"command": "test"}


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_inside_keeps_old_file_and_no_temporary(
    error: type[BaseException], tmp_path: Path
) -> None:
    target = tmp_path / "report.json"
    write_json_atomic(target, {"old": True})
    before = target.read_bytes()
    with pytest.raises(error), atomic_output(target) as temporary:
        assert temporary.parent == tmp_path and temporary.exists()
        temporary.write_text('{"new": tr')  # half written
        raise error("interrupted")
    assert target.read_bytes() == before
    assert _debris(tmp_path) == []


def test_failing_parquet_writer_keeps_old_file(tmp_path: Path, monkeypatch) -> None:
    import pyarrow.parquet as pq

    target = tmp_path / "table.parquet"
    _parquet(target)
    before = target.read_bytes()

    def broken(table: object, where: str, **kwargs: object) -> None:
        Path(where).write_bytes(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        _parquet(target)
    assert target.read_bytes() == before
    assert _debris(tmp_path) == []


def test_writer_that_recreates_the_file_still_gets_umask_mode(umask: int, tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    with atomic_output(target) as temporary:
        temporary.unlink()
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    assert _mode(target) == umask


def test_features_refuses_output_equal_to_input(delphes_file: Path, tmp_path: Path, capsys) -> None:
    from surrotag.cli import main

    events = tmp_path / "events.root"
    shutil.copyfile(delphes_file, events)
    before = events.read_bytes()
    assert main(["features", str(events), "-o", str(events)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "input" in err
    assert events.read_bytes() == before
    # The same file by another name (a symbolic link) is refused too.
    link = tmp_path / "link.root"
    link.symlink_to(events)
    assert main(["features", str(events), "-o", str(link)]) == 1
    assert events.read_bytes() == before
