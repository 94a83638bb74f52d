"""Fidelity metrics of a classifier surrogate: JS distance, efficiency pulls, two-sample test.

Pure numpy/scipy (and scikit-learn for the classifier two-sample test); no torch, no I/O.

* :func:`js_distance` - the Jensen-Shannon *distance* (square root of the divergence,
  natural log, so 0 <= d <= sqrt(ln 2)) between two histograms; :func:`js_distance_values`
  histograms values on the fixed protocol (50 equal bins on [0, 1]) first.
* :func:`split_half_js` - the same statistic between two disjoint random halves of one
  sample: its noise floor at that size and binning.
* :func:`efficiency_cells` - per cell (a pt, mass or pt x mass bin) the tagger's observed
  efficiency, the surrogate's exact efficiency per weight draw and the pull
  ``(eps_sur - eps_tag) / sqrt(sigma_tag^2 + sigma_Bayes^2)``; the surrogate's exact
  efficiency carries no binomial term (see the function for the derivation).
* :func:`pull_summary` - a set of pulls as a distribution: mean, RMS, fraction within 2.
* :func:`c2st_auc` - classifier two-sample test: the cross-validated ROC AUC of a
  gradient-boosted classifier telling sample A from sample B (0.5: indistinguishable).

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558 (JS distance as figure of
    merit); Lopez-Paz & Oquab, "Revisiting classifier two-sample tests", arXiv:1610.06545;
    Spiegelhalter, "Probabilistic prediction in patient management and clinical trials",
    Stat. Med. 5 (1986) 421 (calibration z-test with the model's own Bernoulli variance).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

__all__ = [
    "JS_BINS",
    "JS_MAX_JETS",
    "JS_RANGE",
    "CellEfficiencies",
    "PullSummary",
    "binomial_error",
    "c2st_auc",
    "efficiency_cells",
    "js_distance",
    "js_distance_values",
    "pull_summary",
    "split_half_js",
    "surrogate_c2st",
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
    """Binomial standard error ``sqrt(eps (1 - eps) / n)`` (0 where n = 0).

    Args:
        efficiency: [B] efficiencies.
        n: [B] entries, or the effective number of entries ``(sum w)^2 / sum w^2`` of
            weighted cells.
    """
    eps = np.asarray(efficiency, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    return np.sqrt(np.divide(eps * (1 - eps), n, out=np.zeros_like(eps), where=n > 0))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` with NaN where the denominator is not positive."""
    return np.divide(
        numerator,
        denominator,
        out=np.full(np.broadcast(numerator, denominator).shape, np.nan),
        where=denominator > 0,
    )


@dataclass(frozen=True)
class CellEfficiencies:
    """Efficiencies per cell, reference tagger vs surrogate, and their pulls.

    Sums run over the jets of a cell, with weights ``w`` (1 for unweighted jets). See
    :func:`efficiency_cells` for the error model.

    Attributes:
        n: [B] jets per cell (entries).
        sum_w: [B] sum of weights.
        n_eff: [B] effective entries ``(sum w)^2 / sum w^2`` (= n without weights).
        n_passed: [B] weighted jets passing the reference tagger's cut.
        eps_true: [B] the tagger's observed efficiency ``sum w t / sum w``.
        err_true: [B] its binomial error ``sqrt(eps_true (1 - eps_true) / n_eff)``.
        eps_draws: [K, B] surrogate efficiency per weight draw, ``sum w p_k / sum w``.
        eps_sur: [B] mean over draws (the surrogate's exact efficiency).
        sigma_bayes: [B] standard deviation over draws (ddof 1; 0 for K = 1).
        err_null: [B] the tagger's Bernoulli noise given the cell's jets,
            ``sqrt(sum w^2 pbar (1 - pbar)) / sum w`` with ``pbar`` the draw-mean probability.
        sigma: [B] ``sqrt(err_null^2 + sigma_bayes^2)``, the error of the pull.
        pull: [B] ``(eps_sur - eps_true) / sigma`` (NaN for empty cells or sigma = 0).
        pull_binomial: [B] the same difference over ``sqrt(err_true^2 + sigma_bayes^2)``:
            the tagger's error taken as binomial on its observed efficiency, an upper bound
            of ``err_null`` (kept for comparison; conservative when ``p`` varies in a cell).
    """

    n: np.ndarray
    sum_w: np.ndarray
    n_eff: np.ndarray
    n_passed: np.ndarray
    eps_true: np.ndarray
    err_true: np.ndarray
    eps_draws: np.ndarray
    eps_sur: np.ndarray
    sigma_bayes: np.ndarray
    err_null: np.ndarray
    sigma: np.ndarray
    pull: np.ndarray
    pull_binomial: np.ndarray

    @property
    def n_cells(self) -> int:
        """Number of cells B."""
        return int(self.n.size)

    @property
    def expected_passed(self) -> np.ndarray:
        """[B] effective jets expected to pass, ``n_eff eps_sur`` (NaN in empty cells)."""
        return self.n_eff * self.eps_sur

    @property
    def relative_spread(self) -> np.ndarray:
        """[B] ``sigma_bayes / eps_sur`` (NaN where the efficiency is 0 or undefined)."""
        return _ratio(self.sigma_bayes, np.nan_to_num(self.eps_sur))

    def counted(self, min_entries: float, min_expected: float) -> np.ndarray:
        """[B] bool: cells in which the pull is close enough to normal to be counted.

        A cell counts when it holds at least ``min_entries`` effective jets and the
        surrogate expects at least ``min_expected`` effective jets on either side of the cut
        (``n_eff eps_sur`` and ``n_eff (1 - eps_sur)``), the usual condition for the normal
        approximation of a binomial count. The rule uses the surrogate's expectation, not
        the tagger's observed count, so that which cells count does not depend on the
        fluctuation that is being tested. Empty cells never count.
        """
        n_eff = np.nan_to_num(self.n_eff)
        eps = np.nan_to_num(self.eps_sur)
        return (
            (n_eff >= min_entries)
            & (n_eff * eps >= min_expected)
            & (n_eff * (1.0 - eps) >= min_expected)
            & np.isfinite(self.pull)
        )


