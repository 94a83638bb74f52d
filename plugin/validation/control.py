"""Positive control of the validation report: a deliberately degraded surrogate.

:func:`train_degraded` trains a surrogate with the same card (features, working points,
score) as a given one, but on a small fraction of the training rows (default 1%) for a couple
of epochs. Its validation report must fail the goals that a well-trained surrogate meets:
the control shows that the metrics can fail (a positive control).

Run it from the command line (development, ~1 minute on one core)::

    python -m surrotag.validation.control top-tagger-delphes TABLE -o DIR
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main", "train_degraded"]


def train_degraded(
    base: str | os.PathLike[str],
    table: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    fraction: float = 0.01,
    epochs: int = 2,
    seed: int = 0,
    overwrite: bool = True,
) -> Any:
    """Train a degraded copy of surrogate ``base`` on ``fraction`` of the train split.

    Args:
        base: registry name or folder of the surrogate whose card is copied.
        table: the reference table.
        output: folder of the degraded surrogate.
        fraction: fraction of the training rows used (random, seeded).
        epochs: training epochs.

    Returns:
        The written card.
    """
    from surrotag.surrogates.card import build_card_fields, feature_entry, load_card
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import save_surrogate
    from surrotag.surrogates.train import TrainConfig, train_surrogate
    from surrotag.validation.data import load_reference

    card = load_card(resolve_surrogate(base))
    rows = load_reference(table, card, split="train", seed=seed)
    n = max(50, round(fraction * rows.logit.size))
    pick = np.random.default_rng(seed).choice(rows.logit.size, n, replace=False)
    config = TrainConfig(epochs=epochs, draws=card.bayes.get("draws", 20), seed=seed)
    surrogate, report = train_surrogate(
        rows.features[pick],
        rows.logit[pick],
        feature_names=card.feature_names,
        bayes=card.bayes["method"] if card.bayes["method"] != "none" else "vi",
        config=config,
    )
    fields = build_card_fields(
        name=card.name,
        version=card.version,
        description=f"DEGRADED positive control of {card.name}: {n} training rows "
        f"({fraction:.0%}), {epochs} epochs. Not for physics.",
        tagger=card.tagger,
        features=[
            feature_entry(f["name"], f["unit"], f["description"], f.get("fill"))
            for f in card.features
        ],
        score=card.score,
        working_points=card.working_points,
        efficiency_map=card.efficiency_map,
        training={
            **card.training,
            "description": f"{Path(table).name}, split 'train', {fraction:.0%} of the rows",
            "rows": {
                "total": int(rows.logit.size),
                "used": n,
                "train": report.n_train,
                "validation": report.n_val,
            },
        },
        references=card.references,
    )
    return save_surrogate(surrogate, fields, output, overwrite=overwrite)


def main(argv: list[str] | None = None) -> int:
    """Train the degraded control and print its validation goals."""
    import argparse

    from surrotag.validation.console import print_goals
    from surrotag.validation.report import validate_surrogate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("table")
    parser.add_argument("-o", "--output", required=True, type=Path)
    parser.add_argument("--fraction", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n-max", type=int, default=None)
    args = parser.parse_args(argv)
    folder = args.output / "surrogate"
    train_degraded(args.base, args.table, folder, fraction=args.fraction, epochs=args.epochs)
    report = validate_surrogate(folder, args.table, args.output / "report", n_max=args.n_max)
    print_goals(report)
    failed = [g.name for g in report.failed]
    print(f"{len(failed)} goals failed: {'; '.join(failed)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
