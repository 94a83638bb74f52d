"""Read and check a scan grid: the signal points of ``surrotag scan``.

A grid lists signal points, each with a unique name, its model parameters (numbers, e.g. a
mass in GeV and a coupling), its event files and optionally its cross-section in pb. It is
data checked by a JSON schema shipped in the package (``surrotag/schemas/grid.schema.json``,
as cabinetry checks its configuration) and then by what a schema cannot say: unique names,
the same parameter names at every point, distinct parameter values (a pyhf patchset looks
points up by them), and event files that exist. Every problem is found *before* anything
runs and reported as one :class:`~surrotag.errors.GridError` line naming the grid file, the
point and what to fix.

Formats (chosen by the file suffix):

YAML (``.yaml``/``.yml``) or JSON (``.json``)::

    description: Z' -> ttbar, leptophobic, coupling scan
    points:
      - name: zp_1500_g03
        parameters: {mass_gev: 1500, coupling: 0.3}
        events: [zp1500/*.parquet]          # files, globs or MadGraph run folders
        xsec_pb: 0.52                       # optional

CSV (``.csv``): one row per point; columns ``name``, ``events`` (several separated by
``;``), optional ``xsec_pb`` (empty: taken from the input), every other column a parameter::

    name,mass_gev,coupling,events,xsec_pb
    zp_1500_g03,1500,0.3,zp1500/*.parquet,0.52

Relative paths and globs resolve against the folder of the grid file.
"""

from __future__ import annotations

import csv
import glob
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from surrotag.errors import GridError, InputFileError
from surrotag.surrogates.schema_check import check_document, json_path, schema_validator

__all__ = ["GRID_SCHEMA", "Grid", "GridPoint", "grid_schema", "load_grid", "parse_grid"]

#: File name of the grid schema inside ``surrotag.schemas``.
GRID_SCHEMA = "grid.schema.json"

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class GridPoint:
    """One signal point of a scan.

    Attributes:
        name: unique name (letters, digits, ``_``): folder ``points/<name>/`` and patch name.
        parameters: model parameters in grid order, e.g. ``{"mass_gev": 1500.0}`` (GeV for
            masses by the ``_gev`` convention).
        events: the event files (globs expanded, absolute, sorted per glob) or run folders.
        xsec_pb: signal cross-section in pb, or None to take it from the input files.
        specs: the ``events`` entries as the grid wrote them (for the record).
    """

    name: str
    parameters: dict[str, float]
    events: tuple[Path, ...]
    xsec_pb: float | None = None
    specs: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self) -> dict[str, Any]:
        """The point as JSON (paths as strings), as recorded in ``points/<name>/point.json``."""
        return {
            "name": self.name,
            "parameters": dict(self.parameters),
            "events": [str(path) for path in self.events],
            "xsec_pb": self.xsec_pb,
        }


@dataclass(frozen=True)
class Grid:
    """A checked scan grid.

    Attributes:
        points: the points in grid order.
        parameter_names: the parameter names shared by every point, in grid order.
        source: the grid file (or ``"<dict>"``).
        description: the grid's one-line description ("" when absent).
    """

    points: tuple[GridPoint, ...]
    parameter_names: tuple[str, ...]
    source: str
    description: str = ""

    def __len__(self) -> int:
        return len(self.points)


@cache
def grid_schema() -> dict[str, Any]:
    """The grid's JSON schema (draft 2020-12), read from the package."""
    return json.loads(files("surrotag.schemas").joinpath(GRID_SCHEMA).read_text("utf-8"))


def _number(text: str) -> int | float | str:
    """A CSV cell as int or float when it is one, else the text (the schema then says why)."""
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _read_csv(path: Path) -> dict[str, Any]:
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in ("name", "events") if c not in columns]
        if missing:
            raise GridError(
                f"{path}: CSV grid lacks column(s) {', '.join(missing)}; the header must name "
                "name, events, optional xsec_pb, and one column per model parameter"
            )
        points = []
        for row in reader:
            row = {(k or "").strip(): (v or "") for k, v in row.items()}
            point: dict[str, Any] = {
                "name": row["name"].strip(),
                "events": [e.strip() for e in row["events"].split(";") if e.strip()],
                "parameters": {
                    k: _number(v) for k, v in row.items() if k not in ("name", "events", "xsec_pb")
                },
            }
            if row.get("xsec_pb", "").strip():
                point["xsec_pb"] = _number(row["xsec_pb"])
            points.append(point)
    return {"points": points}


#: Most YAML nodes a grid may expand to (anchors and aliases counted as expanded): a
#: "billion laughs" of nested aliases is refused before it is built or walked.
MAX_GRID_NODES = 1_000_000


def _read_document(path: Path) -> Any:
    try:
        return _parse_document(path)
    except UnicodeDecodeError as exc:
        raise GridError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save the grid as UTF-8"
        ) from None
    except RecursionError:
        raise GridError(f"{path}: nested too deeply to be a grid; fix the grid file") from None