def efficiency_cells(
    passed: np.ndarray,
    probabilities: np.ndarray,
    cell: np.ndarray,
    n_cells: int,
    weights: np.ndarray | None = None,
) -> CellEfficiencies:
    """Reference vs surrogate efficiency per cell, with the pull of their difference.

    In a cell holding jets i with weights ``w_i``, tagger decisions ``t_i`` (0 or 1) and
    surrogate probabilities ``p_ki`` per weight draw k (sums over the cell's jets)::

        eps_T    = sum w t / sum w                  tagger, observed
        eps_S,k  = sum w p_k / sum w                surrogate, exact, draw k
        eps_S    = mean_k eps_S,k
        sigma_T^2     = sum w^2 pbar (1 - pbar) / (sum w)^2,   pbar_i = mean_k p_ki
        sigma_Bayes^2 = var_k eps_S,k                           (ddof 1)
        pull     = (eps_S - eps_T) / sqrt(sigma_T^2 + sigma_Bayes^2)

    Why: the surrogate is perfect when ``P(t_i = 1 | x_i) = p_i`` for every jet. Given the
    jets of the cell (the same jets for tagger and surrogate), ``E[eps_T] = eps_S`` exactly,
    and the only noise of the difference is the Bernoulli noise of the tagger's independent
    decisions, ``Var(eps_T | jets) = sum w^2 p (1 - p) / (sum w)^2``, evaluated under the
    hypothesis being tested (``p = pbar``; the calibration z-test of Spiegelhalter 1986).
    The surrogate's exact mean probability is a deterministic function of the same jets:
    it has no sampling noise, so a binomial term for it would count the tagger's noise a
    second time (sigma too large by sqrt 2: pull RMS 0.71 and 99.5 % of cells within 2 for
    a perfect surrogate). The kinematic fluctuation of which jets fall in the cell moves both
    efficiencies alike and cancels. The surrogate does add its epistemic uncertainty, the
    spread of its cell efficiency over weight draws (``sigma_Bayes``).

    With a constant ``p`` in the cell, ``sigma_T`` is the binomial error
    ``sqrt(eps (1 - eps) / n_eff)`` with the effective entries ``n_eff = (sum w)^2 /
    sum w^2`` (= n without weights). When ``p`` varies inside the cell (as the tag
    probability of top jets does with tau32 at fixed pt and mass), the binomial error on the
    observed efficiency exceeds ``sigma_T`` by the within-cell variance of ``p``, because
    that part of it is the kinematic fluctuation again, and it would flatter the surrogate
    (pull RMS below 1). It is kept as ``err_true`` and ``pull_binomial`` for comparison.
    For a correct surrogate the pull has mean 0 and variance 1, and is close to normal in
    the cells where :meth:`CellEfficiencies.counted` holds.

    Args:
        passed: [N] bool, the reference tagger's score passes the cut.
        probabilities: [K, N] (or [N]) the surrogate's exact ``P(score > cut | features)``
            per weight draw.
        cell: [N] int cell index in ``[0, n_cells)``; other values (e.g. -1) are left out.
        n_cells: number of cells B.
        weights: [N] jet weights (e.g. generator weights; dimensionless); None: all 1.

    Returns:
        :class:`CellEfficiencies`.
    """
    probabilities = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    cell = np.asarray(cell)
    keep = (cell >= 0) & (cell < n_cells)
    index = cell[keep].astype(np.int64)
    w = np.ones(index.size) if weights is None else np.asarray(weights, dtype=np.float64)[keep]
    p = probabilities[:, keep]
    t = np.asarray(passed, dtype=np.float64)[keep]
    n = np.bincount(index, minlength=n_cells).astype(np.float64)
    sum_w = np.bincount(index, weights=w, minlength=n_cells)
    sum_w2 = np.bincount(index, weights=w * w, minlength=n_cells)
    n_eff = _ratio(sum_w * sum_w, sum_w2)
    n_passed = np.bincount(index, weights=w * t, minlength=n_cells)
    k = p.shape[0]
    offsets = (np.arange(k)[:, None] * n_cells + index[None, :]).ravel()
    sums = np.bincount(offsets, weights=(p * w).ravel(), minlength=k * n_cells)
    eps_draws = _ratio(sums.reshape(k, n_cells), sum_w)
    eps_true = _ratio(n_passed, sum_w)
    eps_sur = eps_draws.mean(axis=0)
    sigma_bayes = eps_draws.std(axis=0, ddof=1) if k > 1 else np.zeros(n_cells)
    p_bar = p.mean(axis=0)
    bernoulli = np.bincount(index, weights=w * w * p_bar * (1.0 - p_bar), minlength=n_cells)
    err_null = np.sqrt(np.nan_to_num(_ratio(bernoulli, sum_w * sum_w)))
    err_true = binomial_error(np.nan_to_num(eps_true), np.nan_to_num(n_eff))
    sigma = np.sqrt(err_null**2 + sigma_bayes**2)
    sigma_binomial = np.sqrt(err_true**2 + sigma_bayes**2)
    difference = eps_sur - eps_true
    return CellEfficiencies(
        n=n,
        sum_w=sum_w,
        n_eff=n_eff,
        n_passed=n_passed,
        eps_true=eps_true,
        err_true=err_true,
        eps_draws=eps_draws,
        eps_sur=eps_sur,
        sigma_bayes=sigma_bayes,
        err_null=err_null,
        sigma=sigma,
        pull=np.where(n > 0, _ratio(difference, sigma), np.nan),
        pull_binomial=np.where(n > 0, _ratio(difference, sigma_binomial), np.nan),
    )


