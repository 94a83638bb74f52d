"""Benchmarks run only on request (``--benchmark``), never in the default ``pytest`` run.

Benchmark files are named ``bench_*.py``, so the default ``pytest`` (``test_*.py``) does
not even collect them; run one by naming it:
``pytest tests/benchmarks/bench_readers.py --benchmark -s``. As a second guard, every test
under ``tests/benchmarks`` is skipped unless ``--benchmark`` is given. They are also marked
``benchmark``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

BENCHMARK_DIR = Path(__file__).resolve().parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--benchmark",
        action="store_true",
        default=False,
        help="run the performance benchmarks in tests/benchmarks",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--benchmark", default=False):
        return
    skip = pytest.mark.skip(reason="benchmark: run with `pytest tests/benchmarks --benchmark`")
    for item in items:
        if BENCHMARK_DIR in Path(item.fspath).resolve().parents:
            item.add_marker(skip)
