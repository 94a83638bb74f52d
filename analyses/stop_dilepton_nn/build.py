"""Build what the experiment would publish for stop-dilepton-nn, from the reference experiment.

One command (the samples are reused from ``$SURROTAG_DATA/reference`` when present; about
40 minutes of generation on two cores otherwise, mostly the grid)::

    python -m surrotag.analyses.stop_dilepton_nn.build [--out-dir DIR] [--no-limits]

It needs the internal event classifier and its event table in ``$SURROTAG_DATA/reference``
(``event_classifier_heavy``, ``stop_event_table.parquet``: README, "stop-dilepton-nn"),
whose sha256 the card records, and writes through
:func:`surrotag.reference.publish.build_analysis` and :data:`PLAN`:

``workspace.json``
    the background-only pyhf workspace: channels ``SR_mt2ll`` (events the classifier
    selects at eps_B = 1e-2) and ``CR_mt2ll`` (the others), binned in m_T2(ll); one sample,
    dileptonic t tbar, tagged directly with the internal classifier, with ``lumi``, a 10 %
    normalisation ``normsys`` and ``staterror``; Poisson **pseudo-data** with seed
    :data:`PSEUDO_DATA_SEED`.
``official_yields.json``
    the official stop yields at every point of :data:`GRID` ((m_stop, m_neutralino) in
    GeV; stop -> t neutralino, or b W neutralino below the top threshold; both W forced to
    l nu; Pythia 8 LO cross-sections), from the internal classifier, with CLs at mu = 1 and
    the upper limits on mu per point.

Not modelled (said in the provenance): tW, t tbar Z(nu nu), Drell-Yan and the fake- or
non-prompt-lepton background of the real searches; t tbar events with a hadronic W decay
(the sample forces both W to l nu, so semileptonic t tbar with a fake lepton is absent).

Seeds, fixed before any sample existed: the background 5102 (the classifier's unseen t tbar
sample), the grid 5201-5232 in :data:`GRID` order; this analysis's closure 5301-5303.

References:
    CMS arXiv:2008.05936 (stop pairs in dilepton final states, m_T2(ll));
    T. Roxlo, M. Reece, arXiv:1804.09278; classifier surrogates arXiv:2402.15558.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from surrotag.reference.publish import BuildPlan, Sample, build_command

__all__ = ["COMMAND", "GRID", "GRID_EVENTS", "PLAN", "PSEUDO_DATA_SEED", "grid_point", "main"]

HERE: Final = Path(__file__).resolve().parent
COMMAND: Final = "python -m surrotag.analyses.stop_dilepton_nn.build [--out-dir DIR]"
#: Seed of the one Poisson draw of the pseudo-data.
PSEUDO_DATA_SEED: Final = 139_2028
#: Smallest m_stop - m_neutralino of the grid (GeV): above the W mass, so that every point
#: decays on shell to t neutralino or to b W neutralino (three-body).
_MIN_SPLITTING: Final = 86.0
_STOP_MASSES: Final = (300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0)
_LSP_MASSES: Final = (1.0, 100.0, 200.0, 300.0, 400.0)
#: The signal grid: (m_stop, m_neutralino) in GeV -> master seed (5201 on, in loop order).
GRID: Final = {
    point: 5201 + i
    for i, point in enumerate(
        (m_stop, m_lsp)
        for m_stop in _STOP_MASSES
        for m_lsp in _LSP_MASSES
        if m_lsp + _MIN_SPLITTING < m_stop
    )
}
#: Generated events per grid point.
GRID_EVENTS: Final = 5_000


def grid_point(m_stop: float, m_lsp: float, seed: int, n_events: int = GRID_EVENTS) -> Sample:
    """The stop-pair-dilepton sample at (m_stop, m_neutralino) GeV with master seed ``seed``."""
    return Sample(
        f"stop_{m_stop:g}_{m_lsp:g}", "stop-pair-dilepton", n_events, seed, mass=m_stop,
        lsp_mass=m_lsp, parameters={"m_stop_gev": m_stop, "m_lsp_gev": m_lsp},
    )  # fmt: skip


PLAN: Final = BuildPlan(
    package=HERE,
    command=COMMAND,
    backgrounds=(Sample("ttbar", "ttbar-dilepton", 100_000, 5102),),
    signals=tuple(grid_point(m_stop, m_lsp, seed) for (m_stop, m_lsp), seed in GRID.items()),
    normalisation={"ttbar": 0.10},
    lumi_sigma=0.017,
    pseudo_data_seed=PSEUDO_DATA_SEED,
    signal_description=(
        "Official stop pair yields (Pythia 8 LO; stop -> t neutralino, or b W neutralino "
        "below the top threshold, BR 1; both W -> l nu, sigma includes BR(W -> l nu)^2) at "
        "mu = 1 per region and m_T2(ll) bin on the (m_stop, m_neutralino) grid, the event "
        "selected by the internal event classifier's logit at eB1e-2 (no surrogate); CLs and "
        "upper limits against the pseudo-data of workspace.json (asymptotic qtilde, "
        "arXiv:1007.1727)"
    ),
    not_modelled=(
        "tW, t tbar Z(nu nu), Drell-Yan and fake or non-prompt leptons are not generated; "
        "t tbar with a hadronic W decay is absent (both W forced to l nu)"
    ),
    jobs=1,
    working_point="eB1e-2",
)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m surrotag.analyses.stop_dilepton_nn.build``."""
    return build_command(PLAN, "python -m surrotag.analyses.stop_dilepton_nn.build", argv)


if __name__ == "__main__":
    raise SystemExit(main())
