"""Fixtures of the surrogate-library tests: a card document, closed-form trained surrogates."""

from __future__ import annotations

import numpy as np
import pytest

from surrotag.surrogates.card import SCHEMA_VERSION


@pytest.fixture
def card_document() -> dict:
    """A complete card whose feature statistics come from a seeded sample of two features."""
    rng = np.random.default_rng(7)
    pt = rng.exponential(200.0, 1000) + 300.0
    mass = rng.normal(172.5, 15.0, 1000)
    features = []
    for name, unit, values in (("pt", "GeV", pt), ("mass", "GeV", mass)):
        low, high = np.quantile(values, [0.001, 0.999])
        features.append(
            {
                "name": name,
                "unit": unit,
                "description": f"jet {name}",
                "support": [float(low), float(high)],
                "mean": float(values.mean()),
                "std": float(values.std()),
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "name": "toy-top",
        "version": "0.1.0",
        "description": "card test",
        "tagger": {"name": "cnn", "score": "top vs QCD probability", "weights_sha256": None},
        "features": features,
        "score": {"space": "logit", "clip": 1e-6, "column": "score"},
        "working_points": [
            {
                "name": "tight",
                "threshold": 0.9,
                "efficiency": 0.3,
                "definition": "fraction of the training table above 0.9",
            }
        ],
        "efficiency_map": {
            "tight": {
                "pt_edges": [300.0, 500.0, 1000.0],
                "efficiency": [0.25, 0.35],
                "efficiency_error": [0.01, 0.02],
            }
        },
        "bayes": {"method": "vi", "draws": 16},
        "model": {"hidden": 32},
        "solver": {"method": "rk4", "steps": 16},
        "training": {
            "description": "test",
            "sha256": "0" * 64,
            "rows": {"total": 1000, "used": 1000, "dropped_nan": 0},
        },
        "validation": {"auc": 0.9, "per_bin": {"ks": [0.01, 0.02]}},
        "files": {"weights.safetensors": "a" * 64},
        "references": ["arXiv:2402.15558", "https://github.com/heidelberg-hepml"],
        "created": "2026-05-09T12:00:00Z",
        "surrotag_version": "0.1.0",
    }


def closed_form_table(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form tagger: pt ~ U(300, 1000) GeV, mass ~ N(172.5, 15) GeV, and a score
    ``p = sigmoid(u)`` with ``u ~ N((pt - 650) / 175, 1)``, so that exactly
    ``P(p > w | pt) = 1 - Phi(logit(w) - (pt - 650) / 175)``.

    Returns:
        features [n, 2] (pt, mass) and scores p [n].
    """
    rng = np.random.default_rng(seed)
    pt = rng.uniform(300.0, 1000.0, n)
    mass = rng.normal(172.5, 15.0, n)
    u = rng.normal((pt - 650.0) / 175.0, 1.0)
    return np.column_stack([pt, mass]), 1.0 / (1.0 + np.exp(-u))


@pytest.fixture(scope="session")
def trained() -> dict:
    """Tiny surrogates of the closed-form tagger, really trained (3 epochs), per method."""
    from surrotag.surrogates.train import TrainConfig, train_surrogate
    from surrotag.surrogates.transforms import logit_clip

    features, scores = closed_form_table(300)
    config = TrainConfig(
        hidden=16,
        depth=2,
        cond_hidden=16,
        cond_depth=1,
        epochs=3,
        draws=4,
        batch_size=64,
        mcmc_thin=2,
    )
    out = {}
    for method in ("none", "vi", "mcmc"):
        model, _ = train_surrogate(
            features,
            logit_clip(scores),
            feature_names=["pt", "mass"],
            bayes=method,
            config=config,
        )
        out[method] = model
    out["features"] = features
    return out


@pytest.fixture
def card_fields() -> dict:
    """The descriptive card fields of the closed-form surrogates (the rest is derived)."""
    return {
        "name": "closed-form",
        "version": "0.0.1",
        "description": "closed-form tagger of the tests",
        "tagger": {"name": "closed-form", "score": "sigmoid of a Gaussian around (pt-650)/175"},
        "features": [
            {"name": "pt", "unit": "GeV", "description": "jet transverse momentum"},
            {"name": "mass", "unit": "GeV", "description": "jet mass"},
        ],
        "score": {"space": "logit", "clip": 1e-6, "column": "score"},
        "working_points": [
            {
                "name": "medium",
                "threshold": 0.5,
                "efficiency": 0.5,
                "definition": "closed form: P(u > 0) over pt ~ U(300, 1000) GeV",
            }
        ],
        "training": {
            "description": "closed_form_table(300)",
            "sha256": None,
            "rows": {"total": 300, "used": 300},
        },
        "references": ["arXiv:2402.15558"],
    }
