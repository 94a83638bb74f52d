"""stop-dilepton-nn: top squark pairs in the dilepton channel, selected by an event classifier.

At least two isolated electrons or muons, at least two small-R jets of which one b-tagged,
MET > 80 GeV; regions by the decision of an event-level neural network (the internal event
classifier of the reference experiment, trained on a heavy stop against dileptonic t tbar,
as in arXiv:1804.09278) at the eps_B = 1e-2 working point, SR (selected) and CR (not), each
binned in m_T2(ll); 139 fb^-1. Preselection and m_T2(ll) from the CMS dilepton stop search
(arXiv:2008.05936); the classifier is replaced by the event-level classifier surrogate
``stop-classifier-delphes`` (arXiv:2402.15558): one row per event, the same mechanism as a
jet tagger's with the event as the candidate.

Registration (:mod:`surrotag.analysis`): this package is the entry point
``stop-dilepton-nn`` of group ``surrotag.analyses``; every observable its card uses is built
in. ``workspace.json`` and ``official_yields.json`` (stop yields on a (m_stop,
m_neutralino) grid) are written by :mod:`.build`; :mod:`.contour` draws the exclusion
contour from the surrogate and from the internal classifier side by side; :mod:`.closure`
is the pre-registered closure on fresh seeds::

    python -m surrotag.analyses.stop_dilepton_nn.build [--out-dir DIR]
    python -m surrotag.analyses.stop_dilepton_nn.contour
    python -m surrotag.analyses.stop_dilepton_nn.closure

Nothing here is imported by surrotag by name::

    >>> from surrotag.analysis import get_analysis
    >>> card = get_analysis("stop-dilepton-nn").card
    >>> card.selection.collection, [region.tag.requirement for region in card.regions]
    ('event', ['at_least_one', 'none'])
"""

from __future__ import annotations

__all__: list[str] = []
