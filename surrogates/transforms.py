"""Score transforms: map a tagger output to the unbounded space the flow models.

A classifier that outputs a probability p in [0, 1] is modelled in logit space,
``log(p / (1 - p))``. Taggers evaluated in float32 saturate: ``sigmoid(x)`` is exactly 1.0 for
x > ~16.6 and exactly 0.0 for x < ~-103, so a sample of scores holds *point masses* at the
ends of [0, 1]. A continuous flow cannot put finite probability on a point, so the logit of
such scores is first clipped to ``[eps, 1 - eps]``: the point mass becomes a narrow peak at
``logit(1 - eps)``, which the flow can model, and every threshold below it is unaffected.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["logit_clip"]


def logit_clip(p: np.ndarray | torch.Tensor, eps: float = 1e-6) -> np.ndarray | torch.Tensor:
    """Logit of a probability clipped to ``[eps, 1 - eps]``.

    Args:
        p: Tagger probabilities in [0, 1] (numpy array or tensor, any shape).
        eps: Clipping distance from 0 and 1. The default 1e-6 maps the float32 saturation
            points 0.0 and 1.0 to logits -13.8 and +13.8.

    Returns:
        The clipped logit, same type and shape as ``p`` (float64 for numpy input).

    Example:
        >>> float(logit_clip(np.array([1.0]))[0]) > 13.8
        True
    """
    if isinstance(p, torch.Tensor):
        return torch.logit(p, eps=eps)
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return np.log(q) - np.log1p(-q)
