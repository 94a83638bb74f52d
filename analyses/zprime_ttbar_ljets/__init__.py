"""zprime-ttbar-ljets: a Z' -> t tbar search in the lepton + jets final state at 13 TeV.

Exactly one isolated electron or muon (pT > 50 GeV), MET > 50 GeV, a b-tagged small-R jet
and a small-R jet within Delta R < 1.5 of the lepton; the leading large-R jet (pT > 400 GeV,
|eta| < 2, |Delta phi| > 1 from the lepton) is the hadronic top candidate: top-tagged at the
eps_S = 0.5 working point in the signal region, not tagged in the control region; binned in
the reconstructed t tbar mass (:mod:`.observables`) from 0.5 to 5 TeV; 139 fb^-1. Modelled
on ATLAS arXiv:1804.10823 and CMS arXiv:1810.05905; the tagger is replaced by classifier
surrogates (arXiv:2402.15558).

Registration (:mod:`surrotag.analysis`): this package is the entry point
``zprime-ttbar-ljets`` of group ``surrotag.analyses``; its two observables (``m_tt_lepjets``,
``delta_r_lepton_jet``) are registered by :mod:`.observables`, the entry point of the same
name in group ``surrotag.observables``. ``workspace.json`` and ``official_yields.json`` are
written by the build script :mod:`.build` from the reference experiment, with one command::

    python -m surrotag.analyses.zprime_ttbar_ljets.build [--jobs 2] [--out-dir DIR]

Nothing here is imported by surrotag by name::

    >>> from surrotag.analysis import get_analysis
    >>> get_analysis("zprime-ttbar-ljets").card.selection.candidates
    1
"""

from __future__ import annotations

__all__: list[str] = []
