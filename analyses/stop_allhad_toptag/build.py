"""Build what the experiment would publish for stop-allhad-toptag, from the reference experiment.

One command (about 20 minutes on 2 cores the first time, mostly event generation)::

    python -m surrotag.analyses.stop_allhad_toptag.build [--out-dir DIR] [--no-limits]

It writes, through :func:`surrotag.reference.publish.build_analysis` and :data:`PLAN`:

``workspace.json``
    the background-only pyhf workspace: channels ``NT1_met`` (N_t >= 1) and ``NT0_met`` in
    the card's MET binning, samples ``ttbar`` (SM t tbar, every decay: lost leptons and
    hadronic taus), ``wjets`` (W -> l nu + jets) and ``znunu`` (Z -> nu nu + jets), tagged
    directly with the internal tagger, each with ``lumi``, a normalisation ``normsys``
    (10 %, 30 %, 20 %) and ``staterror``; Poisson **pseudo-data** with seed
    :data:`PSEUDO_DATA_SEED`.
``official_yields.json``
    the official stop yields at every point of :data:`GRID` ((m_stop, m_neutralino) in
    GeV; stop -> t neutralino with BR 1, every top decay; Pythia 8 LO cross-sections),
    from the internal tagger, with CLs at mu = 1 and the upper limits on mu per point.

Not modelled (said in the provenance): multijets with mismeasured jets (the min Delta phi
cut and the real searches' data-driven estimate), single top, t tbar Z, and the resolved
top and W taggers of the CMS search. The backgrounds are the reference experiment's
pTHat-biased samples (pTHat > 250 GeV): events with softer hard scatters that pass
MET > 250 GeV are missing, so the backgrounds are underestimated at low MET.

Seeds, fixed before any sample existed: backgrounds 3101 (t tbar) and 3102 (W+jets) shared
with zprime-ttbar-ljets (the same reference simulation), 3103 (Z -> nu nu); the grid's
stop samples 2301-2311; this analysis's closure 4301-4303.

References:
    CMS arXiv:2103.01290; ATLAS arXiv:2004.14060; classifier surrogates arXiv:2402.15558.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from surrotag.reference.publish import BuildPlan, Sample, build_command

__all__ = ["COMMAND", "GRID", "GRID_EVENTS", "PLAN", "PSEUDO_DATA_SEED", "grid_point", "main"]

HERE: Final = Path(__file__).resolve().parent
COMMAND: Final = "python -m surrotag.analyses.stop_allhad_toptag.build [--out-dir DIR]"
#: Seed of the one Poisson draw of the pseudo-data.
PSEUDO_DATA_SEED: Final = 139_2027
#: The signal grid: (m_stop, m_neutralino) in GeV -> master seed.
GRID: Final = {
    (700.0, 50.0): 2301,
    (700.0, 400.0): 2302,
    (900.0, 50.0): 2303,
    (900.0, 400.0): 2304,
    (900.0, 600.0): 2305,
    (1100.0, 50.0): 2306,
    (1100.0, 400.0): 2307,
    (1100.0, 700.0): 2308,
    (1300.0, 50.0): 2309,
    (1300.0, 400.0): 2310,
    (1300.0, 800.0): 2311,
}
#: Generated events per grid point.
GRID_EVENTS: Final = 5_000


def grid_point(m_stop: float, m_lsp: float, seed: int, n_events: int = GRID_EVENTS) -> Sample:
    """The stop-pair sample at (m_stop, m_neutralino) GeV with master seed ``seed``."""
    return Sample(
        f"stop_{m_stop:g}_{m_lsp:g}", "stop-pair", n_events, seed, mass=m_stop, lsp_mass=m_lsp,
        parameters={"m_stop_gev": m_stop, "m_lsp_gev": m_lsp},
    )  # fmt: skip


PLAN: Final = BuildPlan(
    package=HERE,
    command=COMMAND,
    backgrounds=(
        Sample("ttbar", "ttbar", 20_000, 3101),
        Sample("wjets", "wjets", 20_000, 3102),
        Sample("znunu", "znunu", 20_000, 3103),
    ),
    signals=tuple(grid_point(m_stop, m_lsp, seed) for (m_stop, m_lsp), seed in GRID.items()),
    normalisation={"ttbar": 0.10, "wjets": 0.30, "znunu": 0.20},
    lumi_sigma=0.017,
    pseudo_data_seed=PSEUDO_DATA_SEED,
    signal_description=(
        "Official stop pair yields (Pythia 8 LO, stop -> t neutralino with BR 1, every top "
        "decay) at mu = 1 per region and MET bin on the (m_stop, m_neutralino) grid, the two "
        "leading large-R jets tagged with the internal tagger's logit at wp50 (no "
        "surrogate); CLs and upper limits against the pseudo-data of workspace.json "
        "(asymptotic qtilde, arXiv:1007.1727)"
    ),
    not_modelled=(
        "multijets with mismeasured jets, single top and t tbar Z are not generated; the "
        "resolved top and W taggers of the CMS search are not modelled; the pTHat > 250 GeV "
        "background samples miss softer hard scatters that pass MET > 250 GeV"
    ),
)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m surrotag.analyses.stop_allhad_toptag.build``."""
    return build_command(PLAN, "python -m surrotag.analyses.stop_allhad_toptag.build", argv)


if __name__ == "__main__":
    raise SystemExit(main())
