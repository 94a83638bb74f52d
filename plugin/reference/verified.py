"""Read an internal tagger's folder: its JSON config and the weights whose sha256 it records.

The reference experiment stores each internal network (the PFN top tagger,
:mod:`surrotag.reference.tagger`; the event classifier,
:mod:`surrotag.reference.event_classifier`) as a folder of a JSON config, whose ``kind``
names what it is and whose ``sha256`` is that of the weights, and a safetensors file.
:func:`read_verified_folder` is the one reader: the weights are read once, hashed and handed
back as bytes, so what is checked is what is loaded (never unpickled).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from surrotag.errors import FormatError, InputFileError, IntegrityError

__all__ = ["read_verified_folder"]


def read_verified_folder(
    folder: str | Path,
    config_name: str,
    weights_name: str,
    kind: str,
    noun: str,
    how: str,
    required: tuple[str, ...] = (),
) -> tuple[dict[str, Any], bytes]:
    """The config document and the verified weight bytes of a stored network.

    Args:
        folder: the network's folder.
        config_name, weights_name: its two files.
        kind: the config's ``kind``.
        noun: what the network is, for messages (``tagger``, ``event classifier``).
        how: how to write such a folder, for messages.
        required: keys the config must hold besides ``kind``.

    Returns:
        ``(document, weights)``: the config and the safetensors bytes.

    Raises:
        InputFileError: a file is missing.
        FormatError: the config is not valid JSON, not of ``kind``, or lacks a required key.
        IntegrityError: the weights' sha256 differs from the recorded one.
    """
    folder = Path(folder)
    config_path, weights_path = folder / config_name, folder / weights_name
    article = "an" if noun[:1] in "aeiou" else "a"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise InputFileError(
                f"{path}: missing; {article} {noun} folder holds {config_name} and "
                f"{weights_name} ({how})"
            )
    try:
        document = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FormatError(f"{config_path}: not valid JSON ({error})") from None
    if not isinstance(document, dict) or document.get("kind") != kind:
        raise FormatError(f"{config_path}: not a surrotag {noun} config (kind != {kind!r})")
    missing = [key for key in required if key not in document]
    if missing:
        raise FormatError(f"{config_path}: lacks {', '.join(missing)}; {how}")
    weights = weights_path.read_bytes()
    digest = hashlib.sha256(weights).hexdigest()
    if digest != document.get("sha256"):
        raise IntegrityError(
            f"{weights_path}: sha256 {digest[:16]}... differs from {document.get('sha256')!r} "
            f"recorded in {config_path}; the weights were modified: retrain or restore them"
        )
    return document, weights
