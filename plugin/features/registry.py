"""The registry of every public feature surrotag builds: one name, unit, dtype and meaning each.

Surrogate cards (arXiv:2402.15558 conditions the surrogate on public features and truth
information) refer to features by the names registered here, so the names are stable API.

A feature table has one row per object. The object kind follows from the input level:

===========  ==========  ==============================================================
level        row kind    rows
===========  ==========  ==============================================================
``delphes``  ``fatjet``  every fat jet (Delphes ``FatJet``) of every event
``parton``   ``top``     every top quark (the last copy of each top in the truth record)
===========  ==========  ==============================================================

Event-level features (kind ``event``) are repeated on every row of their event, or make the
one row per event of an event-level tagger's table (:func:`surrotag.features.build_event_table`);
their ``requires`` name what they read (the row collection is the table's own). Quantities
that can be unknown (no matched top, a missing decay chain, no lepton, tau1 = 0) are NaN and
a boolean ``flag_*`` column says why; nothing is guessed. Units: GeV for energies and
momenta, rad for azimuthal angles; pseudorapidity and Delta R are dimensionless.

Truth means **hadronic** top. The shipped surrogates and efficiency maps were trained on
tops with W -> q q' only, and they are conditioned on ``truth_top_matched`` and
``truth_top_n_contained``; so a fat jet is matched only to a hadronically decaying top (or
to a top whose decay is not in the record, flagged ``flag_no_decay_chain``), and
``truth_top_n_contained`` / ``truth_top_contained`` / ``truth_top_dr_max`` refer to that
top's b, q, q'. A jet with only a leptonic top (W -> l nu, tau included) within R is
*unmatched*, exactly like a QCD jet for the surrogates (``flag_no_top_match``), and
``flag_leptonic_top`` says so; ``truth_top_hadronic`` is 0 for it. At parton level every top
is a row: leptonic ones have ``top_hadronic = 0``, their ``top_dr_*`` describe b, l, nu,
and the recast gives them tag probability 0 (the parton surrogate knows hadronic tops only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

from surrotag.errors import FeatureError
from surrotag.io.levels import INPUT_LEVELS, LEVEL_NAMES

__all__ = [
    "FEATURES",
    "ROW_KIND",
    "Feature",
    "describe_features",
    "features_for_level",
    "get_feature",
]

#: The object kind of one row at each input level.
ROW_KIND: Final = MappingProxyType({name: level.row_kind for name, level in INPUT_LEVELS.items()})


@dataclass(frozen=True)
class Feature:
    """One public feature.

    Attributes:
        name: the column name, used by surrogate cards.
        unit: ``"GeV"``, ``"rad"`` or ``""`` (dimensionless).
        dtype: numpy dtype name of the column (``float32``, ``float64``, ``int32``, ``bool``).
        description: one sentence: what the value is and how it is computed.
        levels: input levels that can provide it (subset of
            :data:`surrotag.io.levels.LEVEL_NAMES`).
        kind: the object a row is (``"fatjet"`` or ``"top"``), or ``"event"`` for an event
            quantity repeated on every row of the event.
        requires: canonical collections (:data:`surrotag.io.canonical.COLLECTIONS`) it needs.
        flags: the ``flag_*`` columns that explain a missing value (empty: never missing).
    """

    name: str
    unit: str
    dtype: str
    description: str
    levels: tuple[str, ...]
    kind: str
    requires: tuple[str, ...]
    flags: tuple[str, ...] = ()

    @property
    def is_flag(self) -> bool:
        """True for the boolean ``flag_*`` columns that explain missing values."""
        return self.name.startswith("flag_")


_D = ("delphes",)
_P = ("parton",)
_JET = ("fatjets",)
_LEPTONS = ("electrons", "muons")
_LEPTONS_MET = ("electrons", "muons", "met")
_TRUTH = ("fatjets", "particles")
_NO_MATCH = ("flag_no_top_match", "flag_leptonic_top")
_NO_CHAIN = (*_NO_MATCH, "flag_no_decay_chain")

_ALL: tuple[Feature, ...] = (
    # -- fat-jet kinematics and substructure (Delphes FatJet) ------------------------------
    Feature(
        "jet_index",
        "",
        "int32",
        "Position of the fat jet in its event's collection "
        "(Delphes orders by pT: 0 is the leading jet).",
        _D,
        "fatjet",
        _JET,
    ),
    Feature("jet_pt", "GeV", "float32", "Fat-jet transverse momentum.", _D, "fatjet", _JET),
    Feature("jet_eta", "", "float32", "Fat-jet pseudorapidity.", _D, "fatjet", _JET),
    Feature("jet_phi", "rad", "float32", "Fat-jet azimuth in (-pi, pi].", _D, "fatjet", _JET),
    Feature("jet_mass", "GeV", "float32", "Fat-jet invariant mass.", _D, "fatjet", _JET),
    Feature(
        "jet_sd_mass",
        "GeV",
        "float32",
        "Soft-drop groomed mass (Delphes SoftDroppedP4[0]; arXiv:1402.2657).",
        _D,
        "fatjet",
        _JET,
    ),
    Feature(
        "jet_tau21",
        "",
        "float32",
        "N-subjettiness ratio tau2/tau1 (beta = 1; arXiv:1011.2268); NaN where tau1 <= 0.",
        _D,
        "fatjet",
        _JET,
        ("flag_tau_undefined",),
    ),
    Feature(
        "jet_tau32",
        "",
        "float32",
        "N-subjettiness ratio tau3/tau2 (beta = 1; arXiv:1011.2268); NaN where tau2 <= 0.",
        _D,
        "fatjet",
        _JET,
        ("flag_tau_undefined",),
    ),
    Feature(
        "jet_n_constituents",
        "",
        "int32",
        "Number of constituents (charged + neutral); -1 where the file does not record them.",
        _D,
        "fatjet",
        _JET,
    ),
    Feature(
        "flag_tau_undefined",
        "",
        "bool",
        "True where tau1 <= 0 or tau2 <= 0, so that jet_tau21 or jet_tau32 is NaN.",
        _D,
        "fatjet",
        _JET,
    ),
    # -- truth matching of fat jets to top quarks (Delphes Particle) -----------------------
    Feature(
        "truth_top_matched",
        "",
        "bool",
        "A hadronically decaying top quark (last copy in its chain; W -> q q', or a top whose "
        "decay is not in the record) lies within Delta R < R (default 0.8) of the jet axis; "
        "leptonic tops are never matched (flag_leptonic_top).",
        _D,
        "fatjet",
        _TRUTH,
    ),
    Feature(
        "truth_top_pt",
        "GeV",
        "float32",
        "pT of the matched hadronic top (the nearest one).",
        _D,
        "fatjet",
        _TRUTH,
        _NO_MATCH,
    ),
    Feature(
        "truth_top_eta",
        "",
        "float32",
        "Pseudorapidity of the matched hadronic top.",
        _D,
        "fatjet",
        _TRUTH,
        _NO_MATCH,
    ),
    Feature(
        "truth_top_dr",
        "",
        "float32",
        "Delta R between the jet axis and the matched hadronic top.",
        _D,
        "fatjet",
        _TRUTH,
        _NO_MATCH,
    ),
    Feature(
        "truth_top_hadronic",
        "",
        "float32",
        "1 if the jet is matched to a top whose W decays to quarks; 0 if the only tops within R "
        "decay leptonically (flag_leptonic_top, the jet counts as unmatched); NaN if no top lies "
        "within R or the matched top's decay chain is absent.",
        _D,
        "fatjet",
        _TRUTH,
        _NO_CHAIN,
    ),
    Feature(
        "truth_top_n_contained",
        "",
        "float32",
        "How many of b, q, q' (the matched hadronic top's b "
        "quark and its W's two daughters) lie within R of the jet axis: 0..3.",
        _D,
        "fatjet",
        _TRUTH,
        _NO_CHAIN,
    ),
    Feature(
        "truth_top_contained",
        "",
        "float32",
        "1 if the matched hadronic top's b, q and q' all lie within R of "
        "the jet axis, else 0; NaN if unmatched or the decay chain is absent.",
        _D,
        "fatjet",
        _TRUTH,
        _NO_CHAIN,
    ),
    Feature(
        "truth_top_dr_max",
        "",
        "float32",
        "Largest Delta R of the matched hadronic top's b, q, q' to the jet axis.",
        _D,
        "fatjet",
        _TRUTH,
        _NO_CHAIN,
    ),
    # -- hard prongs of resonance decays (surrotag.features.prongs) --------------------------
    Feature(
        "truth_n_prongs",
        "",
        "float32",
        "How many hard prongs lie within Delta R < R of the jet axis: quarks whose first "
        "mother is a heavy resonance (t, Z, W, h, Z', W', H, A, H+, BSM ids >= 1e6), e.g. 3 "
        "for a contained hadronic top, 2 for a W, Z or X -> q qbar, 0 for a QCD jet.",
        _D,
        "fatjet",
        _TRUTH,
    ),
    Feature(
        "truth_prong_mass",
        "GeV",
        "float32",
        "Invariant mass of the hard prongs within R of the jet axis (the resonance mass when "
        "all its quarks are inside); 0 where the jet contains none.",
        _D,
        "fatjet",
        _TRUTH,
    ),
    Feature(
        "flag_no_top_match",
        "",
        "bool",
        "True where no hadronically decaying top lies within R of the jet (also where a "
        "leptonic one does): the truth_top_* values are NaN, except truth_top_hadronic = 0 "
        "where flag_leptonic_top.",
        _D,
        "fatjet",
        _TRUTH,
    ),
    Feature(
        "flag_leptonic_top",
        "",
        "bool",
        "True where a leptonically decaying top (W -> l nu) lies within R of the jet and no "
        "hadronic top does: the jet is unmatched (flag_no_top_match), truth_top_hadronic = 0.",
        _D,
        "fatjet",
        _TRUTH,
    ),
    Feature(
        "flag_no_decay_chain",
        "",
        "bool",
        "True where a top is matched but its decay "
        "t -> b W, W -> f f' is not in the record: decay-product values are NaN.",
        _D,
        "fatjet",
        _TRUTH,
    ),
    # -- event-level quantities -------------------------------------------------------------
    Feature(
        "event_weight",
        "",
        "float64",
        "Generator event weight (1 where the file has none).",
        ("delphes", "parton"),
        "event",
        ("weight",),
    ),
    Feature(
        "event_met",
        "GeV",
        "float32",
        "Missing transverse momentum magnitude (Delphes MissingET).",
        _D,
        "event",
        ("met",),
    ),
    Feature(
        "event_ht",
        "GeV",
        "float32",
        "Scalar sum of the pT of the small-R jets (Delphes Jet).",
        _D,
        "event",
        ("jets",),
    ),
    Feature("event_n_fatjets", "", "int32", "Number of fat jets in the event.", _D, "event", _JET),
    Feature(
        "event_n_jets",
        "",
        "int32",
        "Number of small-R jets in the event.",
        _D,
        "event",
        ("jets",),
    ),
    Feature(
        "event_n_electrons",
        "",
        "int32",
        "Number of electrons.",
        _D,
        "event",
        ("electrons",),
    ),
    Feature("event_n_muons", "", "int32", "Number of muons.", _D, "event", ("muons",)),
    Feature(
        "event_n_leptons",
        "",
        "int32",
        "Number of electrons plus muons.",
        _D,
        "event",
        _LEPTONS,
    ),
    Feature(
        "event_lep1_pt",
        "GeV",
        "float32",
        "pT of the leading lepton (electron or muon).",
        _D,
        "event",
        _LEPTONS,
        ("flag_no_lepton",),
    ),
    Feature(
        "event_lep1_eta",
        "",
        "float32",
        "Pseudorapidity of the leading lepton.",
        _D,
        "event",
        _LEPTONS,
        ("flag_no_lepton",),
    ),
    Feature(
        "flag_no_lepton",
        "",
        "bool",
        "True where the event has no electron or muon: event_lep1_* are NaN.",
        _D,
        "event",
        _LEPTONS,
    ),
    # -- dilepton events (surrotag.features.dilepton): event rows of event-level taggers ----
    Feature(
        "event_lep2_pt",
        "GeV",
        "float32",
        "pT of the second lepton (electrons and muons by pT).",
        _D,
        "event",
        _LEPTONS,
        ("flag_fewer_than_two_leptons",),
    ),
    Feature(
        "event_lep2_eta",
        "",
        "float32",
        "Pseudorapidity of the second lepton.",
        _D,
        "event",
        _LEPTONS,
        ("flag_fewer_than_two_leptons",),
    ),
    Feature(
        "event_mll",
        "GeV",
        "float32",
        "Invariant mass of the two leading leptons.",
        _D,
        "event",
        _LEPTONS,
        ("flag_fewer_than_two_leptons",),
    ),
    Feature(
        "event_mt2_ll",
        "GeV",
        "float32",
        "Stransverse mass of the two leading leptons "
        "and MET, massless invisibles (arXiv:hep-ph/9906349); t tbar ends near m_W.",
        _D,
        "event",
        _LEPTONS_MET,
        ("flag_fewer_than_two_leptons",),
    ),
    Feature(
        "event_dphi_met_lep1",
        "rad",
        "float32",
        "|Delta phi| of MET and the leading lepton.",
        _D,
        "event",
        _LEPTONS_MET,
        ("flag_fewer_than_two_leptons",),
    ),
    Feature(
        "event_dphi_met_lep2",
        "rad",
        "float32",
        "|Delta phi| of MET and the second lepton.",
        _D,
        "event",
        _LEPTONS_MET,
        ("flag_fewer_than_two_leptons",),
    ),
    Feature(
        "event_dphi_ll",
        "rad",
        "float32",
        "|Delta phi| of the two leading leptons.",
        _D,
        "event",
        _LEPTONS,
        ("flag_fewer_than_two_leptons",),
    ),
    Feature(
        "event_n_btag", "", "int32", "Number of b-tagged small-R jets.", _D, "event", ("jets",)
    ),
    Feature(
        "event_jet1_pt",
        "GeV",
        "float32",
        "pT of the leading small-R jet (NaN without jets).",
        _D,
        "event",
        ("jets",),
    ),
    Feature(
        "flag_fewer_than_two_leptons",
        "",
        "bool",
        "True where the event has fewer than "
        "two electrons and muons: the second lepton's features are NaN.",
        _D,
        "event",
        _LEPTONS,
    ),
    Feature(
        "truth_invisible_pt",
        "GeV",
        "float32",
        "Truth: pT of the vector sum of the "
        "undecayed neutralinos and the neutrinos of W decays (what the hard process made "
        "invisible; neutrinos of tau and hadron decays are not counted).",
        ("delphes", "parton"),
        "event",
        ("particles",),
    ),
    Feature(
        "truth_n_tops",
        "",
        "int32",
        "Truth: number of top quarks (last copies) in the record.",
        ("delphes", "parton"),
        "event",
        ("particles",),
    ),
    # -- parton level: one row per top quark ------------------------------------------------
    Feature(
        "top_pid", "", "int32", "PDG id of the top: 6 (t) or -6 (tbar).", _P, "top", ("particles",)
    ),
    Feature(
        "top_pt",
        "GeV",
        "float32",
        "Top-quark pT (last copy in its chain).",
        _P,
        "top",
        ("particles",),
    ),
    Feature("top_eta", "", "float32", "Top-quark pseudorapidity.", _P, "top", ("particles",)),
    Feature(
        "top_phi", "rad", "float32", "Top-quark azimuth in (-pi, pi].", _P, "top", ("particles",)
    ),
    Feature(
        "top_hadronic",
        "",
        "float32",
        "1 if the top's W decays to quarks, 0 if to leptons (a leptonic top: the parton "
        "surrogate, trained on hadronic tops, does not apply and the recast gives it tag "
        "probability 0); NaN if the decay chain is absent.",
        _P,
        "top",
        ("particles",),
        ("flag_top_no_decay_chain",),
    ),
    Feature(
        "top_dr_b_w",
        "",
        "float32",
        "Delta R between the b quark and the W of the top decay.",
        _P,
        "top",
        ("particles",),
        ("flag_top_no_decay_chain",),
    ),
    Feature(
        "top_dr_q_q",
        "",
        "float32",
        "Delta R between the W's two daughters (q q', or l nu where top_hadronic = 0).",
        _P,
        "top",
        ("particles",),
        ("flag_top_no_decay_chain",),
    ),
    Feature(
        "top_dr_max",
        "",
        "float32",
        "Largest Delta R of b, f, f' to the top axis (b, q, q'; b, l, nu where top_hadronic = 0).",
        _P,
        "top",
        ("particles",),
        ("flag_top_no_decay_chain",),
    ),
    Feature(
        "flag_top_no_decay_chain",
        "",
        "bool",
        "True where the top's decay t -> b W, "
        "W -> f f' is not in the record (e.g. undecayed tops in LHE): values are NaN.",
        _P,
        "top",
        ("particles",),
    ),
)

#: Collections a particle-level event holds (:data:`surrotag.io.levels.INPUT_LEVELS`).
_PARTICLE_LEVEL_COLLECTIONS: Final = frozenset(INPUT_LEVELS["particle"].collections)


def _with_particle_level(feature: Feature) -> Feature:
    """A detector-level feature computed from fat jets and the generator record alone also
    exists at particle level, where the fat jets are clustered from the visible stable
    particles (:mod:`surrotag.jets.particle`)."""
    if "delphes" in feature.levels and set(feature.requires) <= _PARTICLE_LEVEL_COLLECTIONS:
        levels = tuple(name for name in LEVEL_NAMES if name in (*feature.levels, "particle"))
        return replace(feature, levels=levels)
    return feature


#: name -> :class:`Feature`, in a stable documentation order.
FEATURES: Final[Mapping[str, Feature]] = MappingProxyType(
    {f.name: _with_particle_level(f) for f in _ALL}
)


def get_feature(name: str) -> Feature:
    """Look a feature up by name.

    Raises:
        FeatureError: the name is not registered (the message lists the known names).
    """
    try:
        return FEATURES[name]
    except KeyError:
        raise FeatureError(
            f"unknown feature {name!r}; known features: {', '.join(FEATURES)} "
            "(see `surrotag features --list`)"
        ) from None


def features_for_level(level: str) -> tuple[str, ...]:
    """Names of every feature an input level can provide, flags included.

    Raises:
        FeatureError: ``level`` is not one of :data:`surrotag.io.canonical.LEVELS`.
    """
    if level not in INPUT_LEVELS:
        raise FeatureError(f"unknown input level {level!r}; use one of {', '.join(LEVEL_NAMES)}")
    return tuple(name for name, feature in FEATURES.items() if level in feature.levels)


def describe_features(level: str | None = None) -> list[dict[str, str]]:
    """The registry as rows of strings, for documentation and ``surrotag features --list``.

    Args:
        level: only the features of this level (all when None).

    Returns:
        One dict per feature with keys name, unit, dtype, levels, kind, flags, description.
    """
    names = features_for_level(level) if level is not None else tuple(FEATURES)
    return [
        {
            "name": f.name,
            "unit": f.unit or "-",
            "dtype": f.dtype,
            "levels": ",".join(f.levels),
            "kind": f.kind,
            "flags": ",".join(f.flags) or "-",
            "description": f.description,
        }
        for f in (FEATURES[name] for name in names)
    ]
