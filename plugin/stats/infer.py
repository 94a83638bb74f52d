"""CLs, 95% CL upper limits and maximum-likelihood fits of a patched workspace.

Everything uses the profile-likelihood test statistic ``qtilde`` with the asymptotic
formulae (Cowan, Cranmer, Gross, Vitells, arXiv:1007.1727) as
:class:`pyhf.infer.calculators.AsymptoticCalculator` computes them, the workspace's own
measurement and POI, and the interpolation codes of ``pyhf cls`` (normsys code4, histosys
code4p), so a published patch gives the numbers of ``pyhf cls BkgOnly.json -p patch``:
CLs (observed and expected) and limits agree with :func:`pyhf.infer.hypotest` and
:func:`pyhf.infer.intervals.upper_limits.upper_limit` within 1e-4 relative, tested on the
four workspaces of ``tests/plugin/stats/test_against_pyhf.py`` against pyhf with its fits
converged (measured: within 6e-6); pyhf's own defaults stop its fits earlier (up to 1.3e-3
relative on CLs).

Only pyhf's public API is used (``Workspace.model``, ``Model.logpdf``, ``expected_data``,
``config``, ``pyhf.set_backend``, ``pyhf.tensor.jax_backend``); pyhf is pinned below 0.8,
which drops the PyTorch backend (scikit-hep/pyhf#2611). Expected CLs and limits are
a-posteriori (:data:`EXPECTED_KIND`); every result records it and its ``backend``. Every
minimum is checked (:class:`_Asymptotics`); what cannot be made reliable is listed in the
results' ``warnings``.

Speed (the fits are the cost): the likelihood is pyhf's, its gradient JAX's and the
minimiser SLSQP, as in pyhf's ``scipy_optimizer``, but the fit variables are scaled by
their constraint widths and warm started from earlier fits, the fits that do not depend
on the tested mu (the background-only fit that defines the Asimov data, the free fit to the
data; the free fit to the Asimov data is that background-only fit) run once per call, the
BLAS runs on one thread during the fits (restored afterwards), and :func:`upper_limit`
finds each CLs = level crossing by secant steps that share every tested mu (about 10 tested
mu and 15 to 30 fits for the six limits, instead of ~30 pyhf hypothesis tests of five fits
each). On JAX, ``-2 ln L`` and its gradient are one program, ``jax.jit(jax.value_and_grad)``
compiled once per computation (per model: the data and the Asimov data share its shapes)
and reused by all of its fits (:meth:`_Fitter._jax_value_and_grad`): the compilation is
most of the time, a fit then takes 25-30 ms of CPU. ``tests/benchmarks/bench_stats.py``, CPU seconds
of one computation in a warm process, ``OMP_NUM_THREADS=1`` (the 2-core machine was shared:
wall times ran 2-2.5x longer), ``cls`` / ``upper_limit`` / ``cls_and_upper_limit`` / first
``cls`` of a process:

- Z' workspace (37 parameters), official 2 TeV signal: jax (default) 0.79 (of which
  compilation ~0.5) / 1.15 (23 fits) / 1.23 / 1.66; pytorch 1.52 / 3.66 / 3.86 / 2.96;
  numpy 8.08 / 26.7 (30 fits) / 28.6 / 8.96.
- ATLAS-SUSY-2018-31 (64 parameters): jax 1.36 / 1.60 (30 fits) / 1.48 / 2.11; pytorch
  0.76 / 1.65 / 1.68 / 2.42; numpy 2.34 / 5.14 / 5.25 / 2.19.

The compilation does not shrink with the model: on two bins a JAX ``cls`` takes 0.38 s,
NumPy's 0.05 s.

A signal that leaves the model unchanged (all-zero yields) is a valid input: the result says
``sensitive=False``, CLs = 1 and an infinite upper limit, without running a fit.

Backends (``backend=``; None picks the default):

- ``"jax"``, the default (jax and jaxlib are core dependencies): pyhf's 64-bit JAX backend
  inside the one compiled program; outside it (building the model, the Asimov data, the
  checks) pyhf runs on NumPy, where JAX would compile each of ~190 distinct operations on
  first use (10-20 s per process). Importing pyhf's JAX backend enables JAX's 64-bit mode for
  the whole process (pyhf does this; surrotag does not undo it, pyhf's JAX backend needs it).
- ``"numpy"``, the fallback when JAX cannot be imported: finite-difference gradients, 2-25x
  slower; CLs within 2e-4 relative of JAX (the difference is its gradient's precision).
- ``"pytorch"``, while pyhf < 0.8 provides it: torch autograd, torch on one thread during the
  fits and its default dtype restored afterwards; CLs and limits equal JAX's within 1e-7.
  torch is imported for this backend only.

Threads: surrotag sets no environment variable and no XLA flag. XLA's CPU client does not
oversubscribe the cores here: during the fits the process uses at most one core (CPU over
wall time 0.97-1.0 on 2 cores): the compiled program is too small for XLA's intra-op thread
pool, and its asynchronous dispatch hands each call between threads without running them at
once. Whoever wants XLA on one thread regardless sets, before JAX is first imported,
``XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"``. The one
compilation per computation runs with XLA's optimisations off and its code generation on one
thread (:data:`_XLA_OPTIONS`: options of that compilation only, nothing process-wide).

The previous pyhf backend is restored after every call; the switch is process-global, so do
not call these functions from several threads at once.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pyhf

from surrotag.errors import StatisticsError
from surrotag.stats.patch import SignalPatch
from surrotag.stats.workspace import BackgroundWorkspace, load_workspace

__all__ = [
    "BACKENDS",
    "EXPECTED_KIND",
    "CLsResult",
    "FitResult",
    "UpperLimit",
    "cls",
    "cls_and_upper_limit",
    "fit",
    "upper_limit",
]

Backend = Literal["jax", "numpy", "pytorch"]
BACKENDS: tuple[Backend, ...] = ("jax", "numpy", "pytorch")
"""The pyhf backends the fit loop runs on (``"pytorch"`` only while pyhf < 0.8 has it)."""
PatchLike = SignalPatch | list[dict[str, Any]] | str | Path | None
WorkspaceLike = BackgroundWorkspace | str | Path | Mapping[str, Any]

_log = logging.getLogger(__name__)

_PYHF_ERRORS = tuple(
    v for v in vars(pyhf.exceptions).values() if isinstance(v, type) and issubclass(v, Exception)
)
"""pyhf 0.7 has no common exception base class: every exception type it defines."""

EXPECTED_KIND = "a-posteriori"
"""The expected CLs and limits are a-posteriori: the Asimov data come from the
background-only (mu = 0) fit to the observed data, as in pyhf's ``AsymptoticCalculator``
(arXiv:1007.1727, sec. 3.8), not from the pre-fit nominal model."""

MODIFIER_SETTINGS = {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}}
"""Interpolation codes used by ``pyhf cls`` and the ATLAS likelihoods."""


class CLsResult(NamedTuple):
    """CLs of one signal hypothesis.

    Attributes:
        observed: CLs on the observed data.
        expected: expected CLs at -2, -1, 0, +1, +2 sigma of the background-only hypothesis.
        mu: the tested signal strength.
        sensitive: False when the signal changes no expected count (CLs = 1 by definition).
        backend: the pyhf tensor backend whose likelihood was minimised.
        warnings: why the asymptotic numbers may be unreliable (a degenerate expected band,
            a fit at a parameter bound, a fit that did not converge, a profile likelihood
            that stays non-convex after refits); empty when none applies.
    """

    observed: float
    expected: tuple[float, float, float, float, float]
    mu: float
    sensitive: bool = True
    backend: str = "jax"
    warnings: tuple[str, ...] = ()

    @property
    def expected_kind(self) -> str:
        """Which expected CLs is reported: :data:`EXPECTED_KIND`."""
        return EXPECTED_KIND

    @property
    def reliable(self) -> bool:
        """Whether no reliability warning applies (see ``warnings``)."""
        return not self.warnings

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
        n_hypotests: number of signal strengths mu tested.
        n_fits: number of maximum-likelihood fits run.
        backend: the pyhf tensor backend whose likelihood was minimised.
        warnings: why a limit may be unreliable (see :class:`CLsResult`; also a limit below
            the smallest mu searched, given as that value); empty when none applies.
    """

    observed: float
    expected: tuple[float, float, float, float, float]
    level: float
    sensitive: bool = True
    n_hypotests: int = 0
    n_fits: int = 0
    backend: str = "jax"
    warnings: tuple[str, ...] = ()

    @property
    def expected_kind(self) -> str:
        """Which expected limits are reported: :data:`EXPECTED_KIND`."""
        return EXPECTED_KIND

    @property
    def reliable(self) -> bool:
        """Whether no reliability warning applies (see ``warnings``)."""
        return not self.warnings


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


