"""A minimal SLHA spectrum for the simplified stop model: pp -> stop stop*, stop -> t neutralino.

The ``stop-pair`` presets (:mod:`surrotag.reference.processes`) hand Pythia 8 a spectrum in
which only two sparticles are light: the lighter top squark ``t~_1`` (PDG 1000006) with mass
``m_stop`` and the lightest neutralino ``chi~0_1`` (PDG 1000022, a pure bino: identity
``NMIX``) with mass ``m_lsp``. Every other sparticle, and the heavy Higgs bosons H, A, H+,
sit at 5000 GeV (decoupled); h is at 125 GeV and the top at 173 GeV (``SMINPUTS 6``, which
Pythia reads), Pythia 8.317's own values, so the tops are those of the SM presets. The stop
decays with branching ratio 1 to ``t chi~0_1`` when ``m_stop - m_lsp > m_top`` (two-body,
isotropic in the stop rest frame: Pythia reads SLHA DECAY tables with
``SLHA:meMode = 100``, so no top polarisation from the stop mixing is modelled), and to
``b W chi~0_1`` when ``m_W + m_b < m_stop - m_lsp <= m_top`` (three-body through an
off-shell top, the light-stop region of arXiv:1804.09278; Pythia distributes it by phase
space alone, without the off-shell top propagator, so the b W invariant mass is not peaked
towards the top mass as in the full matrix element; :func:`stop_decay`); the neutralino is
stable (``DECAY 1000022 0.0``) and escapes the detector.

The four-body and flavour-changing decays of smaller splittings
(``m_stop - m_lsp <= m_W + m_b``) are NOT modelled, and such mass points are refused. The
stop width (:data:`STOP_WIDTH`, 1 GeV) is a fixed narrow width, not computed from the
couplings: it only sets the Breit-Wigner sampling of the stop mass, which no reconstructed
quantity resolves. The cross-section Pythia reports is leading order (LO): measured with
Pythia 8.317 at ``m_stop = 1000`` GeV, ``m_lsp = 100`` GeV, sigma(LO) = 4.0 fb, against the
NNLO+NNLL reference 6.83 fb of the LHC SUSY cross-section working group.

Units: masses and widths in GeV.

The text uses SLHA 1 blocks only: ``MODSEL``, ``SMINPUTS``, ``MASS``, ``NMIX``, ``UMIX``,
``VMIX``, ``STOPMIX``, ``SBOTMIX``, ``STAUMIX``, ``ALPHA``, ``HMIX`` and the two ``DECAY``
tables. Pythia reads it from a file (``SLHA:file = <path>``) during ``init()``;
:func:`slha_setting` writes one (:mod:`surrotag.reference.generate`: one per job, beside
its part file).

References:
    N. Desai and P. Skands, "Supersymmetry and generic BSM models in PYTHIA 8",
    Eur. Phys. J. C 72 (2012) 2238, arXiv:1109.5852.
    P. Skands et al., "SUSY Les Houches Accord: interfacing SUSY spectrum calculators,
    decay packages, and event generators", JHEP 07 (2004) 036, hep-ph/0311123.

Examples:
    >>> text = stop_slha(1000.0, 100.0)
    >>> [line for line in text.splitlines() if line.split()[:1] in (["1000006"], ["1000022"])]
    ['   1000006   1.00000000e+03   # ~t_1', '   1000022   1.00000000e+02   # ~chi_10']
    >>> stop_slha(180.0, 100.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    surrotag.errors.GenerationError: stop-pair needs 0 <= lsp mass and stop mass > ...
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from surrotag.errors import GenerationError

__all__ = [
    "DECOUPLED_MASS",
    "STOP_WIDTH",
    "THREE_BODY_THRESHOLD",
    "TOP_MASS",
    "slha_setting",
    "stop_decay",
    "stop_slha",
]

#: Mass (GeV) of every sparticle but the stop and the neutralino, and of H, A, H+.
DECOUPLED_MASS: Final = 5000.0
#: Top mass (GeV): SMINPUTS 6 (Pythia 8.317's default m_top) and the kinematic limit
#: m_stop > m_lsp + TOP_MASS of the two-body decay.
TOP_MASS: Final = 173.0
#: Total width (GeV) of the stop given in its DECAY table (a fixed narrow width).
STOP_WIDTH: Final = 1.0
#: W mass plus b mass (GeV; Pythia 8.317's 80.385 and 4.8): the kinematic limit
#: m_stop > m_lsp + THREE_BODY_THRESHOLD of the three-body decay stop -> b W neutralino.
THREE_BODY_THRESHOLD: Final = 80.385 + 4.8

#: PDG id -> SLHA comment of every sparticle and Higgs boson in the MASS block.
_MASS_IDS: Final = {
    25: "h0",
    35: "H0",
    36: "A0",
    37: "H+",
    **{1000000 + q: f"~{name}_L" for q, name in zip(range(1, 6), "d u s c b".split(), strict=True)},
    1000006: "~t_1",
    **{2000000 + q: f"~{name}_R" for q, name in zip(range(1, 6), "d u s c b".split(), strict=True)},
    2000006: "~t_2",
    1000011: "~e_L",
    1000012: "~nu_eL",
    1000013: "~mu_L",
    1000014: "~nu_muL",
    1000015: "~tau_1",
    1000016: "~nu_tauL",
    2000011: "~e_R",
    2000013: "~mu_R",
    2000015: "~tau_2",
    1000021: "~g",
    1000022: "~chi_10",
    1000023: "~chi_20",
    1000025: "~chi_30",
    1000035: "~chi_40",
    1000024: "~chi_1+",
    1000037: "~chi_2+",
}
_SMINPUTS: Final = (
    (1, 1.27934e2, "alpha_em^-1(M_Z) MSbar"),
    (2, 1.16637e-5, "G_F (GeV^-2)"),
    (3, 1.18e-1, "alpha_s(M_Z) MSbar"),
    (4, 9.11876e1, "M_Z pole"),
    (5, 4.18, "m_b(m_b) MSbar"),
    (6, TOP_MASS, "m_top pole"),
    (7, 1.77686, "m_tau pole"),
)
_HIGGS_MASS: Final = 125.0
_ALPHA: Final = -0.1  # h-H mixing angle (decoupling limit: alpha ~ beta - pi/2)
_TAN_BETA: Final = 10.0
_VEV: Final = 246.0


def stop_decay(m_stop: float, m_lsp: float) -> str:
    """The stop decay the simplified model uses at these masses (GeV).

    Returns:
        ``"t"`` (two-body stop -> t neutralino) when m_stop - m_lsp > m_top, ``"bW"``
        (three-body stop -> b W neutralino) when m_W + m_b < m_stop - m_lsp <= m_top.

    Raises:
        GenerationError: masses outside both regions (the four-body and flavour-changing
            decays of smaller splittings are not modelled), negative, non-finite, or a stop
            at or above the decoupled mass.

    Example:
        >>> stop_decay(1000.0, 100.0), stop_decay(250.0, 100.0)
        ('t', 'bW')
    """
    if not (
        math.isfinite(m_stop)
        and math.isfinite(m_lsp)
        and 0.0 <= m_lsp
        and m_stop > m_lsp + THREE_BODY_THRESHOLD
        and m_stop < DECOUPLED_MASS
    ):
        raise GenerationError(
            f"stop-pair needs 0 <= lsp mass and stop mass > lsp mass + "
            f"{THREE_BODY_THRESHOLD:g} GeV (stop -> t neutralino above lsp mass + "
            f"{TOP_MASS:g} GeV, stop -> b W neutralino below; the four-body decays are not "
            f"modelled) and stop mass < {DECOUPLED_MASS:g} GeV, got stop {m_stop:g} GeV, "
            f"lsp {m_lsp:g} GeV"
        )
    return "t" if m_stop > m_lsp + TOP_MASS else "bW"


def _check(m_stop: float, m_lsp: float) -> None:
    stop_decay(m_stop, m_lsp)


def _matrix(name: str, size: int) -> list[str]:
    """An identity mixing matrix block of ``size`` x ``size``."""
    return [f"BLOCK {name}"] + [
        f"  {i}  {j}   {1.0 if i == j else 0.0:.8e}"
        for i in range(1, size + 1)
        for j in range(1, size + 1)
    ]


def stop_slha(m_stop: float, m_lsp: float) -> str:
    """The SLHA 1 text of the simplified stop model (see the module docstring).

    Args:
        m_stop: mass of the stop ``t~_1`` (PDG 1000006) in GeV.
        m_lsp: mass of the lightest neutralino ``chi~0_1`` (PDG 1000022) in GeV.

    Returns:
        The spectrum and decay tables as SLHA text (newline-terminated lines).

    Raises:
        GenerationError: unless 0 <= m_lsp, m_stop > m_lsp + 173 GeV (two-body decay
            stop -> t neutralino) and m_stop < 5000 GeV.
    """
    m_stop, m_lsp = float(m_stop), float(m_lsp)
    _check(m_stop, m_lsp)
    masses = {pid: DECOUPLED_MASS for pid in _MASS_IDS}
    masses |= {25: _HIGGS_MASS, 1000006: m_stop, 1000022: m_lsp}
    lines = [
        "# surrotag.reference.susy: simplified model, pp -> stop stop*, stop -> "
        + ("t chi_10" if stop_decay(m_stop, m_lsp) == "t" else "b W chi_10 (three-body)"),
        "BLOCK MODSEL",
        "    1    1   # general MSSM",
        "BLOCK SMINPUTS",
        *(f"  {i:>2}   {value:.8e}   # {text}" for i, value, text in _SMINPUTS),
        "BLOCK MASS",
        *(f"  {pid:>8}   {masses[pid]:.8e}   # {name}" for pid, name in _MASS_IDS.items()),
        *_matrix("NMIX", 4),
        *_matrix("UMIX", 2),
        *_matrix("VMIX", 2),
        *_matrix("STOPMIX", 2),
        *_matrix("SBOTMIX", 2),
        *_matrix("STAUMIX", 2),
        "BLOCK ALPHA",
        f"   {_ALPHA:.8e}   # alpha",
        f"BLOCK HMIX Q= {DECOUPLED_MASS:.8e}",
        f"    1   {DECOUPLED_MASS:.8e}   # mu",
        f"    2   {_TAN_BETA:.8e}   # tan beta",
        f"    3   {_VEV:.8e}   # v",
        f"    4   {DECOUPLED_MASS**2:.8e}   # m_A^2",
        "#         PDG        width",
        f"DECAY   1000006   {STOP_WIDTH:.8e}   # ~t_1",
        *(
            (
                "#    BR             NDA   ID1       ID2",
                "     1.00000000e+00   2     6   1000022   # ~t_1 -> t ~chi_10",
            )
            if stop_decay(m_stop, m_lsp) == "t"
            else (
                "#    BR             NDA   ID1       ID2       ID3",
                "     1.00000000e+00   3     5        24   1000022   # ~t_1 -> b W+ ~chi_10",
            )
        ),
        f"DECAY   1000022   {0.0:.8e}   # ~chi_10 stable",
    ]
    return "\n".join(lines) + "\n"


@contextmanager
def slha_setting(text: str, path: str | Path) -> Iterator[tuple[str, ...]]:
    """Write an SLHA text to a file and yield the Pythia setting that reads it.

    Pythia reads a ``word`` setting up to the first blank, so a ``path`` with whitespace is
    replaced by a file in a fresh temporary folder (removed on exit). Pythia reads the file
    in ``init()``: call it inside the ``with`` block.

    Args:
        text: the SLHA text ("" for none: nothing is written, nothing yielded).
        path: where to write it.

    Yields:
        ``("SLHA:file = <path>",)``, or ``()`` for an empty text.

    Raises:
        GenerationError: no file name without whitespace could be found.
    """
    if not text:
        yield ()
        return
    path = Path(path)
    if not any(c.isspace() for c in str(path)):
        path.write_text(text)
        yield (f"SLHA:file = {path}",)
        return
    with tempfile.TemporaryDirectory(prefix="surrotag-slha-") as folder:
        path = Path(folder) / "spectrum.slha"
        if any(c.isspace() for c in str(path)):
            raise GenerationError(
                f"Pythia cannot read an SLHA file whose path has blanks: {path} (set TMPDIR)"
            )
        path.write_text(text)
        yield (f"SLHA:file = {path}",)
