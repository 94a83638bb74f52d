"""Surrogates of the internal anomaly scores: plan, training table, working point, training.

The internal anomaly taggers (:mod:`surrotag.reference.anomaly`: the OE-VAE after
arXiv:2007.01850 and the Lorentz-group autoencoder after arXiv:2212.07347) were trained on
QCD jets only, so a search that cuts on them must be recast for signals nobody imagined.
Their surrogates (arXiv:2402.15558) are therefore conditioned on public fat-jet features and
on truth that carries over between signal models: how many hard prongs of resonance decays
the jet contains and their invariant mass (:mod:`surrotag.features.prongs`). A W or Z
from W' -> W Z and an X -> q qbar of Y -> X X' are then two-prong jets of a known mass,
whatever model made them.

The plan (:data:`ANOMALY_SURROGATE_PLAN`, fixed before any of its new samples existed,
session 15) takes no sample of either search signal (``wprime-wz``, ``y-xx``):

* ``train``: the taggers' own QCD training sample (seed 8001) and outlier t tbar sample
  (8022) of :data:`~surrotag.reference.anomaly_plan.ANOMALY_PLAN`, and two-prong
  calibration jets of six masses from ``scalar-jet`` (pp -> S + jet, S -> q qbar; seeds
  8201-8206);
* ``test``: the study's QCD test sample (8002), a fresh t tbar sample (8211) and
  ``scalar-jet`` at five masses between the training ones (8212-8216).

Rows: the two leading fat jets of every event with pT > 300 GeV and |eta| < 2.4. Columns:
the public features and prong truth (:data:`FEATURES`), each tagger's log score
(:data:`SCORE_COLUMNS`, :class:`~surrotag.reference.anomaly_tagger.AnomalyTagger`), the jet's
event weight (Pythia's pTHat-bias weight, mean 1 per sample), ``split``, ``sample_index``.

The working point ``qcd10`` is the study's: the cut that keeps 10 % of QCD jets
(event-weighted) among the two leading jets with 500 < pT < 800 GeV and |eta| < 2 of the
QCD test sample, a sample no tagger was trained on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import awkward as ak
import numpy as np

from surrotag.errors import FormatError, InputFileError, InputValueError
from surrotag.reference.anomaly_plan import ANOMALY_PLAN
from surrotag.reference.publish import Sample

__all__ = [
    "ANOMALY_SURROGATE_PLAN",
    "FEATURES",
    "SCORE_COLUMNS",
    "SHIPPED_ANOMALY",
    "TABLE_NAME",
    "anomaly_working_point",
    "build_anomaly_table",
    "ship_anomaly_surrogate",
    "split_rows",
    "table_rows",
]

#: File name of the table in ``$SURROTAG_DATA/reference``.
TABLE_NAME: Final = "anomaly_table.parquet"
#: The surrogate's inputs, in model order (registry names, delphes level).
FEATURES: Final = (
    "jet_pt", "jet_eta", "jet_mass", "jet_sd_mass", "jet_tau21", "jet_tau32",
    "jet_n_constituents", "truth_n_prongs", "truth_prong_mass",
)  # fmt: skip
#: NaN replacements: tau ratios of jets with one or two constituents (no resolved prongs).
FILLS: Final = {"jet_tau21": 0.0, "jet_tau32": 0.0}
#: Tagger (sub-folder of ``reference/anomaly``) -> its log-score column in the table.
SCORE_COLUMNS: Final = {"oe": "score_oe", "lgae": "score_lgae"}
#: Shipped surrogate -> the tagger it replaces.
SHIPPED_ANOMALY: Final = {"anomaly-oe-delphes": "oe", "anomaly-lgae-delphes": "lgae"}
_SCALAR_TRAIN: Final = {50.0: 8201, 110.0: 8202, 170.0: 8203, 230.0: 8204, 290.0: 8205, 350.0: 8206}
_SCALAR_TEST: Final = {80.0: 8212, 140.0: 8213, 200.0: 8214, 260.0: 8215, 320.0: 8216}
_STUDY: Final = ANOMALY_PLAN["samples"]

#: The pre-registered samples and settings of the anomaly surrogates (module docstring).
ANOMALY_SURROGATE_PLAN: Final = {
    "samples": {
        "train": (
            _STUDY["qcd_train"],
            _STUDY["outliers"],
            *(Sample(f"scalar_{m:g}", "scalar-jet", 3_000, s, m) for m, s in _SCALAR_TRAIN.items()),
        ),
        "test": (
            _STUDY["qcd_test"],
            Sample("ttbar_test", "ttbar-allhad", 8_000, 8211),
            *(Sample(f"scalar_{m:g}", "scalar-jet", 1_500, s, m) for m, s in _SCALAR_TEST.items()),
        ),
    },
    "jobs": 2,
    "leading_jets": 2,
    "jet_min_pt_gev": 300.0,
    "jet_abs_eta": 2.4,
    "containment_radius": 0.8,
    "working_point": {
        "name": "qcd10",
        "qcd_efficiency": 0.10,
        "sample": "qcd_test",
        "jet_pt_gev": ANOMALY_PLAN["jet_pt_gev"],
        "jet_abs_eta": ANOMALY_PLAN["jet_abs_eta"],
    },
    "training": {"epochs": 30, "patience": 30, "bayes": "mcmc", "draws": 40, "seed": 8231},
}


def table_rows(events: ak.Array, plan: Mapping[str, Any] = ANOMALY_SURROGATE_PLAN) -> dict:
    """The plan's jets of canonical events: features, the flat jets, their event weights.

    Returns:
        ``features`` (name -> numpy column, :data:`FEATURES` plus ``jet_index``), ``jets``
        (the chosen flat fat jets with constituents), ``weight`` (float64, the event weight
        normalised to mean 1 over the events).
    """
    from surrotag.features import build_features

    table = build_features(
        events, level="delphes", features=[*FEATURES, "jet_index"],
        radius=plan["containment_radius"],
    )  # fmt: skip
    jets = ak.flatten(events.fatjets, axis=1)
    chosen = (
        (ak.to_numpy(table.jet_index) < plan["leading_jets"])
        & (ak.to_numpy(table.jet_pt) > plan["jet_min_pt_gev"])
        & (np.abs(ak.to_numpy(table.jet_eta)) < plan["jet_abs_eta"])
    )
    weight = ak.to_numpy(events.weight).astype(np.float64)
    weight = weight / weight.mean()
    index = ak.to_numpy(table.event_index)
    return {
        "features": {name: ak.to_numpy(table[name])[chosen] for name in (*FEATURES, "jet_index")},
        "event_index": index[chosen],
        "jets": jets[chosen],
        "weight": weight[index[chosen]],
    }


def build_anomaly_table(
    taggers: str | Path,
    out: str | Path,
    plan: Mapping[str, Any] = ANOMALY_SURROGATE_PLAN,
    *,
    log: Callable[[str], None] = print,
) -> Path:
    """Generate (or reuse) the plan's samples and write the anomaly surrogates' table.

    Args:
        taggers: the folder of the trained taggers (``reference/anomaly``: ``oe/``, ``lgae/``).
        out: the Parquet file to write (with its provenance).
        plan: the plan.
        log: progress lines.

    Returns:
        The table.
    """
    from surrotag.io.parquet import read_parquet, read_parquet_metadata, sha256_file, write_parquet
    from surrotag.reference.anomaly_tagger import load_anomaly_tagger

    start = time.monotonic()
    taggers = Path(taggers)
    loaded = {key: load_anomaly_tagger(taggers / key) for key in SCORE_COLUMNS}
    parts, samples = [], []
    for split, specs in plan["samples"].items():
        for spec in specs:
            path = spec.generate(plan["jobs"])
            events = read_parquet(path, ["weight", "fatjets", "particles"])
            rows = table_rows(events, plan)
            n = len(rows["weight"])
            columns = dict(rows["features"])
            for key, tagger in loaded.items():
                columns[SCORE_COLUMNS[key]] = tagger.logits(rows["jets"])
            columns.update(
                event_index=rows["event_index"],
                event_weight=rows["weight"],
                split=np.full(n, split),
                sample_index=np.full(n, len(samples), np.int16),
                process=np.full(n, spec.process),
            )
            parts.append(columns)
            meta = read_parquet_metadata(path)
            samples.append(
                {**spec.to_dict(), "split": split, "file": path.name, "sha256": sha256_file(path),
                 "sigma_pb": meta.get("sigma_pb"), "n_events": len(events), "n_jets": n}
            )  # fmt: skip
            prongs = np.bincount(columns["truth_n_prongs"].astype(np.int64), minlength=4)
            log(f"  {split} {spec.name}: {n} jets, by prongs {prongs.tolist()}")
    table = ak.zip(
        {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}, depth_limit=1
    )
    provenance = {
        "kind": "anomaly-surrogate-table",
        "taggers": {
            key: {"sha256": t.sha256, "score": t.score, "column": SCORE_COLUMNS[key]}
            for key, t in loaded.items()
        },
        "samples": samples,
        "plan": {k: v for k, v in plan.items() if k != "samples"},
        "splits": "whole samples with disjoint generation seeds",
        "columns": {
            "score_<tagger>": "natural log of the tagger's anomaly score "
            "(surrotag.reference.anomaly_tagger)",
            "event_weight": "the jet's event weight (Pythia pTHat-bias weight), mean 1 per sample",
            "sample_index": "position in samples",
        },
        "seconds": round(time.monotonic() - start, 1),
    }
    out = Path(out)
    write_parquet(table, out, provenance)
    log(f"anomaly table: {len(table)} jets -> {out} [{time.monotonic() - start:.0f} s]")
    return out


def _metadata(table: str | Path) -> dict[str, Any]:
    """The provenance of an anomaly table, or a one-line error."""
    from surrotag.io.parquet import read_parquet_metadata

    path = Path(table)
    if not path.exists():
        raise InputFileError(
            f"{path}: no anomaly table; build it with surrotag reference anomaly-surrogates"
        )
    meta = read_parquet_metadata(path)
    if meta.get("kind") != "anomaly-surrogate-table":
        raise FormatError(f"{path}: not an anomaly surrogate table (kind {meta.get('kind')!r})")
    return meta


def _columns(table: str | Path, columns: list[str]) -> dict[str, np.ndarray]:
    """Columns of an anomaly table (checked with :func:`_metadata` first)."""
    from surrotag.io.parquet import read_columns

    return read_columns(
        table, columns, text={"split", "process"},
        hint="rebuild it with surrotag reference anomaly-surrogates",
    )  # fmt: skip


def _tagger_key(meta: Mapping[str, Any], tagger_sha256: str) -> str:
    for key, record in meta["taggers"].items():
        if record["sha256"] == tagger_sha256:
            return key
    raise InputValueError(
        f"the anomaly table scores no tagger of sha256 {tagger_sha256[:12]}...; rebuild it "
        "with the taggers the analysis names"
    )


def anomaly_working_point(table: str | Path, name: str, tagger_sha256: str) -> dict[str, Any]:
    """The working point ``name`` of an anomaly tagger, from the table.

    The cut on the log score whose event-weighted pass fraction among the QCD jets of the
    working point the table's plan defines (its provenance; module docstring) is that
    plan's QCD efficiency, with :func:`surrotag.reference.ship.weighted_threshold` (the top
    taggers' function).

    Raises:
        InputValueError: an unknown working point, a tagger the table does not score, or
            a table without jets of the working point's sample.
    """
    from surrotag.reference.classifier_metrics import kish_effective
    from surrotag.reference.ship import weighted_threshold

    meta = _metadata(table)
    point = meta["plan"]["working_point"]
    if name != point["name"]:
        raise InputValueError(
            f"no anomaly working point {name!r} (the table's plan defines {point['name']!r})"
        )
    key = _tagger_key(meta, tagger_sha256)
    column = SCORE_COLUMNS[key]
    columns = _columns(table, [column, "jet_pt", "jet_eta", "event_weight", "sample_index"])
    index = [i for i, s in enumerate(meta["samples"]) if s["name"] == point["sample"]]
    low, high = point["jet_pt_gev"]
    rows = (
        np.isin(columns["sample_index"], index)
        & (columns["jet_pt"] > low)
        & (columns["jet_pt"] < high)
        & (np.abs(columns["jet_eta"]) < point["jet_abs_eta"])
    )
    if not rows.any():
        raise InputValueError(
            f"{table}: no jet of sample {point['sample']!r} in the working point's window; "
            "rebuild the table with surrotag reference anomaly-surrogates"
        )
    score, weight = columns[column][rows], columns["event_weight"][rows]
    efficiency = point["qcd_efficiency"]
    threshold = weighted_threshold(score, weight, efficiency)
    raw = weighted_threshold(score, np.ones_like(weight), efficiency)
    kish = kish_effective(weight)
    return {
        "name": name,
        "threshold": float(threshold),
        "efficiency": float(weight[score > threshold].sum() / weight.sum()),
        "unweighted_threshold": float(raw),
        "unweighted_efficiency": float(np.mean(score > threshold)),
        "definition": (
            f"log {meta['taggers'][key]['score']} score > {threshold:.4f}: event-weighted QCD "
            f"efficiency {efficiency:g} for the two leading jets with {low:g} < pT < {high:g} "
            f"GeV, |eta| < {point['jet_abs_eta']:g} of the QCD sample {point['sample']} "
            f"({rows.sum()} jets, {kish:.0f} effective), which trained no tagger"
        ),
    }


def split_rows(
    table: str | Path, key: str, split: str, extra: tuple[str, ...] = ()
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Feature matrix (NaN filled, :data:`FILLS`), log score and columns of one split.

    Args:
        table: the anomaly table.
        key: the tagger (a key of :data:`SCORE_COLUMNS`).
        split: ``train`` or ``test``.
        extra: further columns to return.

    Returns:
        ``(features [N, F], score [N], columns, provenance)`` of the split's finite rows.
    """
    column = SCORE_COLUMNS[key]
    names = list(dict.fromkeys([*FEATURES, column, "event_weight", "split", *extra]))
    meta = _metadata(table)
    data = _columns(table, names)
    chosen = data["split"] == split
    features = np.column_stack(
        [
            np.where(np.isnan(data[n]), FILLS[n], data[n]) if n in FILLS else data[n]
            for n in FEATURES
        ]
    ).astype(np.float64)
    keep = chosen & np.isfinite(features).all(axis=1) & np.isfinite(data[column])
    columns = {name: values[keep] for name, values in data.items()}
    return features[keep], data[column][keep].astype(np.float64), columns, meta