def _jax_importable() -> bool:
    """Whether pyhf's JAX backend can be made here (checked once per process)."""
    global _JAX_IMPORTABLE
    if _JAX_IMPORTABLE is None:
        try:
            _jax_tensorlib()
        except Exception:  # no jax, a jaxlib that does not match it, or pyhf refusing both
            _JAX_IMPORTABLE = False
        else:
            _JAX_IMPORTABLE = True
    return _JAX_IMPORTABLE


_JAX_IMPORTABLE: bool | None = None


def _resolve_backend(name: Backend | None) -> Backend:
    """The backend to use: ``name``, or for None JAX, or NumPy where JAX cannot be imported."""
    if name is None:
        return "jax" if _jax_importable() else "numpy"
    if name not in BACKENDS:
        raise StatisticsError(
            f"unknown pyhf backend {name!r}; use one of {', '.join(map(repr, BACKENDS))}"
        )
    return name


def _jax_tensorlib() -> Any:
    """pyhf's 64-bit JAX backend (its import enables JAX's 64-bit mode, process-wide)."""
    return pyhf.tensor.jax_backend(precision="64b")


@contextmanager
def _backend(name: Backend | None) -> Iterator[Backend]:
    """Set pyhf's backend for one computation, yield its name and restore the previous one.

    On ``"jax"`` pyhf runs on NumPy outside the one jitted likelihood (see :class:`_Fitter`):
    building the model and every other evaluation are then plain NumPy, where JAX would
    compile each of their ~190 distinct operations on first use (50-130 ms each, 10-20 s
    per process). ``"pytorch"`` also restores torch's default dtype (pyhf's 64-bit torch
    backend sets it to float64 for the whole process, which would change every later torch
    computation, the surrogates' included); torch is imported for that backend only.
    """
    resolved = _resolve_backend(name)
    previous = pyhf.get_backend()
    previous_dtype = None
    try:
        optimizer = pyhf.optimize.scipy_optimizer()
        if resolved == "pytorch":
            import torch

            previous_dtype = torch.get_default_dtype()
            pyhf.set_backend("pytorch", optimizer, precision="64b")
        else:
            if resolved == "jax":
                _jax_tensorlib()
            pyhf.set_backend("numpy", optimizer, precision="64b")
    except (ImportError, *_PYHF_ERRORS) as exc:
        pyhf.set_backend(*previous)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if resolved == "jax":
            hint = "install jax and jaxlib >= 0.10.2, or use 'numpy'"
        else:
            hint = "pyhf 0.8 removed it; use 'jax' (the default) or 'numpy'"
        raise StatisticsError(
            f"pyhf {pyhf.__version__} cannot use the {resolved!r} backend ({first}): {hint}"
        ) from None
    try:
        with warnings.catch_warnings():
            # pyhf's torch backend builds tensors from lists of arrays (harmless, noisy)
            warnings.filterwarnings("ignore", message="Creating a tensor from a list")
            with _one_thread(resolved):
                yield resolved
    finally:
        pyhf.set_backend(*previous)
        if previous_dtype is not None:
            import torch

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
    lumi = _unconfigured_lumi(ws, ops or [])
    if lumi:
        raise StatisticsError(
            f"{ws.source}: the patch adds the lumi modifier {lumi!r}, but the measurement "
            f"{ws.measurement!r} configures no parameter {lumi!r} (auxdata, sigmas): add "
            "one to its config or use a normsys modifier"
        )
    try:
        model = ws.workspace.model(measurement_name=ws.measurement, **kwargs)
        data = ws.workspace.data(model)
    except _PYHF_ERRORS as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StatisticsError(f"{ws.source}: the patched workspace is invalid: {first}") from None
    except Exception as exc:  # jsonpatch errors: bad paths in the patch
        raise StatisticsError(f"{ws.source}: the patch does not apply: {exc}") from None
    return model, data, ws


