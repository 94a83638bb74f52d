"""Every docstring example of surrotag runs and gives what it shows (``doctest``).

One test per module of ``surrotag`` (plugin/), ``surrotag.surrogates`` and
``surrotag.analyses``; a module whose optional dependency is absent is skipped with the
reason. Command-line modules (``__main__``) are skipped: importing them runs nothing, but
their examples are shell sessions.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest


def _modules() -> list[str]:
    names = set()
    for package in ("surrotag", "surrotag.surrogates", "surrotag.analyses"):
        module = importlib.import_module(package)
        names.add(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if not info.name.endswith("__main__"):
                names.add(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as error:  # an optional extra (e.g. pythia8mc) is not installed
        pytest.skip(f"{name}: {error}")
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} fail"
