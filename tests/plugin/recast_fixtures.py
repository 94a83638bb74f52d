"""Helpers of the recast tests: the analysis's surrogates and edited copies of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

__all__ = ["analysis_variant", "edited_copy", "find_surrogate", "workspace_or_skip"]


def find_surrogate(name: str) -> Path:
    """The folder of the installed (shipped) surrogate ``name``."""
    from surrotag.surrogates.registry import resolve_surrogate

    return resolve_surrogate(name)


def edited_copy(folder: Path, target: Path, edit) -> Path:
    """Copy a surrogate folder and apply ``edit(card_document)`` to its card.

    Only the card changes (the weights' sha256 still matches); its own digest is recorded
    anew, so the checks behind the card's integrity (tagger, features) are what is tested.
    """
    from surrotag.surrogates.card import seal_card

    shutil.copytree(folder, target)
    card = target / "card.json"
    document = json.loads(card.read_text("utf-8"))
    edit(document)
    card.write_text(json.dumps(seal_card(document), indent=1), "utf-8")
    return target


def workspace_or_skip() -> None:
    """Skip unless the analysis's background workspace has been built."""
    from surrotag.analysis import get_analysis

    analysis = get_analysis("zprime-ttbar-allhad")
    if not analysis.has_resource(analysis.card.statistics.workspace):
        pytest.skip(
            "zprime-ttbar-allhad has no workspace.json yet: python -m "
            "surrotag.analyses.zprime_ttbar_allhad.build"
        )


def analysis_variant(
    folder: Path, name: str, extra_cuts: tuple[dict, ...] = (), edit=None, **bounds: float
) -> Path:
    """A copy of the shipped zprime-ttbar-allhad under ``name`` in ``folder``, with the bound
    of each named cut replaced (``leading_pt=700.0``), ``extra_cuts`` appended and
    ``edit(card_document)`` applied, sealed like a built analysis."""
    from importlib.resources import as_file, files

    from surrotag.analysis_card import seal_analysis_card

    source = files("surrotag.analyses.zprime_ttbar_allhad")
    target = Path(folder) / name
    target.mkdir(parents=True)
    for file in ("card.json", "workspace.json", "official_yields.json"):
        with as_file(source / file) as path:
            shutil.copy(path, target / file)
    card = json.loads((target / "card.json").read_text("utf-8"))
    card["name"] = name
    for cut in card["selection"]["cuts"]:
        if cut["name"] in bounds:
            bound = "above" if "above" in cut else "below"
            cut[bound] = bounds[cut["name"]]
    card["selection"]["cuts"] += list(extra_cuts)
    if edit is not None:
        edit(card)
    (target / "card.json").write_text(json.dumps(card), "utf-8")
    seal_analysis_card(target)
    return target
