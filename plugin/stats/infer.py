"""CLs, 95% CL upper limits and maximum-likelihood fits of a patched workspace.

Everything uses the profile-likelihood test statistic ``qtilde`` with the asymptotic
formulae (Cowan, Cranmer, Gross, Vitells, arXiv:1007.1727) through pyhf, the workspace's own
measurement and POI, and the interpolation codes of ``pyhf cls`` (normsys code4, histosys
code4p), so a published patch gives exactly the numbers of ``pyhf cls BkgOnly.json -p patch``.

A signal that leaves the model unchanged (all-zero yields) is a valid input: the result says
``sensitive=False``, CLs = 1 and an infinite upper limit, without running a fit.

Backend: ``"pytorch"`` (64-bit, autodiff gradients; about 3x faster on a 64-parameter ATLAS
workspace, CLs equal to numpy's within 1e-7 relative) or ``"numpy"`` (pyhf's default,
finite-difference gradients). The previous pyhf backend is restored afterwards; the switch is
process-global, so do not call these functions from several threads at once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pyhf
from scipy.optimize import toms748

from surrotag.errors import StatisticsError
from surrotag.stats.patch import SignalPatch
from surrotag.stats.workspace import BackgroundWorkspace, load_workspace

__all__ = ["CLsResult", "FitResult", "UpperLimit", "cls", "fit", "upper_limit"]

Backend = Literal["numpy", "pytorch"]
PatchLike = SignalPatch | list[dict[str, Any]] | str | Path | None
WorkspaceLike = BackgroundWorkspace | str | Path | Mapping[str, Any]

_PYHF_ERRORS = tuple(
    v for v in vars(pyhf.exceptions).values() if isinstance(v, type) and issubclass(v, Exception)
)
"""pyhf 0.7 has no common exception base class: every exception type it defines."""

MODIFIER_SETTINGS = {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}}
"""Interpolation codes used by ``pyhf cls`` and the ATLAS likelihoods."""


class CLsResult(NamedTuple):
    """CLs of one signal hypothesis.

    Attributes:
        observed: CLs on the observed data.
        expected: expected CLs at -2, -1, 0, +1, +2 sigma of the background-only hypothesis.
        mu: the tested signal strength.
        sensitive: False when the signal changes no expected count (CLs = 1 by definition).
    """

    observed: float
    expected: tuple[float, float, float, float, float]
    mu: float
    sensitive: bool = True

    @property
    def excluded(self) -> bool:
        """Whether the observed CLs is below 0.05 (95% CL exclusion)."""
        return self.observed < 0.05


class UpperLimit(NamedTuple):
    """Upper limit on the signal strength.

    Attributes:
        observed: observed upper limit on mu (``inf`` when not found below ``mu_max``).
        expected: expected limits at -2, -1, 0, +1, +2 sigma.
        level: the CLs level (0.05 for 95% CL).
        sensitive: False for a signal that changes nothing (all limits ``inf``).
        n_hypotests: number of hypothesis tests run.
    """

    observed: float
    expected: tuple[float, float, float, float, float]
    level: float
    sensitive: bool = True
    n_hypotests: int = 0


class FitResult(NamedTuple):
    """Maximum-likelihood fit.

    Attributes:
        parameters: best-fit value(s) per parameter name (arrays; one entry per bin for
            shape modifiers).
        twice_nll: ``-2 ln L`` at the minimum.
        poi_fixed: the POI value held fixed, or None for a free fit.
    """

    parameters: dict[str, np.ndarray]
    twice_nll: float
    poi_fixed: float | None


@contextmanager
def _backend(name: Backend) -> Iterator[None]:
    """Switch pyhf's backend for one computation and restore it (and torch's default dtype:
    pyhf's 64-bit torch backend sets it to float64 for the whole process, which would change
    every later torch computation, the surrogates' included)."""
    import torch

    previous = pyhf.get_backend()
    previous_dtype = torch.get_default_dtype()
    if name == "pytorch":
        pyhf.set_backend("pytorch", pyhf.optimize.scipy_optimizer(), precision="64b")
    elif name == "numpy":
        pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())
    else:
        raise StatisticsError(f"unknown pyhf backend {name!r}; use 'numpy' or 'pytorch'")
    try:
        with warnings.catch_warnings():
            # pyhf's torch backend builds tensors from lists of arrays (harmless, noisy)
            warnings.filterwarnings("ignore", message="Creating a tensor from a list")
            yield
    finally:
        pyhf.set_backend(*previous)
        torch.set_default_dtype(previous_dtype)


