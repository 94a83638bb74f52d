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

from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    from surrotag.surrogates.card import Card
    from surrotag.surrogates.flow import Surrogate

__all__ = ["INSIDE_PT", "OUTSIDE_FACTORS", "ood_scan"]

#: pt points (GeV) inside the training range (kept where inside the support).
INSIDE_PT: Final = (300.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0)
#: Points outside: multiples of the upper support edge of the pt feature.
OUTSIDE_FACTORS: Final = (1.1, 1.5, 2.0, 3.0)


def ood_scan(
    surrogate: Surrogate,
    card: Card,
    features: np.ndarray,
    pt_feature: str,
    *,
    working_point: str = "wp50",
    draws: int = 20,
) -> dict[str, Any]:
    """Spread and OOD-flag rate of the tag probability versus the pt feature.

    Args:
        features: [M, F] jets inside the support (e.g. contained top jets of the test split).
        pt_feature: the card feature moved (GeV).
        working_point: card working point of the probability (default wp50; else the first).
        draws: weight draws K (>= 2 for a spread).

    Returns:
        JSON-able dict: ``pt`` [P] points (GeV), ``inside`` [P] bool, per point the median
        absolute spread of the probability, the median probability, the median absolute
        spread of the median score (score units), the OOD-flag rate; ``inside_*`` and
        ``far_*`` summarise the inside points (median) and the farthest point.
    """
    import torch

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
    dist = surrogate(
        torch.as_tensor(moved.reshape(p * m, -1), dtype=torch.float32), draws=max(draws, 2)
    )
    prob = dist.prob_above([card.model_threshold(wp)]).double().numpy()[..., 0]  # [K, P*M]
    median_score = dist.quantile([0.5]).double().numpy()[..., 0]  # [K, P*M]
    std = prob.std(0, ddof=1).reshape(p, m)
    mean = prob.mean(0).reshape(p, m)
    score_std = median_score.std(0, ddof=1).reshape(p, m)
    flags = dist.ood.numpy().reshape(p, m)
    spread = np.median(std, axis=1)
    score_spread = np.median(score_std, axis=1)

    def inside_median(values: np.ndarray) -> float:
        return float(np.median(values[inside])) if inside.any() else float("nan")

    return {
        "working_point": wp,
        "feature": pt_feature,
        "support": [low, high],
        "n_jets": int(m),
        "draws": int(max(draws, 2)),
        "pt": points.tolist(),
        "inside": inside.tolist(),
        "absolute_spread_median": spread.tolist(),
        "probability_median": np.median(mean, axis=1).tolist(),
        "median_score_spread_median": score_spread.tolist(),
        "ood_flag_rate": flags.mean(axis=1).tolist(),
        "inside_absolute_spread": inside_median(spread),
        "far_absolute_spread": float(spread[-1]),
        "inside_score_spread": inside_median(score_spread),
        "far_score_spread": float(score_spread[-1]),
        "outside_flag_rate": float(flags[~inside].mean()),
    }
