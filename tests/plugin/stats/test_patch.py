"""Patch building: eigen-variations, modifiers, names, patchsets (no fits here)."""

from __future__ import annotations

import json

import numpy as np
import pyhf
import pytest

from surrotag.errors import StatisticsError
from surrotag.stats import PatchPoint, build_patch, eigen_variations, patchset, write_patchset
from surrotag.yields import Yields


def test_eigen_variations_closed_form():
    e1 = np.array([1.0, 1.0, 0.0]) / np.sqrt(2)
    e2 = np.array([1.0, -1.0, 0.0]) / np.sqrt(2)
    cov = 9.0 * np.outer(e1, e1) + 1.0 * np.outer(e2, e2)  # trace 10: 90% + 10%
    v = eigen_variations(cov, variance_fraction=0.95)
    assert v.n_components == 2
    np.testing.assert_allclose(v.components[0], 3.0 * e1, atol=1e-12)
    np.testing.assert_allclose(v.components.T @ v.components, cov, atol=1e-12)
    assert eigen_variations(cov, variance_fraction=0.9).n_components == 1
    assert eigen_variations(cov, max_components=1).explained == pytest.approx(0.9)
    assert eigen_variations(np.zeros((3, 3))).n_components == 0
    with pytest.raises(StatisticsError, match="symmetric"):
        eigen_variations(np.array([[1.0, 2.0], [0.0, 1.0]]))


def test_build_patch_modifiers(atlas_workspace, surrogate_draws, official_removed):
    yields = surrogate_draws
    patch = build_patch(
        atlas_workspace,
        yields,
        signal="sb1300",
        analysis="atlas_sbottom",
        surrogate="btagsurr",
        remove_channels=official_removed,
    )
    assert [op["op"] for op in patch.ops] == ["add", "add", "remove"]
    assert patch.ops[0]["path"] == "/channels/0/samples/0"
    assert patch.ops[2]["path"] == "/channels/1"
    mods = {m["name"]: m for m in patch.ops[0]["value"]["modifiers"]}
    assert mods["mu_SIG"]["type"] == "normfactor"
    assert mods["lumi"]["type"] == "lumi"
    assert mods["sb1300_mcstat_SR_meff"]["type"] == "shapesys"
    assert not any(m["type"] == "staterror" for m in mods.values())
    eig = sorted(n for n in mods if "_eig" in n)
    assert eig and eig[0] == "atlas_sbottom_btagsurr_eig0" and len(eig) <= 5
    assert patch.variations.explained >= 0.95 or patch.variations.n_components == 5
    # the same eigen-modifiers in both channels: correlated across regions
    cr_mods = {m["name"] for m in patch.ops[1]["value"]["modifiers"]}
    assert set(eig) <= cr_mods
    # hi - nominal over all channels reproduces the kept eigen-components
    u0 = np.concatenate(
        [
            np.asarray(op["value"]["modifiers"][3]["data"]["hi_data"])
            - np.asarray(op["value"]["data"])
            for op in patch.ops[:2]
        ]
    )
    np.testing.assert_allclose(u0, patch.variations.components[0], atol=1e-12)
    model = atlas_workspace.workspace.model(patches=[patch.ops])
    assert "atlas_sbottom_btagsurr_eig0" in model.config.parameters
    assert model.config.channels == ["CRtt_meff", "SR_meff"]


def test_build_patch_clips_negative_templates(atlas_workspace):
    nominal = np.array([0.1, 5.0, 5.0])
    draws = nominal + np.outer(np.linspace(-1, 1, 50), [1.0, 0.1, 0.1])
    y = Yields(np.arange(4.0), draws.mean(0), draws, np.zeros(3), np.cov(draws, rowvar=False))
    with pytest.warns(UserWarning, match="clipped to 0"):
        patch = build_patch(atlas_workspace, {"SR_meff": y}, mc_stat=False)
    assert ("analysis_surrogate_eig0", "SR_meff", 0) in patch.clipped
    lo = patch.ops[0]["value"]["modifiers"][-1]["data"]["lo_data"]
    assert min(lo) == 0.0


def test_build_patch_errors(atlas_workspace, official_signal):
    good = Yields.from_nominal(official_signal["SR_meff"])
    with pytest.raises(StatisticsError, match="2 bins; the workspace"):
        build_patch(atlas_workspace, {"SR_meff": Yields.from_nominal([1.0, 2.0])})
    with pytest.raises(StatisticsError, match="no channel 'SR_x'"):
        build_patch(atlas_workspace, {"SR_x": good})
    with pytest.raises(StatisticsError, match="already has a sample named 'ttbar'"):
        build_patch(atlas_workspace, {"SR_meff": good}, signal="ttbar")
    with pytest.raises(StatisticsError, match=">= 0"):
        build_patch(atlas_workspace, {"SR_meff": Yields.from_nominal([-1.0, 1.0, 1.0])})
    two = Yields(
        np.arange(4.0),
        good.nominal,
        np.stack([good.nominal] * 2),
        good.nominal * 0,
        np.zeros((3, 3)),
    )
    with pytest.raises(StatisticsError, match="different numbers of weight draws"):
        build_patch(atlas_workspace, {"SR_meff": good, "CRtt_meff": two})


def test_patchset_is_readable_by_pyhf(atlas_workspace, official_signal, tmp_path):
    points = []
    for scale, masses in ((1.0, (1300, 850, 60)), (0.5, (1400, 850, 60))):
        yields = {ch: Yields.from_nominal(scale * v) for ch, v in official_signal.items()}
        patch = build_patch(atlas_workspace, yields, signal="sbottom")
        points.append(PatchPoint(f"sbottom_{masses[0]}_{masses[1]}_{masses[2]}", masses, patch))
    spec = patchset(
        points,
        workspace=atlas_workspace,
        labels=("m_sbottom", "m_neutralino2", "m_neutralino1"),
        hepdata="ins1748602",
        description="surrotag recast test",
    )
    path = write_patchset(tmp_path / "patchset.json", spec)
    ps = pyhf.PatchSet(json.loads(path.read_text()))
    assert len(ps.patches) == 2
    ws = ps.apply(atlas_workspace.workspace, (1400, 850, 60))  # verifies the digest too
    sr = next(c for c in ws["channels"] if c["name"] == "SR_meff")
    np.testing.assert_allclose(sr["samples"][0]["data"], 0.5 * official_signal["SR_meff"])
    with pytest.raises(StatisticsError, match="invalid"):
        patchset(points, workspace=atlas_workspace, labels=("m",), hepdata="nope", description="")
