"""A smooth fit of the dijet mass spectrum: the multijet background of dijet searches.

The LHC dijet resonance searches, the anomaly-tagged ones among them (CMS arXiv:2412.03747,
ATLAS arXiv:2005.02983), describe the multijet m_jj spectrum by a smooth function fitted to
it instead of by simulation, the *dijet function*

    dN/dx = p0 (1 - x)^p1 / x^(p2 + p3 ln x),      x = m_jj / sqrt(s)

(three parameters: ``p3 = 0``; e.g. CMS, arXiv:1911.03947). :func:`fit_dijet` fits its bin
integrals (Gauss-Legendre, exact for the smooth function to far below the statistical
error) to a histogram by least squares with the bins' variances (the sum of squared event
weights of a simulated template, or the counts of data), parametrised by ``ln p0`` so that
the normalisation stays positive; the start comes from a linear fit of the log density.
The result carries the parameters' covariance, the bin predictions and their covariance,
chi^2, the degrees of freedom and the p-value; :func:`smooth_sample` turns it into a pyhf
sample whose fit uncertainty is one ``histosys`` per eigen-component of the predictions'
covariance (:func:`surrotag.stats.patch.eigen_variations`).

Example:
    >>> edges = np.linspace(1200.0, 4500.0, 12)
    >>> truth = np.array([np.log(2e3), 10.0, 5.0, 0.0])
    >>> counts = bin_integrals(edges, truth)
    >>> fit = fit_dijet(edges, counts, counts, n_parameters=3)
    >>> np.round(fit.parameters, 3).tolist(), round(fit.chi2, 6)
    ([7.601, 10.0, 5.0], 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from surrotag.errors import StatisticsError
from surrotag.stats.patch import eigen_variations

__all__ = ["DijetFit", "bin_integrals", "fit_dijet", "smooth_sample"]

#: Gauss-Legendre nodes per bin of the bin integrals.
NODES = 8
#: Names of the fitted parameters, in order.
PARAMETER_NAMES = ("ln_p0", "p1", "p2", "p3")


def _nodes(edges_gev: np.ndarray, sqrt_s_gev: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre points x [B, NODES] and weights (in x) of every bin."""
    t, w = np.polynomial.legendre.leggauss(NODES)
    lo, hi = edges_gev[:-1, None] / sqrt_s_gev, edges_gev[1:, None] / sqrt_s_gev
    half = 0.5 * (hi - lo)
    return lo + half * (t[None, :] + 1.0), half * w[None, :]


def _basis(x: np.ndarray, n: int) -> np.ndarray:
    """d ln f / d q_k at x [..., n]: 1, ln(1 - x), -ln x, -(ln x)^2."""
    ln_x = np.log(x)
    return np.stack([np.ones_like(x), np.log1p(-x), -ln_x, -(ln_x**2)][:n], axis=-1)


def bin_integrals(
    edges_gev: np.ndarray, parameters: np.ndarray, sqrt_s_gev: float = 13_000.0
) -> np.ndarray:
    """Events per bin of the dijet function with parameters ``(ln p0, p1, p2[, p3])``.

    Args:
        edges_gev: [B + 1] increasing m_jj bin edges (GeV), below ``sqrt_s_gev``.
        parameters: ``ln p0`` (p0 in events per unit x), ``p1``, ``p2`` and optionally ``p3``.
        sqrt_s_gev: Centre-of-mass energy (GeV).

    Returns:
        [B] the function integrated over each bin.
    """
    q = np.asarray(parameters, dtype=np.float64)
    x, w = _nodes(np.asarray(edges_gev, dtype=np.float64), sqrt_s_gev)
    return (w * np.exp(_basis(x, q.size) @ q)).sum(axis=1)


@dataclass(frozen=True)
class DijetFit:
    """A fitted dijet function.

    Attributes:
        parameters: ``(ln p0, p1, p2[, p3])`` at the minimum.
        covariance: [n, n] their covariance (inverse of the chi^2 Hessian / 2).
        prediction: [B] fitted events per bin.
        prediction_covariance: [B, B] the predictions' covariance from the parameters'.
        chi2: chi^2 at the minimum.
        ndf: Bins minus parameters.
        p_value: Probability of a larger chi^2 for ``ndf`` degrees of freedom.
        edges_gev: [B + 1] the bin edges (GeV).
        sqrt_s_gev: Centre-of-mass energy (GeV).
    """

    parameters: np.ndarray
    covariance: np.ndarray
    prediction: np.ndarray
    prediction_covariance: np.ndarray
    chi2: float
    ndf: int
    p_value: float
    edges_gev: np.ndarray
    sqrt_s_gev: float

    @property
    def prediction_error(self) -> np.ndarray:
        """[B] the fit's standard deviation of each bin's prediction (events)."""
        return np.sqrt(np.clip(np.diag(self.prediction_covariance), 0.0, None))

    def to_dict(self) -> dict:
        """JSON-able summary (parameters by name)."""
        names = PARAMETER_NAMES[: self.parameters.size]
        return {
            "function": "p0 (1 - x)^p1 / x^(p2 + p3 ln x), x = m_jj / sqrt(s)",
            "sqrt_s_gev": self.sqrt_s_gev,
            "parameters": dict(zip(names, self.parameters.tolist(), strict=True)),
            "errors": dict(zip(names, np.sqrt(np.diag(self.covariance)).tolist(), strict=True)),
            "chi2": self.chi2,
            "ndf": self.ndf,
            "p_value": self.p_value,
        }