def _unconfigured_lumi(ws: BackgroundWorkspace, ops: list[dict[str, Any]]) -> str | None:
    """Name of a lumi modifier added by ``ops`` without configuration in the measurement."""
    names = [
        m.get("name")
        for op in ops
        if isinstance(op, dict) and isinstance(op.get("value"), dict)
        for m in op["value"].get("modifiers") or []
        if isinstance(m, dict) and m.get("type") == "lumi"
    ]
    if not names:
        return None
    measurement = next((m for m in ws.workspace["measurements"] if m["name"] == ws.measurement), {})
    configured = {
        p.get("name")
        for p in measurement.get("config", {}).get("parameters", [])
        if p.get("auxdata") and p.get("sigmas")
    }
    return next((str(n) for n in names if n not in configured), None)


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


def _widths(model: Any) -> np.ndarray:
    """Prior width of every parameter (1 for unconstrained ones): the fit's variable scale."""
    widths = np.ones(model.config.npars)
    for name in model.config.par_order:
        par = model.config.param_set(name)
        if par.constrained:
            widths[model.config.par_slice(name)] = np.asarray(par.width(), dtype=np.float64)
    return np.where(np.isfinite(widths) & (widths > 0), widths, 1.0)


class _Fitter:
    """Maximum-likelihood fits of one model, warm-started and in prior-width units.

    The objective is ``-2 ln L`` from pyhf's public :meth:`pyhf.pdf.Model.logpdf`, its
    gradient from JAX on the ``jax`` backend (``jax.jit(jax.value_and_grad(...))``, traced
    and compiled on the first evaluation and reused by every later fit of this model, to the
    data and to the Asimov data alike: same shapes), from torch's autograd on ``pytorch``
    and from scipy's finite differences on ``numpy``; the minimiser is SLSQP
    (:func:`scipy.optimize.minimize`, as pyhf's ``scipy_optimizer``). The variables are
    divided by their constraint widths, which halves the iterations on workspaces whose
    nuisance parameters span orders of magnitude in width (MC-stat gammas of 1e-3 next to
    normalisation factors), and a fit may run from several starts (previous fits'
    parameters, pyhf's suggested initial values), keeping the lowest ``-2 ln L``. Fixed
    parameters (the workspace's and the POI when tested) are removed from the minimisation,
    as pyhf does for minuit.

    Args:
        model: the pyhf model (built on pyhf's NumPy backend for ``"jax"``).
        par_bounds: parameter bounds; None: the model's suggested bounds.
        backend: which backend computes ``-2 ln L`` and its gradient (see the module).
        qtilde: refuse a POI lower bound other than 0 (the test statistic needs mu >= 0);
            False for plain fits (:func:`fit`).
    """

    def __init__(
        self,
        model: Any,
        par_bounds: Any = None,
        backend: Backend = "numpy",
        *,
        qtilde: bool = True,
    ) -> None:
        tb, _ = pyhf.get_backend()
        self.model = model
        self.tb = tb
        self.kind = backend
        self.grad = backend in ("jax", "pytorch")
        self._jax_compiled: Any = None
        self.poi = model.config.poi_index
        self.init = np.asarray(tb.tolist(model.config.suggested_init()), dtype=np.float64)
        bounds = model.config.suggested_bounds() if par_bounds is None else par_bounds
        self.bounds = np.asarray(bounds, dtype=np.float64)
        self.fixed = np.asarray(model.config.suggested_fixed(), dtype=bool)
        self.widths = _widths(model)
        self.n_fits = 0
        self.notes: list[str] = []
        if self.poi is None or not qtilde:  # plain fits: any POI bounds
            return
        lo, hi = self.bounds[self.poi]
        name = model.config.poi_name
        if lo != 0.0:
            raise StatisticsError(
                f"POI {name} has the lower bound {lo:g}; the qtilde test statistic "
                f"(arXiv:1007.1727) needs mu >= 0: set its bounds to [0, {hi:g}]"
            )

    def check_mu(self, mu: float) -> None:
        """Refuse a tested signal strength outside the POI bounds."""
        lo, hi = self.bounds[self.poi]
        if not lo <= mu <= hi:
            raise StatisticsError(
                f"signal strength mu = {mu:g} lies outside the bounds [{lo:g}, {hi:g}] of "
                f"the POI {self.model.config.poi_name}"
            )

    def twice_nll(self, data: Any, pars: np.ndarray) -> float:
        """``-2 ln L`` at ``pars`` (pyhf's public ``logpdf``)."""
        if self.kind == "jax":
            return self._jax_value_and_grad(pars, data)[0]
        value = self.model.logpdf(self.tb.astensor(pars), data)
        return -2.0 * float(np.asarray(self.tb.tolist(value), dtype=np.float64).sum())

    def _jax_value_and_grad(self, pars: np.ndarray, data: Any) -> tuple[float, np.ndarray]:
        """``-2 ln L`` and its gradient over all parameters, from the compiled JAX program.

        ``jax.jit(jax.value_and_grad(...))`` of ``-2 * model.logpdf``, lowered and compiled
        on the first call (logged at DEBUG with its seconds) and reused by every later fit of
        this model: the observed and the Asimov data have one shape. The gradient is taken
        over the full parameter vector and the fits keep its free components (the gradient
        over the free parameters with the fixed ones inserted; reverse mode costs the same),
        so one compilation serves the free fit and every fixed-mu fit, where a function of
        the free parameters alone would compile once per set of fixed parameters.

        The traced function switches pyhf to its JAX backend and back: pyhf recomputes the
        model's internal tensors on a backend switch, so that work is traced into the same
        program (constants XLA folds) instead of running as eager JAX operations.
        """
        pars = np.asarray(pars, dtype=np.float64)
        data = np.asarray(data, dtype=np.float64)
        if self._jax_compiled is None:
            import time

            import jax

            model, tensorlib = self.model, _jax_tensorlib()

            def twice_nll(p: Any, d: Any) -> Any:
                previous = pyhf.get_backend()
                pyhf.set_backend(tensorlib, previous[1])
                try:
                    return -2.0 * model.logpdf(p, d)[0]
                finally:
                    pyhf.set_backend(*previous)

            start = time.perf_counter()
            lowered = jax.jit(jax.value_and_grad(twice_nll)).lower(pars, data)
            try:
                self._jax_compiled = lowered.compile(_XLA_OPTIONS)
            except RuntimeError:  # an XLA without these options
                self._jax_compiled = lowered.compile()
            _log.debug(
                "jax: -2 ln L and its gradient (%d parameters, %d bins) traced and compiled "
                "in %.2f s",
                pars.size,
                data.size,
                time.perf_counter() - start,
            )
        value, grad = self._jax_compiled(pars, data)
        return float(value), np.asarray(grad, dtype=np.float64)

    def _objective(self, data: Any, full: np.ndarray, free: np.ndarray) -> Any:
        """``-2 ln L`` (and its gradient) as a function of the free parameters."""
        model = self.model
        if self.kind == "jax":
            data = np.asarray(data, dtype=np.float64)

            def jax_value_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
                pars = full.copy()
                pars[free] = x
                value, grad = self._jax_value_and_grad(pars, data)
                return value, grad[free]

            return jax_value_and_grad
        if self.kind != "pytorch":

            def value(x: np.ndarray) -> float:
                pars = full.copy()
                pars[free] = x
                out = model.logpdf(self.tb.astensor(pars), data)
                return -2.0 * float(np.asarray(out, dtype=np.float64).sum())

            return value
        import torch

        def value_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
            pars = full.copy()
            pars[free] = x
            tensor = torch.tensor(pars, dtype=torch.float64, requires_grad=True)
            out = -2.0 * model.logpdf(tensor, data).sum()
            (grad,) = torch.autograd.grad(out, tensor)
            return float(out.detach()), grad.numpy()[free]

        return value_and_grad

    def _run(
        self, data: Any, poi_value: float | None, start: np.ndarray
    ) -> tuple[np.ndarray, float, bool, str]:
        """One SLSQP minimisation from ``start``: (parameters, -2 ln L, success, message)."""
        from scipy.optimize import minimize

        fixed = self.fixed.copy()
        full = self.init.copy()
        if poi_value is not None:
            fixed[self.poi] = True
            full[self.poi] = poi_value
        free = np.flatnonzero(~fixed)
        lo, hi = self.bounds[free, 0], self.bounds[free, 1]
        x0 = np.clip(np.asarray(start, dtype=np.float64)[free], lo, hi)
        func, scale = self._objective(data, full, free), self.widths[free]

        def objective(z: np.ndarray) -> Any:
            out = func(x0 + scale * z)
            if self.grad:
                value, grad = out
                return value, grad * scale
            return out

        self.n_fits += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = minimize(
                objective,
                np.zeros_like(x0),
                jac=self.grad,
                method="SLSQP",
                bounds=list(zip((lo - x0) / scale, (hi - x0) / scale, strict=True)),
                options={"maxiter": 100_000, "ftol": _FTOL},
            )
        best = full.copy()
        best[free] = np.clip(x0 + scale * result.x, lo, hi)
        ok = bool(result.success and np.isfinite(result.fun))
        return best, float(result.fun), ok, str(result.message)

    def minimize(
        self, data: Any, poi_value: float | None, *starts: np.ndarray | None
    ) -> tuple[np.ndarray, float]:
        """Best-fit parameters (all of them) and ``-2 ln L``: the lowest over ``starts``.

        ``None`` (or no start) is pyhf's suggested initial values. When no start converges
        the fit runs once more from pyhf's initial values; the best finite result is then
        kept with a note (:attr:`notes`), and a fit without any finite result raises.
        """
        runs = []
        tried_init = False
        for start in starts or (None,):
            tried_init |= start is None
            begin = self.init.copy() if start is None else np.array(start, dtype=np.float64)
            if poi_value is not None:
                begin[self.poi] = poi_value
            runs.append(self._run(data, poi_value, begin))
        if not any(ok for *_, ok, _ in runs) and not tried_init:
            begin = self.init.copy()
            if poi_value is not None:
                begin[self.poi] = poi_value
            runs.append(self._run(data, poi_value, begin))
        good = [r for r in runs if r[2]] or [r for r in runs if math.isfinite(r[1])]
        what = "free mu" if poi_value is None else f"mu = {poi_value:g}"
        if not good:
            raise StatisticsError(f"pyhf fit ({what}) did not converge: {runs[-1][3]}")
        best, nll, ok, message = min(good, key=lambda r: r[1])
        if not ok:
            self.notes.append(f"the fit at {what} did not converge ({message})")
        return best, nll


