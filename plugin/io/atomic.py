"""Atomic file output: a temporary file in the target's folder, then ``os.replace``.

Reports, patches, cards, Parquet tables, scan results and the recast and scan plots go
through :func:`atomic_output` or the writers built on it, so an interrupted or failing run
never leaves a half-written one: readers see the old file or the new one, and the temporary
file (``.<name>.<random>.tmp``) is removed on any error, ``KeyboardInterrupt`` included.
New files get the mode a plain ``open(path, "w")`` would give them, ``0o666`` with the
user's umask applied (``0644`` under umask ``022``, ``0600`` under ``077``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_output",
    "strict_json",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]


def strict_json(value: Any) -> Any:
    """NaN and infinities -> None, recursively; numpy scalars -> Python (strict JSON).

    Example:
        >>> strict_json({"a": [1.0, float("nan")], "b": (float("inf"),)})
        {'a': [1.0, None], 'b': [None]}
    """
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy scalar
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def _create_temporary(target: Path) -> tuple[Path, int]:
    """Create an empty, unique ``.<name>.<random>.tmp`` beside ``target``; (path, mode).

    The file is created with mode ``0o666`` and ``O_EXCL``, so the kernel applies the
    umask (and any default ACL of the folder) exactly as for a plain ``open``: no process-wide
    ``os.umask`` call, which would race with other threads.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(temporary, flags, 0o666)
        except FileExistsError:  # pragma: no cover - 2**-32 per try
            continue
        try:
            mode = os.fstat(fd).st_mode & 0o7777
        finally:
            os.close(fd)
        return temporary, mode


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    For writers that take a path (``pyarrow.parquet.write_table``, ``Figure.savefig``,
    ``onnx.save``): write the whole product to the yielded path. When the block ends
    normally the file gets the umask's mode (``0o666 & ~umask``, whatever the writer did
    to it), is flushed to disk (``fsync``) and renamed onto ``path`` (``os.replace``); when
    the block raises (``KeyboardInterrupt`` included) the temporary file is removed and
    ``path`` is left as it was. The folder of ``path`` is created if needed.

    The temporary name ends in ``.tmp``, not in the target's suffix: writers that infer
    the format from the name need it given (``savefig(..., format="png")``).

    Args:
        path: the file to create or replace.
        fsync: flush the file's data to disk before the rename (a crash of the machine
            then leaves the old or the new file, not an empty one).

    Yields:
        The temporary path (an empty file, already created) to write to.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> with atomic_output(folder / "a.txt") as temporary:
        ...     _ = temporary.write_text("whole")
        >>> (folder / "a.txt").read_text(), [p.name for p in folder.iterdir()]
        ('whole', ['a.txt'])
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary, mode = _create_temporary(target)
    try:
        yield temporary
        if os.stat(temporary).st_mode & 0o7777 != mode:  # a writer that recreated the file
            os.chmod(temporary, mode)
        if fsync:
            fd = os.open(temporary, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_output`); returns the path."""
    target = Path(path)
    with atomic_output(target) as temporary:
        temporary.write_bytes(data)
    return target


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, creating its folder; returns the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(
    path: str | os.PathLike[str],
    document: Any,
    *,
    indent: int = 2,
    default: Callable[[Any], Any] | None = None,
) -> Path:
    """Write strict JSON (no NaN or infinity) atomically, with a final newline.

    Args:
        path: the file to (re)place.
        document: JSON-able content.
        indent: JSON indentation.
        default: converter for objects json cannot encode (e.g. numpy scalars).

    Raises:
        ValueError: the document holds NaN or infinity (nothing is written).
    """
    text = json.dumps(document, indent=indent, allow_nan=False, default=default) + "\n"
    return write_text_atomic(path, text)
