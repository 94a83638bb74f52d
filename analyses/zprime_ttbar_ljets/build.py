"""Build what the experiment would publish for zprime-ttbar-ljets, from the reference experiment.

One command (about 25 minutes on 2 cores the first time, mostly event generation; about a
minute when the samples are cached)::

    python -m surrotag.analyses.zprime_ttbar_ljets.build [--jobs 2] [--out-dir DIR]

It writes into ``DIR`` (default: this package's folder, where the files are package data):

``workspace.json``
    the background-only pyhf workspace (HistFactory JSON, arXiv:2109.04981): channels
    ``SR_mtt`` and ``CR_mtt`` in the card's m_tt binning, samples ``ttbar`` (SM t tbar,
    every decay) and ``wjets`` (W -> l nu + jets), both tagged directly with the internal
    tagger, each with ``lumi``, a normalisation ``normsys`` (10 % t tbar, 30 % W+jets) and
    ``staterror``. The observations are **pseudo-data**: one Poisson draw of the total
    background with seed :data:`PSEUDO_DATA_SEED`, in a measurement named
    :data:`MEASUREMENT` to say so; the POI ``mu_sig`` gets its modifier from a signal patch.
``workspace.provenance.json``
    the sha256 of every input (background samples, tagger, reference table), the samples'
    settings and cutflows, the pseudo-data seed.
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
shipped surrogates (:func:`surrotag.reference.official.working_point`); yields through
:mod:`surrotag.reference.official`. Nothing here uses a surrogate.

References:
    ATLAS arXiv:1804.10823; CMS arXiv:1810.05905; classifier surrogates arXiv:2402.15558;
    asymptotic CLs arXiv:1007.1727.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from surrotag.analysis_card import load_analysis_card
from surrotag.errors import AnalysisError, IntegrityError
from surrotag.io.parquet import sha256_file
from surrotag.reference.official import OfficialSample, load_official_sample, working_point
from surrotag.reference.publish import (
    background_workspace,
    json_digest,
    region_record,
    signal_limits,
    write_analysis_json,
)

__all__ = [
    "BACKGROUNDS",
    "JOBS",
    "MEASUREMENT",
    "NORM_UNCERTAINTY",
    "PSEUDO_DATA_SEED",
    "ZPRIME_EVENTS",
    "ZPRIME_SEEDS",
    "Sample",
    "build",
    "main",
    "signal_sample",
]

HERE: Final = Path(__file__).resolve().parent
COMMAND: Final = "python -m surrotag.analyses.zprime_ttbar_ljets.build [--jobs 2] [--out-dir DIR]"
WORKSPACE: Final = "workspace.json"
WORKSPACE_PROVENANCE: Final = "workspace.provenance.json"
OFFICIAL_YIELDS: Final = "official_yields.json"
#: Name of the workspace's measurement: the observations are pseudo-data.
MEASUREMENT: Final = "pseudodata_background_only"
#: Seed of the one Poisson draw of the pseudo-data.
PSEUDO_DATA_SEED: Final = 139_2026
#: Luminosity uncertainty of every simulated sample (ATLAS Run 2, 1.7 %).
LUMI_SIGMA: Final = 0.017
#: Normalisation uncertainties (relative) of the backgrounds.
NORM_UNCERTAINTY: Final = {"ttbar": 0.10, "wjets": 0.30}
#: Generation workers of every sample (part of a sample's identity).
JOBS: Final = 2
#: Z' official samples (zprime-ttbar-inclusive): mass (GeV) -> master seed.
ZPRIME_SEEDS: Final = {1000.0: 2201, 1500.0: 2202, 2000.0: 2203, 3000.0: 2204}
#: Z' official samples: mass (GeV) -> generated events (1 TeV keeps the fewest: its tops
#: are the softest, and the large-R jet pT > 400 GeV removes most of them).
ZPRIME_EVENTS: Final = {1000.0: 20_000, 1500.0: 10_000, 2000.0: 10_000, 3000.0: 10_000}
#: Relative tolerance of the upper limits on mu.
LIMIT_RTOL: Final = 0.01
_WORKING_POINT: Final = "wp50"


@dataclass(frozen=True)
class Sample:
    """A reference sample the build generates: preset, events, master seed, Z' mass."""

    name: str
    process: str
    n_events: int
    seed: int
    mass: float | None = None

    def generate(self, jobs: int = JOBS) -> Path:
        """The sample file: generated, or reused from the reference cache."""
        from surrotag.reference.generate import generate

        start = time.monotonic()
        path = generate(self.process, self.n_events, self.seed, jobs=jobs, mass=self.mass)
        print(f"  sample {self.name}: {path.name} [{time.monotonic() - start:.0f} s]", flush=True)
        return path