_XLA_OPTIONS = {
    "xla_backend_optimization_level": 0,
    "xla_cpu_use_fusion_emitters": False,
    "xla_cpu_parallel_codegen_split_count": 1,
}
"""XLA options of the one compilation per model (that compilation only): no backend
optimisations, no fusion emitters, code generation on one thread. A computation's
compilation then costs about half the CPU time and each call of the program ~1.5x, a net
gain of 0.5-1 CPU s per ``cls`` or ``cls_and_upper_limit`` (Z' and ATLAS workspaces, 37 and
64 parameters; ~650 calls for a ``cls``). Where XLA does not know an option, the program is
compiled with XLA's defaults."""

_FTOL = 1e-9
"""SLSQP's tolerance on the change of ``-2 ln L`` between iterations (scipy's default 1e-6
left CLs under-converged by up to 5e-3 on published likelihoods)."""

_NLL_TOL = 1e-4
"""A fit whose ``-2 ln L`` is this much below another one it must not undercut (a fixed-mu
fit below the free fit; a point above the chord of the profile) triggers refits."""


class _Asymptotics:
    """qtilde test statistics on the data and the background-only Asimov data set.

    Follows :class:`pyhf.infer.calculators.AsymptoticCalculator` (arXiv:1007.1727, eqs.
    (16), (65)-(66)): the Asimov data come from the fit at mu = 0 to the data, and the three
    mu-independent fits (that one, the free fits to data and Asimov data) run once, each
    from two starts (pyhf's initial values and the related fit), keeping the lowest
    ``-2 ln L``. Each tested mu then costs one fixed-mu fit to the data (observed CLs) and
    one to the Asimov data (expected CLs), started from the nearest mu already fitted (the
    first one also from pyhf's initial values and from the free fit).

    Every minimum is checked: a fixed-mu fit below the free fit makes the free fit rerun
    from it (and :attr:`generation` count up), and a tested point above the chord of its
    neighbours on the profile ``-2 ln L(mu)`` is refitted from the neighbours' parameters
    and pyhf's initial values. What stays wrong is noted in :attr:`notes`.
    """

    def __init__(
        self,
        model: Any,
        data: Any,
        par_bounds: Any = None,
        mu: float | None = None,
        backend: Backend = "numpy",
    ) -> None:
        self.fitter = _Fitter(model, par_bounds, backend)
        fitter = self.fitter
        if mu is not None:
            fitter.check_mu(mu)
        tb = fitter.tb
        self.model = model
        self.data = tb.astensor(data)
        self.generation = 0
        self.mu_ref = _reference_mu(model)
        mu0, nll_mu0 = fitter.minimize(self.data, 0.0, None)
        self.free_data, self.nll_free_data = fitter.minimize(self.data, None, mu0, None)
        again, nll_again = fitter.minimize(self.data, 0.0, self.free_data)
        if nll_again < nll_mu0:
            mu0, nll_mu0 = again, nll_again
        if nll_mu0 < self.nll_free_data:  # the free fit must be no worse than any fit
            self.free_data, self.nll_free_data = mu0, nll_mu0
        self.asimov_pars = mu0
        self.asimov = model.expected_data(tb.astensor(mu0))
        # the Asimov data are the expected counts (auxiliary data included) at mu0: every
        # Poisson and constraint term is at its maximum there, so mu0 is the free fit
        self.free_asimov, self.nll_free_asimov = mu0, fitter.twice_nll(self.asimov, mu0)
        self._fixed: dict[str, dict[float, tuple[np.ndarray, float]]] = {"data": {}, "asimov": {}}
        self._nonconvex: set[tuple[str, float]] = set()

    @property
    def n_fits(self) -> int:
        """Fits run so far."""
        return self.fitter.n_fits

    @property
    def tested_asimov(self) -> list[float]:
        """The mu values with a fit to the Asimov data."""
        return list(self._fixed["asimov"])

    @property
    def tested(self) -> set[float]:
        """The mu values at which a test statistic was computed."""
        return set(self._fixed["data"]) | set(self._fixed["asimov"])

    def _free(self, which: str) -> tuple[Any, np.ndarray, float]:
        if which == "data":
            return self.data, self.free_data, self.nll_free_data
        return self.asimov, self.free_asimov, self.nll_free_asimov

    def _set_free(self, which: str, pars: np.ndarray, nll: float) -> None:
        if which == "data":
            self.free_data, self.nll_free_data = pars, nll
        else:
            self.free_asimov, self.nll_free_asimov = pars, nll
        self.generation += 1

    def _fit_fixed(self, which: str, mu: float) -> None:
        cache = self._fixed[which]
        data, free, _ = self._free(which)
        if cache:
            near = cache[min(cache, key=lambda m: abs(m - mu))][0]
            cache[mu] = self.fitter.minimize(data, mu, near)
        else:
            cache[mu] = self.fitter.minimize(data, mu, free, None)
        self._check(which)

    def _check(self, which: str) -> None:
        """Refit until the free fit is lowest and the tested profile convex (or say so)."""
        cache = self._fixed[which]
        data = self._free(which)[0]
        for _ in range(3):
            _, free, nll_free = self._free(which)
            lowest = min(cache, key=lambda m: cache[m][1])
            if cache[lowest][1] < nll_free - _NLL_TOL:
                pars, nll = self.fitter.minimize(data, None, cache[lowest][0], free)
                if nll > cache[lowest][1]:
                    pars, nll = cache[lowest]
                self._set_free(which, pars, nll)
                continue
            mus = sorted(cache)
            bad = [
                b
                for a, b, c in zip(mus, mus[1:], mus[2:], strict=False)
                if cache[b][1]
                > cache[a][1] + (cache[c][1] - cache[a][1]) * (b - a) / (c - a) + _NLL_TOL
                and (which, b) not in self._nonconvex
            ]
            if not bad:
                return
            for b in bad:
                i = mus.index(b)
                before = cache[b][1]
                cache[b] = min(
                    [
                        cache[b],
                        self.fitter.minimize(data, b, cache[mus[i - 1]][0], cache[mus[i + 1]][0]),
                        self.fitter.minimize(data, b, None),
                    ],
                    key=lambda r: r[1],
                )
                if cache[b][1] >= before - _NLL_TOL:
                    self._nonconvex.add((which, b))

    @property
    def notes(self) -> list[str]:
        """Reliability warnings gathered so far (deduplicated, in order)."""
        notes = list(self.fitter.notes)
        poi, (_, hi) = self.fitter.poi, self.fitter.bounds[self.fitter.poi]
        if self.free_data[poi] >= hi - 1e-9 * max(abs(hi), 1.0):
            notes.append(f"the free fit to the data sits at the POI's upper bound mu = {hi:g}")
        names = self._at_bound(self.free_data)
        if names:
            notes.append(
                "the free fit to the data has parameters at their bounds "
                f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
            )
        for which, mu in sorted(self._nonconvex):
            notes.append(
                f"the profile likelihood of the {'observed' if which == 'data' else 'Asimov'} "
                f"data is not convex at mu = {mu:.6g} after refits from other starts"
            )
        return list(dict.fromkeys(notes))

    def _at_bound(self, pars: np.ndarray) -> list[str]:
        """Names of free nuisance parameters within 1e-6 (relative to their range) of a bound."""
        config, lo, hi = self.model.config, self.fitter.bounds[:, 0], self.fitter.bounds[:, 1]
        tol = 1e-6 * np.maximum(hi - lo, 1e-300)
        at = ((pars - lo <= tol) | (hi - pars <= tol)) & ~self.fitter.fixed
        at[self.fitter.poi] = False
        return [name for name in config.par_order if np.any(at[config.par_slice(name)])]

    def _q(self, which: str, mu: float) -> float:
        cache = self._fixed[which]
        if self._free(which)[1][self.fitter.poi] > mu:  # qtilde: mu_hat > mu gives q = 0
            return 0.0
        if mu not in cache:
            self._fit_fixed(which, mu)
            if self._free(which)[1][self.fitter.poi] > mu:
                return 0.0
        return max(cache[mu][1] - self._free(which)[2], 0.0)

    def sqrt_q(self, mu: float) -> float:
        """sqrt(qtilde_mu) on the observed data."""
        return math.sqrt(self._q("data", mu))

    def sqrt_q_asimov(self, mu: float) -> float:
        """sqrt(qtilde_mu) on the Asimov data (mu / sigma, arXiv:1007.1727 eq. (30))."""
        return math.sqrt(self._q("asimov", mu))


