"""Safe YAML for the files users write (grids, run configurations): no tags, bounded aliases.

``yaml.safe_load`` constructs no Python objects, but a few nested aliases (the "billion
laughs") expand to more nodes than memory holds; :func:`load_yaml` counts the expanded nodes
first (shared nodes once) and refuses a document beyond ``max_nodes``. Errors are one line of
the caller's error type.

Example:
    >>> load_yaml("a: [1, 2]", "run.yaml", ValueError)
    {'a': [1, 2]}
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["MAX_NODES", "load_yaml"]

#: Default bound on the nodes of a document with every alias expanded.
MAX_NODES: Final = 1_000_000


def _expanded_size(node: Any, sizes: dict[int, int], limit: int) -> int:
    """Nodes of ``node`` with every alias expanded (memoised, so shared nodes cost once)."""
    import yaml

    known = sizes.get(id(node))
    if known is not None:
        return known
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_size(child, sizes, limit) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(
            _expanded_size(key, sizes, limit) + _expanded_size(value, sizes, limit)
            for key, value in node.value
        )
    sizes[id(node)] = min(total, limit + 1)
    return sizes[id(node)]


def load_yaml(
    text: str, where: str, error: type[Exception], max_nodes: int = MAX_NODES, fix: str = "fix it"
) -> Any:
    """Parse one YAML document safely.

    Args:
        text: the document.
        where: how to name it in messages (its path).
        error: the exception type raised, with one line.
        max_nodes: most nodes after alias expansion.
        fix: what the message tells the user to do.

    Raises:
        error: not valid YAML (with the line), or too large once expanded.
    """
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}, max_nodes) > max_nodes:
            raise error(
                f"{where}: YAML expands to more than {max_nodes} nodes (nested aliases?); "
                "write the values out"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise error(f"{where}: not valid YAML{line} ({problem}); {fix}") from None
    except RecursionError:
        raise error(f"{where}: nested too deeply; {fix}") from None
    finally:
        loader.dispose()
