"""The figures: one style and label (:mod:`surrotag.io.figures`), the region plot's signal
band and luminosity label, the scan contour's band drawn from the CLs fields."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("mplhep")

from cls_grid import log_linear_cls_rows

from surrotag.io import figures
from surrotag.recast import plot as region_plot
from surrotag.recast.report import RegionResult
from surrotag.scan.contour import (
    CLS_LEVEL,
    band_field,
    contour_figure,
    interpolate_cls,
    plot_contour,
)
from surrotag.yields import Yields

EDGES = np.array([1000.0, 1500.0, 2000.0, 3000.0])
BACKGROUND = np.array([40.0, 12.0, 3.0])


def _region() -> RegionResult:
    per_draw = np.array([[5.0, 3.0, 1.0], [6.0, 2.0, 1.5], [4.0, 3.5, 0.5], [5.5, 2.5, 1.0]])
    yields = Yields(
        bin_edges=EDGES,
        nominal=per_draw.mean(axis=0),
        per_draw=per_draw,
        mc_stat_error=np.array([0.8, 0.4, 0.3]),
        covariance=np.cov(per_draw, rowvar=False),
    )
    return RegionResult("SR", "SR_mjj", "both", "wp50", "mjj", yields)


def _workspace() -> dict:
    return {
        "version": "1.0.0",
        "channels": [
            {
                "name": "SR_mjj",
                "samples": [
                    {
                        "name": "qcd",
                        "data": BACKGROUND.tolist(),
                        "modifiers": [{"name": "mu_b", "type": "normfactor", "data": None}],
                    }
                ],
            }
        ],
        "observations": [{"name": "SR_mjj", "data": [45.0, 15.0, 4.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu_b", "parameters": []}}],
    }


def test_signal_uncertainty_adds_mc_stat_and_surrogate_spread_in_quadrature():
    region = _region()
    spread = region.yields.per_draw.std(axis=0, ddof=1)
    expected = np.sqrt(region.yields.mc_stat_error**2 + spread**2)
    np.testing.assert_allclose(region_plot.signal_uncertainty(region), expected)


def test_region_plot_draws_the_signal_band_and_the_luminosity_label(tmp_path, monkeypatch):
    drawn = []

    def keep(fig, path, **kwargs):
        drawn.append(fig)  # kept open to look at; the test closes it
        return path

    monkeypatch.setattr(region_plot, "save_figure", keep)
    region = _region()
    report = SimpleNamespace(
        analysis="zprime-test",
        analysis_info={"luminosity_ifb": 139.0, "sqrt_s_gev": 13000.0},
        tagger={"kind": "surrogate"},
        regions=(region,),
    )
    region_plot.plot_regions(report, _workspace(), tmp_path / "mjj.png")
    (fig,) = drawn
    (ax,) = fig.axes
    bands = [c for c in ax.containers if c.get_label().startswith("signal uncertainty")]
    assert len(bands) == 1 and len(bands[0].patches) == 3  # one box per bin
    sigma = region_plot.signal_uncertainty(region)
    total = BACKGROUND + region.yields.nominal
    np.testing.assert_allclose([p.get_height() for p in bands[0].patches], 2 * sigma)
    np.testing.assert_allclose([p.get_y() for p in bands[0].patches], total - sigma)
    np.testing.assert_allclose([p.get_x() for p in bands[0].patches], EDGES[:-1] / 1000.0)
    texts = {text.get_text() for text in ax.texts}
    assert {figures.EXPERIMENT, "Simulation"} <= texts
    assert any("139" in t and "fb^{-1}" in t and "(13 TeV)" in t for t in texts), texts
    assert not any("ATLAS" in t or "CMS" in t for t in texts)
    assert "signal uncertainty (MC stat. + surrogate)" in [
        t.get_text() for t in ax.get_legend().get_texts()
    ]
    figures.pyplot().close(fig)


def test_region_plot_writes_an_image(tmp_path):
    report = SimpleNamespace(
        analysis="zprime-test",
        analysis_info={"luminosity_ifb": 139.0, "sqrt_s_gev": 13000.0},
        tagger={"kind": "efficiency-map"},
        regions=(_region(),),
    )
    path = region_plot.plot_regions(report, _workspace(), tmp_path / "mjj.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mjj.png"]


def test_every_figure_uses_the_one_style():
    """No module picks its own mplhep style: they all go through surrotag.io.figures."""
    from pathlib import Path

    import surrotag

    root = Path(surrotag.__file__).parent
    own = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "mplhep.style." in path.read_text("utf-8") and path.name != "figures.py"
    ]
    assert own == []


# --------------------------------------------------------------------------- contour


def _band_vertices(rows: list[dict]) -> np.ndarray:
    fig = contour_figure(rows, ("mass_gev", "coupling"))
    try:
        (band,) = [c for c in fig.axes[0].collections if c.get_gid() == "expected_band"]
        return np.concatenate([path.vertices for path in band.get_paths()])
    finally:
        figures.pyplot().close(fig)


def _mesh_mask(rows: list[dict]) -> np.ndarray:
    """The yes/no band of the mesh points (what the band was once filled from)."""
    x = np.array([r["mass_gev"] for r in rows])
    y = np.array([r["coupling"] for r in rows])
    mesh = np.meshgrid(np.linspace(x.min(), x.max(), 200), np.linspace(y.min(), y.max(), 200))
    lo = interpolate_cls(x, y, np.array([r["cls_exp_m1"] for r in rows]), mesh)
    hi = interpolate_cls(x, y, np.array([r["cls_exp_p1"] for r in rows]), mesh)
    return (np.fmin(lo, hi) < CLS_LEVEL) & (np.fmax(lo, hi) >= CLS_LEVEL)


def test_contour_band_follows_the_cls_fields_continuously():
    """A small continuous change of the +-1 sigma CLs moves the band's edges although no
    mesh point changes sides of CLs = 0.05: the band is drawn from the fields, not a mask."""
    # an offset of 1.0123: no mesh point lies exactly on CLs = 0.05
    before = log_linear_cls_rows(scale_m1=1.0123, scale_p1=1.0123)
    after = log_linear_cls_rows(scale_m1=1.0123 * (1 + 1e-5), scale_p1=1.0123 * (1 - 1e-5))
    mask = _mesh_mask(before)
    assert mask.any() and (~mask).any()
    np.testing.assert_array_equal(mask, _mesh_mask(after))  # no yes/no flips
    a, b = _band_vertices(before), _band_vertices(after)
    assert a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=1e-9)


def test_contour_band_edges_lie_on_the_sigma_contours():
    """The band's vertices lie where one of the +-1 sigma CLs fields is 0.05 (or on the
    border of the points' hull), as the contour lines of those fields do."""
    rows = log_linear_cls_rows()
    vertices = _band_vertices(rows)
    x = np.array([r["mass_gev"] for r in rows])
    y = np.array([r["coupling"] for r in rows])
    at = (vertices[:, 0], vertices[:, 1])
    lo = interpolate_cls(x, y, np.array([r["cls_exp_m1"] for r in rows]), at)
    hi = interpolate_cls(x, y, np.array([r["cls_exp_p1"] for r in rows]), at)
    on_contour = np.isclose(lo, CLS_LEVEL, rtol=0.03) | np.isclose(hi, CLS_LEVEL, rtol=0.03)
    on_border = np.isclose(vertices[:, 0], x.min()) | np.isclose(vertices[:, 0], x.max())
    on_border |= np.isclose(vertices[:, 1], y.min()) | np.isclose(vertices[:, 1], y.max())
    assert np.all(on_contour | on_border)
    inside = band_field(lo, hi)
    assert np.all(inside[~on_border] <= 1e-3)


def test_band_field_is_negative_exactly_between_the_two_contours():
    lo = np.array([0.01, 0.04, 0.06, 0.05, np.nan])
    hi = np.array([0.03, 0.06, 0.2, 0.3, 0.1])
    field = band_field(lo, hi)
    np.testing.assert_array_less(field[1], 0)
    assert field[0] > 0 and field[2] > 0 and field[3] == 0 and np.isnan(field[4])
    np.testing.assert_array_equal(field, band_field(hi, lo))  # either order


def test_plot_contour_still_writes_a_png_and_declines_without_area(tmp_path):
    rows = log_linear_cls_rows()
    path = plot_contour(rows, ("mass_gev", "coupling"), tmp_path / "c.png", title="t")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert contour_figure(rows, ("mass_gev",)) is None
    assert contour_figure(rows[:2], ("mass_gev", "coupling")) is None