_N_SIGMA = np.array([2.0, 1.0, 0.0, -1.0, -2.0])
"""Test-statistic shifts of pyhf's expected band, in its order (-2 sigma CLs first)."""


def _log_cls_expected(sqrt_qa: float) -> np.ndarray:
    """ln CLs of the expected band (pyhf's ``expected_pvalues``): sf(n + sqrt_qA) / sf(n)."""
    from scipy.special import log_ndtr

    if sqrt_qa <= 0.0:
        return np.zeros(5)
    return log_ndtr(-(_N_SIGMA + sqrt_qa)) - log_ndtr(-_N_SIGMA)


def _log_cls_observed(sqrt_q: float, sqrt_qa: float) -> float:
    """ln CLs on the data for qtilde (pyhf's ``AsymptoticCalculator``, arXiv:1007.1727)."""
    from scipy.special import log_ndtr

    if sqrt_qa <= 0.0:
        return 0.0
    if sqrt_q <= sqrt_qa:
        t = sqrt_q - sqrt_qa
    else:
        t = (sqrt_q**2 - sqrt_qa**2) / (2 * sqrt_qa)
    return float(log_ndtr(-(t + sqrt_qa)) - log_ndtr(-t))


def _cls_at(asym: _Asymptotics, mu: float) -> np.ndarray:
    """[CLs_obs, CLs_exp(-2..+2 sigma)] at ``mu``."""
    sqrt_qa = asym.sqrt_q_asimov(mu)
    logs = [_log_cls_observed(asym.sqrt_q(mu), sqrt_qa), *_log_cls_expected(sqrt_qa)]
    return np.exp(np.array(logs))


