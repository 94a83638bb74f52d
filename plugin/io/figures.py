"""The look of every figure surrotag draws, and how a figure is written.

One mplhep style (:data:`STYLE`, the experiment-neutral ROOT style) for the recast's region
plot, the scan's contour, the validation and explanation figures and the reference tagger's
ROC curve; one label (:func:`experiment_label`: "surrotag Simulation" with the luminosity and
sqrt(s), claiming no experiment); one writer (:func:`save_figure`, atomic). matplotlib (Agg
backend) and mplhep are imported only when a figure is drawn: they are the ``plot`` extra.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from surrotag.errors import MissingDependencyError
from surrotag.io.atomic import atomic_output

__all__ = [
    "EXPERIMENT",
    "PLOT_EXTRA",
    "STYLE",
    "experiment_label",
    "figure_style",
    "pyplot",
    "save_figure",
]

#: Name of the mplhep style every figure uses (an attribute of ``mplhep.style``).
STYLE: Final = "ROOT"
#: The experiment text of :func:`experiment_label`: the tool, not a collaboration.
EXPERIMENT: Final = "surrotag"
#: What to install for figures.
PLOT_EXTRA: Final = "pip install 'surrotag[plot]'"


def pyplot(hint: str = "figures need matplotlib and mplhep ({error}); " + PLOT_EXTRA) -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed), mplhep importable.

    Args:
        hint: the error's message; ``{error}`` stands for the ImportError's text.

    Raises:
        MissingDependencyError: matplotlib or mplhep is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import mplhep  # noqa: F401  (the style and labels of every figure)
    except ImportError as error:
        raise MissingDependencyError(hint.format(error=error)) from None
    return plt


def style() -> Any:
    """The mplhep style :data:`STYLE` (rc parameters for ``plt.style.use``/``context``)."""
    import mplhep

    return getattr(mplhep.style, STYLE)


@contextlib.contextmanager
def figure_style(hint: str | None = None) -> Iterator[Any]:
    """Draw in the one style: yields ``pyplot`` with :data:`STYLE` in effect inside the block.

    Args:
        hint: the error's message when matplotlib or mplhep is missing (see :func:`pyplot`).

    Raises:
        MissingDependencyError: matplotlib or mplhep is not installed.
    """
    plt = pyplot() if hint is None else pyplot(hint)
    with plt.style.context(style()):
        yield plt


def experiment_label(
    ax: Any, *, lumi_ifb: float | None = None, sqrt_s_gev: float | None = None
) -> list[Any]:
    """Write "surrotag Simulation" above ``ax``, and the luminosity and sqrt(s) when known.

    Args:
        ax: the matplotlib axes.
        lumi_ifb: integrated luminosity in fb^-1 (None: not shown).
        sqrt_s_gev: collision energy in GeV, shown in TeV (None: not shown).

    Returns:
        The text artists drawn (experiment, "Simulation", luminosity and energy).

    Example:
        >>> plt = pyplot()
        >>> fig, ax = plt.subplots()
        >>> texts = experiment_label(ax, lumi_ifb=139.0, sqrt_s_gev=13000.0)
        >>> print(", ".join(sorted(text.get_text() for text in texts)))
        139 $\\mathrm{fb^{-1}}$ (13 TeV), Simulation, surrotag
        >>> plt.close(fig)
    """
    import mplhep

    before = {id(text) for text in ax.texts}
    mplhep.label.exp_label(
        exp=EXPERIMENT,
        data=False,
        lumi=None if lumi_ifb is None else f"{lumi_ifb:g}",
        com=None if sqrt_s_gev is None else f"{sqrt_s_gev / 1000.0:g}",
        ax=ax,
    )
    return [text for text in ax.texts if id(text) not in before and text.get_text()]


def save_figure(
    fig: Any, path: str | os.PathLike[str], *, dpi: int = 120, tight: bool = True
) -> Path:
    """Write ``fig`` to ``path`` atomically (format from the suffix, PNG without) and close it.

    Args:
        fig: the matplotlib figure (closed afterwards, also when the write fails).
        path: the image file (PNG, PDF, SVG, ...); its folder is created.
        dpi: resolution of raster formats.
        tight: crop to the drawn area (``bbox_inches="tight"``).

    Returns:
        The path written.

    Raises:
        OSError: the file cannot be written (``path`` is then left as it was).
    """
    import matplotlib.pyplot as plt

    target = Path(path)
    try:
        with atomic_output(target) as temporary:  # its name ends in .tmp: say the format
            fig.savefig(
                temporary,
                dpi=dpi,
                bbox_inches="tight" if tight else None,
                format=target.suffix[1:] or "png",
            )
    finally:
        plt.close(fig)
    return target
