"""Fits that are right, or say they are not (issue 20, statistics).

CI-sized: the shipped Z' workspace (37 parameters) with the official 2 TeV signal and pyhf's
coupled-histosys validation model (two minima in the profile). The agreement with pyhf's
own ``hypotest`` and ``upper_limits`` on every workspace the tests carry is
``test_against_pyhf.py``.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
from pathlib import Path
from typing import Any

import pytest

from surrotag.errors import StatisticsError, SurrotagError
from surrotag.stats import cls, cls_and_upper_limit, upper_limit
from surrotag.stats.infer import EXPECTED_KIND, _root

ANALYSIS = Path(__file__).resolve().parents[3] / "analyses" / "zprime_ttbar_allhad"


def _zprime_workspace() -> dict[str, Any]:
    return json.loads((ANALYSIS / "workspace.json").read_text(encoding="utf-8"))


def _zprime_patch(scale: float = 1.0, lumi: bool = False) -> list[dict[str, Any]]:
    """The official 2 TeV Z' yields (``official_yields.json``) as a signal patch."""
    official = json.loads((ANALYSIS / "official_yields.json").read_text(encoding="utf-8"))
    signal = next(s for s in official["signals"] if s["mass_gev"] == 2000.0)
    names = [c["name"] for c in _zprime_workspace()["channels"]]
    modifiers: list[dict[str, Any]] = [
        {"name": "mu_sig", "type": "normfactor", "data": None},
        {"name": "sig_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}},
    ]
    if lumi:
        modifiers.append({"name": "lumi_sig", "type": "lumi", "data": None})
    return [
        {
            "op": "add",
            "path": f"/channels/{names.index(region['channel'])}/samples/0",
            "value": {
                "name": "signal",
                "data": [scale * y for y in region["yield"]],
                "modifiers": copy.deepcopy(modifiers),
            },
        }
        for region in signal["regions"].values()
    ]


def _coupled_histosys() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """pyhf's validation model ``2bin_2channel_coupledhisto`` as background + signal patch."""

    def histosys(lo: list[float], hi: list[float]) -> dict[str, Any]:
        return {
            "name": "coupled_histosys",
            "type": "histosys",
            "data": {"lo_data": lo, "hi_data": hi},
        }

    workspace = {
        "channels": [
            {
                "name": "signal",
                "samples": [
                    {
                        "name": "bkg1",
                        "data": [100.0, 100.0],
                        "modifiers": [histosys([90.0, 90.0], [110.0, 110.0])],
                    },
                    {
                        "name": "bkg2",
                        "data": [50.0, 120.0],
                        "modifiers": [histosys([45.0, 45.0], [55.0, 55.0])],
                    },
                ],
            },
            {
                "name": "control",
                "samples": [
                    {
                        "name": "bkg1",
                        "data": [105.0, 100.0],
                        "modifiers": [histosys([95.0, 90.0], [110.0, 115.0])],
                    }
                ],
            },
        ],
        "observations": [
            {"name": "signal", "data": [170.0, 220.0]},
            {"name": "control", "data": [110.0, 105.0]},
        ],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    sig = {
        "name": "sig",
        "data": [30.0, 35.0],
        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
    }
    return workspace, [{"op": "add", "path": "/channels/0/samples/0", "value": sig}]


@pytest.fixture(scope="module")
def zprime() -> tuple[Any, Any]:
    workspace, patch = _zprime_workspace(), _zprime_patch()
    return cls_and_upper_limit(workspace, patch)


def test_results_say_which_expected_cls_and_backend(zprime):
    ours_cls, ours_limit = zprime
    assert EXPECTED_KIND == "a-posteriori"
    for result in (ours_cls, ours_limit):
        assert result.expected_kind == "a-posteriori"
        assert result.backend == "jax"
        assert result.warnings == ()


def test_limits_scale_with_the_signal_tiny_and_huge(zprime):
    """mu_up scales as 1 / signal: the free fit must not stop where it starts (x1e-4, was
    1.2% too weak) nor limits be clamped at 2^-14 or raise (x1e5)."""
    _, reference = zprime
    for scale in (1e-4, 1e5):
        limit = upper_limit(_zprime_workspace(), _zprime_patch(scale))
        assert limit.observed * scale == pytest.approx(reference.observed, rel=2e-3)
        assert limit.expected[2] * scale == pytest.approx(reference.expected[2], rel=2e-3)


def test_huge_signal_cls_does_not_raise_and_equals_combined():
    workspace, patch = _zprime_workspace(), _zprime_patch(1e5)
    alone = cls(workspace, patch)
    combined, _ = cls_and_upper_limit(workspace, patch)
    assert alone.observed == pytest.approx(combined.observed, abs=1e-6)
    assert alone.excluded and combined.excluded


def test_weak_signal_cls_warns_free_fit_at_poi_bound():
    result = cls(_zprime_workspace(), _zprime_patch(1e-4))
    assert not result.reliable
    assert any("upper bound" in w for w in result.warnings)


def test_two_minima_profile_matches_converged_reference():
    """pyhf's coupled-histosys model: warm starts found the wrong minimum (median expected
    CLs 0.0051, observed 0.066); the converged reference is 0.046 and 0.114."""
    workspace, patch = _coupled_histosys()
    result = cls(workspace, patch)
    assert result.expected[2] == pytest.approx(0.04595, abs=1e-3)
    assert result.observed == pytest.approx(0.1140, abs=2e-3)


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and isinstance(exc.value, SurrotagError)
    return message


def test_poi_lower_bound_other_than_zero_is_refused():
    workspace = _zprime_workspace()
    workspace["measurements"][0]["config"]["parameters"].append(
        {"name": "mu_sig", "bounds": [[-5.0, 10.0]]}
    )
    with pytest.raises(StatisticsError) as exc:
        cls(workspace, _zprime_patch())
    assert "lower bound -5" in _one_line(exc)


def test_tested_mu_outside_poi_bounds_is_refused():
    with pytest.raises(StatisticsError) as exc:
        cls(_zprime_workspace(), _zprime_patch(), mu=20.0)
    assert "outside the bounds [0, 10]" in _one_line(exc)


def test_lumi_modifier_without_lumi_config_is_a_clear_error():
    with pytest.raises(StatisticsError) as exc:
        cls(_zprime_workspace(), _zprime_patch(lumi=True), mu=1.0)
    assert "lumi modifier 'lumi_sig'" in _one_line(exc)


def test_root_tolerance_meets_the_readme_1e_4():
    """Default tolerance: every crossing within 1e-4 relative (README), was rtol 5e-3."""
    assert inspect.signature(upper_limit).parameters["rtol"].default <= 1e-4
    rtol = inspect.signature(upper_limit).parameters["rtol"].default
    for true in (3e-6, 0.37, 2.9, 4100.0):

        def curve(mu: float, true: float = true) -> float:  # concave, like Phi^-1(CLs)
            return math.log1p(true) - math.log1p(mu) + 0.1 * (true - mu) / (1.0 + true)

        found = _root(curve, {}, 1.0, 1e4, rtol)
        assert found == pytest.approx(true, rel=1e-4)
