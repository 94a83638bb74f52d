"""ONNX export of a surrogate's velocity field, with the ODE recipe in the model metadata.

One ONNX file holds the velocity field ``v(x, t | c)`` of **one weight draw** (choice made
here: a C++ framework then runs one small network per draw and loops over files for the
Bayesian spread):

* ``draw=None`` (default): the nominal weights: the point estimate (``bayes="none"``), the
  posterior mean ``mu`` (``vi``) or the mean of the stored samples (``mcmc``). Note that the
  library's nominal *probability* is the mean over draws of the per-draw probabilities,
  not the probability of the mean weights; export every draw to reproduce it.
* ``draw=i``: draw ``i`` of the surrogate's default ``K`` draws, exactly those used by
  ``surrogate(features)`` (VI draws from the generator seeded with the model seed, MCMC
  samples by index), so file ``i`` reproduces ``surrogate(c).prob_above(w)[i]``.

Graph inputs and output (float32, N dynamic):

* ``x`` [N, 1]: the flow state, i.e. the *standardised* score ``(u - loc) / scale`` where
  ``u`` is the score after the card's transform (logit of the clipped score);
* ``t`` [N, 1]: time in [0, 1] (t = 0 base, t = 1 data);
* ``c`` [N, F]: **raw** features in the card's order and units (standardisation inside);
* ``v`` [N, 1]: dx/dt.

The metadata keys ``surrotag.*`` (JSON values) spell out the rest: the NaN fills of the
features (applied before the graph), score transform, standardisation, base distribution,
solver, time grid and the direction of the solve for exact probabilities,
``P(score > w | c) = 1 - Phi(x(t=0))`` with ``x(t=1) = transform(w)``, and how the library's
nominal probability is made (the mean over the default draws: ``nominal_probability``). A
test replays this recipe in numpy with onnxruntime on the real Delphes file and gets the
library's nominal to 1e-4.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558; Lipman et al.,
    arXiv:2210.02747; ONNX, https://onnx.ai.
"""

from __future__ import annotations

import json
import os
import secrets
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from surrotag.surrogates.errors import SurrogateError

if TYPE_CHECKING:
    import torch

    from surrotag.surrogates.card import Card
    from surrotag.surrogates.flow import Surrogate

__all__ = [
    "EXPORT_FORMAT",
    "OPSET",
    "draw_weights",
    "export_draws",
    "export_onnx",
    "onnx_metadata",
]

#: Value of the ``surrotag.format`` metadata key.
EXPORT_FORMAT = "surrotag-velocity/1"
#: ONNX opset of the exported graphs.
OPSET = 17


def draw_weights(surrogate: Surrogate, draw: int | None = None) -> dict[str, torch.Tensor]:
    """Weights of one draw, each with a leading draw axis of size 1.

    Args:
        surrogate: the model.
        draw: None for the nominal weights, or an index into the default draws.

    Raises:
        SurrogateError: ``draw`` is outside ``[0, K)``.
    """
    import torch

    with torch.no_grad():
        if draw is None:
            return {k: v.detach().clone() for k, v in surrogate.weights.mean().items()}
        k = surrogate.default_draws
        if not 0 <= draw < k:
            raise SurrogateError(f"draw={draw}: the surrogate has {k} default draws (0..{k - 1})")
        generator = torch.Generator().manual_seed(surrogate.seed)
        stack = surrogate.weights.draws(k, generator)
        return {name: value[draw : draw + 1].detach().clone() for name, value in stack.items()}


