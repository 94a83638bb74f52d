"""The wheel's package list must name every package folder (setuptools package-dir mapping)."""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {
    "plugin": "surrotag",
    "surrogates": "surrotag.surrogates",
    "analyses": "surrotag.analyses",
}


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for folder, package in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *relative)))
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert config["package-dir"] == {v: k for k, v in FOLDERS.items()}


def test_version_answers_without_heavy_imports():
    code = (
        "import sys; from surrotag.cli import main; rc = main(['--version']);"
        "heavy = [m for m in ('torch', 'uproot', 'pyhf') if m in sys.modules];"
        "sys.exit(1 if heavy else rc)"
    )
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert "surrotag, version" in result.stdout
    print(f"surrotag --version in a fresh interpreter: {elapsed:.3f} s")
