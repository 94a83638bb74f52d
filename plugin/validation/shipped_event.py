"""The pre-registered validation of the shipped event surrogate ``stop-classifier-delphes``.

:func:`validate_shipped_event_surrogate` runs
:data:`surrotag.reference.ship_event.VALIDATION_PLAN` (fixed before its samples existed):
it generates (or reuses) the plan's fresh samples, writes their event table scored by the
internal classifier, validates the surrogate on it with
:func:`surrotag.validation.event_surrogate.validate_event_surrogate` and writes
``validation.json`` into the surrogate's folder. Command line: ``surrotag reference
validate-event-surrogate``.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["validate_shipped_event_surrogate"]


def validate_shipped_event_surrogate(
    folder: str | Path, classifier: str | Path, *, out: str | Path | None = None
) -> Any:
    """Run the pre-registered validation (:data:`VALIDATION_PLAN`) of the event surrogate.

    Generates (or reuses) the plan's fresh samples, writes their event table (all ``test``)
    scored by the internal classifier, validates the surrogate on it and writes
    ``validation.json`` (the report, with the plan) into ``folder``.

    Args:
        folder: the surrogate's folder.
        classifier: the internal event classifier's folder (its sha256 must be the card's).
        out: the report's path (default ``folder / validation.json``).

    Returns:
        The :class:`~surrotag.validation.event_surrogate.EventValidation`.

    Raises:
        IntegrityError: the classifier is not the one the surrogate's card names.
    """
    from surrotag.errors import IntegrityError
    from surrotag.io.atomic import strict_json, write_json_atomic
    from surrotag.reference.cache import reference_dir
    from surrotag.reference.event_classifier import load_event_classifier
    from surrotag.reference.event_table import build_event_training_table
    from surrotag.reference.ship_event import (
        VALIDATION_FILE,
        VALIDATION_PLAN,
        VALIDATION_TABLE_NAME,
    )
    from surrotag.surrogates.storage import load_surrogate
    from surrotag.validation.event_surrogate import validate_event_surrogate

    model, card = load_surrogate(folder)
    _, document = load_event_classifier(classifier)
    if document["sha256"] != card.tagger.get("weights_sha256"):
        raise IntegrityError(
            f"{classifier}: classifier sha256 {document['sha256'][:12]}... is not the one "
            f"{card.name} replaces ({str(card.tagger.get('weights_sha256'))[:12]}...)"
        )
    plan = VALIDATION_PLAN
    paths = [sample.generate(plan["jobs"]) for sample in plan["samples"]]
    table = build_event_training_table(
        {"test": paths}, classifier, reference_dir() / VALIDATION_TABLE_NAME
    )
    validation = validate_event_surrogate(
        (model, card), table, split="test", draws=plan["draws"], seed=plan["seed"],
        min_events=plan["min_events"], c2st_rows=plan["c2st_rows"],
    )  # fmt: skip
    record = validation.to_dict() | {
        "plan": strict_json({**plan, "samples": [sample.to_dict() for sample in plan["samples"]]}),
        "command": "surrotag reference validate-event-surrogate",
    }
    write_json_atomic(Path(out) if out else Path(folder) / VALIDATION_FILE, record, indent=1)
    return validation
