"""Read an internal tagger's folder: its JSON config and the weights whose sha256 it records.

The reference experiment stores each internal network (the PFN top tagger,
:mod:`surrotag.reference.tagger`; the event classifier,
:mod:`surrotag.reference.event_classifier`) as a folder of a JSON config, whose ``kind``
names what it is and whose ``sha256`` is that of the weights, and a safetensors file.
:func:`read_verified_folder` is the one reader: the weights are read once, hashed and handed
back as bytes, so what is checked is what is loaded (never unpickled).
:func:`load_verified_network` builds the network from those bytes, and
:func:`write_verified_folder` writes such a folder (the sha256 recorded, both files as one
unit).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from surrotag.errors import FormatError, InputFileError, InputValueError, IntegrityError

__all__ = ["load_verified_network", "read_verified_folder", "write_verified_folder"]


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


def load_verified_network(
    folder: str | Path,
    config_name: str,
    weights_name: str,
    kind: str,
    noun: str,
    how: str,
    required: tuple[str, ...],
    build: Callable[[dict[str, Any], dict[str, Any]], Any],
) -> tuple[Any, dict[str, Any]]:
    """A stored network, built from its verified weights (:func:`read_verified_folder`).

    Args:
        folder, config_name, weights_name, kind, noun, how, required: as for
            :func:`read_verified_folder`.
        build: ``build(document, tensors)`` returns the network with its weights loaded
            (``tensors``: name -> torch tensor, read from the verified bytes).

    Returns:
        ``(network in eval mode, document)``.

    Raises:
        InputFileError, FormatError, IntegrityError: as :func:`read_verified_folder`;
            FormatError also when the tensors do not fit the recorded architecture.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    folder = Path(folder)
    document, data = read_verified_folder(
        folder, config_name, weights_name, kind, noun, how, required
    )
    try:
        network = build(document, load(data))
    except (
        InputValueError,
        KeyError,
        RuntimeError,
        SafetensorError,
        TypeError,
        ValueError,
    ) as error:
        raise FormatError(
            f"{folder / weights_name}: tensors do not match the architecture in "
            f"{folder / config_name} ({' '.join(str(error).split())[:200]})"
        ) from None
    return network.eval(), document


def write_verified_folder(
    folder: str | Path,
    config_name: str,
    weights_name: str,
    document: Mapping[str, Any],
    tensors: Mapping[str, Any],
) -> Path:
    """Write a network's folder: the safetensors weights and the JSON config recording
    their sha256 (``sha256`` and ``weights`` are added to ``document``), as one unit
    (:func:`surrotag.io.atomic.atomic_outputs`: a failure leaves the previous pair).

    Args:
        folder: the folder (created if needed).
        config_name, weights_name: its two files.
        document: the config, JSON-serialisable and finite.
        tensors: name -> torch tensor (moved to CPU, made contiguous).

    Returns:
        The folder.

    Raises:
        OutputError: the folder cannot be written.
    """
    from safetensors.torch import save

    from surrotag.io.atomic import atomic_outputs

    folder = Path(folder)
    weights = save({name: t.detach().cpu().contiguous() for name, t in tensors.items()})
    full = {**document, "weights": weights_name, "sha256": hashlib.sha256(weights).hexdigest()}
    text = json.dumps(full, indent=2, sort_keys=True, allow_nan=False) + "\n"
    with atomic_outputs([folder / weights_name, folder / config_name]) as (w_tmp, c_tmp):
        w_tmp.write_bytes(weights)
        c_tmp.write_text(text, encoding="utf-8")
    return folder
