"""Atomic file output: a temporary file in the target's folder, then ``os.replace``.

Reports, patches, cards, Parquet tables, scan results and the recast and scan plots go
through :func:`atomic_output` or the writers built on it, so an interrupted or failing run
never leaves a half-written one: readers see the old file or the new one, and the temporary
file (``.<name>.<random>.tmp``) is removed on any error, ``KeyboardInterrupt`` included.
New files get the mode a plain ``open(path, "w")`` would give them, ``0o666`` with the
user's umask applied (``0644`` under umask ``022``, ``0600`` under ``077``).

Products that belong together (the report, patch and plot of one recast) go through
:func:`atomic_outputs`: all of them are committed, or none is and the previous files stay.

A failure to write (a read-only folder, a full disk, a file where a folder should be) is
an :class:`~surrotag.errors.OutputError`, one line naming the file and what to do, never
a bare ``OSError``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from surrotag.errors import OutputError
from surrotag.surrogates.errors import one_line

__all__ = [
    "atomic_output",
    "atomic_outputs",
    "output_error",
    "strict_json",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

#: What to do about a failed write, by ``errno``.
_HINTS: dict[int, str] = {
    errno.EACCES: "choose a writable folder",
    errno.EPERM: "choose a writable folder",
    errno.EROFS: "choose a writable folder",
    errno.ENOENT: "choose a writable folder",
    errno.ENOSPC: "free disk space or choose another folder",
    errno.EDQUOT: "free disk space or choose another folder",
    errno.EFBIG: "free disk space or choose another folder",
    errno.ENOTDIR: "a part of the path is a file; choose another path",
    errno.EEXIST: "choose another path",
    errno.EISDIR: "it is a folder; name a file",
    errno.ENAMETOOLONG: "choose a shorter name",
}

#: Errors of a write that are the output's fault whichever file the OS names.
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def output_error(path: str | os.PathLike[str], error: OSError) -> OutputError:
    """The one-line :class:`~surrotag.errors.OutputError` for a failed write of ``path``.

    Args:
        path: the output the user asked for (not a temporary file).
        error: what the operating system said.

    Example:
        >>> import errno
        >>> str(output_error("/proc/r.json", PermissionError(errno.EACCES, "Permission denied")))
        'cannot write /proc/r.json: Permission denied (choose a writable folder)'
    """
    target = os.fspath(path)
    reason = error.strerror or type(error).__name__
    culprit = os.fspath(error.filename) if error.filename is not None else None
    if culprit is not None and not _names_output(culprit, target):
        reason = (
            f"{culprit} is a file, not a folder"
            if error.errno == errno.EEXIST
            else f"{reason}: {culprit}"
        )
    hint = _HINTS.get(error.errno or 0, "check the path, its permissions and the free space")
    return OutputError(one_line(f"cannot write {target}: {reason} ({hint})", limit=None))


def _names_output(culprit: str, target: str) -> bool:
    """Whether ``culprit`` is ``target`` or one of its temporary or backup files."""
    head, name = os.path.split(target)
    other_head, other_name = os.path.split(culprit)
    return culprit == target or (other_head == head and other_name.startswith(f".{name}."))


def _is_output_failure(error: OSError, temporary: Path) -> bool:
    """Whether an ``OSError`` raised while writing ``temporary`` is a failure of the output."""
    named = error.filename is not None and os.fspath(error.filename) == os.fspath(temporary)
    return named or error.errno in _OUTPUT_ERRNOS


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


def _create_temporary(target: Path, suffix: str = "") -> tuple[Path, int]:
    """Create an empty, unique ``.<name>.<random>.tmp<suffix>`` beside ``target``; (path, mode).

    The file is created with mode ``0o666`` and ``O_EXCL``, so the kernel applies the
    umask (and any default ACL of the folder) exactly as for a plain ``open``: no process-wide
    ``os.umask`` call, which would race with other threads.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp{suffix}")
        try:
            fd = os.open(temporary, flags, 0o666)
        except FileExistsError:  # pragma: no cover - 2**-32 per try
            continue
        try:
            mode = os.fstat(fd).st_mode & 0o7777
        finally:
            os.close(fd)
        return temporary, mode


