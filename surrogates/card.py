"""Surrogate cards: the JSON metadata beside a surrogate's weights, checked by a schema.

A card (``card.json``) says which tagger the surrogate replaces, which features it needs
(with units and training support), how the score is transformed, the working points, the
Bayesian method, the model config and the sha256 of every weight file. It is validated
against ``schemas/card.schema.json`` (JSON Schema draft 2020-12) on every load; a failure is
one :class:`~surrotag.surrogates.errors.CardError` line naming the file and the JSON path of
the problem (:func:`~surrotag.surrogates.schema_check.check_document`).

The card covers itself too: ``card_sha256`` is the sha256 of its canonical JSON without that
key (:func:`card_digest`), written by every writer (:func:`seal_card`) and checked by
:func:`load_card` after the schema, so a hand-edited threshold or solver setting is refused
with one :class:`~surrotag.surrogates.errors.IntegrityError` line instead of silently
changing a result. Non-finite numbers (``NaN``, ``Infinity``, overflowing literals such as
``1e400``) are refused anywhere in a card.

Every writer of a surrogate folder builds the descriptive fields that
:func:`~surrotag.surrogates.storage.save_surrogate` takes with :func:`build_card_fields`
(and :func:`feature_entry`), so the fields and their order are the same on every card.

References:
    Classifier surrogates, arXiv:2402.15558.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

from surrotag.surrogates.errors import CardError, IntegrityError, one_line
from surrotag.surrogates.schema_check import check_document, schema_validator

__all__ = [
    "CARD_DIGEST_KEY",
    "CARD_FILENAME",
    "SCHEMA_VERSION",
    "BayesSpec",
    "Card",
    "EfficiencyBins",
    "FeatureSpec",
    "ScoreSpec",
    "SolverSpec",
    "TaggerSpec",
    "TrainingSpec",
    "WorkingPoint",
    "build_card_fields",
    "card_digest",
    "card_schema",
    "feature_entry",
    "load_card",
    "parse_json_strict",
    "seal_card",
    "sha256_file",
    "validate_card",
]

#: The card schema version this code reads and writes.
SCHEMA_VERSION = 1
#: File name of the card inside a surrogate folder.
CARD_FILENAME = "card.json"
#: Key of the card's own sha256 (:func:`card_digest`), checked by :func:`load_card`.
CARD_DIGEST_KEY = "card_sha256"


class TaggerSpec(TypedDict, total=False):
    """The tagger replaced: ``name``, ``score`` (what it is), ``weights_sha256``."""

    name: str
    score: str
    weights_sha256: str | None


class _FeatureRequired(TypedDict):
    name: str
    unit: str
    description: str
    support: list[float]
    mean: float
    std: float


class FeatureSpec(_FeatureRequired, total=False):
    """One input feature: unit (GeV, rad, '' if none), support = [0.1%, 99.9%] quantiles.

    ``fill`` (optional) is the value that stands for NaN, as in training (e.g. 0 for the
    containment of a jet that matches no top); without it NaN input is refused.
    """

    fill: float


class ScoreSpec(TypedDict):
    """Score transform: ``logit`` of a probability clipped to [clip, 1-clip], or ``identity``."""

    space: Literal["logit", "identity"]
    clip: float
    column: str


class WorkingPoint(TypedDict):
    """A cut ``score > threshold`` on the tagger score, its nominal efficiency and definition."""

    name: str
    threshold: float
    efficiency: float
    definition: str
    unweighted_threshold: NotRequired[float]
    unweighted_efficiency: NotRequired[float]


class EfficiencyBins(TypedDict, total=False):
    """Baseline tag rates per jet-pT bin (``pt_edges`` in GeV) and truth category.

    ``efficiency``: contained hadronic tops; ``partial``: top-matched, not contained
    (optional: older cards lack it); ``mistag``: unmatched jets. ``*_unweighted``: the
    rates without event weights.
    """

    pt_edges: list[float]
    efficiency: list[float]
    efficiency_error: list[float]
    mistag: list[float]
    mistag_error: list[float]
    partial: list[float]
    partial_error: list[float]
    efficiency_unweighted: list[float]
    partial_unweighted: list[float]
    mistag_unweighted: list[float]


class BayesSpec(TypedDict):
    """Bayesian method (``none``, ``vi``, ``mcmc``) and default number of weight draws."""

    method: Literal["none", "vi", "mcmc"]
    draws: int


class SolverSpec(TypedDict):
    """Default ODE solver (method name) and number of steps."""

    method: str
    steps: int


class TrainingSpec(TypedDict):
    """Training data: description, sha256 of the table (or None), row counts."""

    description: str
    sha256: str | None
    rows: dict[str, int]


@dataclass(frozen=True)
class Card:
    """A validated surrogate card. Build it with :func:`load_card` or :meth:`from_dict`.

    The fields mirror ``card.schema.json``; :meth:`to_dict` gives back the JSON document.
    ``support`` (optional) describes the joint training support stored with the weights
    (:mod:`surrotag.surrogates.support`); without it the surrogate checks the per-feature
    box only. ``card_sha256`` is the card's own digest (:func:`card_digest`); a card read
    from a file must carry it and match it (:func:`load_card`).
    """

    schema_version: int
    name: str
    version: str
    description: str
    tagger: TaggerSpec
    features: list[FeatureSpec]
    score: ScoreSpec
    working_points: list[WorkingPoint]
    bayes: BayesSpec
    model: dict[str, Any]
    solver: SolverSpec
    training: TrainingSpec
    files: dict[str, str]
    references: list[str]
    created: str
    surrotag_version: str
    efficiency_map: dict[str, EfficiencyBins] | None = None
    validation: dict[str, Any] | None = None
    support: dict[str, Any] | None = None
    card_sha256: str | None = None
    source: str = field(default="<card>", compare=False)

    @classmethod
    def from_dict(cls, document: dict[str, Any], source: str = "<card>") -> Card:
        """Validate ``document`` (:func:`validate_card`) and wrap it."""
        validate_card(document, source)
        return cls(**document, source=source)

    def to_dict(self) -> dict[str, Any]:
        """The card as a JSON-able dict (optional fields left out when None)."""
        document = {
            name: getattr(self, name) for name in self.__dataclass_fields__ if name != "source"
        }
        return {key: value for key, value in document.items() if value is not None}

    @property
    def feature_names(self) -> list[str]:
        """Feature names in the order the model expects them."""
        return [feature["name"] for feature in self.features]

    @property
    def feature_fills(self) -> dict[str, float]:
        """NaN replacement per feature name, for the features whose card gives a ``fill``."""
        return {f["name"]: float(f["fill"]) for f in self.features if "fill" in f}

    def model_threshold(self, name_or_value: str | float) -> float:
        """A threshold in the space the flow models (the input of ``prob_above``).

        Args:
            name_or_value: a working point name, or a cut on the tagger score in the units of
                ``score.column``.

        Returns:
            The cut after the card's score transform: for ``logit`` the logit of the score
            clipped to ``[clip, 1 - clip]``; for ``identity`` the score itself.
        """
        value = (
            self.working_point(name_or_value)["threshold"]
            if isinstance(name_or_value, str)
            else float(name_or_value)
        )
        if self.score["space"] == "identity":
            return value
        clip = self.score["clip"]
        value = min(max(value, clip), 1.0 - clip)
        return math.log(value) - math.log1p(-value)

    def working_point(self, name: str) -> WorkingPoint:
        """The working point called ``name`` (CardError naming the known ones otherwise)."""
        for point in self.working_points:
            if point["name"] == name:
                return point
        known = ", ".join(point["name"] for point in self.working_points) or "none"
        raise CardError(
            f"{self.source}: surrogate {self.name!r} has no working point {name!r} "
            f"(it has: {known})"
        )


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks of ``chunk_size`` bytes (the one file digest of
    surrotag: cards, weights, tables, samples, event files)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def feature_entry(
    name: str, unit: str = "", description: str = "", fill: float | None = None
) -> dict[str, Any]:
    """The descriptive part of a card feature (support, mean and std come from the model).

    Example:
        >>> feature_entry("jet_tau32", "", "N-subjettiness ratio", fill=0.0)
        {'name': 'jet_tau32', 'unit': '', 'description': 'N-subjettiness ratio', 'fill': 0.0}
    """
    entry: dict[str, Any] = {"name": name, "unit": unit, "description": description}
    if fill is not None:
        entry["fill"] = fill
    return entry


def build_card_fields(
    *,
    name: str,
    version: str,
    description: str,
    tagger: TaggerSpec,
    features: Sequence[Mapping[str, Any]],
    score: ScoreSpec,
    working_points: Sequence[WorkingPoint],
    training: TrainingSpec,
    references: Sequence[str],
    efficiency_map: Mapping[str, EfficiencyBins] | None = None,
    figures: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The card fields that describe a surrogate, as ``save_surrogate`` takes them.

    The one builder of these fields: the keys come in one order on every card (name,
    version, description, tagger, features, score, working_points, efficiency_map,
    training, validation, references, then the other figures). What derives from the model
    (schema_version, model, bayes method and draws, solver, files, support, created,
    surrotag_version, card_sha256) is added by
    :func:`~surrotag.surrogates.storage.save_surrogate`.

    Args:
        name: registry name.
        version: the surrogate's version.
        description: one sentence about the surrogate.
        tagger: the tagger replaced.
        features: per feature in model order, :func:`feature_entry`.
        score: the score transform.
        working_points: the working points.
        training: the training data.
        references: papers and links.
        efficiency_map: baseline tag rates per working point (left out when None).
        figures: the training's figures (``TrainReport.card_figures``): its ``validation``
            block and, after mcmc, ``bayes`` diagnostics.

    Returns:
        A new dict (the arguments are copied one level deep).

    Example:
        >>> fields = build_card_fields(
        ...     name="s", version="0.1.0", description="", tagger={"name": "t"},
        ...     features=[feature_entry("jet_pt", "GeV")],
        ...     score={"space": "identity", "clip": 0.0, "column": "score"},
        ...     working_points=[], training={"description": "", "sha256": None, "rows": {}},
        ...     references=[], figures={"validation": {"best_epoch": 3}},
        ... )
        >>> list(fields)  # doctest: +NORMALIZE_WHITESPACE
        ['name', 'version', 'description', 'tagger', 'features', 'score', 'working_points',
         'training', 'validation', 'references']
    """
    rest = dict(figures or {})
    fields: dict[str, Any] = {
        "name": name,
        "version": version,
        "description": description,
        "tagger": dict(tagger),
        "features": [dict(entry) for entry in features],
        "score": dict(score),
        "working_points": [dict(point) for point in working_points],
    }
    if efficiency_map is not None:
        fields["efficiency_map"] = dict(efficiency_map)
    fields["training"] = dict(training)
    if "validation" in rest:
        fields["validation"] = rest.pop("validation")
    fields["references"] = list(references)
    fields.update(rest)
    return fields


