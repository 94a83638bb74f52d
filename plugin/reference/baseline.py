"""Boosted-decision-tree baseline on jet substructure: the tagger to beat.

A histogram gradient-boosted classifier (scikit-learn ``HistGradientBoostingClassifier``,
the LightGBM algorithm) on the four classic top-tagging observables: soft-drop mass (GeV,
arXiv:1402.2657), tau21 and tau32 (arXiv:1011.2268) and jet pT (GeV). It is retrained from
the table's train split whenever it is needed (seconds), so it is never stored: scikit-learn
models only serialise by pickle, which surrotag does not use.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from surrotag.errors import SurrotagError

__all__ = ["BDT_FEATURES", "bdt_matrix", "train_bdt"]

#: Table columns the BDT reads, in order.
BDT_FEATURES: Final = ("jet_sd_mass", "jet_tau21", "jet_tau32", "jet_pt")


def bdt_matrix(table: Any) -> np.ndarray:
    """The (n_rows, 4) float64 matrix of :data:`BDT_FEATURES` (NaN kept: the BDT handles it).

    Raises:
        SurrotagError: a column is missing.
    """
    missing = [name for name in BDT_FEATURES if name not in table.fields]
    if missing:
        raise SurrotagError(
            f"the table lacks the BDT input(s) {', '.join(missing)}; build it "
            "with surrotag reference build-table"
        )
    return np.stack([np.asarray(table[name], np.float64) for name in BDT_FEATURES], axis=1)


def train_bdt(
    x: np.ndarray, y: np.ndarray, *, seed: int = 0, sample_weight: np.ndarray | None = None
) -> Any:
    """Fit the BDT on features ``x`` (n, 4) and labels ``y`` (1 top, 0 QCD).

    Returns:
        The fitted ``HistGradientBoostingClassifier`` (``decision_function`` gives a logit).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    if len(np.unique(y)) != 2:
        raise SurrotagError("the BDT needs top (1) and QCD (0) jets in its training rows")
    model = HistGradientBoostingClassifier(
        max_iter=300,
        learning_rate=0.1,
        max_leaf_nodes=31,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=20,
        random_state=seed,
    )
    return model.fit(x, y, sample_weight=sample_weight)
