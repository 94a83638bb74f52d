"""Run every explanation of a surrogate or of the internal tagger; write PNGs + summary JSON.

:func:`explain_surrogate` (``surrotag surrogate explain``) and :func:`explain_tagger`
(``surrotag reference explain-tagger``) call the methods of :mod:`surrotag.explain` on real
rows, draw the figures (:mod:`surrotag.explain.plots`) and return a typed result
(:class:`SurrogateExplanation`, :class:`TaggerExplanation`) whose ``to_dict()`` is the
JSON-able summary that :func:`write_json` stores atomically (temporary file +
``os.replace``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from surrotag.errors import EmptyInputError, FormatError, InputFileError

if TYPE_CHECKING:
    from surrotag.surrogates.card import Card
    from surrotag.surrogates.flow import Surrogate

__all__ = [
    "CONTOUR_PAIRS",
    "SurrogateExplanation",
    "TaggerExplanation",
    "explain_surrogate",
    "explain_tagger",
    "read_feature_sample",
    "write_json",
]

#: Feature pairs of the contour maps, used where the surrogate has both features.
CONTOUR_PAIRS = (("jet_pt", "jet_mass"), ("jet_sd_mass", "jet_tau32"), ("jet_mass", "jet_tau32"))
#: Preferred simple cut: soft-drop mass window and an upper cut on tau32 (arXiv:1902.09914).
SIMPLE_CUT = (("jet_sd_mass", "window"), ("jet_tau32", "below"))

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SurrogateExplanation:
    """What :func:`explain_surrogate` found; :meth:`to_dict` is the JSON summary.

    Attributes:
        surrogate: the card's name.
        version: the card's version.
        working_point: the working point of ascent, importance and cut.
        draws: Bayesian weight draws evaluated.
        rows: table rows explained.
        files: figure key -> PNG file name (in the output folder).
        contours: per feature pair: features, population, maps per working point (and the
            averaged map), largest spread over draws.
        ascent: gradient ascent: seeds, steps, gradient method, free features, mean
            probability before and after, per-feature quantiles before and after.
        importance: permutation and integrated-gradient importances, rankings and notes
            (:meth:`surrotag.explain.importance.Importance.to_dict`).
        simple_cut: per cut (``two``, ``three`` features): the best rectangular cut, its
            agreement with the surrogate's decision and, with labels, its efficiencies.
        ood_fraction: share of the rows outside the training support.
        ood_method: how the support was judged (``joint`` or ``box``).
    """

    surrogate: str
    version: str
    working_point: str
    draws: int
    rows: int
    files: dict[str, str]
    contours: list[dict[str, Any]]
    ascent: dict[str, Any]
    importance: dict[str, Any]
    simple_cut: dict[str, dict[str, Any]]
    ood_fraction: float
    ood_method: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able summary (a copy), keys in the order of the attributes."""
        return asdict(self)


