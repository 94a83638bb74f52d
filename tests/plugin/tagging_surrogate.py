"""A tiny, really trained surrogate of a closed-form tagger, for the tagging tests.

Training rows: the 6 real fat jets of the Delphes file (``delphes_file`` fixture) replicated
100 times each with seeded noise (log-normal on pT, masses; Gaussian on eta, tau32), so that
the real jets lie inside the training support. The tagger is closed-form: a logit
``u ~ N(mu, 1)`` with ``mu = (jet_sd_mass - 120 GeV) / 30 GeV - 6 (jet_tau32 - 0.65)`` and
score ``sigmoid(u)``, so ``P(score > w | c) = 1 - Phi(logit(w) - mu)`` exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["FEATURES", "THRESHOLDS", "closed_form_mu", "tiny_surrogate"]

FEATURES = ["jet_pt", "jet_eta", "jet_mass", "jet_sd_mass", "jet_tau32"]
#: Working points: cuts on the score (a probability); tight is inside loose.
THRESHOLDS = {"loose": 0.3, "tight": 0.8}

_CACHE: dict[tuple[str, str], Path] = {}


def closed_form_mu(x: np.ndarray) -> np.ndarray:
    """Mean of the closed-form tagger's logit for feature rows ``x`` [N, 5]."""
    return (x[:, 3] - 120.0) / 30.0 - 6.0 * (x[:, 4] - 0.65)


def _training_rows(delphes_file: Path, copies: int = 100, seed: int = 11) -> np.ndarray:
    from surrotag.features import build_features
    from surrotag.io import read_events

    table = build_features(read_events(delphes_file, collections=["fatjets"]), features=FEATURES)
    real = np.column_stack([table[name].to_numpy().astype(np.float64) for name in FEATURES])
    rng = np.random.default_rng(seed)
    x = np.repeat(real, copies, axis=0)
    n = x.shape[0]
    x[:, 0] *= np.exp(rng.normal(0.0, 0.25, n))
    x[:, 1] += rng.normal(0.0, 0.3, n)
    x[:, 2] *= np.exp(rng.normal(0.0, 0.25, n))
    x[:, 3] = np.minimum(x[:, 3] * np.exp(rng.normal(0.0, 0.3, n)), x[:, 2])
    x[:, 4] = np.clip(x[:, 4] + rng.normal(0.0, 0.08, n), 0.05, 0.99)
    return x


def tiny_surrogate(delphes_file: Path, root: Path, bayes: str = "vi") -> Path:
    """Train (once per process and method) and save the tiny surrogate; its folder."""
    key = (str(delphes_file), bayes)
    if key in _CACHE and _CACHE[key].is_dir():
        return _CACHE[key]
    from surrotag.surrogates.storage import save_surrogate
    from surrotag.surrogates.train import TrainConfig, train_surrogate

    x = _training_rows(delphes_file)
    rng = np.random.default_rng(12)
    logit = rng.normal(closed_form_mu(x), 1.0)
    config = TrainConfig(
        hidden=16, depth=2, cond_hidden=16, cond_depth=1, epochs=5, batch_size=64, draws=4, steps=16
    )
    model, _ = train_surrogate(x, logit, feature_names=FEATURES, bayes=bayes, config=config)
    units = {"jet_pt": "GeV", "jet_mass": "GeV", "jet_sd_mass": "GeV"}
    fields = {
        "name": f"tiny-closed-form-{bayes}",
        "version": "0.0.1",
        "description": "closed-form tagger on noisy copies of real Delphes fat jets (tests)",
        "tagger": {"name": "closed-form", "score": "sigmoid of N(mu(sd_mass, tau32), 1)"},
        "features": [{"name": name, "unit": units.get(name, "")} for name in FEATURES],
        "score": {"space": "logit", "clip": 1e-6, "column": "score"},
        "working_points": [
            {"name": name, "threshold": cut, "efficiency": 0.0, "definition": f"score > {cut}"}
            for name, cut in THRESHOLDS.items()
        ],
        "training": {
            "description": "6 Delphes fat jets x 100 noisy copies",
            "sha256": None,
            "rows": {"total": int(x.shape[0]), "used": int(x.shape[0])},
        },
        "references": ["arXiv:2402.15558"],
    }
    folder = root / f"tiny-{bayes}"
    save_surrogate(model, fields, folder)
    _CACHE[key] = folder
    return folder
