"""Pythia 8 presets of the reference experiment: hadronic tops and QCD jets at 13 TeV.

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
(BR(W -> hadrons) = 0.6741, PDG 2024) as ``br_pdg`` for users who prefer it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from surrotag.errors import GenerationError

__all__ = [
    "BIAS_POW",
    "BR_W_HADRONIC_PDG",
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

#: Known presets with their one-line descriptions.
PROCESSES: Final = {
    "ttbar-allhad": "pp -> t tbar, both W -> q q' (hadronic tops), pTHat-biased from 250 GeV",
    "qcd-dijet": "pp -> 2 jets (HardQCD:all), pTHat-biased from 250 GeV",
    "zprime-ttbar": "pp -> Z'(M) -> t tbar, both W -> q q' (gmZmode = 3: Z' only)",
}

_W_HADRONIC = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")
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
        w_hadronic: whether both W bosons are forced to decay to quarks.
        mass: Z' mass (GeV) for ``zprime-ttbar``, else None.
        description: one line for provenance and ``--help``.
    """

    name: str
    settings: tuple[str, ...]
    w_hadronic: bool
    mass: float | None = None
    description: str = ""


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
        mass: Z' mass in GeV (required for ``zprime-ttbar``, refused otherwise).

    Raises:
        GenerationError: unknown preset, or a mass missing / given where it has no meaning.
    """
    if name not in PROCESSES:
        raise GenerationError(
            f"unknown reference process {name!r}: choose one of {', '.join(PROCESSES)}"
        )
    if name == "zprime-ttbar":
        if mass is None or not mass > 2 * 173.0:
            raise GenerationError(
                f"process zprime-ttbar needs --mass M in GeV above the t tbar threshold "
                f"(346 GeV), got {mass!r}"
            )
        settings = (
            "NewGaugeBoson:ffbar2gmZZprime = on",
            "Zprime:gmZmode = 3",
            f"32:m0 = {mass:.6g}",
            "32:onMode = off",
            "32:onIfAny = 6",
            # the Breit-Wigner window: +- 50 % of M, never below the t tbar threshold
            f"PhaseSpace:mHatMin = {max(0.5 * mass, 350.0):.6g}",
            f"PhaseSpace:mHatMax = {1.5 * mass:.6g}",
            *_W_HADRONIC,
        )
        return ProcessSpec(name, settings, True, float(mass), PROCESSES[name])
    if mass is not None:
        raise GenerationError(f"process {name} takes no --mass (only zprime-ttbar does)")
    if name == "ttbar-allhad":
        settings = ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *_W_HADRONIC, *_BIAS)
        return ProcessSpec(name, settings, True, None, PROCESSES[name])
    settings = ("HardQCD:all = on", *_BIAS)
    return ProcessSpec(name, settings, False, None, PROCESSES[name])
