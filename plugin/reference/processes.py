"""Pythia 8 presets of the reference experiment at 13 TeV: tops, W/Z + jets, QCD, stops.

Each preset is a list of Pythia ``readString`` settings plus the branching ratio that the
forced decays apply. The samples are modelled on the top-tagging reference data set
(arXiv:1902.09914: 14 TeV Pythia 8 ttbar vs QCD dijets, Delphes ATLAS-like) and JetClass
(arXiv:2202.03772: 13 TeV, Delphes CMS card, anti-kT R = 0.8 jets).

Jet-pT coverage (300 GeV to beyond 2.5 TeV) uses ONE biased phase space per preset rather
than pTHat slices: ``PhaseSpace:bias2Selection = on`` with ``bias2SelectionPow = 6`` and
``bias2SelectionRef = pTHatMin = 250 GeV``. Pythia then samples pTHat with an extra
``(pTHat/250)^6`` and returns the compensating event weight ``info.weight()``. Why: one
sample, one seed and one cross-section instead of stitching slices, and the pTHat spectrum
of the generated events is nearly flat up to 1.5 TeV (measured with Pythia 8.317, 5000
parton-level events per preset: QCD pTHat in [250, 500, 1000, 1500, 2000, 2500, 3000] GeV:
1166, 1935, 1128, 494, 175, 77, 25 events). Normalisation (checked against an unbiased run
with ``pTHatMin = 1000``: 1.027e-8 vs 1.050e-8 mb, within its statistics): an event's
cross-section is ``sigma_pb * weight / sum_weights``.

The presets with physics objects (``ttbar``, ``wjets``, ``znunu``: the backgrounds of
searches that select whole events by leptons, MET and a tagged jet) use the milder power
``OBJECTS_BIAS_POW = 3``: with power 6 the lepton + jets selection kept 1168 t tbar events
that weighed as 75 unweighted ones (Kish), since the few selected events of low pTHat carry
weights up to 1e5 times those of the hard ones.

Forced W decays. ``ttbar-allhad`` and ``zprime-ttbar`` force ``W -> q q'`` (``24:onMode =
off``, ``24:onIfAny = 1 2 3 4 5``): every top decays hadronically, the signal of top
tagging. Pythia 8.317 rescales ``sigmaGen`` by the open fraction of resonance decays it
forces (measured: sigma(ttbar, W forced hadronic) / sigma(ttbar, inclusive) = 0.4567 =
0.6756^2, Pythia's own BR(W -> had) = 0.675581 squared). So the recorded ``sigma_pb``
already INCLUDES the branching ratio; the provenance records the applied BR (Pythia's table,
``br_applied``), whether sigma includes it (``br_in_sigma = true``), and the PDG value
(BR(W -> hadrons) = 0.6741, PDG 2024) as ``br_pdg`` for users who prefer it. ``wjets``
forces its one W to leptons (e, mu, tau; PDG 3 x 0.1086), the same way; ``ttbar`` and
``zprime-ttbar-inclusive`` force nothing (every top decay, for lepton + jets and dilepton
searches).

Forced Z decays. ``znunu`` (pp -> Z + jet, ``WeakZ0:gmZmode = 2``: Z only, no gamma*) forces
``Z -> nu nu`` (``23:onMode = off``, ``23:onIfAny = 12 14 16``), the irreducible background
of MET searches. ``sigmaGen`` again INCLUDES the branching ratio (measured with Pythia 8.317,
seed 3, 2000 process-level events each, pTHat-biased as the preset: sigma(Z forced to nu nu)
/ sigma(Z inclusive) = 4.736 / 23.64 pb = 0.2003 +- 0.0017, Pythia's own BR(Z -> nu nu) =
0.20019; a first 300-event run gave 0.205 +- 0.005). The provenance records it as for the
W presets; ``br_pdg`` is BR(Z -> invisible) = 0.2000 (PDG 2024).

Stops. ``stop-pair`` is the simplified model pp -> stop stop* (gg and q qbar, SUSY processes
of Desai and Skands, arXiv:1109.5852), stop -> t neutralino with BR 1, every top decay, no
pTHat bias (weights 1). The spectrum is an SLHA text (:func:`surrotag.reference.susy.
stop_slha`, in :attr:`ProcessSpec.slha`), which the generator writes to a file per job and
hands to Pythia with ``SLHA:file``. It takes the stop mass ``mass`` and the neutralino mass
``lsp_mass`` (GeV); above the top threshold (m_stop > m_lsp + 173 GeV) the stop decays to
t neutralino, between it and m_W + m_b to b W neutralino (three-body,
:func:`surrotag.reference.susy.stop_decay`). Pythia's cross-section is LO (4.0 fb at
m_stop = 1000 GeV, m_lsp = 100 GeV; NNLO+NNLL: 6.83 fb).

Dilepton. ``ttbar-dilepton`` and ``stop-pair-dilepton`` force both W to ``l nu`` (e, mu,
tau; ``sigmaGen`` includes BR(W -> l nu)^2, recorded as above), with no pTHat bias: the
dilepton stop searches (arXiv:1804.09278) select the bulk of t tbar by its leptons and MET,
where a bias would leave few effective events.

Dibosons. ``wprime-wz`` is pp -> W'(M) -> W Z (``NewGaugeBoson:ffbar2Wprime``, only the
W Z channel open, ``Wprime:coup2WZ = 1``) with both bosons forced to quarks: boosted
two-prong W and Z jets of about M/2 GeV, the W/Z class of the anomaly taggers
(arXiv:2007.01850) and the W' -> WZ signal of the model-agnostic dijet searches. Its
``sigmaGen`` includes BR(W -> had) BR(Z -> had) as above (0.060 pb at M = 1300 GeV,
measured with Pythia 8.317). Its truth record also keeps every Z and W' copy with its
daughters (:attr:`ProcessSpec.truth_pids`), so the Z's quarks are found like the W's.

Two new scalars. ``y-xx`` is gg -> Y(M) -> X X', X and X' -> q qbar (d, u, s, c, b with
equal shares), the generic two-prong resonances of the model-agnostic dijet searches with
anomalous substructure: Pythia's heavy CP-even Higgs (id 35, ``HiggsBSM:gg2H2``) plays Y,
its light Higgs (25) X and the CP-odd A (36) X', each given the mass asked for, a width of
0.1% of it (1% for Y) and one decay channel of pure phase space (``meMode = 100``). Only
the kinematics are meant: Pythia's cross-section of this process is not a physical
benchmark (2.6e-16 pb at M = 3 TeV), so an analysis normalises the signal itself. The truth
record keeps every copy of Y, X and X' with its daughters.

Physics objects. The presets for searches with leptons, small-R jets or missing transverse
momentum (``objects=True``: ``ttbar``, ``ttbar-dilepton``, ``wjets``,
``zprime-ttbar-inclusive``, ``znunu``, ``stop-pair``, ``stop-pair-dilepton``) also store
the Delphes CMS-card objects of :mod:`surrotag.reference.objects` (isolated electrons,
muons, photons, anti-kT 0.4 jets with b-tags); the others keep their fat jets only, so their
samples and cache keys are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from surrotag.errors import GenerationError
from surrotag.reference.susy import stop_slha

__all__ = [
    "BIAS_POW",
    "BR_W_HADRONIC_PDG",
    "BR_W_LEPTONIC_PDG",
    "BR_Z_HADRONIC_PDG",
    "BR_Z_INVISIBLE_PDG",
    "OBJECTS_BIAS_POW",
    "PROCESSES",
    "PTHAT_MIN",
    "Y_XX_BENCHMARK_PB",
    "ProcessSpec",
    "common_settings",
    "process_spec",
]

#: Lower pTHat cut and bias reference (GeV) of the 2 -> 2 presets.
PTHAT_MIN: Final = 250.0
#: Power of the pTHat bias: events sampled with an extra (pTHat / PTHAT_MIN)^BIAS_POW.
BIAS_POW: Final = 6.0
#: Power of the pTHat bias of the presets with physics objects (``ttbar``, ``wjets``,
#: ``znunu``): the backgrounds of searches that select whole events, not jets.
OBJECTS_BIAS_POW: Final = 3.0
#: BR(W -> hadrons), PDG 2024 (0.6741 +- 0.0027).
BR_W_HADRONIC_PDG: Final = 0.6741
#: BR(W -> e nu + mu nu + tau nu), PDG 2024 (3 x 0.1086).
BR_W_LEPTONIC_PDG: Final = 3 * 0.1086
#: BR(Z -> hadrons), PDG 2024 (0.69911 +- 0.00056).
BR_Z_HADRONIC_PDG: Final = 0.69911
#: BR(Z -> invisible) = BR(Z -> nu nu), PDG 2024 (0.2000 +- 0.0006).
BR_Z_INVISIBLE_PDG: Final = 0.2000

#: Known presets with their one-line descriptions.
PROCESSES: Final = {
    "ttbar-allhad": "pp -> t tbar, both W -> q q' (hadronic tops), pTHat-biased from 250 GeV",
    "qcd-dijet": "pp -> 2 jets (HardQCD:all), pTHat-biased from 250 GeV",
    "zprime-ttbar": "pp -> Z'(M) -> t tbar, both W -> q q' (gmZmode = 3: Z' only)",
    "ttbar": "pp -> t tbar, every decay (lepton + jets, dilepton), pTHat-biased from 250 GeV",
    "wjets": "pp -> W + jet, W -> l nu (e, mu, tau), pTHat-biased from 250 GeV",
    "zprime-ttbar-inclusive": "pp -> Z'(M) -> t tbar, every decay (gmZmode = 3: Z' only)",
    "znunu": "pp -> Z + jet, Z -> nu nu (gmZmode = 2: Z only), pTHat-biased from 250 GeV",
    "stop-pair": "pp -> stop stop*(M), stop -> t neutralino(M_LSP) with BR 1 (b W neutralino "
    "below the top threshold), every top and W decay",
    "ttbar-dilepton": "pp -> t tbar, both W -> l nu (e, mu, tau), no pTHat bias",
    "wprime-wz": "pp -> W'(M) -> W Z, W -> q q', Z -> q q (two-prong boson jets)",
    "y-xx": "gg -> Y(M) -> X(M_X) X'(M_X'), X and X' -> q qbar (scalars, phase-space decays)",
    "scalar-jet": "pp -> S(M) + jet (the SM Higgs production processes with m_H = M), "
    "S -> q qbar: boosted two-prong jets of mass M, pTHat-biased from 250 GeV",
    "stop-pair-dilepton": "pp -> stop stop*(M), stop -> t neutralino(M_LSP) (b W neutralino below "
    "the top threshold), both W -> l nu (e, mu, tau)",
}

_W_HADRONIC = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")
_W_LEPTONIC = ("24:onMode = off", "24:onIfAny = 11 13 15")
_Z_INVISIBLE = ("23:onMode = off", "23:onIfAny = 12 14 16")
_Z_HADRONIC = ("23:onMode = off", "23:onIfAny = 1 2 3 4 5")


def _bias(power: float) -> tuple[str, ...]:
    return (
        f"PhaseSpace:pTHatMin = {PTHAT_MIN:g}",
        "PhaseSpace:bias2Selection = on",
        f"PhaseSpace:bias2SelectionPow = {power:g}",
        f"PhaseSpace:bias2SelectionRef = {PTHAT_MIN:g}",
    )


_BIAS = _bias(BIAS_POW)
#: The milder bias of the presets with physics objects (backgrounds of event selections).
_BIAS_OBJECTS = _bias(OBJECTS_BIAS_POW)


@dataclass(frozen=True)
class ProcessSpec:
    """What to tell Pythia for one preset.

    Attributes:
        name: preset name (a key of :data:`PROCESSES`).
        settings: Pythia ``readString`` lines specific to the process.
        forced_w: how many W bosons per event decay through forced channels (0: none).
        w_channels: the forced W channels, in words (``"q q'"``, ``"l nu"``), or "".
        br_w_pdg: the PDG branching ratio of those channels (1.0 when none is forced).
        mass: Z' mass (GeV) for the Z' presets, stop mass (GeV) for ``stop-pair``, else None.
        description: one line for provenance and ``--help``.
        objects: store the Delphes physics objects (leptons, photons, small-R jets).
        forced_z: how many Z bosons per event decay through forced channels (0: none).
        z_channels: the forced Z channels, in words (``"nu nu"``), or "".
        br_z_pdg: the PDG branching ratio of those channels (1.0 when none is forced).
        lsp_mass: neutralino mass (GeV) for ``stop-pair``, else None.
        slha: SLHA spectrum text that Pythia reads (``SLHA:file``), or "" for none.
        truth_pids: |PDG id| whose every copy the truth record keeps with its daughters,
            beyond :data:`surrotag.reference.truth.CHAIN_PIDS` (``wprime-wz``: Z, W').
        x_masses: the (X, X') masses (GeV) of ``y-xx``, else None.
        benchmark_sigma_pb: the sample's cross-section x branching ratio (pb) where Pythia's
            is no physical benchmark (``y-xx``: :data:`Y_XX_BENCHMARK_PB`), else None.
    """

    name: str
    settings: tuple[str, ...]
    forced_w: int = 0
    w_channels: str = ""
    br_w_pdg: float = 1.0
    mass: float | None = None
    description: str = ""
    objects: bool = False
    forced_z: int = 0
    z_channels: str = ""
    br_z_pdg: float = 1.0
    lsp_mass: float | None = None
    slha: str = ""
    truth_pids: tuple[int, ...] = ()
    x_masses: tuple[float, float] | None = None
    benchmark_sigma_pb: float | None = None


def common_settings(ecm: float, seed: int) -> tuple[str, ...]:
    """Settings shared by all presets: beams, seed, quiet output, stable long-lived hadrons.

    Args:
        ecm: centre-of-mass energy (GeV).
        seed: Pythia random seed (1 .. 900000000).

    ``ParticleDecays:limitTau0 = on`` with ``tau0Max = 10`` mm/c leaves K0S (c tau = 26.8 mm)
    and Lambda (78.9 mm) stable, as CMS-like Delphes inputs assume (the CMS card gives them
    ECAL/HCAL energy fractions 0.3/0.7).
    """
    return (
        "Beams:idA = 2212",
        "Beams:idB = 2212",
        f"Beams:eCM = {ecm:.6g}",
        "Print:quiet = on",
        "Next:numberCount = 0",
        "Init:showChangedSettings = off",
        "Random:setSeed = on",
        f"Random:seed = {seed:d}",
        "ParticleDecays:limitTau0 = on",
        "ParticleDecays:tau0Max = 10",
    )


def process_spec(
    name: str,
    mass: float | None = None,
    lsp_mass: float | None = None,
    x_masses: tuple[float, float] | None = None,
) -> ProcessSpec:
    """Return the Pythia settings of a preset.

    Args:
        name: one of :data:`PROCESSES`.
        mass: Z' mass in GeV for the Z' presets, W' mass for ``wprime-wz``, stop mass in
            GeV for ``stop-pair`` (required there, refused otherwise).
        lsp_mass: neutralino mass in GeV (required for ``stop-pair``, refused otherwise).
        x_masses: (X, X') masses in GeV (required for ``y-xx``, refused otherwise).

    Raises:
        GenerationError: unknown preset, or a mass missing / given where it has no meaning,
            or a stop and neutralino mass outside the modelled region
            (:func:`surrotag.reference.susy.stop_slha`).
    """
    if name not in PROCESSES:
        raise GenerationError(
            f"unknown reference process {name!r}: choose one of {', '.join(PROCESSES)}"
        )
    if x_masses is not None and name != "y-xx":
        raise GenerationError(f"process {name} takes no --x-masses (only y-xx does)")
    if name == "y-xx":
        if lsp_mass is not None:
            raise GenerationError("process y-xx takes no --lsp-mass (only stop-pair does)")
        return _y_xx(mass, x_masses)
    if name in ("stop-pair", "stop-pair-dilepton"):
        return _stop_pair(name, mass, lsp_mass)
    if lsp_mass is not None:
        raise GenerationError(f"process {name} takes no --lsp-mass (only stop-pair does)")
    hadronic = {"forced_w": 2, "w_channels": "q q'", "br_w_pdg": BR_W_HADRONIC_PDG}
    if name == "wprime-wz":
        return _wprime_wz(mass)
    if name == "scalar-jet":
        return _scalar_jet(mass)
    if name in ("zprime-ttbar", "zprime-ttbar-inclusive"):
        if mass is None or not mass > 2 * 173.0:
            raise GenerationError(
                f"process {name} needs --mass M in GeV above the t tbar threshold "
                f"(346 GeV), got {mass!r}"
            )
        inclusive = name == "zprime-ttbar-inclusive"
        settings = (
            "NewGaugeBoson:ffbar2gmZZprime = on",
            "Zprime:gmZmode = 3",
            f"32:m0 = {mass:.6g}",
            "32:onMode = off",
            "32:onIfAny = 6",
            # the Breit-Wigner window: +- 50 % of M, never below the t tbar threshold
            f"PhaseSpace:mHatMin = {max(0.5 * mass, 350.0):.6g}",
            f"PhaseSpace:mHatMax = {1.5 * mass:.6g}",
            *(() if inclusive else _W_HADRONIC),
        )
        forced = {} if inclusive else hadronic
        return ProcessSpec(
            name, settings, mass=float(mass), description=PROCESSES[name], objects=inclusive,
            **forced,
        )  # fmt: skip
    if mass is not None:
        raise GenerationError(
            f"process {name} takes no --mass (only the Z', W', Y, scalar-jet and stop-pair "
            "presets do)"
        )
    tops = ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on")
    if name == "ttbar-allhad":
        settings = (*tops, *_W_HADRONIC, *_BIAS)
        return ProcessSpec(name, settings, description=PROCESSES[name], **hadronic)
    if name == "ttbar":
        settings = (*tops, *_BIAS_OBJECTS)
        return ProcessSpec(name, settings, description=PROCESSES[name], objects=True)
    if name == "ttbar-dilepton":
        return ProcessSpec(
            name, (*tops, *_W_LEPTONIC), forced_w=2, w_channels="l nu",
            br_w_pdg=BR_W_LEPTONIC_PDG, description=PROCESSES[name], objects=True,
        )  # fmt: skip
    if name == "wjets":
        settings = (
            "WeakBosonAndParton:qqbar2Wg = on",
            "WeakBosonAndParton:qg2Wq = on",
            *_W_LEPTONIC,
            *_BIAS_OBJECTS,
        )
        return ProcessSpec(
            name, settings, forced_w=1, w_channels="l nu", br_w_pdg=BR_W_LEPTONIC_PDG,
            description=PROCESSES[name], objects=True,
        )  # fmt: skip
    if name == "znunu":
        settings = (
            "WeakBosonAndParton:qqbar2gmZg = on",
            "WeakBosonAndParton:qg2gmZq = on",
            "WeakZ0:gmZmode = 2",
            *_Z_INVISIBLE,
            *_BIAS_OBJECTS,
        )
        return ProcessSpec(
            name, settings, forced_z=1, z_channels="nu nu", br_z_pdg=BR_Z_INVISIBLE_PDG,
            description=PROCESSES[name], objects=True,
        )  # fmt: skip
    settings = ("HardQCD:all = on", *_BIAS)
    return ProcessSpec(name, settings, description=PROCESSES[name])


def _stop_pair(name: str, mass: float | None, lsp_mass: float | None) -> ProcessSpec:
    """The ``stop-pair`` presets: pp -> stop stop*, stop -> t neutralino or b W neutralino
    (SLHA spectrum); ``stop-pair-dilepton`` forces both W to l nu."""
    if mass is None or lsp_mass is None:
        raise GenerationError(
            f"process {name} needs --mass (stop mass) and --lsp-mass (neutralino mass) in "
            f"GeV, got {mass!r} and {lsp_mass!r}"
        )
    slha = stop_slha(mass, lsp_mass)
    settings = (
        "SUSY:gg2squarkantisquark = on",
        "SUSY:qqbar2squarkantisquark = on",
        "SUSY:idA = 1000006",
        "SUSY:idB = 1000006",
        "SLHA:verbose = 0",
    )
    if name == "stop-pair-dilepton":
        return ProcessSpec(
            name, (*settings, *_W_LEPTONIC), forced_w=2, w_channels="l nu",
            br_w_pdg=BR_W_LEPTONIC_PDG, mass=float(mass), description=PROCESSES[name],
            objects=True, lsp_mass=float(lsp_mass), slha=slha,
        )  # fmt: skip
    return ProcessSpec(
        "stop-pair", settings, mass=float(mass), description=PROCESSES["stop-pair"],
        objects=True, lsp_mass=float(lsp_mass), slha=slha,
    )  # fmt: skip


def _wprime_wz(mass: float | None) -> ProcessSpec:
    """The ``wprime-wz`` preset: pp -> W'(M) -> W Z, both bosons forced to quarks."""
    if mass is None or not mass > 80.4 + 91.2:
        raise GenerationError(
            f"process wprime-wz needs --mass M in GeV above the W Z threshold (172 GeV), "
            f"got {mass!r}"
        )
    settings = (
        "NewGaugeBoson:ffbar2Wprime = on",
        f"34:m0 = {mass:.6g}",
        "34:onMode = off",
        "34:onIfAll = 23 24",
        "Wprime:coup2WZ = 1.0",
        # the Breit-Wigner window: +- 50 % of M, never below the W Z threshold
        f"PhaseSpace:mHatMin = {max(0.5 * mass, 175.0):.6g}",
        f"PhaseSpace:mHatMax = {1.5 * mass:.6g}",
        *_W_HADRONIC,
        *_Z_HADRONIC,
    )
    return ProcessSpec(
        "wprime-wz", settings, forced_w=1, w_channels="q q'", br_w_pdg=BR_W_HADRONIC_PDG,
        mass=float(mass), description=PROCESSES["wprime-wz"], forced_z=1, z_channels="q q",
        br_z_pdg=BR_Z_HADRONIC_PDG, truth_pids=(23, 34),
    )  # fmt: skip


def _scalar_jet(mass: float | None) -> ProcessSpec:
    """The ``scalar-jet`` preset: a scalar S of ``mass`` GeV recoiling against a jet.

    The SM Higgs + jet processes (gg -> H g, q g -> H q, q qbar -> H g, top loop in the
    large-m_t limit) with the Higgs mass set to ``mass`` and its decay forced to q qbar
    (d, u, s, c, b, phase space), pTHat-biased as the QCD presets: a source of boosted
    two-prong jets of a chosen mass that belongs to no search's signal model (the anomaly
    surrogates' calibration jets, :mod:`surrotag.reference.anomaly_surrogates`).
    """
    if mass is None or not 20.0 <= mass <= 1000.0:
        raise GenerationError(
            f"process scalar-jet needs --mass M in GeV between 20 and 1000, got {mass!r}"
        )
    settings = (
        "HiggsSM:gg2Hg(l:t) = on",
        "HiggsSM:qg2Hq(l:t) = on",
        "HiggsSM:qqbar2Hg(l:t) = on",
        *_scalar_to_quarks(25, float(mass)),
        *_BIAS,
    )
    return ProcessSpec(
        "scalar-jet", settings, mass=float(mass), description=PROCESSES["scalar-jet"],
        truth_pids=(25,),
    )  # fmt: skip


def _scalar_to_quarks(pid: int, mass: float) -> tuple[str, ...]:
    """A narrow scalar of ``mass`` GeV decaying to q qbar (d, u, s, c, b), phase space."""
    return (
        f"{pid}:m0 = {mass:.6g}",
        f"{pid}:mWidth = {1e-3 * mass:.6g}",
        f"{pid}:doForceWidth = on",
        f"{pid}:mMin = {0.99 * mass:.6g}",
        f"{pid}:mMax = {1.01 * mass:.6g}",
        f"{pid}:onMode = off",
        *(f"{pid}:addChannel = 1 0.2 100 {q} -{q}" for q in range(1, 6)),
    )


#: sigma(pp -> Y -> X X') x BR(X, X' -> q qbar) of the ``y-xx`` samples (pb): 10 fb, of the
#: order of the cross-sections the CMS anomaly-dijet search (arXiv:2412.03747) excludes for
#: Y -> X X' at 2-3 TeV. Pythia's gluon-fusion cross-section of a heavy SM-like scalar
#: (1e-9 pb at 2 TeV) is recorded beside it; it is no physical benchmark.
Y_XX_BENCHMARK_PB: Final = 0.01


def _y_xx(mass: float | None, x_masses: tuple[float, float] | None) -> ProcessSpec:
    """The ``y-xx`` preset: gg -> Y(M) -> X X', both to q qbar (module docstring)."""
    if mass is None or x_masses is None or len(x_masses) != 2:
        raise GenerationError(
            f"process y-xx needs --mass M (Y) and --x-masses MX,MX' (GeV), got {mass!r} and "
            f"{x_masses!r}"
        )
    light, other = (float(m) for m in x_masses)
    if not (light >= 20.0 and other >= 20.0 and light + other < mass):
        raise GenerationError(
            f"process y-xx needs X and X' masses of at least 20 GeV whose sum is below the Y "
            f"mass: got {light:g} + {other:g} GeV against {mass:g} GeV"
        )
    settings = (
        "Higgs:useBSM = on",
        "HiggsBSM:gg2H2 = on",
        f"35:m0 = {mass:.6g}",
        f"35:mWidth = {0.01 * mass:.6g}",
        "35:doForceWidth = on",
        "35:onMode = off",
        "35:addChannel = 1 1.0 100 25 36",
        *_scalar_to_quarks(25, light),
        *_scalar_to_quarks(36, other),
    )
    return ProcessSpec(
        "y-xx", settings, mass=float(mass), description=PROCESSES["y-xx"],
        truth_pids=(25, 35, 36), x_masses=(light, other), benchmark_sigma_pb=Y_XX_BENCHMARK_PB,
    )  # fmt: skip