def ship_anomaly_surrogate(
    name: str,
    table: str | Path,
    output: str | Path,
    *,
    plan: Mapping[str, Any] = ANOMALY_SURROGATE_PLAN,
    config: Any = None,
    overwrite: bool = False,
    progress: Callable[[dict], None] | None = None,
) -> Any:
    """Train shipped anomaly surrogate ``name`` on the table's ``train`` split; write its folder.

    Args:
        name: a key of :data:`SHIPPED_ANOMALY`.
        table: the anomaly table (:func:`build_anomaly_table`).
        output: the surrogate folder to write (card.json + weights.safetensors).
        plan: the plan (training settings, working point).
        config: a full :class:`~surrotag.surrogates.train.TrainConfig` instead of the plan's
            (small models in tests).
        overwrite: replace an existing folder.
        progress: per-epoch callback of :func:`surrotag.surrogates.train.train_surrogate`.

    Returns:
        The written :class:`surrotag.surrogates.card.Card`.
    """
    from surrotag.io.parquet import sha256_file
    from surrotag.surrogates.card import build_card_fields
    from surrotag.surrogates.storage import save_surrogate
    from surrotag.surrogates.train import TrainConfig, train_surrogate
    from surrotag.training import feature_entries

    if name not in SHIPPED_ANOMALY:
        raise InputValueError(
            f"no shipped anomaly surrogate {name!r} (known: {', '.join(SHIPPED_ANOMALY)})"
        )
    key = SHIPPED_ANOMALY[name]
    settings = plan["training"]
    features, scores, columns, meta = split_rows(table, key, "train", ("process",))
    tagger = meta["taggers"][key]
    point = anomaly_working_point(table, plan["working_point"]["name"], tagger["sha256"])
    config = config or TrainConfig(
        epochs=settings["epochs"], patience=settings["patience"], draws=settings["draws"],
        seed=settings["seed"],
    )  # fmt: skip
    surrogate, report = train_surrogate(
        features, scores, feature_names=list(FEATURES), bayes=settings["bayes"], config=config,
        progress=progress,
    )  # fmt: skip
    processes = {p: int(np.sum(columns["process"] == p)) for p in np.unique(columns["process"])}
    command = f"surrotag reference anomaly-surrogates --ship {name}"
    family = "Lorentz-group autoencoder (arXiv:2212.07347)" if key == "lgae" else (
        "outlier-exposed, DisCo mass-decorrelated VAE (arXiv:2007.01850)"
    )  # fmt: skip
    fields = build_card_fields(
        name=name,
        version="1.0.0",
        description=(
            f"Internal anomaly tagger of the surrotag reference experiment, the {family}, "
            "given the detector-level fat-jet features of a Delphes file and the jet's "
            f"hard-prong truth (surrotag.features.prongs). Retrain: {command}"
        ),
        tagger={
            "name": f"surrotag reference anomaly tagger {key}",
            "score": f"natural log of the {tagger['score']} anomaly score of the {family}, "
            "trained on QCD jets only (surrotag.reference.anomaly_tagger)",
            "weights_sha256": tagger["sha256"],
        },
        features=feature_entries(FEATURES, {}, FILLS),
        score={"space": "identity", "clip": 0.0, "column": SCORE_COLUMNS[key]},
        working_points=[point],
        training={
            "description": (
                f"{Path(table).name}, split 'train': the two leading fat jets (pT > "
                f"{plan['jet_min_pt_gev']:g} GeV, |eta| < {plan['jet_abs_eta']:g}) of QCD, "
                "t tbar and scalar-jet calibration samples, no search signal; rows by "
                f"process {processes}; unweighted flow (the pTHat bias reweights the features' "
                f"distribution, not p(score | features)); {command}"
            ),
            "sha256": sha256_file(table),
            "rows": {
                "total": int(scores.size),
                "used": int(scores.size),
                "train": report.n_train,
                "validation": report.n_val,
            },
        },
        references=["arXiv:2402.15558", "arXiv:2007.01850", "arXiv:2212.07347"],
        figures=report.card_figures(seconds_digits=1),
    )
    return save_surrogate(surrogate, fields, Path(output), overwrite=overwrite)
