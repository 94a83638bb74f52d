"""Build the per-object (or per-event) feature table of canonical events.

One row per object (a fat jet at detector level, a top quark at parton level, see
:data:`surrotag.features.registry.ROW_KIND`), an ``event_index`` column (int64, the event's
position in the input, shifted by ``event_offset`` for chunked reading) and one column per
requested feature with the registry's dtype. The flag columns that explain a requested
feature's missing values are always added. An event-level tagger (an event classifier) is
fed one row per event of event features only (:func:`build_event_table`).
"""

from __future__ import annotations

from collections.abc import Iterable

import awkward as ak
import numpy as np

from surrotag.errors import FeatureError
from surrotag.features.event import event_features
from surrotag.features.jets import jet_features
from surrotag.features.prongs import contained_prongs, resonance_prongs
from surrotag.features.registry import FEATURES, ROW_KIND, features_for_level, get_feature
from surrotag.features.truth import match_tops_to_jets, top_decays
from surrotag.io.levels import INPUT_LEVELS, LEVEL_NAMES

__all__ = [
    "EVENT_INDEX",
    "build_event_table",
    "build_features",
    "event_only",
    "infer_level",
    "resolve_features",
]

#: Name of the column holding each row's event position (int64).
EVENT_INDEX = "event_index"

_TRUTH_COLUMNS = {
    "truth_top_matched": "matched",
    "truth_top_pt": "top_pt",
    "truth_top_eta": "top_eta",
    "truth_top_dr": "dr",
    "truth_top_hadronic": "hadronic",
    "truth_top_n_contained": "n_contained",
    "truth_top_contained": "contained",
    "truth_top_dr_max": "dr_max",
    "flag_no_top_match": "no_match",
    "flag_no_decay_chain": "no_chain",
    "flag_leptonic_top": "leptonic",
}

#: Prong-truth features -> :func:`surrotag.features.prongs.contained_prongs` fields.
_PRONG_COLUMNS = {"truth_n_prongs": "n_prongs", "truth_prong_mass": "prong_mass"}


def infer_level(events: ak.Array) -> str:
    """The input level of canonical events: ``delphes`` if they hold fat jets, else ``parton``.

    Particle-level events hold fat jets too; their level cannot be told from the fields and
    is passed explicitly (:func:`surrotag.io.iter_events` knows it from the file).

    Raises:
        FeatureError: the events hold neither ``fatjets`` nor ``particles``.
    """
    if "fatjets" in events.fields:
        return "delphes"
    if "particles" in events.fields:
        return "parton"
    raise FeatureError(
        f"cannot tell the input level of events with fields {', '.join(events.fields)}: "
        "they need 'fatjets' (detector level) or 'particles' (parton level)"
    )


def resolve_features(
    level: str, features: Iterable[str] | None = None, available: Iterable[str] | None = None
) -> list[str]:
    """The ordered column names for a request, with the flags that explain them.

    Args:
        level: ``delphes`` or ``parton``.
        features: requested names; None for every feature of the level (restricted to those
            whose collections are in ``available`` when that is given).
        available: the collections the events hold (None: do not check).

    Returns:
        Registry-ordered feature names, flags included.

    Raises:
        FeatureError: an unknown name, a feature the level cannot provide (naming the level
            it needs), or a feature whose collection the events lack.
    """
    level_names = features_for_level(level)
    fields = None if available is None else set(available)
    if features is None:
        wanted = {
            name for name in level_names if fields is None or set(FEATURES[name].requires) <= fields
        }
    else:
        wanted = set()
        for name in features:
            feature = get_feature(name)
            if level not in feature.levels:
                raise FeatureError(
                    f"feature {name!r} needs input level {' or '.join(feature.levels)} "
                    f"(rows: {feature.kind}), but the input is at level {level!r}"
                )
            missing = [c for c in feature.requires if fields is not None and c not in fields]
            if missing:
                raise FeatureError(
                    f"feature {name!r} needs the {', '.join(missing)} collection(s), which "
                    f"these events lack; read the file at level {level!r} with those collections"
                )
            wanted.add(name)
            wanted.update(feature.flags)
    return [name for name in FEATURES if name in wanted]


def _cast(values: ak.Array | np.ndarray, dtype: str) -> np.ndarray:
    """Flat numpy column with the registry dtype (None -> NaN for floats)."""
    array = (
        values
        if isinstance(values, np.ndarray)
        else ak.to_numpy(ak.fill_none(values, np.nan) if dtype.startswith("float") else values)
    )
    return np.asarray(array).astype(dtype, copy=False)


