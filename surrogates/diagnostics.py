"""Convergence diagnostics of Markov chains: effective sample size, split-R-hat, lag distances.

All functions take draws shaped ``[chains, draws, ...]`` (trailing axes are independent
scalar quantities, e.g. the weights of a network or the per-draw yields of a recast) and
follow Vehtari, Gelman, Simpson, Carpenter and Bürkner, "Rank-normalization, folding, and
localization: an improved R-hat for assessing convergence of MCMC", arXiv:1903.08008 (the
estimators used by Stan and ArviZ):

* :func:`split_rhat`: each chain is split in half and the potential scale reduction of
  Gelman and Rubin is computed over the ``2 x chains`` halves (1 for converged chains;
  above about 1.01-1.05 the chains disagree or drift);
* :func:`effective_sample_size`: ``chains x draws / tau`` with the integrated
  autocorrelation time ``tau`` from Geyer's initial monotone positive sequence estimator on
  the split chains (independent draws give about ``chains x draws``; a random walk gives a
  handful);
* :func:`lag_distances`: mean Euclidean distance between stored samples ``i`` and ``i+lag``
  of each chain. For independent samples it is flat in the lag; for a random walk it grows
  as sqrt(lag);
* :func:`iid_reference`: what exactly independent draws of the same shape give for the
  largest R-hat and the smallest ESS over the quantities. With few samples per chain these
  extremes are far from their ideal values even for perfect samples (4 chains x 10 samples
  of 65 weights: largest split-R-hat 1.12-1.31, smallest ESS 13-24 of 40, 90% ranges), so a
  chain is judged against this reference, not against 1.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(4, 500))
    >>> bool(abs(split_rhat(x) - 1) < 0.02), bool(effective_sample_size(x) > 1400)
    (True, True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "ChainDiagnostics",
    "chain_diagnostics",
    "effective_sample_size",
    "iid_reference",
    "lag_distances",
    "split_rhat",
]


def _split(draws: np.ndarray) -> np.ndarray:
    """[C, S, ...] -> [2C, S//2, ...]: the first and second half of every chain."""
    x = np.asarray(draws, dtype=np.float64)
    if x.ndim < 2 or x.shape[1] < 4:
        raise ValueError(f"draws of shape {x.shape}: need [chains, draws >= 4, ...]")
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half :]], axis=0)


def split_rhat(draws: np.ndarray) -> np.ndarray | float:
    """Split-R-hat of each scalar quantity (arXiv:1903.08008, eq. 4 on split chains).

    Args:
        draws: [chains, draws, ...] samples.

    Returns:
        R-hat per trailing index (a float for [chains, draws] input); 1 where a quantity is
        constant in every chain and equal across chains, inf where it is constant within
        chains but differs between them.
    """
    x = _split(draws)
    n = x.shape[1]
    chain_mean = x.mean(1)
    chain_var = x.var(1, ddof=1)
    between = n * chain_mean.var(0, ddof=1)
    within = chain_var.mean(0)
    var_plus = (n - 1) / n * within + between / n
    with np.errstate(divide="ignore", invalid="ignore"):
        rhat = np.sqrt(var_plus / within)
    rhat = np.where(within > 0, rhat, np.where(between > 0, np.inf, 1.0))
    return float(rhat) if rhat.ndim == 0 else rhat


