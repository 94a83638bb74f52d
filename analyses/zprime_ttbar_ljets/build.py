"""Build what the experiment would publish for zprime-ttbar-ljets, from the reference experiment.

One command (about 25 minutes on 2 cores the first time, mostly event generation; about a
minute when the samples are cached)::

    python -m surrotag.analyses.zprime_ttbar_ljets.build [--out-dir DIR] [--no-limits]

It writes into ``DIR`` (default: this package's folder, where the files are package data),
through :func:`surrotag.reference.publish.build_analysis` and this module's :data:`PLAN`:

``workspace.json``
    the background-only pyhf workspace (HistFactory JSON, arXiv:2109.04981): channels
    ``SR_mtt`` and ``CR_mtt`` in the card's m_tt binning, samples ``ttbar`` (SM t tbar,
    every decay) and ``wjets`` (W -> l nu + jets), both tagged directly with the internal
    tagger, each with ``lumi``, a normalisation ``normsys`` (10 % t tbar, 30 % W+jets) and
    ``staterror``. The observations are **pseudo-data**: one Poisson draw of the total
    background with seed :data:`PSEUDO_DATA_SEED`, in a measurement named
    ``pseudodata_background_only``; the POI ``mu_sig`` gets its modifier from a patch.
``workspace.provenance.json``
    the sha256 of every input (background samples, tagger, reference table), the samples'
    settings, cutflows and effective numbers of events, the pseudo-data seed.
``official_yields.json``
    the official Z' -> t tbar yields (every top decay) per region and m_tt bin at the
    masses of :data:`ZPRIME_SEEDS`, from the internal tagger's logits on detector-level
    jets, with MC statistical errors, cutflows, every input's sha256, CLs at mu = 1 and the
    95 % CL upper limits on mu per mass.

All samples are generated here (or reused from ``$SURROTAG_DATA/reference``) with seeds
fixed before any of them existed: backgrounds 3101 (t tbar) and 3102 (W+jets), signals
2201-2204; disjoint from the tagger's and the surrogates' training samples (seeds 1-6),
from zprime-ttbar-allhad's samples (2001-2005, 2101, 3001-3002, 4101-4105) and from this
analysis's closure (4201-4204). Tag decisions: internal logit > the wp50 threshold of the
shipped surrogates (:func:`surrotag.reference.official.working_point`). Nothing here uses a
surrogate.

References:
    ATLAS arXiv:1804.10823; CMS arXiv:1810.05905; classifier surrogates arXiv:2402.15558;
    asymptotic CLs arXiv:1007.1727.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from surrotag.reference.publish import BuildPlan, Sample, build_command

__all__ = [
    "BACKGROUNDS",
    "COMMAND",
    "NORM_UNCERTAINTY",
    "OFFICIAL_YIELDS",
    "PLAN",
    "PSEUDO_DATA_SEED",
    "WORKSPACE",
    "ZPRIME_EVENTS",
    "ZPRIME_SEEDS",
    "main",
]

HERE: Final = Path(__file__).resolve().parent
COMMAND: Final = "python -m surrotag.analyses.zprime_ttbar_ljets.build [--out-dir DIR]"
WORKSPACE: Final = "workspace.json"
OFFICIAL_YIELDS: Final = "official_yields.json"
#: Seed of the one Poisson draw of the pseudo-data.
PSEUDO_DATA_SEED: Final = 139_2026
#: Normalisation uncertainties (relative) of the backgrounds.
NORM_UNCERTAINTY: Final = {"ttbar": 0.10, "wjets": 0.30}
#: Z' official samples (zprime-ttbar-inclusive): mass (GeV) -> master seed.
ZPRIME_SEEDS: Final = {1000.0: 2201, 1500.0: 2202, 2000.0: 2203, 3000.0: 2204}
#: Z' official samples: mass (GeV) -> generated events (1 TeV gets the most: its tops are
#: the softest, and the large-R jet pT > 400 GeV removes most of them).
ZPRIME_EVENTS: Final = {1000.0: 20_000, 1500.0: 10_000, 2000.0: 10_000, 3000.0: 10_000}
#: The background samples (every top decay; W -> l nu), pTHat-biased from 250 GeV.
BACKGROUNDS: Final = (
    Sample("ttbar", "ttbar", 20_000, 3101),
    Sample("wjets", "wjets", 20_000, 3102),
)

PLAN: Final = BuildPlan(
    package=HERE,
    command=COMMAND,
    backgrounds=BACKGROUNDS,
    signals=tuple(
        Sample(f"zprime_{m:g}", "zprime-ttbar-inclusive", n, seed, m, parameters={"mass_gev": m})
        for (m, seed), n in zip(ZPRIME_SEEDS.items(), ZPRIME_EVENTS.values(), strict=True)
    ),
    normalisation=NORM_UNCERTAINTY,
    lumi_sigma=0.017,  # ATLAS Run 2
    pseudo_data_seed=PSEUDO_DATA_SEED,
    signal_description=(
        "Official Z' -> t tbar (Pythia 8, gmZmode = 3, every top decay) yields at mu = 1 "
        "per region and m_tt bin, the hadronic top candidate tagged with the internal "
        "tagger's logit at wp50 (no surrogate); sigma from each sample's provenance, "
        "normalised as sigma L sum(selected w) / sum(all w); CLs and upper limits against "
        "the pseudo-data of workspace.json (asymptotic qtilde, arXiv:1007.1727)"
    ),
    not_modelled=(
        "single top, Z+jets, dibosons and multijets with a fake lepton (a few per cent of "
        "the selected background in the ATLAS and CMS searches) are not generated"
    ),
)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m surrotag.analyses.zprime_ttbar_ljets.build``."""
    return build_command(PLAN, "python -m surrotag.analyses.zprime_ttbar_ljets.build", argv)


if __name__ == "__main__":
    raise SystemExit(main())
