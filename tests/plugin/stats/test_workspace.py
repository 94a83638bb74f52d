"""Loading and validating background-only workspaces."""

from __future__ import annotations

import copy
import json

import pytest

from surrotag.errors import InputFileError, StatisticsError
from surrotag.stats import load_workspace


def test_atlas_workspace_channels(atlas_workspace):
    names = [c.name for c in atlas_workspace.channels]
    assert names == ["SR_meff", "VRtt_meff", "CRtt_meff"]
    assert all(c.n_bins == 3 for c in atlas_workspace.channels)
    assert "ttbar" in atlas_workspace.channel("SR_meff").samples
    assert atlas_workspace.poi == "mu_SIG"
    assert atlas_workspace.modifiers_of_type("lumi") == ("lumi",)
    assert load_workspace(atlas_workspace) is atlas_workspace


def test_invalid_workspace_is_one_line_statistics_error(atlas_workspace, tmp_path):
    spec = copy.deepcopy(dict(atlas_workspace.spec))
    spec["channels"][0]["samples"][0]["modifiers"][0]["type"] = "no_such_modifier"
    with pytest.raises(StatisticsError, match="not a valid pyhf workspace") as info:
        load_workspace(spec)
    assert "\n" not in str(info.value)
    bad = tmp_path / "ws.json"
    bad.write_text("{not json")
    with pytest.raises(StatisticsError, match="not valid JSON"):
        load_workspace(bad)
    with pytest.raises(InputFileError, match="not found"):
        load_workspace(tmp_path / "missing.json")
    bad.write_text(json.dumps([1, 2]))
    with pytest.raises(StatisticsError, match="not a workspace"):
        load_workspace(bad)
    with pytest.raises(StatisticsError, match="has no channel 'SR_nope'; it has: SR_meff"):
        atlas_workspace.channel("SR_nope")