def _asymptotics(
    model: Any,
    data: Any,
    backend: Backend,
    par_bounds: Any = None,
    mu: float | None = None,
) -> _Asymptotics:
    try:
        return _Asymptotics(model, data, par_bounds, mu, backend)
    except _PYHF_ERRORS as exc:
        raise StatisticsError(f"pyhf background fit failed: {exc}") from None


@contextmanager
def _one_thread(backend: Backend) -> Iterator[None]:
    """Run the BLAS under scipy's SLSQP (and torch, on ``"pytorch"``) on one thread.

    pyhf's tensors are tiny and SLSQP's least-squares subproblems small (~60 parameters):
    extra threads only add synchronisation, which on a loaded 2-core machine made each
    SLSQP iteration 4x slower. BLAS threads are limited with ``threadpoolctl``; torch's
    thread count is set on the ``"pytorch"`` backend only (torch is not imported otherwise).
    Both are restored afterwards. XLA is left as it is: see the module docstring.
    """
    previous = None
    if backend == "pytorch":
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        blas: Any = nullcontext()
    else:
        blas = threadpool_limits(limits=1, user_api="blas")
    try:
        with blas:
            yield
    finally:
        if previous is not None:
            import torch

            torch.set_num_threads(previous)


def cls(
    workspace: WorkspaceLike,
    patch: PatchLike,
    *,
    mu: float = 1.0,
    backend: Backend | None = None,
) -> CLsResult:
    """CLs of the signal in ``patch`` at signal strength ``mu``.

    Args:
        workspace: background-only workspace (loaded, path or dict).
        patch: the signal patch (:class:`SignalPatch`, list of RFC 6902 operations, or a
            patch file).
        mu: tested signal strength (>= 0).
        backend: pyhf backend (``"jax"``, ``"numpy"``, ``"pytorch"``); None: JAX, or NumPy
            where JAX cannot be imported. See the module docstring.

    Returns:
        :class:`CLsResult`.

    Raises:
        StatisticsError: invalid patch or workspace, or a failed fit.
    """
    if patch is None:
        raise StatisticsError("cls needs a signal patch; the background-only model has no POI")
    _check_mu(mu)
    with _backend(backend) as used:
        model, data, _ = _model(workspace, patch)
        if not _sensitive(model):
            return CLsResult(1.0, (1.0,) * 5, float(mu), sensitive=False, backend=used)
        asym = _asymptotics(model, data, used, mu=float(mu))
        values = _cls_at(asym, float(mu))
    return _cls_result(asym, values, float(mu), used)


def _cls_result(asym: _Asymptotics, values: np.ndarray, mu: float, backend: str) -> CLsResult:
    notes = asym.notes
    if mu > 0 and asym.sqrt_q_asimov(mu) <= 0.0:
        notes.append(
            f"the expected band is degenerate (q_mu,A = 0 at mu = {mu:g}): the Asimov data "
            "do not distinguish this signal from none"
        )
    return CLsResult(
        float(values[0]),
        tuple(values[1:].tolist()),
        mu,
        backend=backend,
        warnings=tuple(dict.fromkeys(notes)),
    )


_MU_FLOOR = 1e-12
"""Smallest mu tried by :func:`upper_limit`; a limit below it is given as this value, with
a warning (limits as small as 1e-6, a signal 1e5 times the shipped one, are resolved)."""


def _root(
    curve: Any,
    points: dict[float, float],
    guess: float,
    mu_max: float,
    rtol: float,
    slope: float | None = None,
    notes: list[str] | None = None,
) -> float:
    """Where the decreasing ``curve(mu)`` crosses zero, in [``_MU_FLOOR``, ``mu_max``].

    Secant steps through the two known points nearest the crossing (``points``: all points
    already known, updated in place; ``guess`` is evaluated first when fewer than two are
    known, and ``slope`` is the expected d curve / d mu for a step from a single point),
    safeguarded by bisection in log mu once the crossing is bracketed. The curves used here
    are close to linear in mu for asymptotic CLs (sqrt(q_mu,A) = mu / sigma,
    arXiv:1007.1727), so a crossing takes one or two new evaluations. Converged when the
    secant root lies within ``rtol`` (relative) of an evaluated point: its own error is
    then of second order. A crossing below ``_MU_FLOOR`` returns that value and appends a
    line to ``notes``.
    """

    def add(mu: float) -> None:
        mu = float(min(max(mu, _MU_FLOOR), mu_max))
        if mu not in points:
            points[mu] = curve(mu)

    if len([m for m in points if m > 0]) < 2:
        add(guess)
    for _ in range(60):
        mus = sorted(points)
        neg = [m for m in mus if points[m] <= 0]
        pos = [m for m in mus if points[m] > 0]
        if not neg and mus[-1] >= mu_max:
            return math.inf
        if not pos and mus[0] <= _MU_FLOOR:
            if notes is not None:
                notes.append(f"a limit lies below mu = {_MU_FLOOR:g} and is given as that value")
            return _MU_FLOOR
        finite = [m for m in mus if math.isfinite(points[m])]
        near2 = sorted(sorted(finite, key=lambda m: abs(points[m]))[:2])
        if len(near2) == 2 and points[near2[0]] > points[near2[1]]:
            (lo, hi), (f_lo, f_hi) = near2, (points[near2[0]], points[near2[1]])
            r = lo + f_lo * (hi - lo) / (f_lo - f_hi)
        else:
            near = min(mus, key=lambda m: abs(points[m]))
            if slope is not None and slope < 0 and math.isfinite(points[near]):
                r = near - points[near] / slope
            else:
                r = near * 4 if points[near] > 0 else near / 4
        bracket = [m for m in pos if neg and m < neg[0]]
        if bracket:
            lo, hi = bracket[-1], neg[0]
            if not lo < r < hi:
                r = math.sqrt(lo * hi) if lo > 0 else 0.5 * (lo + hi)
            if hi - lo <= rtol * r:
                return float(r)
        else:
            anchor = min((m for m in mus if m > 0), key=lambda m: abs(m - r))
            r = min(max(r, anchor / 10), anchor * 10)
        r = float(min(max(r, _MU_FLOOR), mu_max))
        if abs(r - min((m for m in mus if m > 0), key=lambda m: abs(m - r))) <= rtol * r:
            return r
        add(r)
    raise StatisticsError("upper limit search did not converge in 60 hypothesis tests")


