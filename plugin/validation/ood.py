"""Out-of-distribution test: Bayesian spread and OOD flag rate from inside to far outside.

The paper's test of unknown inputs (arXiv:2402.15558, Sec. 5): take jets inside the training
support, set their pt feature (GeV; ``jet_pt`` or the parton ``top_pt``) to values from
inside the training range to far above it (1.5x to 3x the upper support edge), keep every
other feature, and look at the *absolute* Bayesian spread of the exact tag probability at
one working point and of the median score, and at the fraction of jets the surrogate flags as
out of distribution. A Bayesian surrogate should grow more uncertain where it has seen no
data. No ratio of relative spreads is formed: std / mean grows as the probability falls to
zero even while the absolute spread, the one that enters the yields, shrinks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from surrotag.tagging import evaluate_surrogate

if TYPE_CHECKING:
    from surrotag.surrogates.card import Card
    from surrotag.surrogates.flow import Surrogate

__all__ = ["INSIDE_PT", "OUTSIDE_FACTORS", "OodScan", "ood_scan"]

#: pt points (GeV) inside the training range (kept where inside the support).
INSIDE_PT: Final = (300.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0)
#: Points outside: multiples of the upper support edge of the pt feature.
OUTSIDE_FACTORS: Final = (1.1, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class OodScan:
    """Spread and OOD-flag rate of the tag probability versus the pt feature (P points).

    Attributes:
        working_point: the card working point of the probability.
        feature: the pt feature moved (GeV).
        support: ``(low, high)`` training support of that feature (GeV).
        n_jets: jets moved to every point.
        draws: weight draws K.
        pt: ``[P]`` the points (GeV): inside the support, then multiples of its upper edge.
        inside: ``[P]`` bool, the point lies inside the support.
        absolute_spread_median: ``[P]`` median over jets of the absolute Bayesian spread
            (standard deviation over draws) of the probability.
        probability_median: ``[P]`` median over jets of the nominal probability.
        median_score_spread_median: ``[P]`` median over jets of the spread of the median
            score (modelled score units).
        ood_flag_rate: ``[P]`` fraction of jets flagged out of distribution.
        inside_absolute_spread: median of ``absolute_spread_median`` over the inside points
            (NaN without one).
        far_absolute_spread: ``absolute_spread_median`` at the farthest point.
        inside_score_spread: median of ``median_score_spread_median`` over the inside
            points (NaN without one).
        far_score_spread: ``median_score_spread_median`` at the farthest point.
        outside_flag_rate: fraction of jets flagged over all outside points.
    """

    working_point: str
    feature: str
    support: tuple[float, float]
    n_jets: int
    draws: int
    pt: np.ndarray
    inside: np.ndarray
    absolute_spread_median: np.ndarray
    probability_median: np.ndarray
    median_score_spread_median: np.ndarray
    ood_flag_rate: np.ndarray
    inside_absolute_spread: float
    far_absolute_spread: float
    inside_score_spread: float
    far_score_spread: float
    outside_flag_rate: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (arrays as lists), in the attributes' order."""
        return {
            "working_point": self.working_point,
            "feature": self.feature,
            "support": list(self.support),
            "n_jets": self.n_jets,
            "draws": self.draws,
            "pt": self.pt.tolist(),
            "inside": self.inside.tolist(),
            "absolute_spread_median": self.absolute_spread_median.tolist(),
            "probability_median": self.probability_median.tolist(),
            "median_score_spread_median": self.median_score_spread_median.tolist(),
            "ood_flag_rate": self.ood_flag_rate.tolist(),
            "inside_absolute_spread": self.inside_absolute_spread,
            "far_absolute_spread": self.far_absolute_spread,
            "inside_score_spread": self.inside_score_spread,
            "far_score_spread": self.far_score_spread,
            "outside_flag_rate": self.outside_flag_rate,
        }


def ood_scan(
    surrogate: Surrogate,
    card: Card,
    features: np.ndarray,
    pt_feature: str,
    *,
    working_point: str = "wp50",
    draws: int = 20,
) -> OodScan:
    """Spread and OOD-flag rate of the tag probability versus the pt feature.

    The probabilities, median scores and flags come from the tag stage
    (:func:`surrotag.tagging.evaluate_surrogate`, one score distribution).

    Args:
        surrogate, card: from :func:`surrotag.surrogates.storage.load_surrogate`.
        features: [M, F] jets inside the support (e.g. contained top jets of the test split).
        pt_feature: the card feature moved (GeV).
        working_point: card working point of the probability (default wp50; else the first).
        draws: weight draws K (>= 2 for a spread).

    Returns:
        :class:`OodScan` (:meth:`OodScan.to_dict` for JSON).
    """
    column = card.feature_names.index(pt_feature)
    spec = next(f for f in card.features if f["name"] == pt_feature)
    low, high = (float(v) for v in spec.get("support", (float("nan"), float("nan"))))
    inside_points = [p for p in INSIDE_PT if not (p < low or p > high)]
    points = np.array([*inside_points, *(f * high for f in OUTSIDE_FACTORS)])
    inside = np.array([True] * len(inside_points) + [False] * len(OUTSIDE_FACTORS))
    names = [point["name"] for point in card.working_points]
    wp = working_point if working_point in names else names[0]
    m, p = features.shape[0], points.size
    moved = np.repeat(features[None], p, axis=0)  # [P, M, F]
    moved[:, :, column] = points[:, None]
    result = evaluate_surrogate(
        surrogate,
        moved.reshape(p * m, -1),
        thresholds=[card.model_threshold(wp)],
        draws=max(draws, 2),
        quantiles=[0.5],
    )
    assert result.probabilities is not None and result.quantiles is not None  # asked for both
    prob = result.probabilities[..., 0]  # [K, P*M]
    median_score = result.quantiles[..., 0]  # [K, P*M]
    std = prob.std(0, ddof=1).reshape(p, m)
    mean = prob.mean(0).reshape(p, m)
    score_std = median_score.std(0, ddof=1).reshape(p, m)
    flags = result.ood.reshape(p, m)
    spread = np.median(std, axis=1)
    score_spread = np.median(score_std, axis=1)

    def inside_median(values: np.ndarray) -> float:
        return float(np.median(values[inside])) if inside.any() else float("nan")

    return OodScan(
        working_point=wp,
        feature=pt_feature,
        support=(low, high),
        n_jets=int(m),
        draws=int(max(draws, 2)),
        pt=points,
        inside=inside,
        absolute_spread_median=spread,
        probability_median=np.median(mean, axis=1),
        median_score_spread_median=score_spread,
        ood_flag_rate=flags.mean(axis=1),
        inside_absolute_spread=inside_median(spread),
        far_absolute_spread=float(spread[-1]),
        inside_score_spread=inside_median(score_spread),
        far_score_spread=float(score_spread[-1]),
        outside_flag_rate=float(flags[~inside].mean()),
    )
