"""The one Parquet column reader: numpy columns, and one line per missing or broken input."""

from __future__ import annotations

import re
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from surrotag.errors import CorruptFileError, FormatError, InputFileError
from surrotag.io.parquet import read_columns, write_parquet


@pytest.fixture
def table(tmp_path: Path) -> Path:
    array = ak.Array(
        {
            "x": [1.5, np.nan, 3.0],
            "n": np.array([1, 2, 3], dtype=np.int32),
            "flag": [True, False, True],
            "split": ["train", "test", "train"],
            "jets": [[1.0], [], [2.0, 3.0]],
        }
    )
    return write_parquet(array, tmp_path / "t.parquet")


def test_numeric_columns_are_float64_and_text_columns_objects(table: Path):
    columns = read_columns(table, ["n", "flag", "x"], optional=["split", "label"], text={"split"})
    assert list(columns) == ["n", "flag", "x", "split"]  # an absent optional one is left out
    assert all(columns[name].dtype == np.float64 for name in ("n", "flag", "x"))
    np.testing.assert_array_equal(columns["n"], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(columns["flag"], [1.0, 0.0, 1.0])
    assert np.isnan(columns["x"][1])
    assert columns["split"].dtype == object and list(columns["split"]) == ["train", "test", "train"]


def test_missing_file_column_and_broken_file_are_one_line(table: Path, tmp_path: Path):
    missing = tmp_path / "none.parquet"
    with pytest.raises(InputFileError, match=rf"^{re.escape(str(missing))}: no such file; do X$"):
        read_columns(missing, ["x"], hint="do X")
    with pytest.raises(FormatError, match=r"no column\(s\) y, z \(has x, n, flag, split, jets\)$"):
        read_columns(table, ["x", "y", "z"])
    with pytest.raises(FormatError, match=r"column 'jets' is .*, not numeric$"):
        read_columns(table, ["jets"])
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(CorruptFileError, match="not a readable Parquet file") as caught:
        read_columns(broken, ["x"])
    assert "\n" not in str(caught.value)
