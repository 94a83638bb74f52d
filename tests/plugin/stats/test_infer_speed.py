"""The fast inference path against pyhf itself, on the published ATLAS-SUSY-2018-31 likelihood.

:mod:`surrotag.stats.infer` runs its own warm-started, width-scaled fits and its own secant
search for the CLs = 0.05 crossings; these tests hold it to pyhf's asymptotic formulae
(closed form), to pyhf's hypothesis test at another mu, to the number of fits the limits
take, and (slow) to a full ``pyhf.infer.intervals.upper_limits.upper_limit`` root search;
``test_against_pyhf.py`` compares CLs and limits on every workspace. The thread settings
of the fits are checked per backend.
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pyhf
import pytest

from surrotag.stats import upper_limit
from surrotag.stats.infer import (
    _N_SIGMA,
    MODIFIER_SETTINGS,
    _log_cls_expected,
    _log_cls_observed,
    cls,
)


def _pyhf_model(workspace, patch):
    model = workspace.workspace.model(patches=[patch], modifier_settings=MODIFIER_SETTINGS)
    return model, workspace.workspace.data(model)


def _pyhf_hypotest(mu, workspace, patch, par_bounds=None):
    """CLs_obs and expected band with pyhf's own hypotest (run by ``pyhf_converged``)."""
    model, data = _pyhf_model(workspace, patch)
    obs, exp = pyhf.infer.hypotest(
        mu, data, model, par_bounds=par_bounds, test_stat="qtilde", return_expected_set=True
    )
    return float(obs), [float(e) for e in exp]


@pytest.fixture(scope="module")
def official_limit(atlas_workspace, official_patch):
    return upper_limit(atlas_workspace, official_patch)


def test_asymptotic_formulae_equal_pyhf_distributions():
    pyhf.set_backend("numpy")
    from pyhf.infer.calculators import AsymptoticTestStatDistribution

    for sqrt_qa in (0.3, 1.0, 1.96, 3.5):
        sb, b = AsymptoticTestStatDistribution(-sqrt_qa), AsymptoticTestStatDistribution(0.0)
        for sqrt_q in (0.0, 0.5, 1.0, 1.96, 3.0, 4.5):
            # pyhf's AsymptoticCalculator.teststatistic for qtilde
            if sqrt_q <= sqrt_qa:
                t = sqrt_q - sqrt_qa
            else:
                t = (sqrt_q**2 - sqrt_qa**2) / (2 * sqrt_qa)
            ref = float(sb.pvalue(t) / b.pvalue(t))
            assert math.exp(_log_cls_observed(sqrt_q, sqrt_qa)) == pytest.approx(ref, rel=1e-9)
        ref_band = [
            float(sb.pvalue(b.expected_value(n)) / b.pvalue(b.expected_value(n))) for n in _N_SIGMA
        ]
        np.testing.assert_allclose(np.exp(_log_cls_expected(sqrt_qa)), ref_band, rtol=1e-9)
    # far tails stay finite where 1 - Phi underflows
    assert 0.0 < math.exp(_log_cls_observed(12.0, 12.0)) < 1e-30


def test_cls_at_another_mu_equals_pyhf_hypotest(atlas_workspace, official_patch, pyhf_converged):
    with pyhf_converged():
        obs, exp = _pyhf_hypotest(0.5, atlas_workspace, official_patch)
    ours = cls(atlas_workspace, official_patch, mu=0.5)
    # the README's tolerance (test_against_pyhf.RTOL), against pyhf converged
    assert ours.observed == pytest.approx(obs, rel=1e-4)
    np.testing.assert_allclose(ours.expected, exp, rtol=1e-4)


def test_upper_limit_search_is_economical(official_limit):
    limit = official_limit
    assert limit.sensitive and math.isfinite(limit.observed)
    assert list(limit.expected) == sorted(limit.expected)
    # all six limits to rtol 1e-4 (README) from about twenty tested mu: 4 mu-independent
    # fits (two starts for the free fit, mu = 0 refitted from it), two starts at the first
    # tested mu, then one fit per mu and data set
    assert limit.n_hypotests <= 22 and limit.n_fits <= 34


@pytest.mark.slow
def test_upper_limits_equal_pyhf_upper_limit(atlas_workspace, official_patch, official_limit):
    """Against pyhf's own toms748 scan (numpy backend, as ``pyhf upper-limit``; minutes)."""
    pyhf.set_backend("numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, data = _pyhf_model(atlas_workspace, official_patch)
        obs, exp = pyhf.infer.intervals.upper_limits.upper_limit(
            data, model, scan=None, level=0.05, rtol=1e-3, test_stat="qtilde"
        )
    assert official_limit.observed == pytest.approx(float(obs), rel=1e-2)
    np.testing.assert_allclose(official_limit.expected, [float(e) for e in exp], rtol=1e-2)
    print(f"\npyhf obs {float(obs):.5g} exp {[round(float(e), 5) for e in exp]}\n{official_limit}")


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_pytorch_fits_run_on_one_torch_thread_and_restore_it(atlas_workspace, official_patch):
    import torch

    seen = []
    before, blas_before = torch.get_num_threads(), _blas_threads()
    torch.set_num_threads(2)
    original = torch.autograd.grad

    def grad(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    try:
        torch.autograd.grad = grad
        result = cls(atlas_workspace, official_patch, backend="pytorch")
    finally:
        torch.autograd.grad = original
        after = torch.get_num_threads()
        torch.set_num_threads(before)
    assert seen and set(seen) == {1}
    assert after == 2 and _blas_threads() == blas_before
    assert result.excluded and result.backend == "pytorch"


def test_jax_fits_leave_torch_alone_and_restore_blas(atlas_workspace, official_patch):
    """The default backend does not touch torch (XLA's threads: the module docstring)."""
    import torch

    before, blas_before = torch.get_num_threads(), _blas_threads()
    result = cls(atlas_workspace, official_patch)
    assert result.backend == "jax" and result.excluded
    assert torch.get_num_threads() == before and _blas_threads() == blas_before


def test_signal_too_weak_for_mu_max_gives_infinite_limits(atlas_workspace, official_patch):
    # the official signal scaled by 1e-5 (with its uncertainties): limits near 5e4 > mu_max
    weak = copy.deepcopy(official_patch)
    for op in weak:
        if op["op"] == "add":
            sample = op["value"]
            sample["data"] = [1e-5 * x for x in sample["data"]]
            for modifier in sample["modifiers"]:
                data = modifier.get("data")
                if isinstance(data, dict):
                    for key in set(data) & {"hi_data", "lo_data"}:  # histosys, not normsys
                        data[key] = [1e-5 * x for x in data[key]]
                elif modifier["type"] == "staterror":
                    modifier["data"] = [1e-5 * x for x in data]
    limit = upper_limit(atlas_workspace, weak, mu_max=1e4)
    assert limit.sensitive and math.isinf(limit.observed)
    assert all(math.isinf(e) for e in limit.expected)
