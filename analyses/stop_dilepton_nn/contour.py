"""The stop exclusion contour of stop-dilepton-nn from the surrogate and from the internal
event classifier, side by side.

``python -m surrotag.analyses.stop_dilepton_nn.contour`` (after :mod:`.build`) scans the
build's (m_stop, m_neutralino) grid with the ``stop-classifier-delphes`` surrogate
(:func:`surrotag.scan.scan`, ``surrotag scan`` semantics, on the very samples the official
yields came from), compares each point's median expected CLs with the internal
classifier's expected +-1 sigma band and writes ``contour.json`` and ``contour.png`` into
this package (:func:`surrotag.scan.comparison.compare_contours`).

References:
    Read, J. Phys. G 28 (2002) 2693 (CLs); classifier surrogates, arXiv:2402.15558.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from surrotag.scan.comparison import CONTOUR_JSON, CONTOUR_PNG, compare_contours

__all__ = ["CONTOUR_JSON", "CONTOUR_PNG", "main"]

HERE: Final = Path(__file__).resolve().parent
ANALYSIS: Final = "stop-dilepton-nn"
#: Grid parameters: top squark and neutralino masses [GeV].
PARAMETERS: Final = ("m_stop_gev", "m_lsp_gev")
#: Weight draws of the surrogate in the scan.
DRAWS: Final = 20
TITLE: Final = "stop-dilepton-nn, expected 95% CL exclusion (LO)"
AXIS_LABELS: Final = (r"$m_{\tilde{t}}$ [GeV]", r"$m_{\tilde{\chi}^0_1}$ [GeV]")


def main(argv: list[str] | None = None) -> int:
    """Scan with the surrogate, compare with the official CLs, write the figure and record.

    Returns:
        0 when every point agrees, 2 when one does not, 1 on an error (one line).
    """
    import argparse

    from surrotag.analyses.stop_dilepton_nn.build import PLAN

    parser = argparse.ArgumentParser(
        prog="python -m surrotag.analyses.stop_dilepton_nn.contour", description=__doc__
    )
    parser.add_argument("--workers", type=int, default=1, help="Dask workers (default 1)")
    args = parser.parse_args(argv)
    return compare_contours(
        ANALYSIS, PLAN, HERE, draws=DRAWS, level="delphes", workers=args.workers,
        parameters=PARAMETERS, title=TITLE, axis_labels=AXIS_LABELS,
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
