"""CLs, fits and limits on the published ATLAS-SUSY-2018-31 likelihood (RegionA).

The reference is computed here with pyhf directly, configured as ``pyhf cls`` (numpy
backend, normsys code4, histosys code4p, qtilde, asymptotics); the published number
CLs_obs = 0.000912 (pyhf 0.7.6) is checked too. Hypothesis tests on this 64-parameter
workspace take seconds each, so results are cached per module.
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pyhf
import pytest
from scipy.special import gammaln

from surrotag.errors import StatisticsError
from surrotag.stats import build_patch, cls, cls_and_upper_limit, fit, upper_limit
from surrotag.stats.infer import MODIFIER_SETTINGS
from surrotag.yields import Yields

PUBLISHED_CLS_OBS = 0.000912


def _nominal_only(official_signal):
    return {ch: Yields.from_nominal(v) for ch, v in official_signal.items()}


@pytest.fixture(scope="module")
def pyhf_reference(atlas_workspace, official_patch):
    """CLs of the official patch computed with pyhf itself, as the ``pyhf cls`` command does."""
    pyhf.set_backend("numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = atlas_workspace.workspace.model(
            patches=[official_patch], modifier_settings=MODIFIER_SETTINGS
        )
        obs, exp = pyhf.infer.hypotest(
            1.0,
            atlas_workspace.workspace.data(model),
            model,
            test_stat="qtilde",
            return_expected_set=True,
        )
    return float(obs), [float(e) for e in exp]


@pytest.fixture(scope="module")
def official_cls(atlas_workspace, official_patch):
    return cls(atlas_workspace, official_patch)


@pytest.fixture(scope="module")
def nominal_patch(atlas_workspace, official_signal, official_removed):
    """Builder patch from the official nominal yields: POI + lumi, no MC stat, no surrogate."""
    return build_patch(
        atlas_workspace,
        _nominal_only(official_signal),
        signal="sbottom_1300_850_60",
        mc_stat=False,
        remove_channels=official_removed,
    )


@pytest.fixture(scope="module")
def nominal_cls(atlas_workspace, nominal_patch):
    return cls(atlas_workspace, nominal_patch)


def test_official_patch_reproduces_pyhf(official_cls, pyhf_reference):
    obs, exp = pyhf_reference
    assert obs == pytest.approx(PUBLISHED_CLS_OBS, rel=1e-3)  # published to 3 digits
    assert official_cls.observed == pytest.approx(obs, rel=1e-4)
    # the expected band rests on the fits to the Asimov data, where pyhf's SLSQP run stops
    # ~5e-5 in -2 ln L above the minimum that surrotag's width-scaled fit reaches: 2e-4 at -2 sigma
    np.testing.assert_allclose(official_cls.expected, exp, rtol=5e-4)
    assert official_cls.excluded and official_cls.sensitive
    print(
        f"\nCLs_obs official: pyhf(numpy) {obs:.7g}, "
        f"surrotag({official_cls.backend}) {official_cls.observed:.7g}"
    )


def test_builder_equals_official_without_systematics(
    atlas_workspace, official_patch, nominal_cls, official_cls
):
    # the official patch with its signal systematics dropped by hand: keep lumi and mu_SIG
    stripped = copy.deepcopy(official_patch)
    for op in stripped:
        if op["op"] == "add":
            op["value"]["modifiers"] = [
                m for m in op["value"]["modifiers"] if m["type"] in ("lumi", "normfactor")
            ]
    by_hand = cls(atlas_workspace, stripped)
    assert nominal_cls.observed == pytest.approx(by_hand.observed, rel=1e-6, abs=1e-9)
    np.testing.assert_allclose(nominal_cls.expected, by_hand.expected, rtol=1e-6)
    # dropping the signal systematics (SigRad, detector histosys, staterror) makes the
    # signal more certain: CLs can only go down, and here it changes by less than a factor 2
    assert nominal_cls.observed <= official_cls.observed
    assert nominal_cls.observed > 0.5 * official_cls.observed
    print(
        f"\nCLs_obs official {official_cls.observed:.6g}; without signal systematics: "
        f"builder {nominal_cls.observed:.6g}, stripped official {by_hand.observed:.6g}"
    )


def test_fit_at_mu_zero_gives_background_only_fit(atlas_workspace, surrogate_draws):
    # full builder patch: own MC-stat shapesys + surrogate histosys, no channel removed
    patch = build_patch(atlas_workspace, surrogate_draws, signal="sig")
    bkg = fit(atlas_workspace)
    at_zero = fit(atlas_workspace, patch, fixed_mu=0.0)
    # -2 ln L differs only by the constant constraint terms of the signal's own parameters at
    # their nominal values: Poisson(tau | tau) per MC-stat bin, N(0 | 0, 1) per eigen-variation
    tau = np.concatenate([(y.nominal / y.mc_stat_error) ** 2 for y in surrogate_draws.values()])
    poisson = -2 * (tau * np.log(tau) - tau - gammaln(tau + 1))
    gauss = patch.variations.n_components * np.log(2 * np.pi)
    assert at_zero.twice_nll - bkg.twice_nll == pytest.approx(poisson.sum() + gauss, abs=1e-3)
    for name, values in bkg.parameters.items():
        np.testing.assert_allclose(at_zero.parameters[name], values, atol=2e-3, err_msg=name)
    # the signal-only parameters sit at their nominal values
    for name, values in at_zero.parameters.items():
        if name.startswith("sig_mcstat_"):
            np.testing.assert_allclose(values, 1.0, atol=1e-3)
        elif "_eig" in name:
            np.testing.assert_allclose(values, 0.0, atol=1e-3)


def test_surrogate_uncertainty_weakens_expected_cls(
    atlas_workspace, official_signal, official_removed, nominal_cls, surrogate_draws
):
    draws = surrogate_draws
    # same nominal as the no-uncertainty patch, only the eigen-variations added
    with_unc = {
        ch: Yields(
            y.bin_edges, official_signal[ch], y.per_draw, np.zeros_like(y.nominal), y.covariance
        )
        for ch, y in draws.items()
    }
    patch = build_patch(
        atlas_workspace,
        with_unc,
        signal="sbottom_1300_850_60",
        mc_stat=False,
        remove_channels=official_removed,
    )
    assert patch.variations.n_components >= 1
    result = cls(atlas_workspace, patch)
    assert all(
        w >= n * (1 - 1e-6) for w, n in zip(result.expected, nominal_cls.expected, strict=True)
    )
    assert result.expected[2] > nominal_cls.expected[2]


def test_zero_signal_is_valid_and_excludes_nothing(atlas_workspace, official_signal):
    zero = {ch: Yields.from_nominal(np.zeros_like(v)) for ch, v in official_signal.items()}
    patch = build_patch(atlas_workspace, zero)
    result = cls(atlas_workspace, patch)
    assert result.observed == 1.0 and result.expected == (1.0,) * 5
    assert not result.sensitive and not result.excluded
    limit = upper_limit(atlas_workspace, patch)
    assert math.isinf(limit.observed) and not limit.sensitive and limit.n_hypotests == 0


def test_cls_and_upper_limit_equal_the_separate_calls(
    atlas_workspace, nominal_patch, nominal_cls, official_signal
):
    """One model and one set of mu-independent fits give the CLs of :func:`cls` and the
    limits of :func:`upper_limit`."""
    both_cls, both_limit = cls_and_upper_limit(atlas_workspace, nominal_patch)
    limit = upper_limit(atlas_workspace, nominal_patch)
    assert both_cls.observed == pytest.approx(nominal_cls.observed, rel=1e-4)
    assert both_cls.expected == pytest.approx(nominal_cls.expected, rel=1e-4)
    assert both_limit.observed == pytest.approx(limit.observed, rel=1e-6)
    assert both_limit.expected == pytest.approx(limit.expected, rel=1e-6)
    zero = {ch: Yields.from_nominal(np.zeros_like(v)) for ch, v in official_signal.items()}
    result, limit = cls_and_upper_limit(atlas_workspace, build_patch(atlas_workspace, zero))
    assert not result.sensitive and math.isinf(limit.observed)


def test_bad_patch_is_statistics_error(atlas_workspace):
    with pytest.raises(StatisticsError, match="does not apply"):
        cls(atlas_workspace, [{"op": "remove", "path": "/channels/7"}])
    with pytest.raises(StatisticsError, match="needs a signal patch"):
        cls(atlas_workspace, None)


@pytest.mark.slow
def test_upper_limit_official_and_surrogate_uncertainty(
    atlas_workspace,
    official_patch,
    official_signal,
    official_removed,
    nominal_patch,
    surrogate_draws,
):
    limit = upper_limit(atlas_workspace, official_patch)
    # the observed limit is where pyhf's own CLs crosses 0.05
    pyhf.set_backend("numpy")
    model = atlas_workspace.workspace.model(
        patches=[official_patch], modifier_settings=MODIFIER_SETTINGS
    )
    cls_at_limit = pyhf.infer.hypotest(
        limit.observed, atlas_workspace.workspace.data(model), model, test_stat="qtilde"
    )
    assert float(cls_at_limit) == pytest.approx(0.05, rel=2e-2)
    assert list(limit.expected) == sorted(limit.expected)

    without = upper_limit(atlas_workspace, nominal_patch)
    draws = surrogate_draws
    with_unc = {
        ch: Yields(
            y.bin_edges, official_signal[ch], y.per_draw, np.zeros_like(y.nominal), y.covariance
        )
        for ch, y in draws.items()
    }
    patch = build_patch(atlas_workspace, with_unc, mc_stat=False, remove_channels=official_removed)
    with_u = upper_limit(atlas_workspace, patch)
    assert all(w >= n * (1 - 5e-3) for w, n in zip(with_u.expected, without.expected, strict=True))
    assert with_u.expected[2] > without.expected[2]
    print(f"\nofficial {limit}\nwithout surrogate unc {without}\nwith {with_u}")


def test_pyhf_backend_switch_leaves_torch_default_dtype(
    atlas_workspace, official_patch, official_cls
):
    """pyhf's 64-bit torch backend must not leak float64 into later torch work; its CLs
    equal the default (JAX) backend's."""
    import torch

    before = torch.get_default_dtype()
    result = cls(atlas_workspace, official_patch, backend="pytorch")
    assert torch.get_default_dtype() == before == torch.float32
    assert official_cls.backend == "jax" and result.backend == "pytorch"
    np.testing.assert_allclose(
        [result.observed, *result.expected],
        [official_cls.observed, *official_cls.expected],
        rtol=1e-6,
    )
