"""Tag probabilities of every object of event files, with provenance (``surrotag tag``).

:func:`tag_files` resolves and loads the surrogate, reads the events in chunks
(:class:`~surrotag.io.stream.EventStream`, only the collections the card's features need),
builds exactly the card's features (:func:`surrotag.features.build_features`), tags
(:func:`surrotag.tagging.tag_objects`, :func:`surrotag.tagging.tag_events`) and gathers the
chunks into flat tables; :meth:`TaggedFiles.write` writes them to Parquet atomically with
their provenance (:func:`surrotag.io.write_parquet`).

Object table (:attr:`TaggedFiles.objects`), one row per object (fat jet at levels
``delphes`` and ``particle``, top quark at ``parton``, where a top that cannot make a
top-tagged jet, leptonic or without a decay chain, gets probability 0:
:func:`surrotag.tagging.taggable`):

======================  =====================================================================
column                  content
======================  =====================================================================
``event_index``         int64, the event's position in the input files (all files in order)
``object_index``        int64, the object's position in its event (0 = leading in pT)
``p_<wp>``              float64, nominal tag probability of working point ``<wp>`` (mean
                        over the K weight draws; with ``stochastic`` the fraction of draws
                        whose sampled score passes)
``p_<wp>_spread``       float64, standard deviation over draws (0 for K = 1)
``p_<wp>_draws``        list of K float64: the probability per weight draw (0/1 tags with
                        ``stochastic``)
``ood``                 bool, a feature lies outside the surrogate's training support
======================  =====================================================================

Event table (:attr:`TaggedFiles.events`), one row per event, events without objects included:

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

Provenance (:attr:`TaggedFiles.metadata`; in each file the Parquet key-value metadata
``surrotag``, JSON): command, surrotag_version, inputs (per events file read: path, sha256,
format, events read, their sum of weights), level, row_kind, surrogate (name, version,
folder, tagger, weights_sha256 from the card), draws, stochastic, seed, working_points (name,
threshold on the score, threshold in the modelled space), n_events, n_objects, ood_fraction,
mean_tag_rate (per working point), threads (the solve's thread plans), and in each file
table (``objects`` or ``events``).

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import awkward as ak

    from surrotag.tagging import EventTags, ObjectTags

__all__ = ["OOD_WARNING", "TaggedFiles", "tag_files"]

#: Fraction of out-of-distribution objects above which :meth:`TaggedFiles.print_summary` warns.
OOD_WARNING = 0.05


@dataclass(frozen=True)
class TaggedFiles:
    """The tag probabilities of event files and their provenance.

    Attributes:
        objects: one row per object (columns in the module docstring).
        events: one row per event, or None when not asked for.
        metadata: the provenance (module docstring), without ``table``.
        n_ood: objects outside the surrogate's training support.
    """

    objects: ak.Array
    events: ak.Array | None
    metadata: dict[str, Any]
    n_ood: int

    def write(
        self, output: str | os.PathLike[str], events_out: str | os.PathLike[str] | None = None
    ) -> Path:
        """Write the object table to ``output`` and the event table to ``events_out``.

        Both atomically, with :attr:`metadata` and ``table`` (``objects``/``events``).

        Returns:
            The path of the object table.
        """
        from surrotag.io import write_parquet

        written = write_parquet(self.objects, output, {**self.metadata, "table": "objects"})
        if events_out is not None and self.events is not None:
            write_parquet(self.events, events_out, {**self.metadata, "table": "events"})
        return written

    def print_summary(
        self, written: str | os.PathLike[str], events_out: str | os.PathLike[str] | None = None
    ) -> None:
        """One line on stdout (objects, events, surrogate, draws, mean tag rates, OOD share,
        files), and a warning on stderr when more than :data:`OOD_WARNING` of the objects lie
        outside the surrogate's training support.

        Args:
            written: the object table's file (:meth:`write`).
            events_out: the event table's file, if one was written.
        """
        from rich.console import Console
        from rich.markup import escape

        meta = self.metadata
        n_objects, ood_fraction = meta["n_objects"], meta["ood_fraction"]
        name = meta["surrogate"]["name"]
        rates = ", ".join(f"{wp} {rate:.3f}" for wp, rate in meta["mean_tag_rate"].items())
        mode = "stochastic" if meta["stochastic"] else "exact"
        Console().print(
            f"[bold]{n_objects}[/] {meta['row_kind']} objects from [bold]{meta['n_events']}[/] "
            f"events, surrogate {escape(str(name))} {escape(str(meta['surrogate']['version']))} "
            f"(K={meta['draws']}, {mode}); mean tag rate: {escape(rates)}; OOD {self.n_ood}/"
            f"{n_objects} ({100 * ood_fraction:.1f}%) -> {escape(str(written))}"
            + (f", {escape(str(events_out))}" if events_out is not None else ""),
            highlight=False,
            soft_wrap=True,
        )
        if ood_fraction > OOD_WARNING:
            Console(stderr=True).print(
                f"[yellow]warning:[/] {100 * ood_fraction:.1f}% of the objects lie outside the "
                f"training support of {escape(str(name))}: their probabilities are extrapolated",
                highlight=False,
                soft_wrap=True,
            )


def _object_columns(tags: ObjectTags, positions: np.ndarray) -> dict[str, np.ndarray]:
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


def _event_columns(events: EventTags) -> dict[str, np.ndarray]:
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


def _table(parts: list[dict[str, np.ndarray]]) -> ak.Array:
    """Concatenate column dicts of the chunks into flat awkward records (lists for 2-D)."""
    import awkward as ak

    columns = {}
    for name in parts[0]:
        values = np.concatenate([part[name] for part in parts])
        columns[name] = ak.from_regular(values) if values.ndim == 2 else values
    return ak.zip(columns, depth_limit=1)


def tag_files(
    events: Sequence[str | os.PathLike[str]],
    surrogate: str,
    *,
    working_points: Sequence[str] | None = None,
    draws: int | None = None,
    stochastic: bool = False,
    seed: int = 0,
    level: str | None = None,
    event_table: bool = False,
    max_events: int | None = None,
    step_size: int = 50_000,
    device: str = "cpu",
    threads: str | None = None,
    progress: bool = False,
) -> TaggedFiles:
    """Tag probabilities of every object of event files with a classifier surrogate.

    Args:
        events: event files, globs or MadGraph run folders.
        surrogate: installed surrogate name or surrogate folder.
        working_points: working points of the card (None or empty: all).
        draws: Bayesian weight draws K (None: the card's).
        stochastic: 0/1 tags of one sampled score per object and draw instead of the exact
            probability.
        seed: seed of the sampled scores.
        level: input level (None: sniffed from the first file).
        event_table: also build the per-event table.
        max_events: stop after this many events.
        step_size: events per chunk.
        device: torch device of the surrogate.
        threads: torch threads of the solve: ``N``, ``auto`` or None
            (:func:`surrotag.surrogates.threads.parse_threads`).
        progress: show a progress bar of the files read.

    Raises:
        EmptyInputError: the files hold no events.
        FeatureError: a feature of the card cannot be built at ``level``.
    """
    import torch

    import surrotag
    from surrotag.errors import EmptyInputError, FeatureError
    from surrotag.features import ROW_KIND, build_features, resolve_features
    from surrotag.features.files import feature_stream
    from surrotag.io import level_of, sniff_format
    from surrotag.io.inputs import resolve_inputs
    from surrotag.io.levels import input_level
    from surrotag.surrogates.registry import resolve_surrogate
    from surrotag.surrogates.storage import WEIGHTS_FILENAME, load_surrogate
    from surrotag.surrogates.threads import parse_threads, summarize_plans
    from surrotag.tagging import object_positions, tag_events, tag_objects

    parse_threads(threads)  # a bad value stops here, before any work

    inputs = resolve_inputs(list(events))
    paths = inputs.paths
    folder = resolve_surrogate(surrogate)
    model, card = load_surrogate(folder, device=device)
    level = level or level_of(sniff_format(paths[0]), paths[0])
    taggable = input_level(level).taggable_features
    wanted = list(dict.fromkeys([*card.feature_names, *taggable]))
    try:
        names = resolve_features(level, wanted)
    except FeatureError as error:
        raise FeatureError(f"surrogate {card.name!r} ({folder}): {error}") from None
    wps = list(working_points or ()) or None
    k = model.default_draws if draws is None else draws
    generator = torch.Generator().manual_seed(seed)

    object_parts, event_parts = [], []
    n_ood = 0
    tag_sum = None
    plans = []
    stream = feature_stream(
        inputs, level, names, max_events=max_events, step_size=step_size, progress=progress
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
        if event_table:
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

    n_objects = sum(len(part["event_index"]) for part in object_parts)
    rates = tag_sum / n_objects if n_objects else np.zeros(len(wp_names))
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
        "n_events": stream.n_events,
        "n_objects": n_objects,
        "ood_fraction": n_ood / n_objects if n_objects else 0.0,
        "mean_tag_rate": {name: float(r) for name, r in zip(wp_names, rates, strict=True)},
        "threads": summarize_plans(plans, threads),
    }
    events_table = _table(event_parts) if event_table else None
    return TaggedFiles(_table(object_parts), events_table, metadata, n_ood)