@dataclass(frozen=True)
class TaggerExplanation:
    """What :func:`explain_tagger` found; :meth:`to_dict` is the JSON summary.

    Attributes:
        tagger_sha256: sha256 of the tagger's weights.
        samples: the reference samples read.
        jets: jets used per class (``top``, ``qcd``).
        files: figure key -> PNG file name (in the output folder).
        ascent: gradient ascent on QCD seed jets: seeds, steps, median logits before,
            after and of real tops, quantiles of mass, tau32 and pT per population.
        mutual_information: layers, the five units of most information per variable and
            the largest information per layer and variable (nats).
        activation_patterns: per layer: dead-unit fraction, units, mean absolute
            top-minus-QCD activation.
    """

    tagger_sha256: str
    samples: list[str]
    jets: dict[str, int]
    files: dict[str, str]
    ascent: dict[str, Any]
    mutual_information: dict[str, Any]
    activation_patterns: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able summary (a copy), keys in the order of the attributes."""
        return asdict(self)


def write_json(document: Any, path: str | Path) -> Path:
    """Write JSON atomically: a temporary file beside ``path``, then ``os.replace``."""
    from surrotag.io.atomic import write_json_atomic

    return write_json_atomic(path, document, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def read_feature_sample(
    path: str | Path,
    names: Sequence[str],
    fills: dict[str, float] | None = None,
    *,
    n_max: int = 2000,
    split: str | None = "test",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Up to ``n_max`` random rows of a Parquet table with the named feature columns.

    Rows with a NaN/inf feature (after the card's ``fills``) are dropped and counted. With
    ``split`` and a ``split`` column, only that split's rows are used (a split that is absent
    falls back to all rows).

    Returns:
        ``(x [N, F] float64, label [N] int or None, info)``.

    Raises:
        InputFileError: the file is missing or not Parquet; FormatError: a column is missing;
        EmptyInputError: no usable rows.
    """
    from surrotag.io.parquet import read_columns

    path = Path(path)
    columns = read_columns(
        path,
        names,
        optional=["label", "split"],
        text={"split"},
        hint="pass --table, a feature table with the surrogate's columns (surrotag features "
        "or surrotag reference build-table)",
    )
    keep = np.ones(len(columns[names[0]]), bool)
    used_split = None
    if split is not None and "split" in columns:
        chosen = columns["split"].astype(str) == split
        if chosen.any():
            keep &= chosen
            used_split = split
    x = np.column_stack([columns[n] for n in names])
    for j, name in enumerate(names):
        if fills and name in fills:
            x[:, j] = np.where(np.isnan(x[:, j]), fills[name], x[:, j])
    finite = np.isfinite(x).all(1)
    dropped = int((keep & ~finite).sum())
    keep &= finite
    rows = np.flatnonzero(keep)
    if rows.size == 0:
        raise EmptyInputError(f"{path}: no rows with finite features {list(names)}")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(rows, size=min(n_max, rows.size), replace=False))
    label = columns["label"][rows].astype(np.int64) if "label" in columns else None
    info = {"path": str(path), "rows": int(rows.size), "split": used_split, "dropped_nan": dropped}
    return x[rows], label, info


def _pairs(names: Sequence[str], public: np.ndarray) -> list[tuple[int, int]]:
    pairs = [
        (names.index(a), names.index(b)) for a, b in CONTOUR_PAIRS if a in names and b in names
    ]
    if not pairs:
        idx = np.flatnonzero(public)
        pairs = [(int(idx[k]), int(idx[k + 1])) for k in range(min(3, len(idx) - 1))]
    return pairs


