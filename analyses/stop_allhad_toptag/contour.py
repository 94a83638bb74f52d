"""The stop exclusion contour from the surrogate and from the internal tagger, side by side.

``python -m surrotag.analyses.stop_allhad_toptag.contour`` (after :mod:`.build`):

1. scans the build's (m_stop, m_neutralino) grid with ``surrotag scan`` semantics
   (:func:`surrotag.scan.scan`: one recast per point with the ``top-tagger-delphes``
   surrogate, Dask, resumable) on the very samples the official yields came from, into
   ``$SURROTAG_DATA/scans/stop-allhad-toptag``;
2. reads the internal tagger's CLs at mu = 1 per point from ``official_yields.json``;
3. per point, says whether the surrogate's median expected exclusion agrees with the
   internal tagger's expected +-1 sigma band: where both band edges exclude (CLs < 0.05)
   the surrogate must exclude, where neither does it must not, inside the band it may do
   either;
4. writes ``contour.json`` (both CLs sets and the per-point verdicts, every input's sha256)
   and ``contour.png`` (the two expected contours with the internal band, linear in
   log10 CLs between the points, :func:`surrotag.scan.contour.interpolate_cls`) into this
   package.

The comparison itself is :func:`surrotag.scan.comparison.compare_contours`, shared with
the other analyses that check their surrogate against the internal tagger's CLs.

References:
    Read, J. Phys. G 28 (2002) 2693 (CLs); classifier surrogates, arXiv:2402.15558.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from surrotag.scan.comparison import CONTOUR_JSON, CONTOUR_PNG, compare_contours

__all__ = ["CONTOUR_JSON", "CONTOUR_PNG", "main"]

HERE: Final = Path(__file__).resolve().parent
ANALYSIS: Final = "stop-allhad-toptag"
#: Grid parameters: top squark and neutralino masses [GeV].
PARAMETERS: Final = ("m_stop_gev", "m_lsp_gev")
#: Weight draws of the surrogate in the scan.
DRAWS: Final = 20
TITLE: Final = "stop-allhad-toptag, expected 95% CL exclusion (LO)"
AXIS_LABELS: Final = (r"$m_{\tilde{t}}$ [GeV]", r"$m_{\tilde{\chi}^0_1}$ [GeV]")


def main(argv: list[str] | None = None) -> int:
    """Scan with the surrogate, compare with the official CLs, write the figure and record.

    Returns:
        0 when every point agrees, 2 when one does not, 1 on an error (one line).
    """
    import argparse

    from surrotag.analyses.stop_allhad_toptag.build import PLAN

    parser = argparse.ArgumentParser(
        prog="python -m surrotag.analyses.stop_allhad_toptag.contour", description=__doc__
    )
    parser.add_argument("--workers", type=int, default=1, help="Dask workers (default 1)")
    args = parser.parse_args(argv)
    return compare_contours(
        ANALYSIS,
        PLAN,
        HERE,
        draws=DRAWS,
        level="delphes",
        workers=args.workers,
        parameters=PARAMETERS,
        title=TITLE,
        axis_labels=AXIS_LABELS,
    )


if __name__ == "__main__":
    raise SystemExit(main())
