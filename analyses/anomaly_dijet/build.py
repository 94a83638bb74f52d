"""Build what the experiment would publish for anomaly-dijet, from the reference experiment.

One command (about 25 minutes on 2 cores the first time, mostly event generation; seconds
when the samples are cached)::

    python -m surrotag.analyses.anomaly_dijet.build [--out-dir DIR]

It writes, through :func:`surrotag.reference.publish.build_analysis` and :data:`PLAN`:

``workspace.json``
    the background-only pyhf workspace: channels ``SR2_mjj`` (both leading jets pass the
    anomaly cut) and ``SR1_mjj`` (exactly one does) in the card's m_jj binning, one sample
    ``qcd`` (multijets, tagged directly with the internal OE-VAE; ``lumi``, 30 % ``qcd_norm``
    normsys, ``staterror``); Poisson **pseudo-data** with seed :data:`PSEUDO_DATA_SEED`.
``official_yields.json``
    the official yields of the two signal models of the search, from the internal tagger
    (never a surrogate), with CLs at mu = 1 and the upper limits on mu: W' -> W Z with
    both bosons to quarks at 1.5 and 2.5 TeV (Pythia 8 cross-sections with the reference
    W' couplings, ``Wprime:coup2WZ = 1``), and Y -> X X', X and X' -> q qbar, at
    (M_Y, M_X, M_X') = (2000, 150, 250) and (3000, 200, 300) GeV. Y is produced in gluon
    fusion as a heavy Higgs-like scalar: its Pythia cross-section is a benchmark of this
    reference experiment, not of any physical model (the real searches quote limits on
    sigma x BR instead).

Neither signal model took part in training any tagger or surrogate: the taggers saw QCD
jets (and the OE-VAE W jets of SM t tbar), the surrogates QCD, t tbar and ``scalar-jet``
calibration jets (:mod:`surrotag.reference.anomaly_surrogates`).

Not modelled (said in the provenance): t tbar, W/Z + jets and the real searches'
data-driven multijet estimate (a fit of a smooth function to the m_jj spectrum, or the
tag rate of a control region, which the mass decorrelation of the OE-VAE makes possible).

Seeds, fixed before any sample existed (session 15): QCD 8301; signals 8311-8314; this
analysis's closure 8401-8404.

References:
    CMS arXiv:2412.03747; ATLAS arXiv:2005.02983; Cheng et al. arXiv:2007.01850;
    classifier surrogates arXiv:2402.15558.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from surrotag.reference.publish import BuildPlan, Sample, build_command

__all__ = ["COMMAND", "PLAN", "PSEUDO_DATA_SEED", "SIGNAL_EVENTS", "main", "wprime", "y_xx"]

HERE: Final = Path(__file__).resolve().parent
COMMAND: Final = "python -m surrotag.analyses.anomaly_dijet.build [--out-dir DIR]"
#: Seed of the one Poisson draw of the pseudo-data.
PSEUDO_DATA_SEED: Final = 138_2026
#: Generated events per signal sample.
SIGNAL_EVENTS: Final = 5_000


def wprime(mass: float, seed: int, n_events: int = SIGNAL_EVENTS) -> Sample:
    """The W' -> W Z (both to quarks) sample at ``mass`` GeV with master seed ``seed``."""
    return Sample(
        f"wprime_{mass:g}", "wprime-wz", n_events, seed, mass=mass,
        parameters={"m_wprime_gev": mass},
    )  # fmt: skip


def y_xx(
    mass: float, x_masses: tuple[float, float], seed: int, n_events: int = SIGNAL_EVENTS
) -> Sample:
    """The Y -> X X' (X, X' -> q qbar) sample at (M_Y, M_X, M_X') GeV with seed ``seed``."""
    light, other = x_masses
    return Sample(
        f"yxx_{mass:g}_{light:g}_{other:g}", "y-xx", n_events, seed, mass=mass,
        parameters={"m_y_gev": mass, "m_x_gev": light, "m_xprime_gev": other},
        x_masses=(light, other),
    )  # fmt: skip


PLAN: Final = BuildPlan(
    package=HERE,
    command=COMMAND,
    backgrounds=(Sample("qcd", "qcd-dijet", 20_000, 8301),),
    signals=(
        wprime(1500.0, 8311),
        wprime(2500.0, 8312),
        y_xx(2000.0, (150.0, 250.0), 8313),
        y_xx(3000.0, (200.0, 300.0), 8314),
    ),
    normalisation={"qcd": 0.30},
    lumi_sigma=0.017,
    pseudo_data_seed=PSEUDO_DATA_SEED,
    signal_description=(
        "Official yields at mu = 1 per region and m_jj bin of W' -> W Z (W, Z -> quarks) "
        "and Y -> X X' (X, X' -> q qbar), the two leading "
        "large-R jets tagged with the internal OE-VAE's log KL score at qcd10 (no "
        "surrogate); Pythia 8 LO cross-sections (for Y -> X X' a benchmark of the reference "
        "experiment, not a physical model); CLs and upper limits against the pseudo-data of "
        "workspace.json (asymptotic qtilde, arXiv:1007.1727)"
    ),
    not_modelled=(
        "t tbar and W/Z + jets are not generated; the real searches estimate the multijet "
        "background from data (a smooth fit of m_jj or a control-region tag rate), here the "
        "reference QCD sample is tagged directly"
    ),
    working_point="qcd10",
)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m surrotag.analyses.anomaly_dijet.build``."""
    return build_command(PLAN, "python -m surrotag.analyses.anomaly_dijet.build", argv)


if __name__ == "__main__":
    raise SystemExit(main())