def explain_surrogate(
    surrogate: Surrogate,
    card: Card,
    x: np.ndarray,
    label: np.ndarray | None,
    out: str | Path,
    *,
    working_point: str | None = None,
    draws: int | None = None,
    grid: int = 20,
    n_average: int = 32,
    n_seeds: int = 128,
    ascent_steps: int = 60,
    n_importance: int = 400,
    seed: int = 0,
    progress: Progress | None = None,
) -> SurrogateExplanation:
    """Contours, gradient ascent, feature importance and the best simple cut of a surrogate.

    Args:
        surrogate, card: from :func:`surrotag.surrogates.storage.load_surrogate`.
        x: table rows ``[N, F]`` in the card's feature order (:func:`read_feature_sample`).
        label: ``[N]`` table labels (1 contained top, 0 QCD, -1 other) or None.
        out: output folder for the PNGs (created).
        working_point: the working point of ascent, importance and cut (default: the
            card's middle one); the contour maps show every working point.
        draws: Bayesian weight draws (default: the card's).
        grid: contour grid points per axis.
        n_average: rows averaged per grid point in the partial-dependence map.
        n_seeds, ascent_steps: gradient-ascent seeds and Adam steps.
        n_importance: rows of the importance sample.
        seed: seed of every random choice.
        progress: called with a short message before each step.

    Returns:
        The explanation (:meth:`SurrogateExplanation.to_dict`: the JSON summary); figures
        are written to ``out``.
    """
    from surrotag.explain import plots
    from surrotag.explain.ascent import gradient_ascent
    from surrotag.explain.contours import contour_map, feature_grid
    from surrotag.explain.importance import feature_importance
    from surrotag.explain.probability import SurrogateProbability, evaluate
    from surrotag.explain.simple_cut import best_rectangular_cut

    say = progress or (lambda message: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = list(card.feature_names)
    wps = [point["name"] for point in card.working_points]
    main = working_point or wps[len(wps) // 2]
    probs = {wp: SurrogateProbability(surrogate, card, wp, draws=draws) for wp in wps}
    prob = probs.get(main) or SurrogateProbability(surrogate, card, main, draws=draws)
    public = prob.public()
    rng = np.random.default_rng(seed)
    units = {f["name"]: f.get("unit", "") for f in card.features}
    population = (
        "contained top jets (label 1)" if label is not None and (label == 1).any() else "all rows"
    )
    ref = x[label == 1] if label is not None and (label == 1).any() else x
    files: dict[str, str] = {}

    say("contour maps")
    contours = []
    for i, j in _pairs(names, public):
        gx, gy = feature_grid(ref, i, grid), feature_grid(ref, j, grid)
        pair = (names[i], names[j])
        maps = [contour_map(probs[wp], ref, i, j, gx, gy, mode="median", names=pair) for wp in wps]
        sub = ref[rng.choice(len(ref), size=min(n_average, len(ref)), replace=False)]
        maps.append(contour_map(prob, sub, i, j, gx, gy, mode="average", names=pair))
        titles = [f"{wp}, others at median" for wp in wps] + [f"{main}, averaged over {len(sub)}"]
        png = plots.plot_contours(maps, titles, out / f"contour_{pair[0]}_{pair[1]}.png")
        files[f"contour_{pair[0]}_{pair[1]}"] = png.name
        contours.append(
            {
                "features": list(pair),
                "population": population,
                "maps": {
                    t: m.to_dict() for t, m in zip([*wps, f"{main}_average"], maps, strict=True)
                },
                "max_spread": float(max(m.spread.max() for m in maps)),
            }
        )

    say("gradient ascent")
    seeds = x[rng.choice(len(x), size=min(n_seeds, len(x)), replace=False)]
    ascent = gradient_ascent(
        prob, seeds, loc=prob.loc, scale=prob.scale, low=prob.low, high=prob.high,
        free=public, steps=ascent_steps,
    )  # fmt: skip
    files["ascent"] = plots.plot_ascent(ascent, names, public, out / "ascent.png").name
    ascent_summary = {
        "seeds": len(seeds),
        "steps": ascent_steps,
        "gradient": ascent.method,
        "free_features": [n for n, f in zip(names, public, strict=True) if f],
        "p_start_mean": float(ascent.p_start.mean()),
        "p_final_mean": float(ascent.p_final.mean()),
        "features": {
            names[j]: {
                "start_quantiles_16_50_84": np.quantile(
                    ascent.start[:, j], [0.16, 0.5, 0.84]
                ).tolist(),
                "final_quantiles_16_50_84": np.quantile(
                    ascent.final[:, j], [0.16, 0.5, 0.84]
                ).tolist(),
                "unit": units[names[j]],
            }
            for j in np.flatnonzero(public)
        },
    }

    say("feature importance")
    sample = x[rng.choice(len(x), size=min(n_importance, len(x)), replace=False)]
    importance = feature_importance(prob, sample, names, seed=seed)
    files["importance"] = plots.plot_importance(importance, out / "importance.png").name

    say("simple cut")
    p = evaluate(prob, x).mean(0)
    decision = p > 0.5
    cuts = {}
    pref = [(names.index(n), k) for n, k in SIMPLE_CUT if n in names]
    ranked = [names.index(n) for n in importance.ranking() if public[names.index(n)]]
    if len(pref) < 2:
        pref = [(j, "window") for j in ranked[:2]]
    third = next((j for j in ranked if j not in [c for c, _ in pref]), None)
    choices = {"two": pref} | ({"three": [*pref, (third, "window")]} if third is not None else {})
    for key, spec in choices.items():
        cols = [c for c, _ in spec]
        cut = best_rectangular_cut(
            x[:, cols], decision, names=[names[c] for c in cols], kinds=[k for _, k in spec],
            n_edges=24 if len(cols) == 2 else 14,
        )  # fmt: skip
        entry = cut.to_dict() | {"cut": cut.describe(units)}
        if label is not None:
            passed = ((x[:, cols] >= cut.low) & (x[:, cols] < cut.high)).all(1)
            for name, value in (("signal", 1), ("qcd", 0)):
                rows = label == value
                if rows.any():
                    entry[f"{name}_efficiency_surrogate"] = float(p[rows].mean())
                    entry[f"{name}_efficiency_cut"] = float(passed[rows].mean())
        cuts[key] = entry
        if key == "two":
            png = plots.plot_simple_cut(x[:, cols], decision, cut, out / "simple_cut.png")
            files["simple_cut"] = png.name
    return SurrogateExplanation(
        surrogate=card.name,
        version=card.version,
        working_point=main,
        draws=prob.k,
        rows=len(x),
        files=files,
        contours=contours,
        ascent=ascent_summary,
        importance=importance.to_dict(),
        simple_cut=cuts,
        ood_fraction=float(surrogate.ood_mask(x).float().mean()),
        ood_method=surrogate.ood_method,
    )


def _sample_role(path: Path) -> str:
    from surrotag.io.parquet import read_parquet_metadata
    from surrotag.reference.samples import QCD_PROCESSES, TOP_PROCESSES

    if not path.is_file():
        raise InputFileError(
            f"{path}: no such sample; pass --sample (reference samples written by "
            "surrotag reference generate)"
        )
    process = read_parquet_metadata(path).get("process")
    if process in TOP_PROCESSES:
        return "top"
    if process in QCD_PROCESSES:
        return "qcd"
    raise FormatError(f"{path}: process {process!r} is neither a top nor a QCD reference sample")


def explain_tagger(
    tagger: Any,
    samples: Sequence[str | Path],
    out: str | Path,
    *,
    n_jets: int = 300,
    n_seeds: int = 150,
    ascent_steps: int = 100,
    seed: int = 0,
    progress: Progress | None = None,
) -> TaggerExplanation:
    """Artificial jets, mutual information and activation patterns of the internal tagger.

    Args:
        tagger: a loaded :class:`~surrotag.reference.tagger.Tagger`.
        samples: reference samples; top samples give contained top jets (label 1), QCD
            samples QCD jets (label 0).
        out: output folder for the PNGs.
        n_jets: jets per class used for mutual information and activation patterns.
        n_seeds: QCD seed jets of the gradient ascent.
        ascent_steps: Adam steps of the ascent.
        seed: seed of the jet choice.
        progress: called with a short message before each step.

    Returns:
        The explanation (:meth:`TaggerExplanation.to_dict`: the JSON summary); figures are
        written to ``out``.
    """
    import awkward as ak

    from surrotag.explain import plots
    from surrotag.explain.tagger import (
        activation_patterns,
        ascend_jets,
        constituents_of,
        hidden_activations,
        jet_observables,
        mutual_information,
    )
    from surrotag.reference.inputs import constituent_inputs
    from surrotag.reference.samples import load_sample

    say = progress or (lambda message: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    say("reading samples")
    jets: dict[int, list[Any]] = {1: [], 0: []}
    feats: dict[int, list[Any]] = {1: [], 0: []}
    for path in map(Path, samples):
        sample = load_sample(path, _sample_role(path))
        for value in (1, 0):
            rows = np.flatnonzero(sample.label == value)
            if rows.size:
                jets[value].append(sample.jets[rows])
                feats[value].append(sample.features[rows])
    if not jets[1] or not jets[0]:
        raise EmptyInputError(
            "explain-tagger needs contained top jets and QCD jets: pass a top sample "
            "(ttbar-allhad / zprime-ttbar) and a qcd-dijet sample with --sample"
        )
    chosen = {}
    for value in (1, 0):
        all_jets, all_feats = ak.concatenate(jets[value]), ak.concatenate(feats[value])
        rows = np.sort(rng.choice(len(all_jets), size=min(n_jets, len(all_jets)), replace=False))
        chosen[value] = (all_jets[rows], all_feats[rows])
    n = tagger.n_constituents
    both = ak.concatenate([chosen[1][0], chosen[0][0]])
    both_feats = ak.concatenate([chosen[1][1], chosen[0][1]])
    is_top = np.r_[np.ones(len(chosen[1][0]), bool), np.zeros(len(chosen[0][0]), bool)]
    inputs, mask = constituent_inputs(both, n)

    say("activations and mutual information")
    acts = hidden_activations(tagger.model, inputs, mask)
    contained = np.nan_to_num(ak.to_numpy(both_feats.truth_top_n_contained).astype(float), nan=0.0)
    variables = {
        "jet_mass": ak.to_numpy(both_feats.jet_mass).astype(float),
        "jet_tau32": ak.to_numpy(both_feats.jet_tau32).astype(float),
        "truth_top_n_contained": contained,
    }
    last = [k for k in acts if k != "logit"][-3:]
    mi = {
        layer: mutual_information(
            acts[layer], variables, discrete={"truth_top_n_contained"}, seed=seed
        )
        for layer in last
    }
    top_units = {}
    for variable in variables:
        ranked = sorted(
            (
                (float(mi[layer][variable][u]), layer, int(u))
                for layer in last
                for u in range(len(mi[layer][variable]))
            ),
            reverse=True,
        )[:5]
        top_units[variable] = [
            {"layer": lay, "unit": u, "mi_nats": round(v, 4)} for v, lay, u in ranked
        ]
    patterns = activation_patterns(acts, is_top)
    files = {
        "mutual_information": plots.plot_mutual_information(
            mi, out / "mutual_information.png"
        ).name,
        "activation_patterns": plots.plot_activation_patterns(
            patterns, out / "activation_patterns.png"
        ).name,
    }

    say("gradient ascent on QCD seed jets")
    qcd_rows = np.flatnonzero(~is_top)[:n_seeds]
    seeds = constituents_of(both[qcd_rows], n)
    keep = seeds.mask.any(1)
    seeds = type(seeds)(
        **{k: getattr(seeds, k)[keep] for k in ("pt", "eta", "phi", "charge", "mask")}
    )
    ascended = ascend_jets(tagger.model, seeds, steps=ascent_steps)
    populations = {
        "QCD seeds": jet_observables(ascended.seeds),
        "ascended": jet_observables(ascended.final),
        "real top (label 1)": jet_observables(constituents_of(chosen[1][0], n)),
    }
    files["ascended_jets"] = plots.plot_jet_population(populations, out / "ascended_jets.png").name

    def stats(obs: dict[str, np.ndarray]) -> dict[str, Any]:
        return {
            key: [_finite(v) for v in np.nanquantile(obs[key], [0.16, 0.5, 0.84])]
            for key in ("mass", "tau32", "pt")
        } | {"mass_120_220_fraction": float(np.mean((obs["mass"] > 120) & (obs["mass"] < 220)))}

    return TaggerExplanation(
        tagger_sha256=tagger.sha256,
        samples=[str(p) for p in samples],
        jets={"top": int(is_top.sum()), "qcd": int((~is_top).sum())},
        files=files,
        ascent={
            "seeds": len(ascended.logit_start),
            "steps": ascent_steps,
            "logit_start_median": float(np.median(ascended.logit_start)),
            "logit_final_median": float(np.median(ascended.logit_final)),
            "logit_real_top_median": float(np.median(acts["logit"][is_top])),
            "populations_quantiles_16_50_84": {k: stats(v) for k, v in populations.items()},
            "tau32_axes": "exclusive kT (surrotag.jets.nsubjettiness), all populations alike",
        },
        mutual_information={
            "layers": last,
            "top_units": top_units,
            "max_per_layer": {
                layer: {v: float(m.max(initial=0.0)) for v, m in mi[layer].items()}
                for layer in last
            },
        },
        activation_patterns={
            layer: {
                "dead_fraction": p["dead_fraction"],
                "units": len(p["dead"]),
                "mean_abs_top_minus_qcd": float(np.abs(p["top"] - p["qcd"]).mean()),
            }
            for layer, p in patterns.items()
        },
    )
