"""Atomic file output: a temporary file in the target's folder, then ``os.replace``.

Every product surrotag writes (reports, patches, cards, scan results) goes through here, so
an interrupted or failing run never leaves a half-written file: readers see the old file or
the new one, and the temporary file is removed on any error.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["strict_json", "write_json_atomic", "write_text_atomic"]


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


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, creating its folder; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs (and package data) are readable
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


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