def _finish(temporary: Path, mode: int, fsync: bool) -> None:
    """Give ``temporary`` the umask's ``mode`` (whatever its writer did) and flush it to disk."""
    if os.stat(temporary).st_mode & 0o7777 != mode:  # a writer that recreated the file
        os.chmod(temporary, mode)
    if fsync:
        fd = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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

    Raises:
        OutputError: the folder or the file cannot be written (permissions, a full disk, a
            file in the way), or the block raised an ``OSError`` about the temporary file
            or a full disk; other ``OSError`` of the block propagate unchanged.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> with atomic_output(folder / "a.txt") as temporary:
        ...     _ = temporary.write_text("whole")
        >>> (folder / "a.txt").read_text(), [p.name for p in folder.iterdir()]
        ('whole', ['a.txt'])
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary, mode = _create_temporary(target)
    except OSError as error:
        raise output_error(target, error) from error
    try:
        try:
            yield temporary
        except OSError as error:
            if _is_output_failure(error, temporary):
                raise output_error(target, error) from error
            raise
        try:
            _finish(temporary, mode, fsync)
            os.replace(temporary, target)
        except OSError as error:
            raise output_error(target, error) from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class _HeldSignals:
    """SIGINT and SIGTERM held back while a commit or a rollback runs (main thread only).

    Only signals whose handler is a Python function (the default ``KeyboardInterrupt`` one,
    :func:`surrotag.cli.exit_on_sigterm`'s ``SystemExit``) are held: a signal left to the
    operating system (default action or ignored) keeps its usual effect.
    """

    def __init__(self) -> None:
        self.previous: dict[int, Callable[[int, Any], Any]] = {}
        self.pending: list[int] = []

    def hold(self, signum: int, frame: Any) -> None:
        """The stand-in handler: remember the signal."""
        self.pending.append(signum)

    def deliver(self) -> None:
        """Run the original handler of the first held signal (it raises, as it would have)."""
        if self.pending:
            signum = self.pending[0]
            self.pending.clear()
            self.previous[signum](signum, None)


@contextlib.contextmanager
def _held_signals() -> Iterator[_HeldSignals]:
    """Hold SIGINT and SIGTERM in the block; deliver one that came when it ends."""
    held = _HeldSignals()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            if callable(previous):
                held.previous[signum] = previous
                signal.signal(signum, held.hold)
    try:
        yield held
    finally:
        for signum, previous in held.previous.items():
            signal.signal(signum, previous)
        held.deliver()


def _backup(target: Path) -> Path | None:
    """A ``.<name>.<random>.bak`` of the file at ``target`` (a hard link, else a copy); None
    when there is no file (nothing, or a folder, which the rename then refuses)."""
    if not os.path.lexists(target) or (target.is_dir() and not target.is_symlink()):
        return None
    while True:
        backup = target.with_name(f".{target.name}.{secrets.token_hex(4)}.bak")
        try:
            os.link(target, backup, follow_symlinks=False)
        except FileExistsError:  # pragma: no cover - 2**-32 per try
            continue
        except OSError:  # a file system without hard links: a copy keeps content and mode
            shutil.copy2(target, backup, follow_symlinks=False)
        return backup


def _commit(targets: Sequence[Path], temporaries: Sequence[Path], held: _HeldSignals) -> None:
    """Rename every temporary onto its target, or restore every target as it was.

    Raises:
        OutputError: a backup or a rename failed (every target is back as it was), or the
            rollback itself failed (the message names the files left and their backups).
    """
    backups: list[Path | None] = []
    done = 0
    current = targets[0] if targets else Path()
    try:
        for target in targets:
            current = target
            backups.append(_backup(target))
        held.deliver()  # a signal during the preparation: nothing renamed yet
        for target, temporary in zip(targets, temporaries, strict=True):
            current = target
            os.replace(temporary, target)
            done += 1
        held.deliver()  # a signal during the renames rolls them back
    except BaseException as error:
        stuck = _roll_back(targets[:done], backups[:done])  # moves the backups back
        for backup in backups[done:]:
            if backup is not None:
                with contextlib.suppress(OSError):
                    backup.unlink()
        if stuck:
            first = (
                str(output_error(current, error))
                if isinstance(error, OSError)
                else f"interrupted while writing {current}"
            )
            raise OutputError(f"{first}; and {'; '.join(stuck)}: restore it by hand") from error
        if isinstance(error, OSError):
            raise output_error(current, error) from error
        raise
    for backup in backups:
        if backup is not None:
            with contextlib.suppress(OSError):
                backup.unlink()


