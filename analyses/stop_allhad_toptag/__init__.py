"""stop-allhad-toptag: top squark pairs, stop -> t neutralino, all hadronic with MET, 13 TeV.

No isolated electron or muon, MET > 250 GeV, at least four small-R jets of which one
b-tagged, min |Delta phi(j1-4, MET)| > 0.4 and two large-R jets (pT > 250 GeV, |eta| < 2);
regions by the number of top-tagged large-R jets among the two leading ones (N_t >= 1 and
N_t = 0) at the eps_S = 0.5 working point, each binned in MET from 250 GeV to 1.5 TeV;
139 fb^-1.
Modelled on CMS arXiv:2103.01290 (merged top tagging) and ATLAS arXiv:2004.14060; the
tagger is replaced by classifier surrogates (arXiv:2402.15558).

Registration (:mod:`surrotag.analysis`): this package is the entry point
``stop-allhad-toptag`` of group ``surrotag.analyses``; every observable its card uses is
built in. ``workspace.json`` and ``official_yields.json`` (stop yields on a
(m_stop, m_neutralino) grid) are written by :mod:`.build`; :mod:`.contour` draws the
exclusion contour from the surrogate and from the internal tagger side by side::

    python -m surrotag.analyses.stop_allhad_toptag.build [--out-dir DIR]
    python -m surrotag.analyses.stop_allhad_toptag.contour

Nothing here is imported by surrotag by name::

    >>> from surrotag.analysis import get_analysis
    >>> [region.tag.requirement for region in get_analysis("stop-allhad-toptag").card.regions]
    ['at_least_one', 'none']
"""

from __future__ import annotations

__all__: list[str] = []
