"""zprime-ttbar-allhad: a Z' -> t tbar search in the all-hadronic final state at 13 TeV.

Two large-R jets (leading pT > 500 GeV, subleading > 400 GeV, |eta| < 2, |delta y| < 1.8),
a signal region with both jets top-tagged at the eps_S = 0.5 working point and a control
region with exactly one, binned in the dijet mass mjj from 1 to 5 TeV; 139 fb^-1. Modelled
on ATLAS arXiv:2005.05138 and CMS arXiv:1810.05905; the tagger is replaced by classifier
surrogates (arXiv:2402.15558).

Registration convention (:mod:`surrotag.analysis`): this package is the value of the entry
point ``zprime-ttbar-allhad`` of group ``surrotag.analyses`` and ships ``card.json`` as
package data; surrotag reads it, ``workspace.json`` (background-only pyhf workspace with
pseudo-data) and ``official_yields.json`` (the official Z' signal yields) through
:mod:`importlib.resources`. Those two are written by the build script :mod:`.build` from the
reference experiment, with one command::

    python -m surrotag.analyses.zprime_ttbar_allhad.build [--jobs 2] [--out-dir DIR]

Nothing here is imported by surrotag by name::

    >>> from surrotag.analysis import get_analysis
    >>> get_analysis("zprime-ttbar-allhad").card.sqrt_s_gev
    13000.0
"""

from __future__ import annotations

__all__: list[str] = []