@functools.cache
def card_schema() -> dict[str, Any]:
    """The card JSON schema shipped in ``surrotag.surrogates.schemas``."""
    text = (files("surrotag.surrogates.schemas") / "card.schema.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def _validator() -> Any:
    return schema_validator(card_schema())


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} (JSON allows finite numbers only)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} overflows a double (JSON allows finite numbers)")
    return value


def parse_json_strict(text: str) -> Any:
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and numbers overflowing a double.

    Raises:
        ValueError: a non-finite number (``json.JSONDecodeError`` for malformed JSON, a
            subclass of ValueError).
    """
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _non_finite_path(value: Any, path: str = "$") -> str | None:
    """JSON path of the first non-finite float inside ``value``, or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _non_finite_path(item, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _non_finite_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def card_digest(document: Mapping[str, Any]) -> str:
    """sha256 of a card's canonical JSON, its own ``card_sha256`` left out.

    Canonical: keys sorted, no spaces, ASCII, finite numbers only (the convention of the
    analyses' workspace digests), so re-indenting a card keeps its digest and any change of
    a value changes it.

    Raises:
        CardError: the document holds a non-finite number.
    """
    body = {key: value for key, value in document.items() if key != CARD_DIGEST_KEY}
    try:
        text = json.dumps(
            body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
        )
    except ValueError as error:
        raise CardError(f"card cannot be hashed: {one_line(str(error))}") from None
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def seal_card(document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` with ``card_sha256`` set to its :func:`card_digest`.

    Every writer of a ``card.json`` calls this last, after its final edit, so the digest
    that :func:`load_card` checks needs no manual step.
    """
    sealed = dict(document)
    sealed[CARD_DIGEST_KEY] = card_digest(sealed)
    return sealed


def validate_card(document: Any, source: str = "<card>") -> None:
    """Check a card document against the schema and the rules a schema cannot say.

    Args:
        document: the parsed ``card.json``.
        source: name of the file or object, used in messages.

    Raises:
        CardError: one line ``<source>: invalid surrogate card at <json path>: <problem>``;
            a wrong ``schema_version`` is reported first, before any other check.
    """
    if not isinstance(document, dict):
        raise CardError(
            f"{source}: a surrogate card must be a JSON object, not {type(document).__name__}"
        )
    found = document.get("schema_version")
    if found != SCHEMA_VERSION:
        raise CardError(
            f"{source}: card schema_version {found!r} is not supported (this surrotag reads "
            f"{SCHEMA_VERSION}); re-save the surrogate with this surrotag or upgrade surrotag"
        )
    check_document(document, _validator(), CardError, f"{source}: invalid surrogate card")
    where = _non_finite_path(document)
    if where is not None:
        raise CardError(
            f"{source}: invalid surrogate card at {where}: not a finite number; a card holds "
            "finite numbers only"
        )
    _check_consistency(document, source)


def _check_consistency(document: dict[str, Any], source: str) -> None:
    """Rules across fields: unique names, ordered supports, bin counts."""

    def fail(path: str, problem: str) -> None:
        raise CardError(f"{source}: invalid surrogate card at {path}: {problem}")

    names = [feature["name"] for feature in document["features"]]
    for index, feature in enumerate(document["features"]):
        if names.index(feature["name"]) != index:
            fail(f"$.features[{index}].name", f"feature {feature['name']!r} is listed twice")
        low, high = feature["support"]
        if not low <= high:
            fail(f"$.features[{index}].support", f"lower end {low} is above upper end {high}")
    points = [point["name"] for point in document["working_points"]]
    for index, name in enumerate(points):
        if points.index(name) != index:
            fail(f"$.working_points[{index}].name", f"working point {name!r} is listed twice")
    for name, bins in (document.get("efficiency_map") or {}).items():
        path = f"$.efficiency_map.{name}"
        if name not in points:
            fail(path, f"{name!r} is not a working point (have: {', '.join(points) or 'none'})")
        edges = bins["pt_edges"]
        if any(b <= a for a, b in itertools.pairwise(edges)):
            fail(f"{path}.pt_edges", "bin edges must increase")
        for key in bins:
            if key != "pt_edges" and len(bins[key]) != len(edges) - 1:
                fail(f"{path}.{key}", f"{len(bins[key])} values for {len(edges) - 1} pT bins")


def load_card(path: str | os.PathLike[str]) -> Card:
    """Read and validate a card: a ``card.json`` file or a surrogate folder holding one.

    The schema is checked first (its messages name the JSON path), then the card's own
    digest: ``card_sha256`` must be present and equal :func:`card_digest` of the file.

    Raises:
        CardError: the file is missing, not JSON, holds a non-finite number, or fails
            :func:`validate_card`.
        IntegrityError: the card has no ``card_sha256`` or was edited after it was written.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CARD_FILENAME
    if not path.is_file():
        raise CardError(
            f"{path}: no such card; a surrogate folder holds {CARD_FILENAME} "
            "beside weights.safetensors"
        )
    try:
        document = parse_json_strict(path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise CardError(f"{path}: not valid JSON ({one_line(str(error))})") from None
    card = Card.from_dict(document, source=str(path))
    expected = document.get(CARD_DIGEST_KEY)
    if expected is None:
        raise IntegrityError(
            f"{path}: the card has no {CARD_DIGEST_KEY}, so an edit could not be detected; "
            "re-save the surrogate with this surrotag (its writers record the digest)"
        )
    actual = card_digest(document)
    if actual != expected:
        raise IntegrityError(
            f"{path}: card content sha256 {actual[:12]}… differs from its {CARD_DIGEST_KEY} "
            f"{expected[:12]}…; the card was edited after it was written (reinstall or "
            "re-save the surrogate)"
        )
    return card
