"""The GPU path gives the CPU's numbers (runs only where CUDA exists; CI has no GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from surrotag.recast import recast

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device: the GPU path is checked on GPU hosts"
)


def test_recast_on_cuda_equals_cpu():
    cpu = recast("zprime-ttbar-allhad", draws=5, device="cpu")
    gpu = recast("zprime-ttbar-allhad", draws=5, device="cuda")
    for a, b in zip(cpu.regions, gpu.regions, strict=True):
        assert a.total > 0
        np.testing.assert_allclose(b.yields.per_draw, a.yields.per_draw, rtol=1e-4, atol=1e-6)
    assert gpu.limit.expected[2] == pytest.approx(cpu.limit.expected[2], rel=1e-3)
