"""``surrotag tag``: per-object and per-event tag probabilities of event files.

Thin layer: resolve and load the surrogate, read the events in chunks
(:func:`surrotag.io.iter_events`, only the collections the card's features need), build
exactly the card's features (:func:`surrotag.features.build_features`), tag
(:func:`surrotag.tagging.tag_objects`, :func:`surrotag.tagging.tag_events`) and write
Parquet atomically with provenance (:func:`surrotag.io.write_parquet`).

Object file (``-o``), one row per object (fat jet at levels ``delphes`` and ``particle``, top
quark at ``parton``, where a top that cannot make a top-tagged jet, leptonic or without a
decay chain, gets probability 0: :func:`surrotag.tagging.taggable`):

======================  =====================================================================
column                  content
======================  =====================================================================
``event_index``         int64, the event's position in the input files (all files in order)
``object_index``        int64, the object's position in its event (0 = leading in pT)
``p_<wp>``              float64, nominal tag probability of working point ``<wp>`` (mean
                        over the K weight draws; with ``--stochastic`` the fraction of draws
                        whose sampled score passes)
``p_<wp>_spread``       float64, standard deviation over draws (0 for K = 1)
``p_<wp>_draws``        list of K float64: the probability per weight draw (0/1 tags with
                        ``--stochastic``)
``ood``                 bool, a feature lies outside the surrogate's training support
======================  =====================================================================

Event file (``--events-out``), one row per event, events without objects included:

==============================  =============================================================
column                          content
==============================  =============================================================
``event_index``                 int64
``n_objects``                   int64, objects in the event
``p_<wp>_at_least_one``         float64, nominal P(at least one object tagged)
``p_<wp>_at_least_one_draws``   list of K float64, per weight draw
``p_<wp>_both``                 float64, nominal P(both leading objects tagged), ``p1 p2``
``p_<wp>_both_draws``           list of K float64
``p_<wp>_exactly_one``          float64, nominal P(exactly one of the two leading tagged)
``p_<wp>_none``                 float64, nominal P(neither leading object tagged)
==============================  =============================================================

Provenance (Parquet key-value metadata ``surrotag``, JSON): command, surrotag_version,
inputs (per events file read: path, sha256, format, events read, their sum of weights),
level, row_kind, surrogate (name, version, folder, tagger, weights_sha256 from the card),
draws, stochastic, seed, working_points (name, threshold on the score, threshold in the
modelled space), n_events, n_objects, ood_fraction, mean_tag_rate (per working point),
table (``objects`` or ``events``).

Heavy imports (torch, awkward, uproot) happen inside the command.

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from surrotag.io.levels import LEVEL_NAMES

__all__ = ["OOD_WARNING", "tag"]

#: Fraction of out-of-distribution objects above which the summary warns.
OOD_WARNING = 0.05


def _object_columns(tags: Any, positions: Any) -> dict[str, Any]:
    import numpy as np

    columns: dict[str, Any] = {
        "event_index": tags.event_index,
        "object_index": positions.astype(np.int64),
    }
    for j, name in enumerate(tags.working_points):
        columns[f"p_{name}"] = tags.nominal[:, j]
        columns[f"p_{name}_spread"] = tags.spread[:, j]
        columns[f"p_{name}_draws"] = np.ascontiguousarray(tags.probabilities[:, :, j].T)
    columns["ood"] = tags.ood
    return columns


def _event_columns(events: Any) -> dict[str, Any]:
    import numpy as np

    columns: dict[str, Any] = {
        "event_index": np.arange(events.n_events, dtype=np.int64) + events.first_event,
        "n_objects": events.n_objects,
    }
    for j, name in enumerate(events.working_points):
        for what in ("at_least_one", "both", "exactly_one", "none"):
            values = getattr(events, what)[:, :, j]  # [K, E]
            columns[f"p_{name}_{what}"] = values.mean(axis=0)
            if what in ("at_least_one", "both"):
                columns[f"p_{name}_{what}_draws"] = np.ascontiguousarray(values.T)
    return columns


def _table(parts: list[dict[str, Any]]) -> Any:
    """Concatenate column dicts of the chunks into flat awkward records (lists for 2-D)."""
    import awkward as ak
    import numpy as np

    columns = {}
    for name in parts[0]:
        values = np.concatenate([part[name] for part in parts])
        columns[name] = ak.from_regular(values) if values.ndim == 2 else values
    return ak.zip(columns, depth_limit=1)


@click.command("tag")
@click.argument("events", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--surrogate",
    "surrogate_name",
    required=True,
    metavar="NAME|DIR",
    help="Installed surrogate name or surrogate folder (card.json + weights.safetensors).",
)
@click.option(
    "--wp",
    "working_points",
    multiple=True,
    metavar="NAME",
    help="Working point of the card (repeatable; default: all).",
)
@click.option(
    "--draws",
    type=click.IntRange(min=1),
    default=None,
    help="Bayesian weight draws K (default: the card's).",
)
@click.option(
    "--stochastic",
    is_flag=True,
    help="Sample one score per object and draw and cut on it (0/1 tags) instead of the exact "
    "probability.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0, max=2**63 - 1),
    default=0,
    show_default=True,
    help="Seed of the sampled scores.",
)
@click.option(
    "--level",
    type=click.Choice(LEVEL_NAMES),
    default=None,
    help="Input level (default: sniffed from the files).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Per-object probabilities (Parquet, written atomically).",
)
@click.option(
    "--events-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write per-event probabilities to this Parquet file.",
)
@click.option(
    "--max-events", type=click.IntRange(min=1), default=None, help="Stop after this many events."
)
@click.option(
    "--step-size",
    type=click.IntRange(min=1),
    default=50_000,
    show_default=True,
    help="Events per chunk.",
)
@click.option("--device", default="cpu", show_default=True, help="Torch device (cpu, cuda).")
@click.option(
    "--threads",
    default=None,
    metavar="N|auto",
    help="Torch threads of the surrogate solve: N, or auto (default: SURROTAG_THREADS, else "
    "1 thread when other processes hold the cores, else all usable cores).",
)
def tag(
    events: tuple[Path, ...],
    surrogate_name: str,
    working_points: tuple[str, ...],
    draws: int | None,
    stochastic: bool,
    seed: int,
    level: str | None,
    output: Path,
    events_out: Path | None,
    max_events: int | None,
    step_size: int,
    device: str,
    threads: str | None,
) -> None:
    """Tag probabilities of every object of EVENTS with a classifier surrogate."""
    import numpy as np
    import torch
    from rich.console import Console
    from rich.markup import escape

    import surrotag
    from surrotag.errors import EmptyInputError, FeatureError
    from surrotag.features import FEATURES, ROW_KIND, build_features, resolve_features
    from surrotag.io import level_of, sniff_format, write_parquet
    from surrotag.io.inputs import resolve_inputs
    from surrotag.io.stream import EventStream
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import WEIGHTS_FILENAME, load_surrogate
    from surrotag.surrogates.threads import parse_threads, summarize_plans
    from surrotag.tagging import TAGGABLE_FEATURES, object_positions, tag_events, tag_objects

    parse_threads(threads)  # a bad value stops here, before any work

    inputs = resolve_inputs(list(events))
    paths = inputs.paths
    folder = resolve_surrogate(surrogate_name)
    model, card = load_surrogate(folder, device=device)
    level = level or level_of(sniff_format(paths[0]), paths[0])
    wanted = list(dict.fromkeys([*card.feature_names, *TAGGABLE_FEATURES[ROW_KIND[level]]]))
    try:
        names = resolve_features(level, wanted)
    except FeatureError as error:
        raise FeatureError(f"surrogate {card.name!r} ({folder}): {error}") from None
    collections = sorted({c for name in names for c in FEATURES[name].requires})
    wps = list(working_points) or None
    k = model.default_draws if draws is None else draws
    generator = torch.Generator().manual_seed(seed)

    object_parts, event_parts = [], []
    n_ood = 0
    tag_sum = None
    plans = []
    stream = EventStream(
        inputs,
        level=level,
        collections=collections,
        entry_stop=max_events,
        step_size=step_size,
        progress=True,
    )
    for n_events, chunk in stream.with_offsets():
        table = build_features(chunk, level=level, features=wanted, event_offset=n_events)
        tags = tag_objects(
            table,
            model,
            card,
            working_points=wps,
            draws=k,
            stochastic=stochastic,
            generator=generator,
            device=device,
            threads=threads,
            level=level,
        )
        positions = object_positions(tags.event_index, len(chunk), n_events)
        object_parts.append(_object_columns(tags, positions))
        if events_out is not None:
            event_parts.append(_event_columns(tag_events(tags, len(chunk), first_event=n_events)))
        n_ood += int(tags.ood.sum())
        if tags.threads is not None:
            plans.append(tags.threads)
        chunk_sum = tags.nominal.sum(axis=0)
        tag_sum = chunk_sum if tag_sum is None else tag_sum + chunk_sum
        wp_names = tags.working_points
        thresholds = tags.thresholds
    if not object_parts:
        raise EmptyInputError(f"{', '.join(map(str, paths))}: no events to tag")
    n_events = stream.n_events

    n_objects = sum(len(part["event_index"]) for part in object_parts)
    rates = tag_sum / n_objects if n_objects else np.zeros(len(wp_names))
    ood_fraction = n_ood / n_objects if n_objects else 0.0
    metadata = {
        "command": "surrotag tag",
        "surrotag_version": surrotag.__version__,
        "inputs": stream.files,
        "level": level,
        "row_kind": ROW_KIND[level],
        "surrogate": {
            "name": card.name,
            "version": card.version,
            "folder": str(folder),
            "tagger": card.tagger.get("name"),
            "weights_sha256": card.files.get(WEIGHTS_FILENAME),
        },
        "draws": k,
        "stochastic": stochastic,
        "seed": seed,
        "working_points": [
            {"name": name, "threshold": float(cut), "model_threshold": card.model_threshold(name)}
            for name, cut in zip(wp_names, thresholds, strict=True)
        ],
        "n_events": n_events,
        "n_objects": n_objects,
        "ood_fraction": ood_fraction,
        "mean_tag_rate": {name: float(r) for name, r in zip(wp_names, rates, strict=True)},
        "threads": summarize_plans(plans, threads),
    }
    written = write_parquet(_table(object_parts), output, {**metadata, "table": "objects"})
    if events_out is not None:
        write_parquet(_table(event_parts), events_out, {**metadata, "table": "events"})

    console = Console()
    rate_text = ", ".join(f"{name} {r:.3f}" for name, r in zip(wp_names, rates, strict=True))
    mode = "stochastic" if stochastic else "exact"
    console.print(
        f"[bold]{n_objects}[/] {ROW_KIND[level]} objects from [bold]{n_events}[/] events, "
        f"surrogate {escape(str(card.name))} {escape(str(card.version))} (K={k}, {mode}); "
        f"mean tag rate: {escape(rate_text)}; "
        f"OOD {n_ood}/{n_objects} ({100 * ood_fraction:.1f}%) -> {escape(str(written))}"
        + (f", {escape(str(events_out))}" if events_out is not None else ""),
        highlight=False,
        soft_wrap=True,
    )
    if ood_fraction > OOD_WARNING:
        Console(stderr=True).print(
            f"[yellow]warning:[/] {100 * ood_fraction:.1f}% of the objects lie outside the "
            f"training support of {escape(str(card.name))}: their probabilities are extrapolated",
            highlight=False,
            soft_wrap=True,
        )
