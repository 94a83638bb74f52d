"""The layering of the code base, enforced: analyses -> plugin -> surrogates, and inside
the plugin no module imports a stage above it (imports inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Rank of each part of ``surrotag`` (the plugin); a module may import its own rank or lower.
RANKS = {
    "surrogates": 0,
    "schemas": 0,
    "errors": 1,
    "io": 1,
    "jets": 1,
    "card_console": 1,
    "features": 2,
    "observables": 2,
    "analysis_card": 3,
    "training": 3,
    "training_options": 3,
    "selection": 4,
    "tagging": 4,  # the tag stage: below the yields built from its probabilities
    "yields": 5,
    "stats": 5,
    "analysis": 6,
    "tag_files": 6,
    "reference": 7,
    "recast": 8,  # above the tag stage and the yields it combines
    "validation": 8,
    "explain": 8,
    "scan": 9,
    "cli": 10,
    "__init__": 11,  # the package's top-level API re-exports every stage
    "analyses": 12,
}


def _part(module: str) -> str | None:
    """``surrotag.x.y`` -> ``x`` (``surrogates``/``analyses`` for those packages)."""
    parts = module.split(".")
    if parts[0] != "surrotag" or len(parts) < 2:
        return None
    return parts[1]


def _own_part(path: Path) -> str:
    relative = path.relative_to(ROOT)
    top = relative.parts[0]
    if top in ("surrogates", "analyses"):
        return top
    return relative.parts[1].removesuffix(".py")


def _type_checking_only(tree: ast.AST) -> set[int]:
    """Ids of the nodes under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.body:
                hidden.update(id(n) for n in ast.walk(child))
    return hidden


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text("utf-8"))
    hidden = _type_checking_only(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def _sources() -> list[Path]:
    files = []
    for folder in ("plugin", "surrogates", "analyses"):
        files.extend(sorted((ROOT / folder).rglob("*.py")))
    return files


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_reaches_up(path: Path) -> None:
    own = _own_part(path)
    if own not in RANKS:
        pytest.fail(f"{path.relative_to(ROOT)}: part {own!r} has no rank in this test")
    upward = []
    for line, module in _imports(path):
        part = _part(module)
        if part is None:
            continue
        if part not in RANKS:
            upward.append(f"line {line}: {module} (unranked)")
        elif RANKS[part] > RANKS[own]:
            upward.append(f"line {line}: {module} (rank {RANKS[part]} > {RANKS[own]})")
    assert not upward, f"{path.relative_to(ROOT)} imports upward: {'; '.join(upward)}"


def test_stages_are_ranked_strictly() -> None:
    """Each stage of ``surrotag run`` sits strictly above the one before it, so that an
    import of a later stage (e.g. the tag stage importing the yields) fails above."""
    order = ("features", "tagging", "yields", "recast")
    ranks = [RANKS[part] for part in order]
    assert ranks == sorted(set(ranks)), dict(zip(order, ranks, strict=True))