def _module(surrogate: Surrogate, weights: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A plain module ``(x [N,1], t [N,1], c [N,F]) -> v [N,1]`` around the field."""
    import torch

    field = surrogate.field

    class _Velocity(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for name, value in weights.items():
                self.register_buffer(f"w_{name}", value.float())
            self.register_buffer("mean", surrogate.feature_mean.detach().float().clone())
            self.register_buffer("std", surrogate.feature_std.detach().float().clone())

        def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            w = {name: getattr(self, f"w_{name}") for name in weights}
            hc = field.condition(w, (c - self.mean) / self.std)
            v = field(w, x.reshape(1, -1, 1), t.reshape(-1), hc)
            return v.reshape(-1, 1)

    return _Velocity().eval()


def onnx_metadata(
    surrogate: Surrogate, card: Card | None = None, draw: int | None = None
) -> dict[str, str]:
    """The ``surrotag.*`` metadata of an exported field (values are JSON text)."""
    names = list(surrogate.feature_names)
    score: dict[str, Any] = {
        "loc": float(surrogate.score_loc),
        "scale": float(surrogate.score_scale),
        "state": "x = (u - loc) / scale, u = transformed tagger score",
    }
    if card is not None:
        score.update(
            space=card.score["space"], clip=card.score["clip"], column=card.score["column"]
        )
        score["transform"] = (
            "u = log(s / (1 - s)) with s clipped to [clip, 1 - clip]"
            if card.score["space"] == "logit"
            else "u = s"
        )
    else:
        score["transform"] = "u = score as given to train_surrogate (no card: space unknown)"
    k = surrogate.default_draws
    meta: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "inputs": {
            "x": "[N,1] float32 flow state (standardised transformed score)",
            "t": "[N,1] float32 time in [0,1]; t=0 base, t=1 data",
            "c": "[N,F] float32 raw features in feature_names order and units",
        },
        "output": {"v": "[N,1] float32 velocity dx/dt"},
        "feature_names": names,
        "feature_units": [f["unit"] for f in card.features] if card is not None else None,
        "feature_fills": dict(card.feature_fills) if card is not None else {},
        "fills_applied": "before the graph: a NaN feature takes its fill value, as in training "
        "(e.g. the containment of a jet matched to no top); any other NaN is not a valid input",
        "standardisation": {
            "mean": surrogate.feature_mean.tolist(),
            "std": surrogate.feature_std.tolist(),
            "applied": "inside the graph: (c - mean) / std",
        },
        "training_support": {
            "low": surrogate.feature_low.tolist(),
            "high": surrogate.feature_high.tolist(),
            "note": "0.1% and 99.9% quantiles; flag objects outside as out of distribution",
        },
        "score_transform": score,
        "base_distribution": "standard normal N(0, 1) at t=0",
        "solver": {
            "method": surrogate.solver,
            "steps": surrogate.steps,
            "grid_power": surrogate.grid_power,
            "nodes": None if surrogate.nodes is None else list(surrogate.nodes),
            "time_grid": "nodes tau_j = 1 - (1 - j / steps)^grid_power in flow time, "
            "j = 0..steps (grid_power 1: equal steps), or the listed nodes when given; a solve "
            "from t=1 to t=0 visits them in reverse order, with h = tau_(j-1) - tau_j",
            "rk4": "k1=v(x,t) k2=v(x+h/2 k1,t+h/2) k3=v(x+h/2 k2,t+h/2) k4=v(x+h k3,t+h); "
            "x += h/6 (k1 + 2 k2 + 2 k3 + k4)",
        },
        "probability": "P(score > w | c) = 0.5 * erfc(x0 / sqrt(2)): x(1) = (transform(w) - loc)"
        " / scale, integrate backwards from t=1 to t=0 on the time grid, x0 = x(0)",
        "sampling": "x(0) ~ N(0,1), integrate forwards t=0 -> 1, score u = x(1) * scale + loc",
        "bayes": surrogate.bayes,
        "draw": (
            "nominal weights (point estimate / VI mean / mean of MCMC samples)"
            if draw is None
            else f"draw {draw} of the {k} default draws (seed {surrogate.seed})"
        ),
        "default_draws": k,
        "nominal_probability": "the library's nominal P(score > w | c) is the mean over the "
        f"{k} default draws of each draw's probability: export draws 0..{k - 1} (surrotag "
        "surrogate export --all-draws), apply the recipe with each file and average; the "
        "file of the nominal weights (draw=None) is a different, point-estimate network",
        "references": ["arXiv:2402.15558", "arXiv:2210.02747"],
    }
    if card is not None:
        meta["surrogate"] = {
            "name": card.name,
            "version": card.version,
            "weights_sha256": card.files.get("weights.safetensors"),
        }
    return {f"surrotag.{key}": json.dumps(value) for key, value in meta.items()}


def export_onnx(
    surrogate: Surrogate,
    path: str | os.PathLike[str],
    *,
    card: Card | None = None,
    draw: int | None = None,
    opset: int = OPSET,
) -> Path:
    """Export the velocity field of one weight draw to ONNX, with the ODE recipe as metadata.

    Args:
        surrogate: the model (any device; exported on CPU in float32).
        path: the ``.onnx`` file to write (atomically).
        card: the surrogate's card, for the score transform, units and provenance.
        draw: None for the nominal weights, or an index into the default draws.
        opset: ONNX opset version.

    Returns:
        The path written.

    Raises:
        SurrogateError: ``onnx`` is not installed, or ``draw`` is out of range.
    """
    try:
        import onnx
    except ImportError:
        raise SurrogateError(
            "ONNX export needs the onnx package: pip install 'surrotag[onnx]'"
        ) from None
    import io

    import torch

    surrogate = surrogate.cpu().eval()
    module = _module(surrogate, draw_weights(surrogate, draw))
    n_features = len(surrogate.feature_names)
    example = (torch.zeros(2, 1), torch.full((2, 1), 0.5), torch.zeros(2, n_features))
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            buffer,
            dynamo=False,
            input_names=["x", "t", "c"],
            output_names=["v"],
            dynamic_axes={"x": {0: "N"}, "t": {0: "N"}, "c": {0: "N"}, "v": {0: "N"}},
            opset_version=opset,
        )
    model = onnx.load_from_string(buffer.getvalue())
    for key, value in onnx_metadata(surrogate, card, draw).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = "surrotag velocity field v(x, t | c); see metadata surrotag.*"
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh, unique temporary created with 0o666: the kernel applies the user's umask (as
    # surrotag.io.atomic does; surrogates/ may not import the plugin). A fixed name could
    # reuse a stale file of a killed run, with that file's mode, or collide with a second export.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        onnx.save(model, temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def export_draws(
    surrogate: Surrogate, path: str | os.PathLike[str], *, card: Card | None = None
) -> list[Path]:
    """Export every default weight draw to ``<stem>-drawNNN.onnx`` beside ``path``.

    Args:
        surrogate: the model.
        path: the nominal export's ``.onnx`` file; the draws' files are named after it
            (``v.onnx``: ``v-draw000.onnx``, ``v-draw001.onnx``, ...).
        card: the surrogate's card (:func:`export_onnx`).

    Returns:
        The files written, in draw order.
    """
    path = Path(path)
    return [
        export_onnx(surrogate, path.with_name(f"{path.stem}-draw{i:03d}.onnx"), card=card, draw=i)
        for i in range(surrogate.default_draws)
    ]
