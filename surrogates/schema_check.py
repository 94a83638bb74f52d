"""JSON documents checked against a JSON Schema (draft 2020-12), one line per failure.

Every schema check of surrotag goes through :func:`check_document`: surrogate cards
(:mod:`surrotag.surrogates.card`), analysis cards, recast reports, run configurations and
scan grids. The problem reported is jsonschema's most relevant one (``best_match``), named
by its JSON path (``$.features[0].unit``), as pyhf's ``validate`` names the path of an
``InvalidSpecification``; the caller chooses the exception class and the words around it.

Example:
    >>> from surrotag.surrogates.errors import CardError
    >>> validator = schema_validator({"type": "object", "required": ["name"]})
    >>> check_document({"name": "x"}, validator, CardError, "a.json: invalid card")
    >>> check_document({}, validator, CardError, "a.json: invalid card")
    Traceback (most recent call last):
    ...
    surrotag.surrogates.errors.CardError: a.json: invalid card at $: 'name' is a required property
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from surrotag.surrogates.errors import MAX_MESSAGE, one_line

__all__ = ["check_document", "json_path", "schema_validator"]


def schema_validator(schema: Mapping[str, Any]) -> Any:
    """A draft 2020-12 validator of ``schema``, the schema itself checked first.

    Callers build it once (``functools.cache``) per shipped schema.

    Raises:
        jsonschema.exceptions.SchemaError: the schema is not a valid draft 2020-12 schema
            (a bug of surrotag, never a user's).
    """
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def json_path(path: Sequence[str | int]) -> str:
    """``$.points[0].name`` for the path ``["points", 0, "name"]``.

    Example:
        >>> json_path(["points", 0, "name"])
        '$.points[0].name'
    """
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def check_document(
    document: Any,
    validator: Any,
    error: type[Exception],
    what: str,
    *,
    hint: str = "",
    where: Callable[[Sequence[str | int]], str] = json_path,
    count: bool = False,
    limit: int | None = MAX_MESSAGE,
) -> None:
    """Raise ``error("<what> at <path>: <problem>")`` if ``document`` fails its schema.

    Args:
        document: the parsed JSON (or YAML) document.
        validator: from :func:`schema_validator`.
        error: the caller's exception class (called with the one-line message).
        what: the start of the message (``cards/x.json: invalid surrogate card``).
        hint: what to do, appended after ``; `` (nothing when empty).
        where: names the place from the path of the problem (default: its JSON path).
        count: say how many other problems there are (``(and 2 more problem(s))``).
        limit: longest problem text (characters; :func:`~surrotag.surrogates.errors.one_line`).

    Raises:
        Exception: ``error``, with one line naming the place of the most relevant problem.
    """
    import jsonschema

    problems = list(validator.iter_errors(document))
    best = jsonschema.exceptions.best_match(problems)
    if best is None:
        return
    more = f" (and {len(problems) - 1} more problem(s))" if count and len(problems) > 1 else ""
    message = f"{what} at {where(list(best.absolute_path))}: {one_line(best.message, limit)}"
    raise error(message + more + (f"; {hint}" if hint else ""))
