"""Fidelity metrics of a classifier surrogate: JS distance, efficiency pulls, two-sample test.

Pure numpy/scipy (and scikit-learn for the classifier two-sample test); no torch, no I/O.

* :func:`js_distance` - the Jensen-Shannon *distance* (square root of the divergence,
  natural log, so 0 <= d <= sqrt(ln 2)) between two histograms; :func:`js_distance_values`
  histograms values on the fixed protocol of issue 5 (50 equal bins on [0, 1]) first.
* :func:`split_half_js` - the same statistic between two disjoint random halves of one
  sample: its noise floor at that size and binning.
* :func:`efficiency_cells` - per cell (pt or mass bin) the reference efficiency, the
  surrogate's exact efficiency per weight draw, their errors and the pull
  ``(eps_sur - eps_true) / sigma`` with ``sigma^2 = sigma_Bayes^2 + sigma_stat,true^2 +
  sigma_stat,sur^2``.
* :func:`c2st_auc` - classifier two-sample test: the cross-validated ROC AUC of a
  gradient-boosted classifier telling sample A from sample B (0.5: indistinguishable).

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558 (JS distance as figure of
    merit); Lopez-Paz & Oquab, "Revisiting classifier two-sample tests", arXiv:1610.06545.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

__all__ = [
    "JS_BINS",
    "JS_MAX_JETS",
    "JS_RANGE",
    "CellEfficiencies",
    "binomial_error",
    "c2st_auc",
    "efficiency_cells",
    "js_distance",
    "js_distance_values",
    "split_half_js",
]

#: The fixed JS protocol: 50 equal bins on [0, 1], at most 1e5 jets.
JS_BINS: Final = 50
JS_RANGE: Final = (0.0, 1.0)
JS_MAX_JETS: Final = 100_000


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) between two histograms of the same binning.

    Args:
        p, q: non-negative bin contents (counts or densities), [B]; each normalised here.

    Returns:
        ``sqrt(JSD)``, in [0, sqrt(ln 2)]: 0 for identical shapes, ``sqrt(ln 2)`` for
        histograms with disjoint support; NaN if either histogram is empty.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"histograms of shapes {p.shape} and {q.shape} differ")
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

    return float(np.sqrt(max(0.5 * kl(p) + 0.5 * kl(q), 0.0)))


def js_distance_values(
    a: np.ndarray, b: np.ndarray, bins: int = JS_BINS, value_range: tuple[float, float] = JS_RANGE
) -> float:
    """:func:`js_distance` of the histograms of two sets of values (50 bins on [0, 1])."""
    ha = np.histogram(np.clip(a, *value_range), bins=bins, range=value_range)[0]
    hb = np.histogram(np.clip(b, *value_range), bins=bins, range=value_range)[0]
    return js_distance(ha, hb)


def split_half_js(
    values: np.ndarray,
    rng: np.random.Generator,
    repeats: int = 20,
    bins: int = JS_BINS,
    value_range: tuple[float, float] = JS_RANGE,
) -> tuple[float, float]:
    """Noise floor of :func:`js_distance_values`: two disjoint random halves of one sample.

    Returns:
        (mean, standard deviation) over ``repeats`` random splits.
    """
    values = np.asarray(values)
    half = values.size // 2
    out = []
    for _ in range(repeats):  # a handful of histogram pairs, not a loop over jets
        order = rng.permutation(values.size)
        out.append(
            js_distance_values(
                values[order[:half]], values[order[half : 2 * half]], bins, value_range
            )
        )
    return float(np.mean(out)), float(np.std(out, ddof=1)) if repeats > 1 else 0.0


def binomial_error(efficiency: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Binomial standard error ``sqrt(eps (1 - eps) / n)`` (0 where n = 0)."""
    eps = np.asarray(efficiency, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    return np.sqrt(np.divide(eps * (1 - eps), n, out=np.zeros_like(eps), where=n > 0))


@dataclass(frozen=True)
class CellEfficiencies:
    """Efficiencies per cell (bin), reference tagger vs surrogate.

    Attributes:
        n: [B] jets per cell.
        n_passed: [B] jets passing the cut of the reference tagger.
        eps_true: [B] reference efficiency (fraction of jets passing).
        err_true: [B] its binomial error.
        eps_draws: [K, B] surrogate efficiency per weight draw (mean exact probability).
        eps_sur: [B] mean over draws.
        sigma_bayes: [B] standard deviation over draws (ddof 1; 0 for K = 1).
        err_sur: [B] binomial error of the surrogate efficiency at the cell's n.
        sigma: [B] ``sqrt(sigma_bayes^2 + err_true^2 + err_sur^2)``.
        pull: [B] ``(eps_sur - eps_true) / sigma`` (NaN for empty cells or sigma = 0).
    """

    n: np.ndarray
    n_passed: np.ndarray
    eps_true: np.ndarray
    err_true: np.ndarray
    eps_draws: np.ndarray
    eps_sur: np.ndarray
    sigma_bayes: np.ndarray
    err_sur: np.ndarray
    sigma: np.ndarray
    pull: np.ndarray


def efficiency_cells(
    passed: np.ndarray, probabilities: np.ndarray, cell: np.ndarray, n_cells: int
) -> CellEfficiencies:
    """Reference vs surrogate efficiency per cell, with Bayesian and statistical errors.

    Args:
        passed: [N] bool, the reference tagger's score passes the cut.
        probabilities: [K, N] the surrogate's exact ``P(score > cut | features)`` per draw.
        cell: [N] int cell index in ``[0, n_cells)``; other values (e.g. -1) are left out.
        n_cells: number of cells B.

    Returns:
        :class:`CellEfficiencies`. Statistical errors are binomial for both, as if the
        surrogate's efficiency were a count on the same number of jets (conservative: the
        two are evaluated on the same jets).
    """
    probabilities = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    cell = np.asarray(cell)
    keep = (cell >= 0) & (cell < n_cells)
    index = cell[keep].astype(np.int64)
    n = np.bincount(index, minlength=n_cells).astype(np.float64)
    n_passed = np.bincount(
        index, weights=np.asarray(passed, dtype=np.float64)[keep], minlength=n_cells
    )
    k = probabilities.shape[0]
    offsets = (np.arange(k)[:, None] * n_cells + index[None, :]).ravel()
    sums = np.bincount(offsets, weights=probabilities[:, keep].ravel(), minlength=k * n_cells)
    eps_draws = np.divide(
        sums.reshape(k, n_cells), n, out=np.full((k, n_cells), np.nan), where=n > 0
    )
    eps_true = np.divide(n_passed, n, out=np.full(n_cells, np.nan), where=n > 0)
    eps_sur = eps_draws.mean(axis=0)
    sigma_bayes = eps_draws.std(axis=0, ddof=1) if k > 1 else np.zeros(n_cells)
    err_true = binomial_error(np.nan_to_num(eps_true), n)
    err_sur = binomial_error(np.nan_to_num(eps_sur), n)
    sigma = np.sqrt(sigma_bayes**2 + err_true**2 + err_sur**2)
    pull = np.divide(
        eps_sur - eps_true, sigma, out=np.full(n_cells, np.nan), where=(n > 0) & (sigma > 0)
    )
    return CellEfficiencies(
        n, n_passed, eps_true, err_true, eps_draws, eps_sur, sigma_bayes, err_sur, sigma, pull
    )


def c2st_auc(
    a: np.ndarray,
    b: np.ndarray,
    *,
    paired: bool = False,
    folds: int = 5,
    seed: int = 0,
    max_iter: int = 100,
    threads: int | None = 1,
) -> tuple[float, float]:
    """Classifier two-sample test: cross-validated AUC of a classifier telling A from B.

    A histogram gradient-boosted classifier (scikit-learn) is trained on ``folds - 1``
    folds and scored (ROC AUC) on the held-out one, folds shuffled with ``seed``.

    Args:
        a: [Na, D] sample A (e.g. features and the reference logit).
        b: [Nb, D] sample B (e.g. the same features and a surrogate sample).
        paired: row i of A and row i of B describe the same object (same features, Na = Nb):
            folds are drawn over pairs, so that a held-out row's twin is never in the
            training folds (otherwise the classifier learns the twin's label from its
            features and the AUC falls *below* 0.5).
        threads: OpenMP threads of the classifier (None: library default). One thread by
            default: on a shared machine oversubscribed OpenMP spins (measured 25x slower).

    Returns:
        (mean AUC, standard deviation over folds); 0.5 when A and B are indistinguishable.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import KFold, StratifiedKFold
    from threadpoolctl import threadpool_limits

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    x = np.vstack([a, b])
    y = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    if paired:
        if len(a) != len(b):
            raise ValueError(f"paired samples of {len(a)} and {len(b)} rows differ in size")
        pairs = KFold(n_splits=folds, shuffle=True, random_state=seed).split(a)
        splits = [
            (np.concatenate([tr, tr + len(a)]), np.concatenate([te, te + len(a)]))
            for tr, te in pairs
        ]
    else:
        splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(x, y)
    aucs = []
    with threadpool_limits(threads):
        for train, test in splits:  # `folds` fits, not a loop over jets
            model = HistGradientBoostingClassifier(max_iter=max_iter, random_state=seed)
            model.fit(x[train], y[train])
            aucs.append(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1]))
    return float(np.mean(aucs)), float(np.std(aucs, ddof=1))