def _patch_ops(patch: PatchLike) -> list[dict[str, Any]] | None:
    if patch is None or isinstance(patch, list):
        return patch
    if isinstance(patch, SignalPatch):
        return patch.ops
    import json

    path = Path(patch)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise StatisticsError(f"{path}: cannot read the JSON patch ({exc})") from None


def _model(workspace: WorkspaceLike, patch: PatchLike) -> tuple[Any, Any, BackgroundWorkspace]:
    ws = load_workspace(workspace)
    ops = _patch_ops(patch)
    kwargs: dict[str, Any] = {"modifier_settings": MODIFIER_SETTINGS}
    if ops is None:
        kwargs["poi_name"] = None  # background-only: the POI has no modifier
    else:
        kwargs["patches"] = [ops]
    try:
        model = ws.workspace.model(measurement_name=ws.measurement, **kwargs)
        data = ws.workspace.data(model)
    except _PYHF_ERRORS as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StatisticsError(f"{ws.source}: the patched workspace is invalid: {first}") from None
    except Exception as exc:  # jsonpatch errors: bad paths in the patch
        raise StatisticsError(f"{ws.source}: the patch does not apply: {exc}") from None
    return model, data, ws


def _sensitive(model: Any) -> bool:
    """Whether the POI changes any expected count (False for an all-zero signal)."""
    tb, _ = pyhf.get_backend()
    pars = np.asarray(tb.tolist(model.config.suggested_init()), dtype=np.float64)
    poi = model.config.poi_index
    pars0, pars1 = pars.copy(), pars.copy()
    pars0[poi], pars1[poi] = 0.0, 1.0
    d0 = np.asarray(tb.tolist(model.expected_actualdata(tb.astensor(pars0))))
    d1 = np.asarray(tb.tolist(model.expected_actualdata(tb.astensor(pars1))))
    return bool(np.any(d0 != d1))


