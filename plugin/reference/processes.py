"""Pythia 8 presets of the reference experiment at 13 TeV: tops, W + jets and QCD jets.

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

Physics objects. The presets for searches with leptons, small-R jets or missing transverse
momentum (``objects=True``: ``ttbar``, ``wjets``, ``zprime-ttbar-inclusive``) also store the
Delphes CMS-card objects of :mod:`surrotag.reference.objects` (isolated electrons, muons,
photons, anti-kT 0.4 jets with b-tags); the others keep their fat jets only, so their
samples and cache keys are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from surrotag.errors import GenerationError

__all__ = [
    "BIAS_POW",
    "BR_W_HADRONIC_PDG",
    "BR_W_LEPTONIC_PDG",
    "PROCESSES",
    "PTHAT_MIN",
    "ProcessSpec",
    "common_settings",
    "process_spec",
]

#: Lower pTHat cut and bias reference (GeV) of the 2 -> 2 presets.
PTHAT_MIN: Final = 250.0
#: Power of the pTHat bias: events sampled with an extra (pTHat / PTHAT_MIN)^BIAS_POW.
BIAS_POW: Final = 6.0
#: BR(W -> hadrons), PDG 2024 (0.6741 +- 0.0027).
BR_W_HADRONIC_PDG: Final = 0.6741
#: BR(W -> e nu + mu nu + tau nu), PDG 2024 (3 x 0.1086).
BR_W_LEPTONIC_PDG: Final = 3 * 0.1086

#: Known presets with their one-line descriptions.
PROCESSES: Final = {
    "ttbar-allhad": "pp -> t tbar, both W -> q q' (hadronic tops), pTHat-biased from 250 GeV",
    "qcd-dijet": "pp -> 2 jets (HardQCD:all), pTHat-biased from 250 GeV",
    "zprime-ttbar": "pp -> Z'(M) -> t tbar, both W -> q q' (gmZmode = 3: Z' only)",
    "ttbar": "pp -> t tbar, every decay (lepton + jets, dilepton), pTHat-biased from 250 GeV",
    "wjets": "pp -> W + jet, W -> l nu (e, mu, tau), pTHat-biased from 250 GeV",
    "zprime-ttbar-inclusive": "pp -> Z'(M) -> t tbar, every decay (gmZmode = 3: Z' only)",
}

_W_HADRONIC = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")
_W_LEPTONIC = ("24:onMode = off", "24:onIfAny = 11 13 15")
_BIAS = (
    f"PhaseSpace:pTHatMin = {PTHAT_MIN:g}",
    "PhaseSpace:bias2Selection = on",
    f"PhaseSpace:bias2SelectionPow = {BIAS_POW:g}",
    f"PhaseSpace:bias2SelectionRef = {PTHAT_MIN:g}",
)


@dataclass(frozen=True)
class ProcessSpec:
    """What to tell Pythia for one preset.

    Attributes:
        name: preset name (a key of :data:`PROCESSES`).
        settings: Pythia ``readString`` lines specific to the process.
        forced_w: how many W bosons per event decay through forced channels (0: none).
        w_channels: the forced W channels, in words (``"q q'"``, ``"l nu"``), or "".
        br_w_pdg: the PDG branching ratio of those channels (1.0 when none is forced).
        mass: Z' mass (GeV) for the Z' presets, else None.
        description: one line for provenance and ``--help``.
        objects: store the Delphes physics objects (leptons, photons, small-R jets).
    """

    name: str
    settings: tuple[str, ...]
    forced_w: int = 0
    w_channels: str = ""
    br_w_pdg: float = 1.0
    mass: float | None = None
    description: str = ""
    objects: bool = False


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


def process_spec(name: str, mass: float | None = None) -> ProcessSpec:
    """Return the Pythia settings of a preset.

    Args:
        name: one of :data:`PROCESSES`.
        mass: Z' mass in GeV (required for the Z' presets, refused otherwise).

    Raises:
        GenerationError: unknown preset, or a mass missing / given where it has no meaning.
    """
    if name not in PROCESSES:
        raise GenerationError(
            f"unknown reference process {name!r}: choose one of {', '.join(PROCESSES)}"
        )
    hadronic = {"forced_w": 2, "w_channels": "q q'", "br_w_pdg": BR_W_HADRONIC_PDG}
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
        raise GenerationError(f"process {name} takes no --mass (only the Z' presets do)")
    tops = ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on")
    if name == "ttbar-allhad":
        settings = (*tops, *_W_HADRONIC, *_BIAS)
        return ProcessSpec(name, settings, description=PROCESSES[name], **hadronic)
    if name == "ttbar":
        return ProcessSpec(name, (*tops, *_BIAS), description=PROCESSES[name], objects=True)
    if name == "wjets":
        settings = (
            "WeakBosonAndParton:qqbar2Wg = on",
            "WeakBosonAndParton:qg2Wq = on",
            *_W_LEPTONIC,
            *_BIAS,
        )
        return ProcessSpec(
            name, settings, forced_w=1, w_channels="l nu", br_w_pdg=BR_W_LEPTONIC_PDG,
            description=PROCESSES[name], objects=True,
        )  # fmt: skip
    settings = ("HardQCD:all = on", *_BIAS)
    return ProcessSpec(name, settings, description=PROCESSES[name])