def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Autocovariance along axis 1 of [M, N, ...] by FFT (biased estimator, lag 0..N-1)."""
    n = x.shape[1]
    centred = x - x.mean(1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(centred, n=size, axis=1)
    return np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :n] / n


def effective_sample_size(draws: np.ndarray) -> np.ndarray | float:
    """Bulk effective sample size of each scalar quantity (arXiv:1903.08008, Sect. 3.2).

    The autocorrelation is combined over the split chains; the sum of autocorrelations is
    truncated by Geyer's initial positive sequence and made monotone (Geyer 1992,
    Statist. Sci. 7, 473).

    Args:
        draws: [chains, draws, ...] samples.

    Returns:
        ESS per trailing index (float for [chains, draws] input), at most
        ``chains x draws x log10(chains x draws)`` as in Stan.
    """
    x = _split(draws)
    m, n = x.shape[:2]
    acov = _autocovariance(x)
    chain_var = acov[:, 0] * n / (n - 1)
    within = chain_var.mean(0)
    between = n * x.mean(1).var(0, ddof=1) if m > 1 else np.zeros_like(within)
    var_plus = (n - 1) / n * within + between / n
    safe = np.where(var_plus > 0, var_plus, 1.0)
    rho = 1.0 - (within - acov.mean(0)) / safe  # [N, ...]
    rho[0] = 1.0
    # Geyer: sums of consecutive pairs P_k = rho_2k + rho_2k+1, kept while positive, monotone.
    n_pairs = n // 2
    pairs = rho[: 2 * n_pairs].reshape(n_pairs, 2, *rho.shape[1:]).sum(1)
    positive = np.cumprod(pairs > 0, axis=0).astype(bool)
    pairs = np.minimum.accumulate(np.where(positive, pairs, np.inf), axis=0)
    pairs = np.where(positive, pairs, 0.0)
    tau = -1.0 + 2.0 * pairs.sum(0)
    total = m * n
    tau = np.maximum(tau, 1.0 / np.log10(total))
    ess = np.where(var_plus > 0, total / tau, float(total))
    return float(ess) if ess.ndim == 0 else ess


def lag_distances(draws: np.ndarray, lags: list[int] | None = None) -> dict[int, float]:
    """Mean Euclidean distance between samples ``i`` and ``i + lag`` within each chain.

    Args:
        draws: [chains, draws, ...]: each sample is flattened over the trailing axes.
        lags: Lags (default 1, 2, 4, ... up to draws - 1).

    Returns:
        lag -> mean distance over chains and start points.
    """
    x = np.asarray(draws, dtype=np.float64)
    c, s = x.shape[:2]
    x = x.reshape(c, s, -1)
    if lags is None:
        lags = sorted({*(2**i for i in range(int(np.log2(max(s - 1, 1))) + 1)), s - 1})
    out = {}
    for lag in lags:
        if not 1 <= lag < s:
            raise ValueError(f"lag {lag} outside 1..{s - 1}")
        out[int(lag)] = float(np.linalg.norm(x[:, lag:] - x[:, :-lag], axis=-1).mean())
    return out


@dataclass(frozen=True)
class ChainDiagnostics:
    """Summary diagnostics of a set of chains over many scalar quantities.

    Attributes:
        chains: Number of chains.
        samples_per_chain: Stored samples per chain.
        ess_min: Smallest bulk ESS over the quantities.
        ess_median: Median bulk ESS.
        rhat_max: Largest split-R-hat.
        rhat_median: Median split-R-hat.
        lag_distance_ratio: Mean distance at the largest lag over that at lag 1 (about 1 for
            independent samples, sqrt(lag) for a random walk).
        iid_rhat_max_95: 95% quantile of ``rhat_max`` for independent draws of the same
            shape (:func:`iid_reference`); NaN when not computed.
        iid_ess_min_05: 5% quantile of ``ess_min`` for independent draws of the same shape.
    """

    chains: int
    samples_per_chain: int
    ess_min: float
    ess_median: float
    rhat_max: float
    rhat_median: float
    lag_distance_ratio: float
    iid_rhat_max_95: float = float("nan")
    iid_ess_min_05: float = float("nan")

    def to_dict(self) -> dict:
        """JSON-able copy (undefined figures as None)."""
        return {k: None if v != v else v for k, v in asdict(self).items()}


def iid_reference(
    chains: int, samples: int, quantities: int, replicates: int = 200, seed: int = 0
) -> tuple[float, float]:
    """Extremes of R-hat and ESS for exactly independent normal draws of a given shape.

    Args:
        chains, samples, quantities: the shape ``[chains, samples, quantities]``.
        replicates: independent replicates.
        seed: seed of the draws.

    Returns:
        ``(95% quantile of the largest split-R-hat, 5% quantile of the smallest ESS)`` over
        the quantities.

    Example:
        >>> rhat, ess = iid_reference(4, 10, 65, replicates=50)
        >>> bool(1.1 < rhat < 1.45), bool(8 < ess < 20)
        (True, True)
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(replicates, chains, samples, quantities))
    rhat = [float(np.max(split_rhat(r))) for r in x]
    ess = [float(np.min(effective_sample_size(r))) for r in x]
    return float(np.quantile(rhat, 0.95)), float(np.quantile(ess, 0.05))


def chain_diagnostics(draws: np.ndarray, reference: bool = True) -> ChainDiagnostics:
    """ESS, split-R-hat and lag-distance ratio of ``[chains, draws, ...]`` samples.

    With fewer than 4 samples per chain ESS and R-hat are undefined (NaN), and with fewer
    than 2 the lag-distance ratio too: too short chains are reported, not judged.

    Args:
        draws: ``[chains, draws, ...]``.
        reference: also compute :func:`iid_reference` for the same shape.
    """
    x = np.asarray(draws, dtype=np.float64)
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    nan = float("nan")
    ess = rhat = np.array([nan])
    if flat.shape[1] >= 4:
        varies = flat.std(axis=(0, 1)) > 0
        flat_v = flat[..., varies] if varies.any() else flat[..., :1]
        ess = np.atleast_1d(effective_sample_size(flat_v))
        rhat = np.atleast_1d(split_rhat(flat_v))
    ratio = nan
    if flat.shape[1] >= 2:
        dist = lag_distances(flat)
        lags = sorted(dist)
        ratio = dist[lags[-1]] / dist[lags[0]] if dist[lags[0]] > 0 else nan
    iid = (nan, nan)
    if reference and flat.shape[1] >= 4:
        iid = iid_reference(flat.shape[0], flat.shape[1], flat.shape[2])
    return ChainDiagnostics(
        iid_rhat_max_95=iid[0],
        iid_ess_min_05=iid[1],
        chains=int(x.shape[0]),
        samples_per_chain=int(x.shape[1]),
        ess_min=float(ess.min()),
        ess_median=float(np.median(ess)),
        rhat_max=float(rhat.max()),
        rhat_median=float(np.median(rhat)),
        lag_distance_ratio=float(ratio),
    )
