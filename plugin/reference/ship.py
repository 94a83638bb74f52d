"""Train the shipped top-tagger surrogates from the reference table, card and all.

Three surrogates of the internal PFN top tagger (:mod:`surrotag.reference.tagger`) ship
with surrotag, all trained on the ``train`` split of the reference table
(``surrotag reference build-table``) by conditional flow matching with mean-field VI weights
(arXiv:2402.15558):

``top-tagger-delphes``
    one row per fat jet, conditioned on the public detector-level features a Delphes user
    has and on the jet's truth: whether it is matched to a hadronic top
    (``truth_top_matched``) and how many of b, q, q' lie inside it
    (``truth_top_n_contained``, 0 standing for NaN when no top matches). tau21 and tau32
    are NaN for jets of one or two constituents (tau1 or tau2 = 0); 0 stands for them
    (no resolved prongs), so that every jet of a file can be tagged.
``top-tagger-parton``
    one row per fat jet matched to a hadronic top, conditioned on the top quark alone: its
    pT, eta and the largest Delta R between the top and its decay quarks, named as the
    parton-level features (``top_pt``, ``top_eta``, ``top_dr_max``) so that the surrogate
    applies to top quarks of LHE files. The tagger score of the jet the top makes is
    modelled as a function of the parton: the spread of the detector response is part of
    what the flow learns.
``top-tagger-particle``
    one row per fat jet with a particle-level jet within Delta R < 0.4 (anti-kT R = 0.8 of
    the visible stable particles, no detector: :mod:`surrotag.jets.particle`), conditioned
    on that particle-level jet's features and truth (the ``particle_*`` columns of the
    table, named as the particle-level features): a HepMC user's jets. The tagger's logit
    of the detector-level jet is what it learns, so the detector's effects on the
    constituents, the mass and tau_N live inside the surrogate.

Working points are thresholds of the internal logit giving eps_S = 0.3, 0.5, 0.7 for
contained hadronic top jets (``label == 1``) with 500 < pT < 1000 GeV in the training split;
the card's efficiency map holds the baseline a recast tool would use instead: per pT bin and
per truth category (:data:`surrotag.features.truth.TRUTH_CATEGORIES`), the tag efficiency of
contained hadronic top jets (``efficiency``), of top-matched jets that do not contain b, q,
q' (``partial``) and the mistag rate of unmatched jets, measured on QCD jets (``mistag``),
with binomial errors.

Both are **event-weighted**: the table's ``event_weight`` (Pythia's pTHat-bias compensating
weight, :mod:`surrotag.reference.samples`) undoes the biased sampling, so thresholds are
weighted quantiles and efficiencies weighted fractions. The unweighted versions are
recorded beside them (``unweighted_threshold`` / ``unweighted_efficiency`` of each working
point, ``*_unweighted`` arrays of the map), so the shift the weights make is on the card. A
table without ``event_weight`` (built before it was recorded) is refused: unit weights in its
place would shift wp50 by about 0.015 in logit without a word (3.4625 against 3.4777 on the
reference table).

References:
    Bieringer et al., "Classifier surrogates", arXiv:2402.15558;
    Kasieczka et al., top-tagging reference data set, arXiv:1902.09914.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from surrotag.errors import FormatError, InputValueError

if TYPE_CHECKING:
    from surrotag.surrogates.solver_choice import SolverCheck

__all__ = [
    "EFFICIENCY_PT_EDGES",
    "SHIPPED",
    "WEIGHT_COLUMN",
    "WORKING_POINT_EFFICIENCIES",
    "ShipSpec",
    "choose_shipped_solver",
    "efficiency_map",
    "read_table",
    "ship_surrogate",
    "training_rows",
    "weighted_threshold",
    "working_points",
]

#: Nominal signal efficiencies of the working points, on contained top jets.
WORKING_POINT_EFFICIENCIES: Final = {"wp30": 0.3, "wp50": 0.5, "wp70": 0.7}
#: Jet-pT window (GeV) in which the working points are defined.
WP_PT_WINDOW: Final = (500.0, 1000.0)
#: pT bin edges (GeV) of the efficiency map.
EFFICIENCY_PT_EDGES: Final = (
    200.0, 300.0, 400.0, 500.0, 600.0, 800.0, 1000.0, 1300.0, 1700.0, 2500.0, 6500.0,
)  # fmt: skip
SCORE_COLUMN: Final = "tagger_logit"
#: Table column of each jet's event weight (float64, mean 1 per sample).
WEIGHT_COLUMN: Final = "event_weight"


@dataclass(frozen=True)
class ShipSpec:
    """How one shipped surrogate is built from the reference table.

    Attributes:
        name: registry name.
        description: one sentence for the card.
        columns: table columns, in model order.
        names: feature names the card gives them (the names ``build_features`` uses at the
            surrogate's input level).
        fills: NaN replacement per feature name.
        matched_only: keep only jets matched to a hadronic top.
        pt_feature: feature of the efficiency map's pT axis.
        object_prefix: prefix of the table columns that describe the object the surrogate is
            applied to: its truth (the efficiency map's and the validation's categories) and
            its soft-drop mass (validation cells). ``""``: the detector jet's own;
            ``particle_``: its particle-level jet's.
        rows: which table rows train it, for the card.
    """

    name: str
    description: str
    columns: tuple[str, ...]
    names: tuple[str, ...]
    fills: Mapping[str, float] = field(default_factory=dict)
    matched_only: bool = False
    pt_feature: str = "jet_pt"
    object_prefix: str = ""
    rows: str = "all fat jets"

    @property
    def truth_columns(self) -> list[str]:
        """The object's truth columns in the table: matched, hadronic, n_contained."""
        return [
            f"{self.object_prefix}truth_top_{n}" for n in ("matched", "hadronic", "n_contained")
        ]


_DELPHES_COLUMNS: Final = (
    "jet_pt", "jet_eta", "jet_mass", "jet_sd_mass", "jet_tau21", "jet_tau32",
    "jet_n_constituents", "truth_top_matched", "truth_top_n_contained",
)  # fmt: skip

_PARTICLE_PREFIX: Final = "particle_"

SHIPPED: Final = {
    "top-tagger-delphes": ShipSpec(
        name="top-tagger-delphes",
        description="Internal PFN top tagger (surrotag reference experiment) given the "
        "detector-level fat-jet features of a Delphes file and the jet's top-quark truth",
        columns=_DELPHES_COLUMNS,
        names=_DELPHES_COLUMNS,
        fills={"truth_top_n_contained": 0.0, "jet_tau21": 0.0, "jet_tau32": 0.0},
    ),
    "top-tagger-parton": ShipSpec(
        name="top-tagger-parton",
        description="Internal PFN top tagger (surrotag reference experiment) for the fat jet "
        "of a hadronic top quark, given the top quark alone (parton level)",
        columns=("truth_top_pt", "truth_top_eta", "truth_top_dr_max"),
        names=("top_pt", "top_eta", "top_dr_max"),
        matched_only=True,
        pt_feature="top_pt",
        rows="jets matched to a hadronic top",
    ),
    "top-tagger-particle": ShipSpec(
        name="top-tagger-particle",
        description="Internal PFN top tagger (surrotag reference experiment) given the "
        "particle-level fat jet (anti-kT R = 0.8 of the visible stable particles, no "
        "detector) matched to the tagged detector-level jet, and that jet's top-quark truth",
        columns=tuple(_PARTICLE_PREFIX + name for name in _DELPHES_COLUMNS),
        names=_DELPHES_COLUMNS,
        fills={"truth_top_n_contained": 0.0, "jet_tau21": 0.0, "jet_tau32": 0.0},
        object_prefix=_PARTICLE_PREFIX,
        rows="fat jets with a particle-level jet within Delta R < 0.4",
    ),
}


def read_table(path: str | Path, columns: list[str]) -> dict[str, np.ndarray]:
    """Columns of a reference table as numpy arrays (``split`` as an object array).

    Args:
        path: the reference table.
        columns: columns that must be there.

    Raises:
        InputFileError: no such file.
        FormatError: a column is missing.
        CorruptFileError: not a readable Parquet file.
    """
    from surrotag.io.parquet import read_columns

    return read_columns(
        path,
        columns,
        text={"split"},
        hint="pass a reference table written by the current surrotag reference build-table "
        "(rebuild an older one)",
    )


def training_rows(
    table: Mapping[str, np.ndarray], spec: ShipSpec, split: str = "train"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature matrix, score and row mask of ``spec`` in one split of the table.

    Returns:
        ``(features [N, F], logit [N], mask over the table rows)``; NaN filled per spec.
    """
    mask = table["split"] == split
    if spec.matched_only:
        mask &= table["truth_top_matched"] == 1
    columns = []
    for column, name in zip(spec.columns, spec.names, strict=True):
        values = table[column][mask]
        if name in spec.fills:
            values = np.where(np.isnan(values), spec.fills[name], values)
        columns.append(values)
    features = np.column_stack(columns)
    finite = np.isfinite(features).all(axis=1)
    rows = np.flatnonzero(mask)[finite]
    keep = np.zeros_like(mask)
    keep[rows] = True
    return features[finite], table[SCORE_COLUMN][keep], keep


def _weights(table: Mapping[str, np.ndarray]) -> np.ndarray:
    """The table's :data:`WEIGHT_COLUMN`.

    Raises:
        InputValueError: the table has none (never silently unit weights: a working point
            from an unweighted read differs from the event-weighted one on the cards).
    """
    if WEIGHT_COLUMN not in table:
        raise InputValueError(
            f"no {WEIGHT_COLUMN} column: working points and efficiency maps are "
            f"event-weighted; read it with the table (read_table(path, [..., "
            f"{WEIGHT_COLUMN!r}])), or rebuild a table that predates it with surrotag "
            "reference build-table"
        )
    return np.asarray(table[WEIGHT_COLUMN], dtype=np.float64)


def weighted_threshold(scores: np.ndarray, weights: np.ndarray, efficiency: float) -> float:
    """The cut ``score > t`` whose weighted pass fraction is nearest to ``efficiency``.

    The cut is placed half-way between two neighbouring distinct scores (as a quantile with
    linear interpolation would be), so that the achieved fraction is exact to within the
    largest single weight fraction; with unit weights it agrees with
    ``np.quantile(scores, 1 - efficiency)`` to within one jet.

    Args:
        scores: [N] scores (here the internal logit).
        weights: [N] non-negative event weights, positive sum.
        efficiency: wanted weighted fraction of ``scores > t``, in (0, 1).

    Returns:
        The threshold t.

    Raises:
        InputValueError: no scores, negative weights, or a non-positive weight sum.
    """
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if scores.size == 0 or np.any(weights < 0) or not np.sum(weights) > 0:
        raise InputValueError(
            "a weighted threshold needs scores with non-negative weights of positive sum"
        )
    order = np.argsort(-scores, kind="stable")
    s, w = scores[order], weights[order]
    passed = np.cumsum(w) / np.sum(w)  # cutting just below s[k] passes s[0..k]
    boundary = np.append(s[:-1] > s[1:], True)  # only cuts between distinct scores
    candidates = np.flatnonzero(boundary)
    k = candidates[np.argmin(np.abs(passed[candidates] - efficiency))]
    if efficiency < abs(passed[k] - efficiency):  # passing nothing comes nearer
        return float(s[0])
    if k == s.size - 1:
        return float(np.nextafter(s[-1], -np.inf))
    return float(0.5 * (s[k] + s[k + 1]))


def working_points(
    table: Mapping[str, np.ndarray], split: str = "train", min_jets: int = 100
) -> list[dict[str, Any]]:
    """Logit thresholds with eps_S = 0.3, 0.5, 0.7 on contained top jets, 500 < pT < 1000 GeV.

    eps_S is event-weighted (:data:`WEIGHT_COLUMN`, required).
    Each point also records the unweighted quantile (``unweighted_threshold``) and the
    unweighted fraction of the defining jets above the weighted cut
    (``unweighted_efficiency``): the shift that the weights make.

    Args:
        table: columns ``split``, ``label``, ``jet_pt``, ``tagger_logit`` and
            ``event_weight`` (numpy arrays).
        split: the split that defines the working points.
        min_jets: fewest contained top jets in the window that define a working point.

    Returns:
        One dict per point: ``name``, ``threshold``, ``efficiency`` (weighted, as
        achieved), ``unweighted_threshold``, ``unweighted_efficiency``, ``definition``.
    """
    lo, hi = WP_PT_WINDOW
    tops = (
        (table["split"] == split)
        & (table["label"] == 1)
        & (table["jet_pt"] > lo)
        & (table["jet_pt"] < hi)
    )
    logit = table[SCORE_COLUMN][tops]
    weight = _weights(table)[tops]
    if logit.size < min_jets:
        raise InputValueError(
            f"only {logit.size} contained top jets with {lo:g} < pT < {hi:g} GeV in split "
            f"{split!r}: too few to define working points; generate a larger reference sample"
        )
    n_eff = float(np.sum(weight) ** 2 / np.sum(weight**2))
    points = []
    for name, efficiency in WORKING_POINT_EFFICIENCIES.items():
        threshold = weighted_threshold(logit, weight, efficiency)
        achieved = float(np.sum(weight[logit > threshold]) / np.sum(weight))
        plain = float(np.quantile(logit, 1.0 - efficiency))
        plain_efficiency = float(np.mean(logit > threshold))
        points.append(
            {
                "name": name,
                "threshold": threshold,
                "efficiency": achieved,
                "unweighted_threshold": plain,
                "unweighted_efficiency": plain_efficiency,
                "definition": f"internal logit > {threshold:.4f}: event-weighted eps_S = "
                f"{efficiency:g} for contained hadronic top jets (label 1) with {lo:g} < jet "
                f"pT < {hi:g} GeV in the {split} split of the reference table ({logit.size} "
                f"jets, {n_eff:.0f} effective); unweighted, this cut passes "
                f"{plain_efficiency:.4f} of them and eps_S = {efficiency:g} would be "
                f"logit > {plain:.4f}",
            }
        )
    return points


def _binomial(
    passed: np.ndarray, total: np.ndarray, total_w2: np.ndarray
) -> tuple[list[float], list[float]]:
    """Weighted efficiency and its binomial error with the Kish effective count per bin."""
    eff = np.divide(passed, total, out=np.zeros_like(passed), where=total > 0)
    eff = np.clip(eff, 0.0, 1.0)  # a weighted subset sum may round above its total
    n_eff = np.divide(total**2, total_w2, out=np.zeros_like(total), where=total_w2 > 0)
    err = np.sqrt(np.divide(eff * (1 - eff), n_eff, out=np.zeros_like(eff), where=n_eff > 0))
    return eff.tolist(), err.tolist()


def efficiency_map(
    table: Mapping[str, np.ndarray],
    points: list[dict[str, Any]],
    pt_column: str = "jet_pt",
    split: str = "train",
    signal: str = "contained",
    object_prefix: str = "",
) -> dict[str, dict[str, list[float]]]:
    """The baseline per working point: tag rate per pT bin and truth category.

    Detector level (``signal="contained"``), the three truth categories of
    :func:`surrotag.features.truth.jet_truth_category`, as recast tools bin tagging
    efficiencies: ``efficiency`` of contained hadronic top jets (label 1), ``partial`` of
    top-sample jets matched to a hadronic top that do not contain all of b, q, q' (label -1
    and ``truth_top_matched``), ``mistag`` of unmatched jets, measured on QCD jets (label 0).
    Parton level (``signal="matched"``): ``efficiency`` of every jet matched to a hadronic
    top (applied to every hadronic top quark, whose jet may not contain all its decay
    quarks) and ``mistag`` (no category ``partial``).

    Rates are event-weighted fractions of the jets above the threshold per bin of
    ``pt_column`` (GeV), with binomial errors from the Kish effective number of jets; the
    ``*_unweighted`` arrays hold the plain fractions.

    With ``object_prefix`` (particle level: ``particle_``), the categories of top-sample
    jets come from the truth columns of that prefix, i.e. of the object the surrogate is
    applied to, and the pT axis is ``pt_column`` of the same object.
    """
    if signal not in ("contained", "matched"):
        raise InputValueError(f"signal={signal!r}: use 'contained' or 'matched'")
    edges = np.asarray(EFFICIENCY_PT_EDGES)
    in_split = table["split"] == split
    pt = table[pt_column]
    weight = _weights(table)
    matched = table[f"{object_prefix}truth_top_matched"] == 1
    if signal == "contained" and object_prefix:
        from surrotag.features.truth import jet_truth_category

        category = jet_truth_category(
            table[f"{object_prefix}truth_top_matched"],
            table[f"{object_prefix}truth_top_hadronic"],
            table[f"{object_prefix}truth_top_n_contained"],
        )
        top_sample = table["label"] != 0
        categories = {
            "efficiency": top_sample & (category == 0),
            "partial": top_sample & (category == 1),
            "mistag": table["label"] == 0,
        }
    elif signal == "contained":
        categories = {
            "efficiency": table["label"] == 1,
            "partial": (table["label"] == -1) & matched,
            "mistag": table["label"] == 0,
        }
    else:
        categories = {"efficiency": matched, "mistag": table["label"] == 0}
    out = {}
    for point in points:
        passed = table[SCORE_COLUMN] > point["threshold"]
        entry: dict[str, list[float]] = {"pt_edges": edges.tolist()}
        for key, chosen in categories.items():
            rows = in_split & chosen & np.isfinite(pt)
            total = np.histogram(pt[rows], edges, weights=weight[rows])[0]
            total_w2 = np.histogram(pt[rows], edges, weights=weight[rows] ** 2)[0]
            hits = np.histogram(pt[rows & passed], edges, weights=weight[rows & passed])[0]
            entry[key], entry[f"{key}_error"] = _binomial(hits, total, total_w2)
            n = np.histogram(pt[rows], edges)[0].astype(float)
            n_hits = np.histogram(pt[rows & passed], edges)[0].astype(float)
            entry[f"{key}_unweighted"] = _binomial(n_hits, n, n)[0]
        out[point["name"]] = entry
    return out


def ship_surrogate(
    name: str,
    table_path: str | Path,
    output: str | Path,
    *,
    epochs: int = 60,
    patience: int = 20,
    bayes: str = "vi",
    draws: int = 20,
    seed: int = 0,
    device: str = "cpu",
    overwrite: bool = False,
    progress: Callable[[dict], None] | None = None,
    min_jets: int = 100,
    config: Any = None,
    flow_weights: str = "event",
) -> Any:
    """Train shipped surrogate ``name`` on the reference table and write its folder.

    Args:
        name: a key of :data:`SHIPPED`.
        table_path: the reference table (``surrotag reference build-table``).
        output: surrogate folder to write (card.json + weights.safetensors).
        epochs, patience, bayes, draws, seed, device: training settings
            (:class:`surrotag.surrogates.train.TrainConfig`).
        overwrite: replace an existing folder.
        progress: per-epoch callback of :func:`surrotag.surrogates.train.train_surrogate`.
        min_jets: fewest jets that define a working point (:func:`working_points`).
        config: a full :class:`~surrotag.surrogates.train.TrainConfig` instead of
            ``epochs``/``draws``/``seed``/``device`` (small models in tests).
        flow_weights: ``"event"``: the rows' event weights enter the flow-matching loss and
            the posterior's likelihood; ``"none"``: every row counts once. The surrogate
            models p(score | features), which a reweighting of the features' distribution
            (the pTHat bias of the reference samples) leaves unchanged, while the weights
            cut the effective rows (Kish) by an order of magnitude. Working points and
            efficiency maps are weighted either way.

    Returns:
        The written :class:`surrotag.surrogates.card.Card`.
    """
    from surrotag.io.parquet import read_parquet_metadata, sha256_file
    from surrotag.surrogates.card import build_card_fields
    from surrotag.surrogates.storage import save_surrogate
    from surrotag.surrogates.train import TrainConfig, train_surrogate
    from surrotag.training import feature_entries

    if name not in SHIPPED:
        raise InputValueError(f"no shipped surrogate {name!r} (known: {', '.join(SHIPPED)})")
    if flow_weights not in ("event", "none"):
        raise InputValueError(f"flow_weights={flow_weights!r}: choose event or none")
    spec = SHIPPED[name]
    path = Path(table_path)
    needed = sorted(
        {
            *spec.columns,
            SCORE_COLUMN,
            WEIGHT_COLUMN,
            "split",
            "label",
            "jet_pt",
            *spec.truth_columns,
        }
    )
    meta = read_parquet_metadata(path)
    if meta.get("kind") != "surrogate-training-table":
        raise FormatError(
            f"{path}: not a reference surrogate table; write one with surrotag reference "
            "build-table (or surrotag reference pipeline)"
        )
    table = read_table(path, needed)
    features, scores, rows = training_rows(table, spec)
    points = working_points(table, min_jets=min_jets)
    pt_column = spec.columns[spec.names.index(spec.pt_feature)]
    config = config or TrainConfig(
        epochs=epochs, patience=patience, draws=draws, seed=seed, device=device
    )
    surrogate, report = train_surrogate(
        features, scores, feature_names=list(spec.names), bayes=bayes, config=config,
        progress=progress,
        sample_weight=_weights(table)[rows] if flow_weights == "event" else None,
    )  # fmt: skip
    tagger_sha = meta.get("tagger", {}).get("sha256")
    command = (
        f"surrotag reference ship-surrogate {name} --table {path.name} --epochs {config.epochs} "
        f"--patience {config.patience} --bayes {bayes} --draws {config.draws} --seed {config.seed}"
        f" --flow-weights {flow_weights}"
    )
    weighting = (
        f"; working points and efficiency map weighted by {WEIGHT_COLUMN}"
        if WEIGHT_COLUMN in table
        else "; working points and efficiency map unweighted (no event weights)"
    )
    fields = build_card_fields(
        name=name,
        version="1.0.0",
        description=spec.description + f". Retrain: {command}",
        tagger={
            "name": "surrotag reference PFN top tagger",
            "score": "logit of the top-vs-QCD probability of a particle-flow network on "
            "detector-level constituents (surrotag.reference.pfn)",
            "weights_sha256": tagger_sha,
        },
        features=feature_entries(spec.names, {}, spec.fills, columns=spec.columns),
        score={"space": "identity", "clip": 0.0, "column": SCORE_COLUMN},
        working_points=points,
        efficiency_map=efficiency_map(
            table,
            points,
            pt_column,
            signal="matched" if spec.matched_only else "contained",
            object_prefix=spec.object_prefix,
        ),
        training={
            "description": f"{path.name}, split 'train', {spec.rows}{weighting}; {command}",
            "sha256": sha256_file(path),
            "rows": {
                "total": int(np.sum(table["split"] == "train")),
                "used": int(scores.size),
                "train": report.n_train,
                "validation": report.n_val,
            },
        },
        references=["arXiv:2402.15558", "arXiv:1902.09914"],
        figures=report.card_figures(seconds_digits=1),  # validation, bayes diagnostics
    )
    return save_surrogate(surrogate, fields, Path(output), overwrite=overwrite)


#: Held-out objects of the solver check of a shipped surrogate, and their seed.
SOLVER_CHECK_ROWS: Final = 2000
SOLVER_CHECK_SEED: Final = 2111


def choose_shipped_solver(
    name: str,
    table_path: str | Path,
    folder: str | Path,
    *,
    tolerance: float = 1e-3,
    rows: int = SOLVER_CHECK_ROWS,
    seed: int = SOLVER_CHECK_SEED,
) -> SolverCheck:
    """Choose the RK4 steps and time grid of a shipped surrogate and write them into its card.

    The check objects are ``rows`` random objects (``seed``) of the table's *test* split that
    the surrogate's spec selects; the thresholds are its working points and the 10, 30, 50,
    70 and 90% quantiles of their scores; every stored draw (up to 4) is measured
    (:func:`surrotag.surrogates.solver_choice.choose_solver`). The weights do not change.

    Returns:
        The measurement (also stored as the card's ``solver.check``).
    """
    from surrotag.surrogates.solver_choice import check_thresholds, choose_solver
    from surrotag.surrogates.storage import load_surrogate, set_solver

    if name not in SHIPPED:
        raise InputValueError(f"no shipped surrogate {name!r} (known: {', '.join(SHIPPED)})")
    spec = SHIPPED[name]
    table = read_table(
        Path(table_path), sorted({*spec.columns, SCORE_COLUMN, "split", *spec.truth_columns})
    )
    features, scores, _ = training_rows(table, spec, split="test")
    if len(features) == 0:
        raise FormatError(f"{table_path}: no test-split rows for {name}")
    pick = np.random.default_rng(seed).permutation(len(features))[:rows]
    model, card = load_surrogate(folder)
    thresholds = check_thresholds(card, scores[pick])
    check = choose_solver(model, features[pick], thresholds, tolerance)
    record = check.to_dict() | {
        "source": f"{Path(table_path).name} test split, {len(pick)} objects (seed {seed}): "
        f"surrotag reference ship-solver {name}"
    }
    set_solver(folder, check.steps, check.grid_power, record, check.nodes)
    return check