def _check(edges: np.ndarray, counts: np.ndarray, var: np.ndarray, n: int, sqrt_s: float) -> None:
    if n not in (3, 4):
        raise StatisticsError(f"n_parameters={n}: the dijet function has 3 or 4 parameters")
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        raise StatisticsError("m_jj bin edges must be a strictly increasing list of >= 2 values")
    if not (edges[0] > 0 and edges[-1] < sqrt_s):
        raise StatisticsError(
            f"m_jj bin edges [{edges[0]:g}, {edges[-1]:g}] GeV must lie inside (0, sqrt(s) = "
            f"{sqrt_s:g} GeV)"
        )
    if counts.shape != (edges.size - 1,) or var.shape != counts.shape:
        raise StatisticsError(
            f"{edges.size - 1} bins but {counts.size} counts and {var.size} variances"
        )
    if not (np.all(np.isfinite(counts)) and np.all(np.isfinite(var))):
        raise StatisticsError("the m_jj histogram holds NaN or inf: fit a finite histogram")
    if np.any(var <= 0):
        raise StatisticsError(
            "every bin needs a positive variance (an empty bin of data: pass variances of at "
            "least 1, or merge bins)"
        )
    if counts.size <= n:
        raise StatisticsError(
            f"{counts.size} bins cannot constrain {n} parameters and leave a chi^2: need more "
            "bins than parameters"
        )


def _start(x_mid: np.ndarray, widths: np.ndarray, counts: np.ndarray, var: np.ndarray, n: int):
    """Linear least squares of the log density at the bin centres (bins with counts > 0)."""
    ok = counts > 0
    a = _basis(x_mid[ok], n)
    y = np.log(counts[ok] / widths[ok])
    w = counts[ok] / np.sqrt(var[ok])  # 1 / error of ln N
    q, *_ = np.linalg.lstsq(a * w[:, None], y * w, rcond=None)
    return q


def fit_dijet(
    edges_gev: np.ndarray,
    counts: np.ndarray,
    variances: np.ndarray | None = None,
    *,
    sqrt_s_gev: float = 13_000.0,
    n_parameters: int = 4,
) -> DijetFit:
    """Fit the dijet function's bin integrals to an m_jj histogram by least squares.

    Args:
        edges_gev: [B + 1] increasing m_jj bin edges (GeV).
        counts: [B] events per bin (weighted sums for a simulated template).
        variances: [B] their variances (sum of squared weights); None: the counts
            themselves (data; every bin must then hold at least one event).
        sqrt_s_gev: Centre-of-mass energy (GeV).
        n_parameters: 4, or 3 (``p3 = 0``).

    Returns:
        The :class:`DijetFit`.

    Raises:
        StatisticsError: a histogram that cannot be fitted (one line saying why), or a fit
            that does not converge.
    """
    edges = np.asarray(edges_gev, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    var = counts.copy() if variances is None else np.asarray(variances, dtype=np.float64)
    _check(edges, counts, var, n_parameters, sqrt_s_gev)
    x, w = _nodes(edges, sqrt_s_gev)
    sigma = np.sqrt(var)
    basis = _basis(x, n_parameters)

    def predicted(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = w * np.exp(basis @ q)
        return f.sum(1), np.einsum("bj,bjk->bk", f, basis)

    start = _start(
        0.5 * (edges[:-1] + edges[1:]) / sqrt_s_gev, np.diff(edges) / sqrt_s_gev, counts, var,
        n_parameters,
    )  # fmt: skip
    with np.errstate(over="ignore", invalid="ignore"):
        result = optimize.least_squares(
            lambda q: (predicted(q)[0] - counts) / sigma,
            start,
            jac=lambda q: predicted(q)[1] / sigma[:, None],
            method="lm",
            x_scale="jac",
        )
    q = result.x
    mu, jac = predicted(q)
    if not (result.success and np.all(np.isfinite(mu))):
        raise StatisticsError(f"the dijet fit did not converge: {result.message}")
    a = jac / sigma[:, None]
    try:
        cov = np.linalg.inv(a.T @ a)
    except np.linalg.LinAlgError as error:
        raise StatisticsError(
            "the dijet fit's parameters are degenerate on these bins: use n_parameters=3 or "
            "more bins"
        ) from error
    chi2 = float((((mu - counts) / sigma) ** 2).sum())
    ndf = counts.size - n_parameters
    return DijetFit(
        parameters=q,
        covariance=cov,
        prediction=mu,
        prediction_covariance=jac @ cov @ jac.T,
        chi2=chi2,
        ndf=ndf,
        p_value=float(stats.chi2.sf(chi2, ndf)),
        edges_gev=edges,
        sqrt_s_gev=float(sqrt_s_gev),
    )


def smooth_sample(fit: DijetFit, name: str, modifier_prefix: str) -> dict:
    """A pyhf sample of the fitted background: the bin predictions and their fit uncertainty.

    Each eigen-component ``u_i`` of the predictions' covariance (at most as many as
    parameters) becomes ``histosys`` ``<modifier_prefix>_eig<i>`` with ``hi = nominal + u_i``
    and ``lo = nominal - u_i`` (clipped at zero), so that the constrained modifiers
    reproduce the fit's covariance.

    Args:
        fit: The fitted dijet function.
        name: The sample's name (e.g. ``"qcd"``).
        modifier_prefix: Prefix of the modifiers' names (unique per channel unless the
            channels share one fit).

    Returns:
        A pyhf sample (``name``, ``data``, ``modifiers``).
    """
    nominal = fit.prediction
    variations = eigen_variations(
        fit.prediction_covariance, variance_fraction=1.0, max_components=fit.parameters.size
    )
    modifiers = [
        {
            "name": f"{modifier_prefix}_eig{i}",
            "type": "histosys",
            "data": {
                "hi_data": (nominal + u).tolist(),
                "lo_data": np.clip(nominal - u, 0.0, None).tolist(),
            },
        }
        for i, u in enumerate(variations.components)
    ]
    return {"name": name, "data": nominal.tolist(), "modifiers": modifiers}
