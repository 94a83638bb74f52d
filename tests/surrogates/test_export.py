"""ONNX export of the velocity field: onnxruntime against torch, and the metadata recipe."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

from surrotag.surrogates.errors import SurrogateError
from surrotag.surrogates.export import EXPORT_FORMAT, draw_weights, export_onnx
from surrotag.surrogates.storage import load_surrogate, save_surrogate

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def _torch_velocity(model, weights, x, t, c):
    with torch.no_grad():
        hc = model.field.condition(weights, model.standardise(torch.from_numpy(c)))
        v = model.field(
            weights, torch.from_numpy(x).view(1, -1, 1), torch.from_numpy(t).view(-1), hc
        )
    return v.view(-1, 1).numpy()


@pytest.mark.parametrize(("method", "draw"), [("none", None), ("vi", None), ("vi", 3), ("mcmc", 1)])
def test_onnxruntime_matches_torch(trained, tmp_path, method, draw):
    model = trained[method]
    path = export_onnx(model, tmp_path / "v.onnx", draw=draw)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(11)
    c = trained["features"][:200].astype(np.float32)
    x = rng.normal(size=(200, 1)).astype(np.float32) * 2
    t = rng.uniform(size=(200, 1)).astype(np.float32)
    (v,) = session.run(["v"], {"x": x, "t": t, "c": c})
    expected = _torch_velocity(model, draw_weights(model, draw), x, t, c)
    assert v.shape == (200, 1)
    assert np.abs(v - expected).max() < 1e-5


def test_metadata_recipe_reproduces_exact_probabilities(trained, card_fields, tmp_path):
    """A consumer that knows only the ONNX file gets the library's P(score > w | c)."""
    folder = tmp_path / "s"
    save_surrogate(trained["vi"], card_fields, folder)
    model, card = load_surrogate(folder)
    path = export_onnx(model, tmp_path / "v.onnx", card=card, draw=2)
    loaded = onnx.load(str(path))
    meta = {p.key: json.loads(p.value) for p in loaded.metadata_props}
    assert meta["surrotag.format"] == EXPORT_FORMAT
    assert meta["surrotag.feature_names"] == ["pt", "mass"]
    assert meta["surrotag.surrogate"]["weights_sha256"] == card.files["weights.safetensors"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    # Replay the recipe in numpy: transform the cut, RK4 backwards, Gaussian tail.
    score, solver = meta["surrotag.score_transform"], meta["surrotag.solver"]
    cut = 0.7
    clipped = min(max(cut, score["clip"]), 1 - score["clip"])
    c = trained["features"][:64].astype(np.float32)
    x = np.full(
        (64, 1),
        (math.log(clipped / (1 - clipped)) - score["loc"]) / score["scale"],
        dtype=np.float32,
    )
    steps, power = solver["steps"], solver["grid_power"]
    unit = solver["nodes"] or [1.0 - (1.0 - j / steps) ** power for j in range(steps + 1)]
    nodes = unit[::-1]

    def v(x, t):
        return session.run(["v"], {"x": x, "t": np.full((64, 1), t, np.float32), "c": c})[0]

    for t, t_next in itertools.pairwise(nodes):
        h = t_next - t
        k1 = v(x, t)
        k2 = v(x + 0.5 * h * k1, t + 0.5 * h)
        k3 = v(x + 0.5 * h * k2, t + 0.5 * h)
        k4 = v(x + h * k3, t + h)
        x = x + (h / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)
    recipe = 0.5 * np.vectorize(math.erfc)(x[:, 0] / math.sqrt(2.0))
    library = model(c).prob_above([card.model_threshold(cut)])[2, :, 0].numpy()
    assert np.abs(recipe - library).max() < 1e-5


def test_draw_out_of_range(trained, tmp_path):
    with pytest.raises(SurrogateError, match=r"draw=4: the surrogate has 4 default draws"):
        export_onnx(trained["vi"], tmp_path / "v.onnx", draw=4)
    assert not (tmp_path / "v.onnx").exists()


def test_all_draws_and_fills_reproduce_the_library_nominal(delphes_file, tmp_path):
    """A consumer with only the ONNX files and their metadata gets ``tag_objects``' nominal
    probability on real jets, NaN features included (jets matched to no top)."""
    from surrotag.features import build_features
    from surrotag.io import read_events
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.tagging import tag_objects

    model, card = load_surrogate(resolve_surrogate("top-tagger-delphes"))
    table = build_features(read_events(delphes_file), features=card.feature_names)
    raw = np.column_stack([np.asarray(table[n], np.float64) for n in card.feature_names])
    assert np.isnan(raw).any()  # the fills matter on this file
    k = model.default_draws
    paths = [export_onnx(model, tmp_path / f"d{i}.onnx", card=card, draw=i) for i in range(k)]
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(paths[0])).metadata_props}
    assert meta["surrotag.default_draws"] == k
    fills = meta["surrotag.feature_fills"]
    c = raw.copy()
    for j, name in enumerate(meta["surrotag.feature_names"]):
        if name in fills:
            c[:, j] = np.where(np.isnan(c[:, j]), fills[name], c[:, j])
    c = c.astype(np.float32)
    score, steps = meta["surrotag.score_transform"], meta["surrotag.solver"]["steps"]
    cut = card.working_points[1]
    n, h = len(c), -1.0 / steps
    per_draw = []
    for path in paths:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def v(x, t, session=session):
            return session.run(["v"], {"x": x, "t": np.full((n, 1), t, np.float32), "c": c})[0]

        u = card.model_threshold(cut["threshold"])  # the card's transform of the cut
        x = np.full((n, 1), (u - score["loc"]) / score["scale"], np.float32)
        for i in range(steps):
            t = 1.0 + i * h
            k1 = v(x, t)
            k2 = v(x + 0.5 * h * k1, t + 0.5 * h)
            k3 = v(x + 0.5 * h * k2, t + 0.5 * h)
            k4 = v(x + h * k3, t + h)
            x = x + (h / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)
        per_draw.append(0.5 * np.vectorize(math.erfc)(x[:, 0] / math.sqrt(2.0)))
    library = tag_objects(table, model, card, working_points=[cut["name"]]).nominal[:, 0]
    assert np.abs(np.mean(per_draw, axis=0) - library).max() < 1e-4