#: The background samples.
BACKGROUNDS: Final = (
    Sample("ttbar", "ttbar", 20_000, 3101),
    Sample("wjets", "wjets", 20_000, 3102),
)


def signal_sample(mass: float) -> Sample:
    """The official Z' sample at ``mass`` GeV (a key of :data:`ZPRIME_SEEDS`)."""
    if float(mass) not in ZPRIME_SEEDS:
        known = ", ".join(f"{m:g}" for m in ZPRIME_SEEDS)
        raise AnalysisError(f"no official Z' sample at {mass:g} GeV (have: {known} GeV)")
    mass = float(mass)
    return Sample(
        f"zprime_{mass:g}", "zprime-ttbar-inclusive", ZPRIME_EVENTS[mass], ZPRIME_SEEDS[mass], mass
    )


def build(
    out_dir: str | Path | None = None,
    *,
    jobs: int = JOBS,
    tagger_dir: str | Path | None = None,
    table: str | Path | None = None,
    limits: bool = True,
) -> dict[str, Path]:
    """Build the workspace and the official yields (see the module docstring).

    Args:
        out_dir: where to write (default: this package's folder).
        jobs: generation workers (part of the samples' identity; the default is the one
            the shipped files were built with).
        tagger_dir: internal tagger folder (default ``$SURROTAG_DATA/reference/tagger_pfn``).
        table: reference table (default ``$SURROTAG_DATA/reference/top_tagger_table.parquet``).
        limits: compute CLs at mu = 1 and the upper limits (about a minute per mass).

    Returns:
        The files written, by role.

    Raises:
        IntegrityError: the tagger's sha256 differs from the card's ``tagger_sha256``.
    """
    from surrotag.reference.cache import TABLE_NAME, TAGGER_NAME, reference_dir
    from surrotag.reference.tagger import load_tagger
    from surrotag.stats.workspace import load_workspace

    start = time.monotonic()
    out = Path(out_dir) if out_dir is not None else HERE
    card = load_analysis_card(HERE / "card.json")
    reference = reference_dir()
    tagger_dir = Path(tagger_dir) if tagger_dir is not None else reference / TAGGER_NAME
    table = Path(table) if table is not None else reference / TABLE_NAME
    tagger = load_tagger(tagger_dir)
    if tagger.sha256 != card.surrogate.tagger_sha256:
        raise IntegrityError(
            f"{tagger_dir}: tagger sha256 {tagger.sha256[:12]}... differs from the card's "
            f"tagger_sha256 {card.surrogate.tagger_sha256[:12]}...; use the tagger the "
            "surrogates were built with"
        )
    point = working_point(table, _WORKING_POINT)
    threshold = float(point["threshold"])
    inputs = {
        "tagger": {"folder": tagger_dir.name, "sha256": tagger.sha256},
        "table": {"file": table.name, "sha256": sha256_file(table)},
    }
    print(f"{_WORKING_POINT} threshold (logit): {threshold:.6f}", flush=True)

    samples: dict[str, OfficialSample] = {
        spec.name: load_official_sample(spec.generate(jobs), card, tagger) for spec in BACKGROUNDS
    }
    backgrounds = {name: s.yields(card, threshold) for name, s in samples.items()}
    workspace = background_workspace(
        card,
        backgrounds,
        NORM_UNCERTAINTY,
        lumi_sigma=LUMI_SIGMA,
        pseudo_data_seed=PSEUDO_DATA_SEED,
        measurement=MEASUREMENT,
    )
    load_workspace(workspace)  # schema check before anything is written
    ws_digest = json_digest(workspace)
    provenance = {
        "kind": "background-workspace-provenance",
        "analysis": card.name,
        "workspace": WORKSPACE,
        "workspace_sha256": ws_digest,
        "digest_convention": "sha256 of the canonical JSON (sorted keys, no spaces)",
        "command": COMMAND,
        "observations": (
            f"pseudo-data: one Poisson draw of the total background expectation, numpy "
            f"default_rng({PSEUDO_DATA_SEED}), channels in card order; not real data"
        ),
        "pseudo_data_seed": PSEUDO_DATA_SEED,
        "luminosity_ifb": card.luminosity_ifb,
        "lumi_uncertainty": LUMI_SIGMA,
        "normalisation_uncertainties": dict(NORM_UNCERTAINTY),
        "working_point": point,
        "inputs": {**inputs, "backgrounds": {n: s.sha256 for n, s in samples.items()}},
        "backgrounds": {
            name: {
                "sample": sample.summary(),
                "regions": {r: region_record(card, r, y) for r, y in backgrounds[name].items()},
            }
            for name, sample in samples.items()
        },
        "not_modelled": (
            "single top, Z+jets, dibosons and multijets with a fake lepton (a few per cent "
            "of the selected background in the ATLAS and CMS searches) are not generated"
        ),
        "surrogates_used": False,
    }
    written = {
        "workspace": write_analysis_json(out / WORKSPACE, workspace, HERE),
        "workspace_provenance": write_analysis_json(
            out / WORKSPACE_PROVENANCE, provenance, HERE, seal=False
        ),
    }
    for name, regions in backgrounds.items():
        totals = ", ".join(f"{r} {y.nominal.sum():.1f}" for r, y in regions.items())
        print(f"  {name}: {totals} events", flush=True)

    signals, official_yields = [], {}
    for mass in ZPRIME_SEEDS:  # yields first (seconds), limits after (a minute each)
        sample = load_official_sample(signal_sample(mass).generate(jobs), card, tagger)
        yields = official_yields[mass] = sample.yields(card, threshold)
        signals.append(
            {
                "mass_gev": mass,
                "sample": sample.summary(),
                "tagger_sha256": tagger.sha256,
                "regions": {name: region_record(card, name, y) for name, y in yields.items()},
                "cls_mu1": None,
                "mu_up": None,
            }
        )
        print(
            f"  Z' {mass:g} GeV: SR {yields['SR'].nominal.sum():.2f}, CR "
            f"{yields['CR'].nominal.sum():.2f} events",
            flush=True,
        )
    official = {
        "kind": "official-signal-yields",
        "analysis": card.name,
        "description": (
            "Official Z' -> t tbar (Pythia 8, gmZmode = 3, every top decay) yields at mu = 1 "
            "per region and m_tt bin, the hadronic top candidate tagged with the internal "
            "tagger's logit at wp50 (no surrogate); sigma from each sample's provenance, "
            "normalised as sigma L sum(selected w) / sum(all w); CLs and upper limits "
            "against the pseudo-data of workspace.json (asymptotic qtilde, arXiv:1007.1727)"
        ),
        "command": COMMAND,
        "luminosity_ifb": card.luminosity_ifb,
        "signal_sample": card.statistics.signal_sample,
        "working_point": point,
        "workspace": {"file": WORKSPACE, "sha256": ws_digest, "observations": "pseudo-data"},
        "inputs": {
            **inputs,
            "backgrounds": {n: s.sha256 for n, s in samples.items()},
            "signals": {f"{s['mass_gev']:g}": s["sample"]["sha256"] for s in signals},
        },
        "signals": signals,
        "surrogates_used": False,
    }
    written["official_yields"] = write_analysis_json(out / OFFICIAL_YIELDS, official, HERE)
    if limits:  # rewritten after each mass, so an interrupted build keeps the yields
        for record in signals:
            yields = official_yields[record["mass_gev"]]
            record.update(signal_limits(workspace, card, yields, rtol=LIMIT_RTOL))
            write_analysis_json(out / OFFICIAL_YIELDS, official, HERE)
            print(
                f"  Z' {record['mass_gev']:g} GeV: expected mu_up "
                f"{record['mu_up']['expected'][2]:.3g} [{time.monotonic() - start:.0f} s]",
                flush=True,
            )
    print(f"official yields written: {written['official_yields']}", flush=True)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m surrotag.analyses.zprime_ttbar_ljets.build``."""
    import argparse

    from surrotag.errors import SurrotagError

    parser = argparse.ArgumentParser(
        prog="python -m surrotag.analyses.zprime_ttbar_ljets.build",
        description="Build workspace.json and official_yields.json of zprime-ttbar-ljets "
        "from the reference experiment (generation reused from $SURROTAG_DATA).",
    )
    parser.add_argument("--jobs", type=int, default=JOBS, help=f"generation workers ({JOBS})")
    parser.add_argument("--out-dir", default=None, help="output folder (default: the package)")
    parser.add_argument("--tagger", default=None, help="internal tagger folder")
    parser.add_argument("--table", default=None, help="reference table (working points)")
    parser.add_argument(
        "--no-limits", action="store_true", help="official yields without CLs / upper limits"
    )
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        build(
            args.out_dir,
            jobs=args.jobs,
            tagger_dir=args.tagger,
            table=args.table,
            limits=not args.no_limits,
        )
    except SurrotagError as error:
        print(f"error: {error}")
        return 1
    print(f"done in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
