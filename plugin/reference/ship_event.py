"""Train the shipped event-level surrogate of the stop/ttbar event classifier, card and all.

``stop-classifier-delphes`` replaces the reference experiment's internal event classifier
(:mod:`surrotag.reference.event_classifier`, the heavy-stop network of the dilepton search
``stop-dilepton-nn``): one row per dilepton event of the event table
(:func:`surrotag.reference.event_table.build_event_training_table`), conditioned on the
public event features a Delphes user has (lepton pTs, MET, m_T2(ll), m_ll, the azimuths
between MET and the leptons and between the leptons, the leading-jet pT, HT, the jet and
b-tag counts) and on truth that carries over between signal points (the invisible pT of
neutralinos and W neutrinos, the number of top quarks). Its score is the classifier's logit
(score space ``identity``). The leading-jet pT of an event without jets is NaN; 0 stands
for it.

The flow is trained by conditional flow matching on the ``train`` split, every row counted
once (the event weights are cross-sections that differ by orders of magnitude between the
samples and would leave the light signal points out of the fit; the surrogate models
p(logit | features), which reweighting the features' distribution does not change), and its
posterior is sampled by MCMC (independence Metropolis-Hastings on the output layer, exact
likelihood, temperature calibrated on held-out cells and floored by bootstrap refits:
:mod:`surrotag.surrogates.posterior`).

Working points are cuts on the logit with an event-weighted background efficiency
(:data:`BACKGROUND_EFFICIENCIES`) on the dileptonic t tbar events (``m_stop`` NaN) of the
``train`` split, the way the jet surrogates' are defined on contained top jets
(:func:`surrotag.reference.ship.weighted_threshold`). The analysis's official yields use the
same thresholds (:func:`event_working_point`).

Example:
    >>> import numpy as np
    >>> table = {"split": np.array(["train"] * 4), "m_stop": np.full(4, np.nan),
    ...          "classifier_logit": np.array([0.0, 1.0, 2.0, 3.0]),
    ...          "event_weight": np.ones(4)}
    >>> [p["name"] for p in event_working_points(table, {"eB25": 0.25}, min_events=4)]
    ['eB25']
    >>> event_working_points(table, {"eB25": 0.25}, min_events=4)[0]["threshold"]
    2.5

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558; T. Roxlo, M. Reece,
    "Opening the black box of neural nets: case studies in stop/top discrimination",
    arXiv:1804.09278.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np

from surrotag.errors import FormatError, InputValueError
from surrotag.reference.event_table import EVENT_FEATURES, LOGIT_COLUMN
from surrotag.reference.publish import Sample

__all__ = [
    "BACKGROUND_EFFICIENCIES",
    "EVENT_FILLS",
    "EVENT_SURROGATE",
    "VALIDATION_FILE",
    "VALIDATION_PLAN",
    "VALIDATION_TABLE_NAME",
    "event_training_rows",
    "event_working_point",
    "event_working_points",
    "read_event_table",
    "ship_event_surrogate",
]

#: Registry name of the shipped event surrogate.
EVENT_SURROGATE: Final = "stop-classifier-delphes"
#: Working points: name -> event-weighted t tbar efficiency of ``logit > threshold``.
BACKGROUND_EFFICIENCIES: Final = {"eB1e-2": 1e-2, "eB1e-3": 1e-3}
#: NaN replacement per feature (the leading-jet pT of an event without jets).
EVENT_FILLS: Final = {"event_jet1_pt": 0.0}
_TABLE_KIND: Final = "event-surrogate-table"
_WEIGHT: Final = "event_weight"


def read_event_table(path: str | Path, columns: list[str]) -> dict[str, np.ndarray]:
    """Columns of an event table (``surrotag.reference.event_table``) as numpy arrays.

    Raises:
        InputFileError: the file is missing or unreadable, or lacks a column.
        FormatError: the file is not an event table.
    """
    from surrotag.io.parquet import read_parquet_metadata
    from surrotag.reference.ship import read_table

    meta = read_parquet_metadata(path)
    if meta.get("kind") != _TABLE_KIND:
        raise FormatError(
            f"{path}: not an event surrogate table (kind {meta.get('kind')!r}); write one with "
            "surrotag.reference.event_table.build_event_training_table"
        )
    return read_table(path, columns)


def event_working_points(
    table: Mapping[str, np.ndarray],
    efficiencies: Mapping[str, float] = BACKGROUND_EFFICIENCIES,
    split: str = "train",
    min_events: int = 100,
) -> list[dict[str, Any]]:
    """Logit cuts with an event-weighted t tbar efficiency of ``efficiencies`` in ``split``.

    Args:
        table: columns ``split``, ``m_stop`` (NaN for t tbar), ``classifier_logit`` and
            ``event_weight`` (numpy arrays).
        efficiencies: working point name -> wanted background efficiency.
        split: the split that defines the working points.
        min_events: fewest t tbar events that define a working point.

    Returns:
        One card working point per entry: ``name``, ``threshold``, ``efficiency``
        (weighted, as achieved), ``unweighted_threshold``, ``unweighted_efficiency``,
        ``definition``.

    Raises:
        InputValueError: fewer than ``min_events`` t tbar events in the split.
    """
    from surrotag.reference.ship import weighted_threshold

    background = (table["split"] == split) & np.isnan(table["m_stop"])
    logit = np.asarray(table[LOGIT_COLUMN][background], dtype=np.float64)
    weight = np.asarray(table[_WEIGHT][background], dtype=np.float64)
    if logit.size < min_events:
        raise InputValueError(
            f"only {logit.size} t tbar events in split {split!r}: too few to define "
            f"background-efficiency working points (need {min_events}); generate a larger "
            "ttbar-dilepton sample"
        )
    n_eff = float(np.sum(weight) ** 2 / np.sum(weight**2))
    points = []
    for name, efficiency in efficiencies.items():
        threshold = weighted_threshold(logit, weight, efficiency)
        achieved = float(np.sum(weight[logit > threshold]) / np.sum(weight))
        points.append(
            {
                "name": name,
                "threshold": threshold,
                "efficiency": achieved,
                "unweighted_threshold": float(np.quantile(logit, 1.0 - efficiency)),
                "unweighted_efficiency": float(np.mean(logit > threshold)),
                "definition": f"classifier logit > {threshold:.4f}: event-weighted "
                f"background efficiency {efficiency:g} on the dileptonic t tbar events of "
                f"the {split} split of the event table ({logit.size} events, {n_eff:.0f} "
                f"effective; {round(achieved * n_eff)} effective events above the cut)",
            }
        )
    return points


def event_working_point(table: str | Path, name: str) -> dict[str, Any]:
    """The working point ``name`` of the shipped event surrogate, from its event table.

    The function that writes the card's working points computes it, so an analysis's
    official yields cut at the very threshold the surrogate's card holds.

    Raises:
        InputValueError: no working point of that name.
    """
    if name not in BACKGROUND_EFFICIENCIES:
        raise InputValueError(
            f"no event working point {name!r} (known: {', '.join(BACKGROUND_EFFICIENCIES)})"
        )
    columns = read_event_table(table, ["split", "m_stop", LOGIT_COLUMN, _WEIGHT])
    return event_working_points(columns, {name: BACKGROUND_EFFICIENCIES[name]})[0]


def event_training_rows(
    table: Mapping[str, np.ndarray], split: str = "train"
) -> tuple[np.ndarray, np.ndarray, int]:
    """Feature matrix [N, F] (:data:`EVENT_FEATURES`, NaN filled) and logit [N] of a split.

    Returns:
        ``(features, logit, rows dropped as non-finite)``.
    """
    mask = table["split"] == split
    columns = []
    for name in EVENT_FEATURES:
        values = np.asarray(table[name][mask], dtype=np.float64)
        if name in EVENT_FILLS:
            values = np.where(np.isnan(values), EVENT_FILLS[name], values)
        columns.append(values)
    features = np.column_stack(columns)
    logit = np.asarray(table[LOGIT_COLUMN][mask], dtype=np.float64)
    finite = np.isfinite(features).all(axis=1) & np.isfinite(logit)
    return features[finite], logit[finite], int(np.count_nonzero(~finite))


def ship_event_surrogate(
    table_path: str | Path,
    output: str | Path,
    *,
    epochs: int = 60,
    patience: int = 20,
    bayes: str = "mcmc",
    draws: int = 40,
    seed: int = 0,
    fraction: float = 1.0,
    overwrite: bool = False,
    progress: Callable[[dict], None] | None = None,
    config: Any = None,
    min_events: int = 100,
) -> Any:
    """Train ``stop-classifier-delphes`` on the event table and write its folder.

    Args:
        table_path: the event table.
        output: surrogate folder to write (card.json + weights.safetensors).
        epochs, patience, bayes, draws, seed: training settings
            (:class:`surrotag.surrogates.train.TrainConfig`; ``draws`` stored samples).
        fraction: share of the training rows used (random, seeded): below 1 the result is
            the DEGRADED positive control of the validation, said on its card.
        overwrite: replace an existing folder.
        progress: per-epoch callback of :func:`surrotag.surrogates.train.train_surrogate`.
        config: a full :class:`~surrotag.surrogates.train.TrainConfig` instead of
            ``epochs``/``patience``/``draws``/``seed`` (small models in tests).
        min_events: fewest t tbar events that define a working point.

    Returns:
        The written :class:`surrotag.surrogates.card.Card`.

    Raises:
        FormatError: not an event table, or one without the classifier's sha256.
        InputValueError: ``fraction`` outside (0, 1], or too few t tbar events.
    """
    from surrotag.io.parquet import read_parquet_metadata, sha256_file
    from surrotag.surrogates.card import build_card_fields
    from surrotag.surrogates.storage import save_surrogate
    from surrotag.surrogates.train import TrainConfig, train_surrogate
    from surrotag.training import feature_entries

    if not 0.0 < fraction <= 1.0:
        raise InputValueError(f"fraction={fraction!r}: use a share in (0, 1]")
    path = Path(table_path)
    table = read_event_table(
        path, sorted({*EVENT_FEATURES, LOGIT_COLUMN, _WEIGHT, "split", "m_stop"})
    )
    classifier_sha = read_parquet_metadata(path).get("classifier", {}).get("sha256")
    if not isinstance(classifier_sha, str):
        raise FormatError(f"{path}: its provenance records no classifier sha256; rebuild it")
    points = event_working_points(table, min_events=min_events)
    features, logit, dropped = event_training_rows(table)
    if fraction < 1.0:
        n = max(50, round(fraction * len(logit)))
        pick = np.sort(np.random.default_rng(seed).choice(len(logit), n, replace=False))
        features, logit = features[pick], logit[pick]
    config = config or TrainConfig(epochs=epochs, patience=patience, draws=draws, seed=seed)
    surrogate, report = train_surrogate(
        features, logit, feature_names=list(EVENT_FEATURES), bayes=bayes, config=config,
        progress=progress,
    )  # fmt: skip
    command = (
        f"surrotag reference ship-event-surrogate --table {path.name} --epochs {config.epochs}"
        f" --patience {config.patience} --bayes {bayes} --draws {config.draws} "
        f"--seed {config.seed}" + (f" --fraction {fraction:g}" if fraction < 1.0 else "")
    )
    description = (
        "Internal stop/ttbar event classifier (surrotag reference experiment, heavy-stop "
        "network of arXiv:1804.09278's kind) given the public dilepton event features of a "
        "Delphes file and the event's invisible-pT and top-quark truth"
    )
    if fraction < 1.0:
        description = (
            f"DEGRADED positive control of {EVENT_SURROGATE}: {len(logit)} training rows "
            f"({fraction:.1%}), {config.epochs} epochs. Not for physics"
        )
    fields = build_card_fields(
        name=EVENT_SURROGATE,
        version="1.0.0",
        description=f"{description}. Retrain: {command}",
        tagger={
            "name": "surrotag reference stop/ttbar event classifier",
            "score": "logit of P(stop pair | dilepton event) of an MLP on the two leading "
            "leptons, four leading jets and MET (surrotag.reference.event_classifier)",
            "weights_sha256": classifier_sha,
        },
        features=feature_entries(EVENT_FEATURES, {}, EVENT_FILLS),
        score={"space": "identity", "clip": 0.0, "column": LOGIT_COLUMN},
        working_points=points,
        training={
            "description": f"{path.name}, split 'train', one row per dilepton event, every "
            f"row counted once (flow and posterior); working points weighted by "
            f"{_WEIGHT}; {command}",
            "sha256": sha256_file(path),
            "rows": {
                "total": int(np.sum(table["split"] == "train")),
                "used": int(logit.size),
                "dropped_nan": dropped,
                "train": report.n_train,
                "validation": report.n_val,
            },
        },
        references=["arXiv:2402.15558", "arXiv:1804.09278"],
        figures=report.card_figures(seconds_digits=1),
    )
    return save_surrogate(surrogate, fields, Path(output), overwrite=overwrite)


#: The validation of ``stop-classifier-delphes``, fixed before any of its samples existed:
#: fresh seeds that no other sample uses (the classifier's and the event table's are 5101,
#: 5102, 5111-5116; the analysis's grid 5201-5232 and closure 5301-5303), the settings of
#: :func:`surrotag.validation.event_surrogate.validate_event_surrogate` (its default
#: m_T2(ll) x MET cells and counting rule), every working point of the card, and the seed.
VALIDATION_PLAN: Final = {
    "samples": (
        Sample("ttbar", "ttbar-dilepton", 50_000, 5105),
        Sample("stop_700_50", "stop-pair-dilepton", 10_000, 5117, 700.0, 50.0),
        Sample("stop_400_100", "stop-pair-dilepton", 10_000, 5118, 400.0, 100.0),
        Sample("stop_250_150", "stop-pair-dilepton", 10_000, 5119, 250.0, 150.0),
    ),
    "jobs": 1,
    "draws": 20,
    "seed": 7201,
    "min_events": 30,
    "c2st_rows": 20_000,
}
#: File name of the validation's event table (in ``$SURROTAG_DATA/reference``).
VALIDATION_TABLE_NAME: Final = "stop_event_validation_table.parquet"
#: File name of the validation report in the surrogate's folder.
VALIDATION_FILE: Final = "validation.json"