def _hypotest(mu: float, data: Any, model: Any, par_bounds: Any = None) -> np.ndarray:
    """[CLs_obs, CLs_exp(-2..+2 sigma)] at ``mu``, as floats."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            obs, exp = pyhf.infer.hypotest(
                mu,
                data,
                model,
                par_bounds=par_bounds,
                test_stat="qtilde",
                calctype="asymptotics",
                return_expected_set=True,
            )
    except _PYHF_ERRORS as exc:
        raise StatisticsError(f"pyhf hypothesis test at mu = {mu:g} failed: {exc}") from None
    return np.array([float(obs), *(float(e) for e in exp)])


def cls(
    workspace: WorkspaceLike, patch: PatchLike, *, mu: float = 1.0, backend: Backend = "pytorch"
) -> CLsResult:
    """CLs of the signal in ``patch`` at signal strength ``mu``.

    Args:
        workspace: background-only workspace (loaded, path or dict).
        patch: the signal patch (:class:`SignalPatch`, list of RFC 6902 operations, or a
            patch file).
        mu: tested signal strength (>= 0).
        backend: pyhf backend, see the module docstring.

    Returns:
        :class:`CLsResult`.

    Raises:
        StatisticsError: invalid patch or workspace, or a failed fit.
    """
    if patch is None:
        raise StatisticsError("cls needs a signal patch; the background-only model has no POI")
    if not (math.isfinite(mu) and mu >= 0):
        raise StatisticsError(f"signal strength mu = {mu!r} must be finite and >= 0")
    with _backend(backend):
        model, data, _ = _model(workspace, patch)
        if not _sensitive(model):
            return CLsResult(1.0, (1.0,) * 5, float(mu), sensitive=False)
        values = _hypotest(float(mu), data, model)
    return CLsResult(float(values[0]), tuple(values[1:].tolist()), float(mu))


def upper_limit(
    workspace: WorkspaceLike,
    patch: PatchLike,
    *,
    level: float = 0.05,
    rtol: float = 5e-3,
    mu_max: float = 1e4,
    backend: Backend = "pytorch",
) -> UpperLimit:
    """Upper limits on mu at ``1 - level`` CL (CLs, qtilde, asymptotics).

    Brackets each CLs(mu) = ``level`` crossing by halving/doubling from mu = 1, then finds
    it with :func:`scipy.optimize.toms748` (as ``pyhf.infer.intervals.upper_limits`` does),
    reusing every hypothesis test across the observed and the five expected curves. The POI
    upper bound is widened to ``mu_max`` so that weak signals can be bracketed.

    Args:
        workspace: background-only workspace (loaded, path or dict).
        patch: the signal patch.
        level: CLs level, 0.05 for 95% CL.
        rtol: relative tolerance on each limit.
        mu_max: largest mu tried; a curve still above ``level`` there gives ``inf``.
        backend: pyhf backend, see the module docstring.

    Returns:
        :class:`UpperLimit`.

    Raises:
        StatisticsError: invalid patch or workspace, or a failed fit.
    """
    if patch is None:
        raise StatisticsError("upper_limit needs a signal patch")
    with _backend(backend):
        model, data, _ = _model(workspace, patch)
        if not _sensitive(model):
            return UpperLimit(math.inf, (math.inf,) * 5, level, sensitive=False)
        bounds = [list(b) for b in model.config.suggested_bounds()]
        poi = model.config.poi_index
        bounds[poi][1] = max(bounds[poi][1], mu_max)
        cache: dict[float, np.ndarray] = {}

        def curves(mu: float) -> np.ndarray:
            if mu not in cache:
                cache[mu] = _hypotest(mu, data, model, par_bounds=bounds) - level
            return cache[mu]

        hi = 1.0
        while np.any(curves(hi) > 0) and hi * 2 <= mu_max:
            hi *= 2
        lo = 1.0
        while np.any(curves(lo) < 0) and lo > 1e-4:
            lo /= 2
        limits = []
        for i in range(6):
            mus = np.array(sorted(cache))
            vals = np.array([cache[m][i] for m in mus])
            if np.all(vals > 0):
                limits.append(math.inf)
                continue
            if np.all(vals < 0):
                limits.append(float(mus[0]))  # below the smallest mu tried
                continue
            first_neg = int(np.argmax(vals < 0))
            a, b = mus[max(first_neg - 1, 0)], mus[first_neg]
            if vals[max(first_neg - 1, 0)] < 0:
                limits.append(float(a))
                continue
            root = toms748(lambda m, i=i: curves(m)[i], a, b, k=2, rtol=rtol, xtol=1e-12)
            limits.append(float(root))
    return UpperLimit(limits[0], tuple(limits[1:]), level, n_hypotests=len(cache))


def fit(
    workspace: WorkspaceLike,
    patch: PatchLike = None,
    *,
    fixed_mu: float | None = None,
    backend: Backend = "pytorch",
) -> FitResult:
    """Maximum-likelihood fit to the observed data.

    Args:
        workspace: background-only workspace (loaded, path or dict).
        patch: signal patch, or None for the background-only model.
        fixed_mu: hold the POI at this value (needs a patch); None fits it freely.
        backend: pyhf backend, see the module docstring.

    Returns:
        :class:`FitResult` with the best-fit value of every parameter.

    Raises:
        StatisticsError: invalid input or a failed minimisation.
    """
    if fixed_mu is not None and patch is None:
        raise StatisticsError("fixed_mu needs a signal patch: the background-only model has no POI")
    with _backend(backend):
        model, data, _ = _model(workspace, patch)
        tb, _ = pyhf.get_backend()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                if fixed_mu is None:
                    best, twice_nll = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
                else:
                    best, twice_nll = pyhf.infer.mle.fixed_poi_fit(
                        fixed_mu, data, model, return_fitted_val=True
                    )
        except _PYHF_ERRORS as exc:
            raise StatisticsError(f"pyhf fit failed: {exc}") from None
        values = np.asarray(tb.tolist(best), dtype=np.float64)
        parameters = {
            name: values[model.config.par_slice(name)].copy() for name in model.config.par_order
        }
    return FitResult(parameters, float(tb.tolist(twice_nll)), fixed_mu)
