"""anomaly-dijet: dijet resonances with anomalous jet substructure, 13 TeV, 139 fb^-1.

Two large-R jets (leading pT > 500 GeV, subleading > 400 GeV, |eta| < 2, |Delta y| < 1.3),
binned in their invariant mass m_jj; regions by how many of the two pass a cut on an
unsupervised anomaly score at 10 % QCD efficiency: both (``SR2``) or exactly one (``SR1``).
The score is the internal outlier-exposed, mass-decorrelated VAE of the reference experiment
(arXiv:2007.01850, :mod:`surrotag.reference.vae`), trained on QCD jets only, so that the
search is sensitive to signals nobody trained for; a recast replaces it by the
``anomaly-oe-delphes`` surrogate (arXiv:2402.15558), conditioned on public jet features and
hard-prong truth (:mod:`surrotag.features.prongs`). Modelled on the CMS model-agnostic
search for dijet resonances with anomalous jet substructure (arXiv:2412.03747) and the
ATLAS weakly supervised anomaly search (arXiv:2005.02983).

Registration (:mod:`surrotag.analysis`): this package is the entry point ``anomaly-dijet``
of group ``surrotag.analyses``. ``workspace.json`` and ``official_yields.json`` (W' -> W Z
and Y -> X X' yields from the internal tagger) are written by :mod:`.build`; the
pre-registered closure is :mod:`.closure`::

    python -m surrotag.analyses.anomaly_dijet.build [--out-dir DIR]
    python -m surrotag.analyses.anomaly_dijet.closure

    >>> from surrotag.analysis import get_analysis
    >>> [region.tag.requirement for region in get_analysis("anomaly-dijet").card.regions]
    ['both', 'exactly_one']
"""

from __future__ import annotations

__all__: list[str] = []
