"""``surrotag surrogate explain`` and ``surrotag reference explain-tagger``.

Thin layer over :mod:`surrotag.explain.report`: each command reads its inputs, runs the
explanations, writes PNGs and ``summary.json`` (atomically) into ``-o DIR`` and prints a
short summary. Heavy imports (torch, awkward) happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["explain", "explain_event_classifier", "explain_tagger"]

SUMMARY_NAME = "summary.json"


def _console() -> Any:
    from rich.console import Console  # lazily: rich is not needed for --help

    return Console()


@click.command("explain")
@click.argument("surrogate")
@click.option("--table", type=click.Path(dir_okay=False), default=None,
              help="Feature table (Parquet) "
              "[default: <data dir>/reference/top_tagger_table.parquet].")  # fmt: skip
@click.option("--n-max", type=click.IntRange(min=10), default=2000, show_default=True,
              help="Table rows used (random, from the --split rows).")  # fmt: skip
@click.option("--split", default="test", show_default=True, help="Table split to read.")
@click.option("--working-point", default=None, help="Working point [default: the middle one].")
@click.option("--draws", type=click.IntRange(min=1), default=None, help="Bayesian weight draws.")
@click.option("--grid", type=click.IntRange(min=3), default=20, show_default=True)
@click.option("--n-average", type=click.IntRange(min=1), default=32, show_default=True,
              help="Rows averaged per grid point of the averaged contour map.")  # fmt: skip
@click.option("--seeds", "n_seeds", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=60, show_default=True,
              help="Gradient-ascent steps.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--out", type=click.Path(file_okay=False), required=True)
def explain(
    surrogate: str,
    table: str | None,
    n_max: int,
    split: str,
    working_point: str | None,
    draws: int | None,
    grid: int,
    n_average: int,
    n_seeds: int,
    steps: int,
    seed: int,
    out: str,
) -> None:
    """Explain surrogate SURROGATE (name or folder): contours, ascent, importance, simple cut."""
    from surrotag.explain.console import print_surrogate_summary
    from surrotag.explain.report import explain_surrogate, read_feature_sample, write_json
    from surrotag.reference.cache import TABLE_NAME, reference_dir
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import load_surrogate

    console = _console()
    model, card = load_surrogate(resolve_surrogate(surrogate))
    path = Path(table) if table else reference_dir() / TABLE_NAME
    x, label, info = read_feature_sample(
        path, card.feature_names, card.feature_fills, n_max=n_max, split=split, seed=seed
    )
    with console.status("explaining") as status:
        summary = explain_surrogate(
            model, card, x, label, out, working_point=working_point, draws=draws, grid=grid,
            n_average=n_average, n_seeds=n_seeds, ascent_steps=steps, seed=seed,
            progress=lambda message: status.update(message),
        ).to_dict()  # fmt: skip
    summary["table"] = info
    target = write_json(summary, Path(out) / SUMMARY_NAME)
    print_surrogate_summary(summary, card.name, target, console)


@click.command("explain-tagger")
@click.option("--tagger", "tagger_dir", type=click.Path(file_okay=False), default=None,
              help="Tagger folder [default: <data dir>/reference/tagger_pfn].")  # fmt: skip
@click.option("--sample", "samples", multiple=True, type=click.Path(dir_okay=False),
              help="Reference sample(s), top and QCD "
              "[default: ttbar-allhad_test and qcd-dijet_test].")  # fmt: skip
@click.option("--n-jets", type=click.IntRange(min=10), default=300, show_default=True,
              help="Jets per class.")  # fmt: skip
@click.option("--seeds", "n_seeds", type=click.IntRange(min=1), default=150, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--out", type=click.Path(file_okay=False), required=True)
def explain_tagger(
    tagger_dir: str | None,
    samples: tuple[str, ...],
    n_jets: int,
    n_seeds: int,
    steps: int,
    seed: int,
    out: str,
) -> None:
    """Explain the internal tagger: artificial jets, mutual information, activation patterns."""
    from surrotag.explain.console import print_tagger_summary
    from surrotag.explain.report import explain_tagger as run
    from surrotag.explain.report import write_json
    from surrotag.reference.cache import TAGGER_NAME, reference_dir, split_sample_path
    from surrotag.reference.tagger import load_tagger

    console = _console()
    tagger = load_tagger(Path(tagger_dir) if tagger_dir else reference_dir() / TAGGER_NAME)
    paths = [Path(p) for p in samples] or [
        split_sample_path("ttbar-allhad", "test"),
        split_sample_path("qcd-dijet", "test"),
    ]
    with console.status("explaining the tagger") as status:
        summary = run(
            tagger, paths, out, n_jets=n_jets, n_seeds=n_seeds, ascent_steps=steps, seed=seed,
            progress=lambda message: status.update(message),
        ).to_dict()  # fmt: skip
    target = write_json(summary, Path(out) / SUMMARY_NAME)
    print_tagger_summary(summary, target, console)


@click.command("explain-event-classifier")
@click.argument("classifier", type=click.Path(file_okay=False))
@click.option("--signal", "signal", multiple=True, required=True,
              help="Stop sample(s) (stop-pair-dilepton) not trained on.")  # fmt: skip
@click.option("--background", "background", multiple=True, required=True,
              help="Background sample(s) (ttbar-dilepton) it did not train on.")  # fmt: skip
@click.option("--background-efficiency", type=click.FloatRange(0, 1, min_open=True),
              default=1e-2, show_default=True,
              help="Background efficiency of the selected events' cut.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--out", type=click.Path(file_okay=False), required=True)
def explain_event_classifier(
    classifier: str,
    signal: tuple[str, ...],
    background: tuple[str, ...],
    background_efficiency: float,
    seed: int,
    out: str,
) -> None:
    """Explain the internal event classifier as arXiv:1804.09278 does: mutual information of
    its neurons with m_T2(ll) and the lepton pT, MET orientation, ISR response, importance."""
    import json

    from surrotag.explain.event_classifier import explain_event_classifier as run
    from surrotag.reference.event_classifier import (
        evaluate_event_classifier,
        load_dilepton_events,
        load_event_classifier,
    )

    paths = {
        "signal": [item for value in signal for item in value.split(",") if item],
        "background": [item for value in background for item in value.split(",") if item],
    }
    model, _ = load_event_classifier(classifier)
    signal_events, signal_sha = load_dilepton_events(paths["signal"])
    background_events, background_sha = load_dilepton_events(paths["background"])
    with _console().status("explaining the event classifier"):
        summary = run(model, signal_events, background_events, out,
                      working_point=background_efficiency, seed=seed)  # fmt: skip
        performance = evaluate_event_classifier(model, signal_events, background_events)
    findings = summary.get("findings", summary)
    top = findings["mt2_ll_top_neuron"]
    lepton = findings["max_mi_single_lepton_pt"]
    points = ", ".join(
        f"eps_S({p['target']:g}) = "
        + ("n/a" if p["signal_efficiency"] is None else f"{p['signal_efficiency']:.3f}")
        + f" ({p['n_background_effective']:.0f} eff. bkg)"
        for p in performance["working_points"]
    )
    click.echo(
        f"{out}: AUC {performance['auc']:.4f}, {points}; top m_T2(ll) neuron (layer "
        f"{top['layer']}, {top['neuron']}) {top['mi_nats']:.3f} nats, largest with a lepton "
        f"pT {lepton['mi_nats']:.3f} nats; samples " + json.dumps({**signal_sha, **background_sha})
    )