def _observed_guess(mu_hat: float, sigma: float, level: float) -> float:
    """Observed limit if q_mu were exactly ((mu - mu_hat) / sigma)^2 (arXiv:1007.1727)."""
    from scipy.optimize import brentq

    mu_hat = max(mu_hat, 0.0)

    def excess(mu: float) -> float:
        s = max(mu - mu_hat, 0.0) / sigma
        return _log_cls_observed(s, mu / sigma) - math.log(level)

    hi = mu_hat + 40 * sigma
    return float(brentq(excess, mu_hat + 1e-9 * sigma, hi)) if excess(hi) < 0 else hi


def upper_limit(
    workspace: WorkspaceLike,
    patch: PatchLike,
    *,
    level: float = 0.05,
    rtol: float = 1e-4,
    mu_max: float = 1e4,
    backend: Backend | None = None,
) -> UpperLimit:
    """Upper limits on mu at ``1 - level`` CL (CLs, qtilde, asymptotics).

    The fits that do not depend on mu (background-only fit giving the Asimov data, free
    fits to data and Asimov data) run once. Each crossing CLs(mu) = ``level`` is then found
    by secant steps in mu on ``Phi^-1(CLs)``, which asymptotically is close to linear in mu
    (arXiv:1007.1727: sqrt(q_mu,A) = mu / sigma), from a first guess given by the Asimov
    sigma at mu = 1 and the closed-form expected band; every tested mu is shared by the
    observed and the five expected curves, and the expected curves need only the fit to the
    Asimov data. The POI upper bound is widened to ``mu_max`` so that weak signals can be
    bracketed.

    Args:
        workspace: background-only workspace (loaded, path or dict).
        patch: the signal patch.
        level: CLs level, 0.05 for 95% CL.
        rtol: relative tolerance on each limit.
        mu_max: largest mu tried; a curve still above ``level`` there gives ``inf``.
        backend: pyhf backend (``"jax"``, ``"numpy"``, ``"pytorch"``); None: JAX, or NumPy
            where JAX cannot be imported. See the module docstring.

    Returns:
        :class:`UpperLimit`.

    Raises:
        StatisticsError: invalid patch or workspace, or a failed fit.
    """
    _check_limit_args(patch, level, "upper_limit")
    with _backend(backend) as used:
        model, data, _ = _model(workspace, patch)
        if not _sensitive(model):
            return UpperLimit(math.inf, (math.inf,) * 5, level, sensitive=False, backend=used)
        asym = _limit_asymptotics(model, data, used, mu_max)
        return _limits(asym, level, rtol, mu_max, used)


def cls_and_upper_limit(
    workspace: WorkspaceLike,
    patch: PatchLike,
    *,
    mu: float = 1.0,
    level: float = 0.05,
    rtol: float = 1e-4,
    mu_max: float = 1e4,
    backend: Backend | None = None,
) -> tuple[CLsResult, UpperLimit]:
    """:func:`cls` at ``mu`` and :func:`upper_limit`, sharing one model and its fits.

    The model is built once and the fits that do not depend on mu (and the fixed-mu fits
    both need) run once. The POI bound is widened to ``mu_max`` for both, so CLs equals
    :func:`cls` unless the free fit sits on the workspace's own POI bound (where the wider
    bound is the more faithful fit).

    Args:
        workspace: background-only workspace (loaded, path or dict).
        patch: the signal patch.
        mu: signal strength of the CLs value (>= 0).
        level: CLs level of the limits, 0.05 for 95% CL.
        rtol: relative tolerance on each limit.
        mu_max: largest mu tried by the limit search.
        backend: pyhf backend (``"jax"``, ``"numpy"``, ``"pytorch"``); None: JAX, or NumPy
            where JAX cannot be imported. See the module docstring.

    Returns:
        (:class:`CLsResult`, :class:`UpperLimit`).

    Raises:
        StatisticsError: invalid patch, workspace or arguments, or a failed fit.
    """
    _check_limit_args(patch, level, "cls_and_upper_limit")
    _check_mu(mu)
    with _backend(backend) as used:
        model, data, _ = _model(workspace, patch)
        if not _sensitive(model):
            return (
                CLsResult(1.0, (1.0,) * 5, float(mu), sensitive=False, backend=used),
                UpperLimit(math.inf, (math.inf,) * 5, level, sensitive=False, backend=used),
            )
        asym = _limit_asymptotics(model, data, used, mu_max, mu=float(mu))
        limit = _limits(asym, level, rtol, mu_max, used)
        values = _cls_at(asym, float(mu))
        result = _cls_result(asym, values, float(mu), used)
    return result, limit


def _check_mu(mu: float) -> None:
    if not (math.isfinite(mu) and mu >= 0):
        raise StatisticsError(f"signal strength mu = {mu!r} must be finite and >= 0")


def _check_limit_args(patch: PatchLike, level: float, name: str) -> None:
    if patch is None:
        raise StatisticsError(f"{name} needs a signal patch")
    if not 0.0 < level < 1.0:
        raise StatisticsError(f"CLs level {level!r} must lie in (0, 1), e.g. 0.05 for 95% CL")


