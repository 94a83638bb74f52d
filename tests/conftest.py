"""Shared fixtures: the real third-party files in ``../shared/data`` (skipped when absent)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _shared(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real test data {relative} not found: needs ../shared/data beside the repo")
    return path


@pytest.fixture(scope="session")
def delphes_file() -> Path:
    """Real Delphes 3.4.2 output (CMS card), 10 events gg -> ttH."""
    return _shared("delphes/delphes342_cms_ttH_10ev.root")


@pytest.fixture(scope="session")
def exroot_file() -> Path:
    """MadGraph ExRootAnalysis LHEF tree, 100 events q qbar -> Z Z."""
    return _shared("parton/exroot_lhef_qqbar_ZZ_100ev.root")


@pytest.fixture(scope="session")
def lhe_ttbar_file() -> Path:
    """LHE v1.0, 100 events p pbar -> t tbar at 1.96 TeV with full decays."""
    return _shared("parton/ttbar_tevatron_100ev.lhe")


@pytest.fixture(scope="session")
def lhe_zprime_file() -> Path:
    """LHE, 10 events pp -> j Z', Z' -> chi2 chi1 (BSM PDG ids)."""
    return _shared("parton/zprime_idm_13tev_10ev.lhe")


@pytest.fixture(scope="session")
def atlas_sbottom_dir() -> Path:
    """Published ATLAS-SUSY-2018-31 likelihood: BkgOnly.json and signal patches."""
    return _shared("pyhf/ATLAS-SUSY-2018-31_sbottom_multib_RegionA")


@pytest.fixture(params=[(0o022, 0o644), (0o077, 0o600)], ids=["umask022", "umask077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under a umask; yield the mode a new output must get."""
    mask, mode = request.param
    previous = os.umask(mask)
    try:
        yield mode
    finally:
        os.umask(previous)