def build_features(
    events: ak.Array,
    *,
    level: str | None = None,
    features: Iterable[str] | None = None,
    radius: float = 0.8,
    event_offset: int = 0,
) -> ak.Array:
    """The per-object feature table of canonical events.

    Args:
        events: canonical events (:mod:`surrotag.io.canonical`).
        level: ``delphes`` (one row per fat jet) or ``parton`` (one row per top quark);
            inferred from the events when None (see :func:`infer_level`).
        features: registry names (:data:`surrotag.features.FEATURES`); None for every
            feature of the level that the events' collections can provide.
        radius: Delta R of top matching and of b, q, q' containment (0.8 for AK8 jets).
        event_offset: added to ``event_index`` (the first event's position in the file).

    Returns:
        Flat records, one per object: ``event_index`` (int64) and one column per feature
        in registry order, flags included, each with the registry dtype.

    Raises:
        FeatureError: unknown features, features of another level, missing collections.

    Example:
        >>> table = build_features(events, features=["jet_pt", "jet_tau32"])  # doctest: +SKIP
    """
    if level is None:
        level = infer_level(events)
    elif level not in LEVEL_NAMES:
        raise FeatureError(f"unknown input level {level!r}; use one of {', '.join(LEVEL_NAMES)}")
    if not radius > 0:
        raise FeatureError(f"matching radius must be positive, got {radius}")
    rows = INPUT_LEVELS[level].objects
    if rows not in events.fields:
        raise FeatureError(
            f"events without {rows!r} (have: {', '.join(events.fields) or 'none'}): the rows "
            f"of a {level}-level table are its {ROW_KIND[level]}s; read them with the events"
        )
    names = resolve_features(level, features, available=events.fields)
    wanted = frozenset(names)
    per_object: dict[str, ak.Array] = {}
    if ROW_KIND[level] == "fatjet":
        counts = ak.to_numpy(ak.num(events.fatjets, axis=1))
        per_object.update(jet_features(events.fatjets, wanted))
        if wanted & set(_TRUTH_COLUMNS):
            matched = match_tops_to_jets(events.fatjets, top_decays(events.particles), radius)
            per_object.update(
                {name: matched[field] for name, field in _TRUTH_COLUMNS.items() if name in wanted}
            )
        if wanted & set(_PRONG_COLUMNS):
            prongs = contained_prongs(events.fatjets, resonance_prongs(events.particles), radius)
            per_object.update(
                {name: prongs[field] for name, field in _PRONG_COLUMNS.items() if name in wanted}
            )
    else:
        decays = top_decays(events.particles)
        counts = ak.to_numpy(ak.num(decays, axis=1))
        per_object.update(_top_features(decays, wanted))
    columns: dict[str, np.ndarray] = {
        EVENT_INDEX: np.repeat(np.arange(len(events), dtype=np.int64) + event_offset, counts)
    }
    per_event = event_features(events, wanted)
    for name in names:
        dtype = FEATURES[name].dtype
        if name in per_event:
            columns[name] = np.repeat(_cast(per_event[name], dtype), counts)
        else:
            columns[name] = _cast(ak.flatten(per_object[name], axis=1), dtype)
    return ak.zip(columns, depth_limit=1)


def _top_features(decays: ak.Array, wanted: frozenset[str]) -> dict[str, ak.Array]:
    """Parton-level columns of :func:`~surrotag.features.truth.top_decays` records."""
    from surrotag.features._common import delta_r

    def dr(a: str, b: str) -> ak.Array:
        return delta_r(
            decays[f"{a}_eta"], decays[f"{a}_phi"], decays[f"{b}_eta"], decays[f"{b}_phi"]
        )

    out: dict[str, ak.Array] = {
        "top_pid": decays.pid,
        "top_pt": decays.top_pt,
        "top_eta": decays.top_eta,
        "top_phi": decays.top_phi,
        "top_hadronic": decays.hadronic,
        "flag_top_no_decay_chain": ~decays.has_chain,
    }
    if wanted & {"top_dr_b_w", "top_dr_q_q", "top_dr_max"}:
        out["top_dr_b_w"] = dr("b", "w")
        out["top_dr_q_q"] = dr("f1", "f2")
        out["top_dr_max"] = np.maximum(np.maximum(dr("top", "b"), dr("top", "f1")), dr("top", "f2"))
    return {name: values for name, values in out.items() if name in wanted}


def event_only(features: Iterable[str]) -> bool:
    """Whether every feature is an event quantity (kind ``event``): the inputs of an
    event-level tagger, one row per event (:func:`build_event_table`)."""
    names = list(features)
    return bool(names) and all(get_feature(name).kind == "event" for name in names)


def build_event_table(
    events: ak.Array, *, level: str, features: Iterable[str], event_offset: int = 0
) -> ak.Array:
    """The per-event feature table: one row per event, event features only.

    Args:
        events: canonical events holding the collections the features require.
        level: the input level (``delphes``).
        features: registry names of event features (their flags are added).
        event_offset: added to ``event_index``.

    Returns:
        Flat records, one per event: ``event_index`` (int64) and one column per feature.

    Raises:
        FeatureError: unknown features, features of another level, missing collections, or a
            per-object feature (jet, top) in the request.

    Example:
        >>> table = build_event_table(events, level="delphes",
        ...                           features=["event_met", "event_mt2_ll"])  # doctest: +SKIP
    """
    names = resolve_features(level, features, available=events.fields)
    per_object = [name for name in names if FEATURES[name].kind != "event"]
    if per_object:
        raise FeatureError(
            f"feature(s) {', '.join(per_object)} are per {FEATURES[per_object[0]].kind}; an "
            "event table holds event features only (kind 'event', surrotag features --list)"
        )
    per_event = event_features(events, frozenset(names))
    columns: dict[str, np.ndarray] = {
        EVENT_INDEX: np.arange(len(events), dtype=np.int64) + event_offset
    }
    for name in names:
        columns[name] = _cast(per_event[name], FEATURES[name].dtype)
    return ak.zip(columns, depth_limit=1)
