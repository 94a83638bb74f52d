"""Copies of chosen branches of a real Delphes file, for readers' edge cases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import awkward as ak
import uproot

__all__ = ["copy_branches"]


def copy_branches(source: Path, leaves: Mapping[str, Sequence[str]], path: Path) -> Path:
    """Write ``leaves`` (branch -> leaf names) of ``source``'s Delphes tree to a new file.

    The copy keeps Delphes' layout (``Branch.Leaf`` names, ``Branch_size`` counters) and
    nothing else, so a test can give a reader a real file that lacks some branches.
    """
    tree_in = uproot.open(source)["Delphes"]
    arrays = {
        branch: ak.zip({leaf: tree_in[f"{branch}.{leaf}"].array() for leaf in names}, depth_limit=2)
        for branch, names in leaves.items()
    }
    with uproot.recreate(path) as file:
        tree = file.mktree(
            "Delphes",
            {branch: array.type.content for branch, array in arrays.items()},
            counter_name=lambda counted: f"{counted}_size",
            field_name=lambda outer, inner: f"{outer}.{inner}",
        )
        tree.extend(arrays)
    return path
