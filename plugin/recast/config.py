"""Run configurations: what ``surrotag run --config run.yaml`` reads instead of arguments.

A YAML (or JSON) mapping, checked against a schema (one line naming the key at fault)::

    analyses: [zprime-ttbar-allhad, ../my-search]    # or: all: true
    events: ["signal/*.root"]                        # relative to this file's folder
    xsec_pb: 0.023
    draws: 20
    output: reports/                                  # a folder for several analyses

Keys beside ``analyses``/``all`` and ``events`` are the options of ``surrotag run`` with
``_`` for ``-``: ``xsec_pb``, ``draws``, ``device``, ``stochastic``, ``tagger``, ``seed``,
``ood``, ``level``, ``threads``, ``output``, ``patch_out``, ``plot``. Paths (events, analysis
folders, outputs) are taken relative to the configuration's folder.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "run.yaml").write_text("analyses: [zprime-ttbar-allhad]\\ndraws: 5\\n")
    >>> config = load_run_config(folder / "run.yaml")
    >>> config.analyses, config.options["draws"]
    (['zprime-ttbar-allhad'], 5)
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from surrotag.errors import InputFileError, InputValueError
from surrotag.surrogates.schema_check import check_document, schema_validator

__all__ = ["RUN_CONFIG_SCHEMA", "RunConfig", "load_run_config"]

_PATH = {"type": "string", "minLength": 1}
#: The schema of a run configuration (JSON Schema 2020-12).
RUN_CONFIG_SCHEMA: Final = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "oneOf": [{"required": ["analyses"]}, {"required": ["all"]}],
    "properties": {
        "analyses": {"type": "array", "minItems": 1, "items": _PATH},
        "all": {"const": True},
        "events": {"type": "array", "items": _PATH},
        "xsec_pb": {"type": "number", "exclusiveMinimum": 0},
        "draws": {"type": "integer", "minimum": 1, "maximum": 100_000},
        "device": {"type": "string", "minLength": 1},
        "stochastic": {"type": "boolean"},
        "tagger": {"enum": ["surrogate", "efficiency-map"]},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "ood": {"enum": ["nuisance", "strict"]},
        "level": {"type": "string", "minLength": 1},
        "threads": {"oneOf": [{"type": "integer", "minimum": 1}, {"const": "auto"}]},
        "output": _PATH,
        "patch_out": _PATH,
        "plot": _PATH,
    },
}
_PATH_OPTIONS: Final = ("output", "patch_out", "plot")


@functools.cache
def _validator() -> Any:
    return schema_validator(RUN_CONFIG_SCHEMA)


@dataclass(frozen=True)
class RunConfig:
    """A checked run configuration.

    Attributes:
        analyses: analysis names or folders (folders made absolute); empty with ``every``.
        every: run every installed analysis.
        events: event inputs, relative paths made absolute against the file's folder.
        options: the other keys, output paths made absolute.
    """

    analyses: list[str]
    every: bool
    events: list[str]
    options: dict[str, Any] = field(default_factory=dict)


def _absolute(base: Path, value: str) -> str:
    return value if os.path.isabs(value) else str(base / value)


def _analysis(base: Path, value: str) -> str:
    """A name stays a name; a path that exists beside the file becomes absolute."""
    candidate = base / value
    return str(candidate) if candidate.is_dir() else value


def load_run_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read and check a run configuration.

    Raises:
        InputFileError: no such file, or not UTF-8 text.
        InputValueError: not valid YAML/JSON, or a key or value the schema refuses.
    """
    from surrotag.io.yamlfile import load_yaml

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such run configuration; pass a .yaml or .json file")
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(f"{path}: not UTF-8 text; save the configuration as UTF-8") from None
    if path.suffix.lower() == ".json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputValueError(f"{path}: not valid JSON ({error}); fix the file") from None
    else:
        document = load_yaml(text, str(path), InputValueError, fix="fix the configuration")
    check_document(
        document, _validator(), InputValueError, f"{path}: invalid run configuration", limit=200
    )
    base = path.resolve().parent
    options = {k: v for k, v in document.items() if k not in ("analyses", "all", "events")}
    for key in _PATH_OPTIONS:
        if key in options:
            options[key] = Path(_absolute(base, options[key]))
    return RunConfig(
        analyses=[_analysis(base, a) for a in document.get("analyses", [])],
        every=bool(document.get("all", False)),
        events=[_absolute(base, e) for e in document.get("events", [])],
        options=options,
    )