def _parse_document(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    text = path.read_text(encoding="utf-8")
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise GridError(f"{path}: not valid JSON ({exc}); fix the grid file") from None
    if suffix in (".yaml", ".yml"):
        from surrotag.io.yamlfile import load_yaml

        return load_yaml(text, str(path), GridError, MAX_GRID_NODES, "fix the grid file")
    raise GridError(f"{path}: unknown grid format {suffix!r}; use .yaml, .yml, .csv or .json")


def _where(document: Any, error_path: Sequence[str | int]) -> str:
    """``point 'zp1' (points[0]).parameters.mass`` for a schema error path."""
    if len(error_path) >= 2 and error_path[0] == "points" and isinstance(error_path[1], int):
        index = error_path[1]
        try:
            name = document["points"][index].get("name")
        except (AttributeError, IndexError, KeyError, TypeError):
            name = None
        head = f"point {name!r} (points[{index}])" if isinstance(name, str) else f"points[{index}]"
        return head + json_path(error_path[2:]).removeprefix("$")
    return json_path(error_path)


@cache
def _validator() -> Any:
    return schema_validator(grid_schema())


def _validate(document: Any, source: str) -> None:
    check_document(
        document, _validator(), GridError, f"{source}: invalid grid",
        hint=f"see surrotag/schemas/{GRID_SCHEMA}",
        where=lambda path: _where(document, path), count=True,
    )  # fmt: skip


def _resolve_events(specs: list[str], base: Path, point: str, source: str) -> tuple[Path, ...]:
    found: list[Path] = []
    for spec in specs:
        expanded = Path(os.path.expanduser(spec))
        path = expanded if expanded.is_absolute() else base / expanded
        if _GLOB_CHARS & set(spec):
            matches = sorted(Path(m) for m in glob.glob(str(path)))
            if not matches:
                raise InputFileError(
                    f"{source}: point {point!r}: events glob {spec!r} matches no file (searched "
                    f"{path}); relative paths resolve against the grid file's folder"
                )
            found.extend(matches)
        elif path.exists():
            found.append(path)
        else:
            raise InputFileError(
                f"{source}: point {point!r}: events file {spec!r} not found (looked for "
                f"{path}); relative paths resolve against the grid file's folder"
            )
    return tuple(dict.fromkeys(p.resolve() for p in found))


def parse_grid(
    document: Any, *, base: str | os.PathLike[str] = ".", source: str = "<dict>"
) -> Grid:
    """Check a grid document and resolve its event files.

    Args:
        document: the parsed grid (``{"points": [...]}``).
        base: folder against which relative paths and globs resolve.
        source: name used in messages (the grid file).

    Returns:
        :class:`Grid`.

    Raises:
        GridError: the document fails the schema, repeats a name or a parameter point, or
            its points do not name the same parameters.
        InputFileError: an events file is missing or a glob matches nothing.
    """
    _validate(document, source)
    base = Path(base)
    raw = document["points"]
    names = [str(p["name"]) for p in raw]
    labels = tuple(raw[0]["parameters"])
    seen_names: dict[str, int] = {}
    seen_values: dict[tuple[float, ...], str] = {}
    for index, point in enumerate(raw):
        name = point["name"]
        if name in seen_names:
            raise GridError(
                f"{source}: point name {name!r} appears twice (points[{seen_names[name]}] and "
                f"points[{index}]); names must be unique"
            )
        seen_names[name] = index
        if set(point["parameters"]) != set(labels):
            raise GridError(
                f"{source}: point {name!r} has parameters {sorted(point['parameters'])}, the "
                f"first point {names[0]!r} has {sorted(labels)}; every point must name the same"
            )
        values = tuple(float(point["parameters"][k]) for k in labels)
        bad = [k for k, v in zip(labels, values, strict=True) if not math.isfinite(v)]
        if bad:
            raise GridError(
                f"{source}: point {name!r} has a non-finite value of {', '.join(bad)}; give "
                "every parameter a finite number"
            )
        xsec = point.get("xsec_pb")
        if xsec is not None and not (isinstance(xsec, int | float) and math.isfinite(xsec)):
            raise GridError(
                f"{source}: point {name!r} has xsec_pb {xsec!r}; give a finite number >= 0 in "
                "pb, or leave it out to take it from the events"
            )
        if values in seen_values:
            raise GridError(
                f"{source}: points {seen_values[values]!r} and {name!r} have the same parameters "
                f"{dict(zip(labels, values, strict=True))}; give each point its own values"
            )
        seen_values[values] = name
    points = []
    for point in raw:
        specs = point["events"] if isinstance(point["events"], list) else [point["events"]]
        points.append(
            GridPoint(
                name=point["name"],
                parameters={k: float(point["parameters"][k]) for k in labels},
                events=_resolve_events(specs, base, point["name"], source),
                xsec_pb=float(point["xsec_pb"]) if "xsec_pb" in point else None,
                specs=tuple(specs),
            )
        )
    description = document.get("description", "") if isinstance(document, Mapping) else ""
    return Grid(tuple(points), labels, source, description)


def load_grid(path: str | os.PathLike[str]) -> Grid:
    """Read a grid file (YAML, CSV or JSON), check it and resolve its event files.

    Args:
        path: the grid file; relative event paths resolve against its folder.

    Returns:
        :class:`Grid`.

    Raises:
        InputFileError: the grid file or one of its event files is missing.
        GridError: the grid is not valid (the message names the point and the fix).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: grid file not found; pass a .yaml, .csv or .json grid")
    document = _read_document(path)
    return parse_grid(document, base=path.resolve().parent, source=str(path))