def _roll_back(targets: Sequence[Path], backups: Sequence[Path | None]) -> list[str]:
    """Put each target's backup back (or remove the new file where there was none).

    Returns:
        One sentence per target that could not be restored (its backup, if any, is kept).
    """
    stuck = []
    for target, backup in reversed(list(zip(targets, backups, strict=True))):
        try:
            if backup is None:
                target.unlink(missing_ok=True)
            else:
                os.replace(backup, target)
        except OSError as error:
            kept = f"; its previous file is {backup}" if backup is not None else ""
            stuck.append(f"cannot restore {target} ({error.strerror or error}){kept}")
    return stuck


@contextlib.contextmanager
def atomic_outputs(
    paths: Sequence[str | os.PathLike[str]], *, fsync: bool = True
) -> Iterator[list[Path]]:
    """Several files as one unit: all of them are replaced, or none is.

    Yields one temporary path per target (``.<name>.<random>.tmp<suffix>`` beside it, an
    empty file; it ends in the target's suffix, so writers that infer the format from the
    name, and the writers of this module, can be given it). When the block ends normally
    every temporary gets the umask's mode and is flushed to disk, a backup of each existing
    target is made (``.<name>.<random>.bak``, a hard link, else a copy), and the temporaries
    are renamed onto their targets in order; then the backups are removed.

    Guarantees:
        * The block raises (``KeyboardInterrupt`` and ``SystemExit`` included): no target is
          touched and every temporary is removed.
        * A backup or a rename fails part-way (a folder in the way, a read-only folder):
          the renames already done are undone from the backups (targets that did not exist
          are removed), so every target is byte for byte, mode included, as before.
        * SIGINT and SIGTERM, when Python handles them (``KeyboardInterrupt``,
          :func:`surrotag.cli.exit_on_sigterm`), are held during the commit and the
          rollback: one arriving during the renames rolls them back, then is raised.

    Limits:
        Renames of several files are not one atomic system call. For the few microseconds
        of the commit another process may see some targets new and others old. A crash of
        the process that Python cannot intercept (SIGKILL, the OOM killer, a power loss)
        between two renames leaves the first targets new and the others old, with the
        previous files as ``.<name>.<random>.bak`` and the unrenamed new ones as
        ``.<name>.<random>.tmp<suffix>`` beside them: rename the ``.bak`` files over their
        targets to get the old set back. Folders created for the targets stay. Each target
        must be a distinct file.

    Args:
        paths: the files to create or replace (their folders are created if needed).
        fsync: flush each file to disk before the renames.

    Yields:
        The temporary paths, in the order of ``paths``.

    Raises:
        OutputError: a folder or file cannot be written (nothing is left of the unit), or
            the same file is named twice.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> with atomic_outputs([folder / "r.json", folder / "p.json"]) as (report, patch):
        ...     _ = report.write_text("{}")
        ...     _ = patch.write_text("[]")
        >>> sorted(p.name for p in folder.iterdir())
        ['p.json', 'r.json']
    """
    targets = [Path(p) for p in paths]
    seen: dict[str, Path] = {}
    for target in targets:
        key = os.path.normcase(os.path.abspath(target))
        if key in seen:
            raise OutputError(f"{target}: named twice as an output; give each output its own file")
        seen[key] = target
    temporaries: list[Path] = []
    try:
        modes = []
        for target in targets:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary, mode = _create_temporary(target, suffix=target.suffix)
            except OSError as error:
                raise output_error(target, error) from error
            temporaries.append(temporary)
            modes.append(mode)
        try:
            yield list(temporaries)
        except OSError as error:
            for target, temporary in zip(targets, temporaries, strict=True):
                named = error.filename is not None and os.fspath(error.filename) == os.fspath(
                    temporary
                )
                if named:
                    raise output_error(target, error) from error
            if error.errno in _OUTPUT_ERRNOS:
                raise output_error(", ".join(map(os.fspath, targets)), error) from error
            raise
        except OutputError as error:  # a writer of this module given a temporary path
            raise OutputError(_with_targets(str(error), targets, temporaries)) from error
        with _held_signals() as held:
            for target, temporary, mode in zip(targets, temporaries, modes, strict=True):
                try:
                    _finish(temporary, mode, fsync)
                except OSError as error:
                    raise output_error(target, error) from error
            _commit(targets, temporaries, held)
    except BaseException:
        with _held_signals():
            for temporary in temporaries:
                with contextlib.suppress(OSError):
                    temporary.unlink(missing_ok=True)
        raise


def _with_targets(message: str, targets: Sequence[Path], temporaries: Sequence[Path]) -> str:
    """``message`` with each temporary path replaced by its target's."""
    for target, temporary in zip(targets, temporaries, strict=True):
        message = message.replace(os.fspath(temporary), os.fspath(target))
    return message


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
