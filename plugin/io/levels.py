"""Input levels: what kind of information an event file carries, and what follows from it.

An :class:`InputLevel` is the one place that says, for one level, which canonical
collections are read, which objects a surrogate tags (one feature row each), which formats
provide it, which surrogate serves it by default and which feature columns the tag stage
needs there. Every stage asks :func:`input_level` instead of branching on the level's name.

``delphes``
    detector level: fat jets of a Delphes file (its ``FatJet`` branch, or reclustered from
    ``EFlow*``); surrogate ``top-tagger-delphes``.
``particle``
    particle level, no detector: anti-kT R = 0.8 jets of the visible stable particles of a
    generator record (HepMC, or a Delphes file's ``Particle`` branch; reference samples'
    ``particlejets``), :mod:`surrotag.jets.particle`; surrogate ``top-tagger-particle``.
``parton``
    the hard-process record (LHE, ExRootAnalysis, or a generator record read as truth):
    one row per top quark; surrogate ``top-tagger-parton``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from surrotag.errors import FormatError

__all__ = ["INPUT_LEVELS", "LEVEL_NAMES", "InputLevel", "input_level"]


@dataclass(frozen=True)
class InputLevel:
    """What one input level reads, tags and calls its surrogate.

    Attributes:
        name: ``delphes``, ``particle`` or ``parton``.
        row_kind: the object of one feature row (``fatjet`` or ``top``).
        objects: the canonical collection whose objects are tagged.
        collections: canonical collections read by default.
        formats: formats (:data:`surrotag.io.sniff.FORMATS`) that can provide the level.
        default_format_of: formats whose files are read at this level unless told otherwise.
        surrogate: the shipped surrogate of the level's top tagger.
        description: one sentence for help texts.
        jets_from_particles: True when the reader clusters the fat jets from the
            generator's stable particles (no detector; it checks its own record, and an
            analysis may smear them with its jet response).
        taggable_features: feature columns deciding whether a row can be tagged at all
            (:func:`surrotag.tagging.taggable`); empty when every row can.
        fed_features: the features an analysis feeds its surrogate at this level: pT
            (GeV) and eta of the selected objects, the quantities its selection cuts on. A
            surrogate without them cannot carry the tag rate's dependence on them.
        efficiency_map_features: the feature columns the efficiency-map tagger reads, pT
            (GeV) first, then the object's truth (:mod:`surrotag.tagging.efficiency_map`).
    """

    name: str
    row_kind: str
    objects: str
    collections: tuple[str, ...]
    formats: tuple[str, ...]
    default_format_of: tuple[str, ...]
    surrogate: str
    description: str
    jets_from_particles: bool = False
    taggable_features: tuple[str, ...] = ()
    fed_features: tuple[str, ...] = ()
    efficiency_map_features: tuple[str, ...] = ()

    @property
    def has_jets(self) -> bool:
        """True when the tagged objects are fat jets (jet features apply)."""
        return self.row_kind == "fatjet"


#: Everything a Delphes file gives (:data:`surrotag.io.canonical.COLLECTIONS`).
_DETECTOR_COLLECTIONS: Final = (
    "weight",
    "fatjets",
    "jets",
    "electrons",
    "muons",
    "photons",
    "met",
    "particles",
)

#: Features fed to a jet-level surrogate (GeV, dimensionless).
_JET_FED: Final = ("jet_pt", "jet_eta")
#: Feature columns of the jet-level efficiency map: pT and the truth category's inputs.
_JET_EFFICIENCY_MAP: Final = (
    "jet_pt",
    "truth_top_matched",
    "truth_top_hadronic",
    "truth_top_n_contained",
)

INPUT_LEVELS: Final = MappingProxyType(
    {
        "delphes": InputLevel(
            name="delphes",
            row_kind="fatjet",
            objects="fatjets",
            collections=_DETECTOR_COLLECTIONS,
            formats=("delphes", "parquet"),
            default_format_of=("delphes",),
            surrogate="top-tagger-delphes",
            description="detector-level fat jets of a Delphes file",
            fed_features=_JET_FED,
            efficiency_map_features=_JET_EFFICIENCY_MAP,
        ),
        "particle": InputLevel(
            name="particle",
            row_kind="fatjet",
            objects="fatjets",
            collections=("weight", "fatjets", "particles"),
            formats=("hepmc", "delphes", "parquet"),
            default_format_of=("hepmc",),
            surrogate="top-tagger-particle",
            description="particle-level fat jets of the visible stable particles "
            "(HepMC, or a Delphes file's Particle branch), no detector",
            jets_from_particles=True,
            fed_features=_JET_FED,
            efficiency_map_features=_JET_EFFICIENCY_MAP,
        ),
        "parton": InputLevel(
            name="parton",
            row_kind="top",
            objects="particles",
            collections=("weight", "particles"),
            formats=("lhe", "exroot", "hepmc", "delphes", "parquet"),
            default_format_of=("lhe", "exroot"),
            surrogate="top-tagger-parton",
            description="top quarks of the hard-process record (LHE)",
            # only hadronically decaying tops with a decay chain make a top-tagged jet
            taggable_features=("top_hadronic", "flag_top_no_decay_chain"),
            fed_features=("top_pt", "top_eta"),
            efficiency_map_features=("top_pt", "top_hadronic"),
        ),
    }
)

#: Level names, from the most to the least detailed.
LEVEL_NAMES: Final = tuple(INPUT_LEVELS)


def input_level(name: str | InputLevel) -> InputLevel:
    """The :class:`InputLevel` of a name (an InputLevel passes through).

    Raises:
        FormatError: an unknown name (one line listing the known ones).

    Examples:
        >>> input_level("particle").surrogate
        'top-tagger-particle'
        >>> input_level("parton").objects
        'particles'
        >>> input_level("parton").fed_features
        ('top_pt', 'top_eta')
    """
    if isinstance(name, InputLevel):
        return name
    try:
        return INPUT_LEVELS[name]
    except (KeyError, TypeError):
        raise FormatError(
            f"unknown input level {name!r}; choose from {', '.join(LEVEL_NAMES)}"
        ) from None