@dataclass(frozen=True)
class PullSummary:
    """A set of pulls as a distribution (NaN pulls left out).

    For pulls of a correct model (independent, standard normal) the mean is 0 +-
    ``mean_error``, the RMS 1 +- ``rms_error`` and the fraction within 2 is 0.954.

    Attributes:
        n_cells: pulls summarised.
        mean: mean pull.
        rms: root mean square ``sqrt(mean(pull^2))`` (about 0, not about the mean).
        std: standard deviation (ddof 1).
        fraction_within: fraction with ``|pull| <= within``.
        within: the bound (2).
        mean_error: ``1 / sqrt(n_cells)``, the standard error of the mean for unit pulls.
        rms_error: ``1 / sqrt(2 n_cells)``, the standard error of the RMS for unit pulls.
    """

    n_cells: int
    mean: float
    rms: float
    std: float
    fraction_within: float
    within: float
    mean_error: float
    rms_error: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (NaN where no pull)."""
        return dataclasses.asdict(self)


def pull_summary(pulls: np.ndarray, within: float = 2.0) -> PullSummary:
    """Mean, RMS and fraction within ``within`` of the finite ``pulls`` (any shape)."""
    values = np.asarray(pulls, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    n = int(values.size)
    if n == 0:
        nan = float("nan")
        return PullSummary(0, nan, nan, nan, nan, float(within), nan, nan)
    return PullSummary(
        n_cells=n,
        mean=float(values.mean()),
        rms=float(np.sqrt(np.mean(values**2))),
        std=float(values.std(ddof=1)) if n > 1 else 0.0,
        fraction_within=float(np.mean(np.abs(values) <= within)),
        within=float(within),
        mean_error=float(1.0 / np.sqrt(n)),
        rms_error=float(1.0 / np.sqrt(2.0 * n)),
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


def surrogate_c2st(
    surrogate: Any,
    features: np.ndarray,
    score: np.ndarray,
    *,
    draws: int,
    rows: int,
    seed: int,
    min_rows: int,
) -> dict[str, Any]:
    """Paired two-sample AUC of (features, tagger score) against (features, surrogate sample).

    A seeded uniform subsample of at most ``rows`` objects; object i's surrogate sample
    comes from weight draw ``i mod K``; folds over pairs (:func:`c2st_auc`, ``paired``).

    Returns:
        ``{"auc", "spread", "n_rows"}``; AUC and spread None below ``min_rows`` objects.
    """
    import torch

    from surrotag.tagging import evaluate_surrogate

    n = score.size
    pick = np.arange(n)
    if n > rows:
        pick = np.sort(np.random.default_rng(seed).choice(n, rows, replace=False))
    if pick.size < min_rows:
        return {"auc": None, "spread": None, "n_rows": int(pick.size)}
    result = evaluate_surrogate(
        surrogate, features[pick], draws=draws, sample=True,
        generator=torch.Generator().manual_seed(seed),
    )  # fmt: skip
    assert result.samples is not None  # asked for
    k = result.samples.shape[0]
    sample = result.samples[np.arange(pick.size) % k, np.arange(pick.size)]
    a = np.column_stack([features[pick], score[pick]])
    b = np.column_stack([features[pick], sample])
    auc, spread = c2st_auc(a, b, paired=True, seed=seed)
    return {"auc": auc, "spread": spread, "n_rows": int(pick.size)}
