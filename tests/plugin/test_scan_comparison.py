"""surrotag.scan.comparison: the internal tagger's rows, the per-point verdicts, the figure."""

from __future__ import annotations

import pytest

from surrotag.scan.comparison import agreement, official_rows, plot

PARAMETERS = ("m_stop_gev", "m_lsp_gev")


def _signal(name, m_stop, m_lsp, expected, observed=0.1):
    """An entry of official_yields.json's ``signals``, reduced to what the rows read."""
    return {
        "name": name,
        "m_stop_gev": m_stop,
        "m_lsp_gev": m_lsp,
        "sample": {"file": f"{name}.parquet", "sha256": "0" * 64, "n_events": 5000},
        "regions": {"NT1": {"yield": [1.0, 2.0]}},
        "cls_mu1": None if expected is None else {"observed": observed, "expected": expected},
    }


def _row(name, m1, median, p1, m_stop=900.0, m_lsp=50.0):
    return {"name": name, "m_stop_gev": m_stop, "m_lsp_gev": m_lsp, "status": "done",
            "cls_exp_m1": m1, "cls_exp": median, "cls_exp_p1": p1}  # fmt: skip


def test_official_rows_keep_the_points_with_cls_in_order():
    official = {
        "signals": [
            _signal("stop_700_50", 700, 50, [0.001, 0.002, 0.003, 0.004, 0.005], 0.0025),
            _signal("stop_900_50", 900, 50, None),
            _signal("stop_900_400", 900, 400, [0.1, 0.2, 0.3, 0.4, 0.5]),
        ]
    }
    rows = official_rows(official, PARAMETERS)
    assert [r["name"] for r in rows] == ["stop_700_50", "stop_900_400"]
    first = rows[0]
    assert first["status"] == "done"
    assert (first["m_stop_gev"], first["m_lsp_gev"]) == (700.0, 50.0)
    assert isinstance(first["m_stop_gev"], float)
    assert first["cls_obs"] == 0.0025
    assert (first["cls_exp_m1"], first["cls_exp"], first["cls_exp_p1"]) == (0.002, 0.003, 0.004)
    assert set(first) == {"name", *PARAMETERS, "status", "cls_obs", "cls_exp_m1", "cls_exp",
                          "cls_exp_p1"}  # fmt: skip


def test_agreement_bands_and_verdicts():
    internal = [_row("a", 0.001, 0.01, 0.03), _row("b", 0.2, 0.4, 0.6),
                _row("c", 0.01, 0.05, 0.2), _row("d", 0.001, 0.01, 0.03),
                _row("e", 0.2, 0.4, 0.6), _row("f", 0.2, 0.4, 0.6),
                _row("g", 0.01, 0.05, 0.2)]  # fmt: skip
    surrogate = [
        {"name": "a", "status": "done", "cls_exp": 0.02},  # excluded, surrogate excludes
        {"name": "b", "status": "done", "cls_exp": 0.01},  # allowed, surrogate excludes
        {"name": "c", "status": "done", "cls_exp": 0.9},  # straddles: either
        {"name": "d", "status": "done", "cls_exp": 0.3},  # excluded, surrogate allows
        {"name": "e", "status": "failed", "cls_exp": None},  # failed: unknown
        {"name": "f", "status": "done", "cls_exp": 0.5},  # allowed, surrogate allows
        # g: absent from the scan
    ]
    verdicts = agreement(internal, surrogate, PARAMETERS)
    assert [v["name"] for v in verdicts] == list("abcdefg")
    assert [v["band"] for v in verdicts] == [
        "excluded", "allowed", "straddles", "excluded", "allowed", "allowed", "straddles"
    ]  # fmt: skip
    assert [v["agrees"] for v in verdicts] == [True, False, True, False, None, True, None]
    a = verdicts[0]
    assert a == {"name": "a", "m_stop_gev": 900.0, "m_lsp_gev": 50.0,
                 "internal_cls_exp": 0.01, "internal_cls_exp_m1": 0.001,
                 "internal_cls_exp_p1": 0.03, "surrogate_cls_exp": 0.02,
                 "band": "excluded", "agrees": True}  # fmt: skip
    assert verdicts[4]["surrogate_cls_exp"] is None
    assert verdicts[6]["surrogate_cls_exp"] is None


def test_agreement_band_edge_at_the_level_is_not_excluded():
    """CLs < level excludes; an edge exactly at the level does not."""
    (v,) = agreement([_row("a", 0.05, 0.1, 0.2)], [{"name": "a", "status": "done",
                     "cls_exp": 0.05}], PARAMETERS)  # fmt: skip
    assert (v["band"], v["agrees"]) == ("allowed", True)


def test_agreement_respects_the_level():
    internal = [_row("a", 0.02, 0.04, 0.08)]
    surrogate = [{"name": "a", "status": "done", "cls_exp": 0.09}]
    (at_5,) = agreement(internal, surrogate, PARAMETERS)
    assert (at_5["band"], at_5["agrees"]) == ("straddles", True)
    (at_10,) = agreement(internal, surrogate, PARAMETERS, level=0.1)
    assert (at_10["band"], at_10["agrees"]) == ("excluded", True)
    (at_1,) = agreement(internal, surrogate, PARAMETERS, level=0.01)
    assert (at_1["band"], at_1["agrees"]) == ("allowed", True)
    (strict,) = agreement(internal, [{**surrogate[0], "cls_exp": 0.12}], PARAMETERS, level=0.1)
    assert (strict["band"], strict["agrees"]) == ("excluded", False)


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("scipy")
    masses = [(700.0, 50.0), (700.0, 400.0), (900.0, 50.0), (900.0, 400.0), (1100.0, 50.0),
              (1100.0, 400.0)]  # fmt: skip
    internal = []
    surrogate = []
    for i, (m_stop, m_lsp) in enumerate(masses):
        median = 10.0 ** (-4.0 + 3.0 * (m_stop - 700.0) / 400.0)  # crosses 0.05 in the grid
        internal.append(_row(f"p{i}", median / 3, median, median * 3, m_stop, m_lsp))
        surrogate.append({"name": f"p{i}", "status": "done", "cls_exp": median * 1.5,
                          "m_stop_gev": m_stop, "m_lsp_gev": m_lsp})  # fmt: skip
    path = plot(
        internal,
        surrogate,
        tmp_path / "contour.png",
        parameters=PARAMETERS,
        title="test, expected 95% CL exclusion",
        axis_labels=("m_stop [GeV]", "m_lsp [GeV]"),
    )
    assert path == tmp_path / "contour.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
