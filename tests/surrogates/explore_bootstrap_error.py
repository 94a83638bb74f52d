"""Exploration behind protocol v3 of the closed-form study: is the error of a fitted flow the
disagreement of bootstrap refits?

Not a pre-registered study: it chose the v3 protocol, on seeds the study never uses (data
9101, evaluation points 9102, bootstrap resamples 9201-9203). Four point fits (``bayes =
"none"``) of the closed-form case at one size: fit 0 on the data (training seed 0), fits 1-3
on bootstrap resamples (training seeds 1-3). Printed: each fit's RMS error of P against the
exact probability at 200 points x 3 thresholds, and the standard deviation implied by the
disagreement of each pair of bootstrap fits (RMS of the difference over sqrt 2).
Run 2026-12-02 (artefact ``artefacts/bootstrap_exploration_2026-12-02.json``)::

    python tests/surrogates/explore_bootstrap_error.py 10000 40 10
    python tests/surrogates/explore_bootstrap_error.py 10000 400 400
    python tests/surrogates/explore_bootstrap_error.py 200000 40 10
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).parent))
from closed_form import closed_form, sigma

from surrotag.surrogates.train import TrainConfig, train_surrogate


def main(rows: int, epochs: int, patience: int) -> dict:
    """The four fits' errors and the bootstrap pairs' implied standard deviations."""
    torch.set_num_threads(1)
    c, x = closed_form(rows, 9101)
    rng = np.random.default_rng(9102)
    inside = rng.uniform(-1.5, 1.5, size=(200, 2))
    thresholds = np.array([-1.0, 0.0, 1.0])
    truth = norm.sf((thresholds[None, :] - inside[:, :1]) / sigma(inside)[:, None])
    fits = []
    for k in range(4):
        rows_k = (
            np.arange(rows) if k == 0 else np.random.default_rng(9200 + k).integers(0, rows, rows)
        )
        cfg = TrainConfig(epochs=epochs, patience=patience, steps=8, seed=k)
        model, _ = train_surrogate(
            c[rows_k], x[rows_k], feature_names=["c1", "c2"], bayes="none", config=cfg
        )
        with torch.inference_mode():
            fits.append(model(inside, draws=1).prob_above(thresholds).numpy()[0])
    p = np.array(fits)
    pairs = [(i, j) for i in range(1, 4) for j in range(i + 1, 4)]
    return {
        "rows": rows,
        "epochs": epochs,
        "patience": patience,
        "err_rms": np.sqrt(((p - truth) ** 2).mean(axis=(1, 2))).tolist(),
        "boot_sd": [float(np.sqrt(((p[i] - p[j]) ** 2).mean() / 2)) for i, j in pairs],
    }


if __name__ == "__main__":
    print(json.dumps(main(*(int(a) for a in sys.argv[1:4]))))
