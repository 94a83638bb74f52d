"""Which pyhf backend computes the statistics, and that the result and the report say so.

The default is JAX (one compiled likelihood and gradient per model), NumPy where JAX cannot
be imported, ``"pytorch"`` on request while pyhf < 0.8 has it; torch is imported only for
``"pytorch"``. The three agree within the README's tolerance (``test_against_pyhf.RTOL``).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyhf
import pytest

from surrotag.errors import StatisticsError
from surrotag.stats import cls, cls_and_upper_limit, fit, infer, upper_limit

RTOL = 1e-4
"""The README's tolerance (as ``test_against_pyhf.RTOL``)."""


def _simple() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Two bins, a background with a normsys and MC statistics, a signal with a normfactor."""
    background = {
        "name": "bkg",
        "data": [50.0, 52.0],
        "modifiers": [
            {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
            {"name": "staterror_SR", "type": "staterror", "data": [3.0, 7.0]},
        ],
    }
    workspace = {
        "channels": [{"name": "SR", "samples": [background]}],
        "observations": [{"name": "SR", "data": [51.0, 48.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    signal = {
        "name": "sig",
        "data": [12.0, 11.0],
        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
    }
    return workspace, [{"op": "add", "path": "/channels/0/samples/0", "value": signal}]


def _values(result: Any) -> list[float]:
    return [result.observed, *result.expected]


def test_default_is_jax_compiled_once_per_computation(caplog):
    workspace, patch = _simple()
    with caplog.at_level(logging.DEBUG, logger="surrotag.stats.infer"):
        result, limit = cls_and_upper_limit(workspace, patch)
    compiled = [r for r in caplog.records if "traced and compiled" in r.getMessage()]
    # one compilation served every fit: the free and fixed-mu fits, data and Asimov data
    assert len(compiled) == 1 and limit.n_fits > 10
    assert result.backend == limit.backend == "jax"
    assert result.expected_kind == limit.expected_kind == "a-posteriori"


@pytest.mark.parametrize("backend", ["numpy", "pytorch"])
def test_backends_agree(backend):
    workspace, patch = _simple()
    reference = cls(workspace, patch), upper_limit(workspace, patch)
    other = cls(workspace, patch, backend=backend), upper_limit(workspace, patch, backend=backend)
    assert other[0].backend == other[1].backend == backend
    for ours, theirs in zip(reference, other, strict=True):
        np.testing.assert_allclose(_values(ours), _values(theirs), rtol=RTOL)


def test_numpy_is_the_fallback_without_jax(monkeypatch):
    monkeypatch.setattr(infer, "_JAX_IMPORTABLE", False)
    workspace, patch = _simple()
    assert cls(workspace, patch).backend == "numpy"
    assert upper_limit(workspace, patch).backend == "numpy"


def test_fit_runs_on_every_backend_alike():
    workspace, patch = _simple()
    jax_fit = fit(workspace, patch, fixed_mu=0.5)
    numpy_fit = fit(workspace, patch, fixed_mu=0.5, backend="numpy")
    assert jax_fit.twice_nll == pytest.approx(numpy_fit.twice_nll, abs=1e-6)
    for name, values in jax_fit.parameters.items():
        np.testing.assert_allclose(values, numpy_fit.parameters[name], atol=1e-4, err_msg=name)
    assert jax_fit.parameters["mu"] == pytest.approx(0.5)


def test_unknown_or_missing_backend_is_one_line(monkeypatch):
    workspace, patch = _simple()
    with pytest.raises(StatisticsError, match="unknown pyhf backend 'tensorflow'"):
        cls(workspace, patch, backend="tensorflow")  # type: ignore[arg-type]
    original = pyhf.set_backend

    def no_pytorch(backend: Any, *args: Any, **kwargs: Any) -> None:
        if backend == "pytorch":  # as pyhf >= 0.8, which removed it
            raise pyhf.exceptions.InvalidBackend("The backend provided is not supported")
        original(backend, *args, **kwargs)

    monkeypatch.setattr(pyhf, "set_backend", no_pytorch)
    with pytest.raises(StatisticsError) as exc:
        cls(workspace, patch, backend="pytorch")
    assert "\n" not in str(exc.value) and "pyhf 0.8 removed it" in str(exc.value)
    assert "'jax'" in str(exc.value)

    def no_jax() -> None:
        raise pyhf.exceptions.ImportBackendError("There was a problem importing JAX.", None)

    monkeypatch.setattr(infer, "_jax_tensorlib", no_jax)
    with pytest.raises(StatisticsError) as exc:
        cls(workspace, patch, backend="jax")
    assert "\n" not in str(exc.value) and "install jax and jaxlib" in str(exc.value)


def test_default_statistics_do_not_import_torch(tmp_path: Path):
    workspace, patch = _simple()
    (tmp_path / "ws.json").write_text(json.dumps(workspace))
    (tmp_path / "patch.json").write_text(json.dumps(patch))
    code = (
        "import json, sys\n"
        "from surrotag.stats import cls_and_upper_limit\n"
        f"ws = json.load(open({str(tmp_path / 'ws.json')!r}))\n"
        f"result, limit = cls_and_upper_limit(ws, {str(tmp_path / 'patch.json')!r})\n"
        "print(result.backend, 'torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["jax", "False"], out.stderr[-2000:]


def test_written_report_and_summary_say_expected_kind_and_backend(tmp_path: Path):
    from rich.console import Console

    from surrotag.recast import recast
    from surrotag.recast.report import write_outputs
    from surrotag.recast.summary import print_summary

    report = recast("zprime-ttbar-allhad", draws=2)
    (path,) = write_outputs(report, "zprime-ttbar-allhad", output=tmp_path / "report.json")
    statistics = json.loads(path.read_text(encoding="utf-8"))["statistics"]
    assert statistics["expected_kind"] == "a-posteriori"
    assert statistics["backend"] == "jax"
    console = Console(record=True, width=300)
    print_summary(report, console)
    text = console.export_text()
    cls_line = next(line for line in text.splitlines() if line.startswith("CLs(mu=1)"))
    assert "a-posteriori expected" in cls_line and "pyhf jax backend" in cls_line
