"""The goals a shipped surrogate is held to, as named constants, and the typed goal result.

Shipping goals (:data:`SHIP_GOALS`; every re-shipped surrogate must meet them, on the 2-D
pt x soft-drop-mass cells of the held-out split, counted by the rule of
:mod:`surrotag.validation.cells`, over every working point and the classes it is tested on):

* at least :data:`GOAL_FRACTION_WITHIN` (90 %) of the cells with ``|pull| <=``
  :data:`PULL_WITHIN` (2), with the pull of :func:`surrotag.validation.metrics.
  efficiency_cells` (no binomial term for the surrogate's exact mean);
* pull RMS at most :data:`GOAL_PULL_RMS` (1.5): a tail of large pulls fails even when 90 %
  of the cells lie within 2;
* median relative Bayesian spread ``sigma_Bayes / eps_sur`` at most
  :data:`GOAL_RELATIVE_SPREAD` (5 %): coverage must not be bought with a wide posterior;
* classifier two-sample AUC at most :data:`GOAL_C2ST_AUC` (0.55) for every truth class.

The report also keeps the diagnostic goals of the first validation (relative agreement in
well-populated cells, JS distance against its noise floor and the paper, the OOD spread
ratio); they are reported as met or missed but are not shipping goals.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from surrotag.validation.cells import ViewSummary

__all__ = [
    "GOAL_C2ST_AUC",
    "GOAL_FRACTION_WITHIN",
    "GOAL_PULL_RMS",
    "GOAL_RELATIVE_SPREAD",
    "PULL_WITHIN",
    "SHIP_GOALS",
    "Goal",
    "goal",
    "ship_goals",
]

#: A cell is "within" when ``|pull| <=`` this.
PULL_WITHIN: Final = 2.0
#: Fewest fraction of counted 2-D cells within :data:`PULL_WITHIN`.
GOAL_FRACTION_WITHIN: Final = 0.90
#: Largest RMS of the pulls of the counted 2-D cells.
GOAL_PULL_RMS: Final = 1.5
#: Largest median relative Bayesian spread of the counted 2-D cells' efficiencies.
GOAL_RELATIVE_SPREAD: Final = 0.05
#: Largest classifier two-sample AUC, per truth class.
GOAL_C2ST_AUC: Final = 0.55
#: Names of the shipping goals (the AUC goal is one per tested class: ``two-sample AUC, <c>``).
SHIP_GOALS: Final = (
    "2-D cells with |pull| <= 2",
    "pull RMS, 2-D cells",
    "median relative Bayesian spread, 2-D cells",
    "two-sample AUC",
)


@dataclass(frozen=True)
class Goal:
    """One goal of the report.

    Attributes:
        name: what is measured.
        value: the measured value (None: not measurable on this sample).
        target: the goal as text (``>= 0.90``).
        met: True, False, or None when not testable.
        note: how the value was obtained.
        ship: a shipping goal (True) or a diagnostic one.
    """

    name: str
    value: float | None
    target: str
    met: bool | None
    note: str = ""
    ship: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (``goal`` holds the target, as in earlier reports)."""
        out = dataclasses.asdict(self)
        out["goal"] = out.pop("target")
        return out


def goal(
    name: str, value: Any, target: str, met: bool, note: str = "", *, ship: bool = False
) -> Goal:
    """A :class:`Goal`; ``met`` becomes None when the value is missing or not finite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return Goal(name, None, target, None, note, ship)
    return Goal(name, float(value), target, bool(met), note, ship)


def ship_goals(
    cells: ViewSummary, aucs: Mapping[str, tuple[float | None, int]], tested: Sequence[str]
) -> tuple[Goal, ...]:
    """The shipping goals from the 2-D cell summary and the two-sample AUCs.

    Args:
        cells: :meth:`surrotag.validation.cells.EfficiencyView.summary` of the pt x mass
            grid over the tested classes.
        aucs: per truth class, (AUC or None, jets per sample); classes outside ``tested``
            give diagnostic goals.
        tested: the classes the surrogate is held to.

    Returns:
        Fraction within 2, pull RMS, median relative spread, then one AUC goal per class.
    """
    pulls = cells.pulls
    goals = [
        goal(
            SHIP_GOALS[0],
            pulls.fraction_within,
            f">= {GOAL_FRACTION_WITHIN:.2f}",
            pulls.fraction_within >= GOAL_FRACTION_WITHIN,
            f"{cells.n_counted} of {cells.n_cells} non-empty cells counted "
            f"({', '.join(cells.classes)}); binomial-error pull: "
            f"{cells.pulls_binomial.fraction_within:.3f}",
            ship=True,
        ),
        goal(
            SHIP_GOALS[1],
            pulls.rms,
            f"<= {GOAL_PULL_RMS}",
            pulls.rms <= GOAL_PULL_RMS,
            f"mean {pulls.mean:+.2f} +- {pulls.mean_error:.2f}; perfect: "
            f"1 +- {pulls.rms_error:.2f}",
            ship=True,
        ),
        goal(
            SHIP_GOALS[2],
            cells.median_relative_spread,
            f"<= {GOAL_RELATIVE_SPREAD}",
            cells.median_relative_spread <= GOAL_RELATIVE_SPREAD,
            "sharpness beside coverage",
            ship=True,
        ),
    ]
    for name, (auc, n) in aucs.items():
        goals.append(
            goal(
                f"{SHIP_GOALS[3]}, {name}",
                auc,
                f"<= {GOAL_C2ST_AUC}",
                auc is not None and auc <= GOAL_C2ST_AUC,
                f"{n} jets per sample",
                ship=name in tested,
            )
        )
    return tuple(goals)
