"""surrotag: recast LHC searches that cut on ML taggers with classifier surrogates.

A classifier surrogate (arXiv:2402.15558) is a conditional normalizing flow, trained by
conditional flow matching, that samples an experiment-internal tagger's score from public
features and truth information, with Bayesian weight uncertainty. surrotag reads events,
builds the public features, applies the surrogate as a (stochastic or exact) cut, carries the
uncertainty into signal yields and computes CLs with pyhf.

Heavy modules (torch, uproot) are imported lazily so that ``import surrotag`` and
``surrotag --version`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from surrotag.errors import SurrotagError

__version__ = "0.1.0"

__all__ = [
    "SurrotagError",
    "__version__",
    "build_features",
    "iter_events",
    "read_events",
]

_LAZY = {
    "read_events": "surrotag.io",
    "iter_events": "surrotag.io",
    "build_features": "surrotag.features",
}


def __getattr__(name: str) -> Any:
    """Import the public API lazily (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'surrotag' has no attribute {name!r}")
