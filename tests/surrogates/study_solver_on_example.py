"""Solver error of a surrogate folder on jets its solver choice never saw.

``max |P_rk4 - P_dopri5|`` of the exact tag probability at the card's working points, 4
weight draws, over the fat jets (finite features) of the shipped Z' example of
``zprime-ttbar-allhad``, with the card's own RK4 grid (fitted nodes or power grid).

Usage::

    python tests/surrogates/study_solver_on_example.py FOLDER [FOLDER ...] -o out.json

Artefact: ``artefacts/solver_on_example_2026-12-02.json`` (the shipped ``top-tagger-delphes``
and the same weights with the card of 9ff429b: ``git show 9ff429b:surrogates/shipped/
top-tagger-delphes/card.json`` into a copy of the folder).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import awkward as ak
import numpy as np
import torch

from surrotag.analysis import get_analysis
from surrotag.features.files import file_features
from surrotag.surrogates.storage import load_surrogate


def measure(folder: str) -> dict:
    """The solver error of one surrogate folder on the example's fat jets."""
    model, card = load_surrogate(folder)
    example = get_analysis("zprime-ttbar-allhad").resource("example_signal.parquet")
    table = file_features([str(example)], features=model.feature_names).table
    x = np.column_stack([ak.to_numpy(table[n]).astype(np.float64) for n in model.feature_names])
    x = x[np.isfinite(x).all(1)]
    thresholds = [card.model_threshold(point["name"]) for point in card.working_points]
    with torch.inference_mode():
        ood = model.ood_mask(torch.as_tensor(x, dtype=torch.float32)).numpy()
        reference = model(x, draws=4, solver="dopri5").prob_above(thresholds).double()
        fixed = model(x, draws=4).prob_above(thresholds).double()
    error = (fixed - reference).abs()
    return {
        "folder": Path(folder).name,
        "card_sha256": card.to_dict()["card_sha256"],
        "steps": model.steps,
        "grid_power": model.grid_power,
        "nodes": None if model.nodes is None else list(model.nodes),
        "jets": len(x),
        "in_support": int((~ood).sum()),
        "max_error": float(error.max()),
        "max_error_in_support": float(error[:, ~ood].max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()
    results = [measure(folder) for folder in args.folders]
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
