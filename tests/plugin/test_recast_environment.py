"""A written recast report says what it rests on: versions, pyhf backend, command line."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np
import pyhf
import pytest
import torch
from recast_fixtures import find_surrogate, workspace_or_skip

import surrotag
from surrotag.recast import recast, write_report

ANALYSIS = "zprime-ttbar-allhad"


def test_written_report_records_versions_backend_and_command_line(
    tmp_path: Path, delphes_file: Path, monkeypatch: pytest.MonkeyPatch
):
    workspace_or_skip()
    argv = ["/opt/venv/bin/surrotag", "run", ANALYSIS, "--events", str(delphes_file)]
    monkeypatch.setattr(sys, "argv", argv)
    report = recast(
        ANALYSIS, [delphes_file], xsec_pb=0.5071, surrogate=find_surrogate("top-tagger-delphes")
    )
    written = json.loads(write_report(report.to_dict(), tmp_path / "report.json").read_text())
    environment = written["environment"]
    assert environment["command_line"] == ["surrotag", *argv[1:]]
    assert environment["python"] == platform.python_version()
    versions = environment["versions"]
    assert versions["surrotag"] == surrotag.__version__
    assert versions["torch"] == torch.__version__
    assert versions["pyhf"] == pyhf.__version__
    assert versions["numpy"] == np.__version__
    assert written["statistics"]["backend"] in ("jax", "numpy", "pytorch")