def _limit_asymptotics(
    model: Any, data: Any, backend: Backend, mu_max: float, mu: float | None = None
) -> _Asymptotics:
    """:class:`_Asymptotics` with the POI upper bound widened to ``mu_max``."""
    bounds = [list(b) for b in model.config.suggested_bounds()]
    poi = model.config.poi_index
    bounds[poi][1] = max(bounds[poi][1], mu_max)
    return _asymptotics(model, data, backend, bounds, mu)


def _reference_mu(model: Any) -> float:
    """A first tested mu at which the fits are well-posed: 1, or less for a signal so large
    that mu = 1 lies tens of standard deviations away (approximate Asimov significance
    sqrt(sum s^2 / (b + 1)) of the nominal model, no systematics)."""
    tb, _ = pyhf.get_backend()
    pars = np.asarray(tb.tolist(model.config.suggested_init()), dtype=np.float64)
    poi = model.config.poi_index
    pars[poi] = 0.0
    b = np.asarray(tb.tolist(model.expected_actualdata(tb.astensor(pars))), dtype=np.float64)
    pars[poi] = 1.0
    s = np.asarray(tb.tolist(model.expected_actualdata(tb.astensor(pars))), dtype=np.float64) - b
    z = math.sqrt(float(np.sum(s**2 / (np.abs(b) + 1.0))))
    return 1.0 if z <= 5.0 else 5.0 / z


def _limits(
    asym: _Asymptotics, level: float, rtol: float, mu_max: float, backend: str
) -> UpperLimit:
    """Observed and expected upper limits from the fits of ``asym`` (see :func:`upper_limit`).

    The search is repeated (on the fits already made) when a fit during it lowered one of
    the free fits, so every limit rests on the final minima.
    """
    for _ in range(4):
        generation = asym.generation
        notes: list[str] = []
        limit = _limits_once(asym, level, rtol, mu_max, notes)
        if asym.generation == generation:
            break
    notes = asym.notes + notes
    if all(math.isfinite(e) for e in limit[1]) and len(set(limit[1])) < 5:
        notes.append("the expected band is degenerate (equal limits at different sigma)")
    return UpperLimit(
        limit[0],
        limit[1],
        level,
        n_hypotests=len(asym.tested),
        n_fits=asym.n_fits,
        backend=backend,
        warnings=tuple(dict.fromkeys(notes)),
    )


def _limits_once(
    asym: _Asymptotics, level: float, rtol: float, mu_max: float, notes: list[str]
) -> tuple[float, tuple[float, ...]]:
    """One pass of the limit search: (observed, expected band)."""
    from scipy.special import ndtri, ndtri_exp
    from scipy.stats import norm

    z_level = float(ndtri(level))

    # expected band (pyhf's expected_pvalues): CLs_n = sf(n + s) / sf(n) = level at
    # s = sqrt(q_mu,A) = s_n, closed form; solve sqrt(q_mu,A)(mu) = s_n, anchored at
    # sqrt(q_0,A) = 0 (the line through the origin is the first guess, mu / sigma).
    mu_ref = min(asym.mu_ref, mu_max)
    asimov_points = {0.0: 0.0, mu_ref: asym.sqrt_q_asimov(mu_ref)}
    asimov_points |= {m: asym.sqrt_q_asimov(m) for m in asym.tested_asimov}
    limits_exp = []
    for n in _N_SIGMA:
        s_n = float(norm.isf(level * norm.sf(n)) - n)
        points = {m: s_n - v for m, v in asimov_points.items()}
        ref = asimov_points[mu_ref]
        guess = s_n * mu_ref / ref if ref > 0 else mu_ref
        limits_exp.append(
            _root(
                lambda m, s_n=s_n: s_n - asym.sqrt_q_asimov(m),
                points,
                guess,
                mu_max,
                rtol,
                notes=notes,
            )
        )
        asimov_points = {0.0: 0.0} | {m: asym.sqrt_q_asimov(m) for m in asym.tested_asimov}

    def observed(m: float) -> float:
        log_cls = _log_cls_observed(asym.sqrt_q(m), asym.sqrt_q_asimov(m))
        return float(ndtri_exp(log_cls)) - z_level

    median = limits_exp[2]
    if math.isfinite(median) and asym.sqrt_q_asimov(median) > 0:
        sigma = median / asym.sqrt_q_asimov(median)
        guess = _observed_guess(float(asym.free_data[asym.fitter.poi]), sigma, level)
    else:
        sigma, guess = 1.0, 1.0
    limit_obs = _root(observed, {}, guess, mu_max, rtol, slope=-1.0 / sigma, notes=notes)
    return limit_obs, tuple(limits_exp)


def fit(
    workspace: WorkspaceLike,
    patch: PatchLike = None,
    *,
    fixed_mu: float | None = None,
    backend: Backend | None = None,
) -> FitResult:
    """Maximum-likelihood fit to the observed data.

    The fit loop of :func:`cls` (SLSQP in prior-width units, gradients from the backend),
    from pyhf's suggested initial values, parameters and bounds.

    Args:
        workspace: background-only workspace (loaded, path or dict).
        patch: signal patch, or None for the background-only model.
        fixed_mu: hold the POI at this value (needs a patch); None fits it freely.
        backend: pyhf backend (``"jax"``, ``"numpy"``, ``"pytorch"``); None: JAX, or NumPy
            where JAX cannot be imported. See the module docstring.

    Returns:
        :class:`FitResult` with the best-fit value of every parameter.

    Raises:
        StatisticsError: invalid input or a failed minimisation.
    """
    if fixed_mu is not None and patch is None:
        raise StatisticsError("fixed_mu needs a signal patch: the background-only model has no POI")
    with _backend(backend) as used:
        model, data, _ = _model(workspace, patch)
        try:
            fitter = _Fitter(model, backend=used, qtilde=False)
            values, twice_nll = fitter.minimize(fitter.tb.astensor(data), fixed_mu, None)
        except _PYHF_ERRORS as exc:
            raise StatisticsError(f"pyhf fit failed: {exc}") from None
        if fitter.notes:
            raise StatisticsError(f"pyhf {fitter.notes[0]}")
        parameters = {
            name: values[model.config.par_slice(name)].copy() for name in model.config.par_order
        }
    return FitResult(parameters, twice_nll, fixed_mu)
