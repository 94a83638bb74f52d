"""The internal anomaly taggers' study: train VAE, DisCo-VAE, OE-VAE and LGAE on QCD,
measure them on top, W and Z jets, and measure how a cut on each sculpts the QCD jet mass.

Runs the pre-registered :data:`~surrotag.reference.anomaly_plan.ANOMALY_PLAN`
(:func:`run_anomaly_study`): generates or reuses its samples, selects the leading fat jets
in the plan's window, labels signal jets by the truth resonance they contain
(:func:`jet_resonance_labels`), trains the three variants of
:mod:`surrotag.reference.vae` on QCD (the OE-VAE also on the outlier W jets) and the
Lorentz-group autoencoder (:mod:`surrotag.reference.lgae`) on the same QCD jets, and writes
``anomaly_study.json`` (every figure, the plan and the sha256 of every sample) and
``anomaly_study.png``.

Figures, after arXiv:2007.01850: per tagger and score, the AUC of top, W and Z jets
against QCD (QCD with its generator weights); at the cut that keeps the plan's QCD
efficiency (10%) on the headline score, the signal efficiencies and the Jensen-Shannon
distance (base 2, :func:`scipy.spatial.distance.jensenshannon`) between the QCD jet-mass
distribution before and after the cut: 0 when the cut does not sculpt the mass, 1 when the
two distributions do not overlap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import awkward as ak
import numpy as np

from surrotag.features._common import delta_r
from surrotag.reference.anomaly_plan import ANOMALY_PLAN
from surrotag.reference.classifier_metrics import kish_effective, weighted_auc, working_point

__all__ = [
    "FIGURE_NAME",
    "LABELS",
    "REPORT_NAME",
    "VARIANTS",
    "four_momenta",
    "jet_resonance_labels",
    "js_mass_sculpting",
    "js_null_floor",
    "lgae_scores",
    "run_anomaly_study",
    "select_jets",
]

#: Truth labels of a jet: 0 none, 1 contained hadronic top, 2 contained W, 3 contained Z,
#: 4 a contained scalar X or X' of the ``y-xx`` preset (ids 25, 36).
LABELS: Final = {"none": 0, "top": 1, "W": 2, "Z": 3, "X": 4}
#: The variants the study trains: name -> (DisCo, OE).
VARIANTS: Final = {"vae": (False, False), "disco": (True, False), "oe": (True, True)}
REPORT_NAME: Final = "anomaly_study.json"
FIGURE_NAME: Final = "anomaly_study.png"


def _boson_quarks(particles: ak.Array, pid: int) -> ak.Array:
    """Per event, per boson of |pid| with quark daughters, its quarks: events x bosons x q."""
    mother = particles.mother1
    valid = mother >= 0
    mother_pid = abs(particles.pid[ak.where(valid, mother, 0)])
    chosen = valid & (abs(particles.pid) <= 5) & (mother_pid == pid)
    quarks, parent = particles[chosen], mother[chosen]
    order = ak.argsort(parent, axis=1, stable=True)
    quarks, parent = quarks[order], parent[order]
    runs = ak.run_lengths(parent)
    return ak.unflatten(quarks, ak.flatten(runs), axis=1)


def _contains(fatjets: ak.Array, groups: ak.Array, radius: float) -> ak.Array:
    """Per jet: some group has exactly two quarks, both within ``radius``."""
    pairs = ak.cartesian({"jet": fatjets[["eta", "phi"]], "group": groups}, axis=1, nested=True)
    quarks = pairs.group
    dr = delta_r(pairs.jet.eta, pairs.jet.phi, quarks.eta, quarks.phi)
    inside = ak.all(dr < radius, axis=3) & (ak.num(quarks, axis=3) == 2)
    return ak.fill_none(ak.any(inside, axis=2), False)


def jet_resonance_labels(events: ak.Array, radius: float = 0.8) -> ak.Array:
    """The truth label (:data:`LABELS`) of every fat jet: the resonance it contains.

    A jet is ``top`` when it is matched to a hadronically decaying top whose b, q and q'
    all lie within ``radius`` (:func:`surrotag.features.truth.match_tops_to_jets`), ``W``,
    ``Z`` or ``X`` when both quarks of a W, Z or scalar X, X' (``y-xx``) decay do, else
    ``none``.

    Returns:
        var * int8 per event, aligned with ``events.fatjets``.
    """
    from surrotag.features.truth import match_tops_to_jets, top_decays

    particles, fatjets = events.particles, events.fatjets
    top = match_tops_to_jets(fatjets, top_decays(particles), radius).contained == 1.0
    w = _contains(fatjets, _boson_quarks(particles, 24), radius)
    z = _contains(fatjets, _boson_quarks(particles, 23), radius)
    x = _contains(fatjets, _boson_quarks(particles, 25), radius) | _contains(
        fatjets, _boson_quarks(particles, 36), radius
    )
    label = ak.where(x, LABELS["X"], LABELS["none"])
    label = ak.where(z, LABELS["Z"], label)
    label = ak.where(w, LABELS["W"], label)
    label = ak.where(ak.fill_none(top, False), LABELS["top"], label)
    return ak.values_astype(label, np.int8)


def select_jets(events: ak.Array, plan: Mapping[str, Any]) -> dict[str, Any]:
    """The plan's jets of a sample: the leading ones in the pT and |eta| window.

    Returns:
        ``jets`` (flat fat jets), ``label`` (int8), ``weight`` (the event weight of each jet,
        normalised to mean 1 over the sample's events) and ``mass`` (GeV).
    """
    fatjets = events.fatjets[:, : plan["leading_jets"]]
    labels = jet_resonance_labels(events, plan["containment_radius"])[:, : plan["leading_jets"]]
    low, high = plan["jet_pt_gev"]
    keep = (fatjets.pt > low) & (fatjets.pt < high) & (abs(fatjets.eta) < plan["jet_abs_eta"])
    weight = ak.to_numpy(events.weight).astype(np.float64)
    weight = weight / weight.mean()
    per_jet = ak.broadcast_arrays(ak.Array(weight), fatjets.pt)[0]
    return {
        "jets": ak.flatten(fatjets[keep]),
        "label": ak.to_numpy(ak.flatten(labels[keep])).astype(np.int8),
        "weight": ak.to_numpy(ak.flatten(per_jet[keep])).astype(np.float64),
        "mass": ak.to_numpy(ak.flatten(fatjets.mass[keep])).astype(np.float64),
    }


def js_mass_sculpting(
    mass: np.ndarray, weight: np.ndarray, passed: np.ndarray, bins: tuple[float, float, int]
) -> float:
    """Jensen-Shannon distance (base 2) between the weighted mass distribution of all jets
    and of the jets that pass: 0 unsculpted, 1 disjoint.

    Example:
        >>> m = np.linspace(0, 300, 3001)
        >>> round(js_mass_sculpting(m, np.ones_like(m), np.ones_like(m, bool), (0, 300, 30)), 9)
        0.0
        >>> round(js_mass_sculpting(m, np.ones_like(m), m >= 150, (0, 300, 30)), 3)  # half kept
        0.558
    """
    from scipy.spatial.distance import jensenshannon

    edges = np.linspace(bins[0], bins[1], int(bins[2]) + 1)
    clipped = np.clip(mass, edges[0], np.nextafter(edges[-1], -np.inf))
    before = np.histogram(clipped, edges, weights=weight)[0]
    after = np.histogram(clipped[passed], edges, weights=weight[passed])[0]
    return float(jensenshannon(before, after, base=2))


def js_null_floor(
    mass: np.ndarray,
    weight: np.ndarray,
    fraction: float,
    bins: tuple[float, float, int],
    draws: int = 200,
    seed: int = 8199,
) -> dict[str, float]:
    """The Jensen-Shannon distance a cut that ignores the mass gives, from finite statistics
    alone: jets kept at random with probability ``fraction``, ``draws`` times.

    A measured :func:`js_mass_sculpting` near this floor is no evidence of sculpting.

    Returns:
        ``mean``, ``std`` and ``p95`` of the distances, with ``fraction`` and ``draws``.
    """
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            js_mass_sculpting(mass, weight, rng.random(len(mass)) < fraction, bins)
            for _ in range(draws)
        ]
    )
    return {
        "fraction": float(fraction),
        "draws": int(draws),
        "seed": int(seed),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "p95": float(np.percentile(values, 95)),
    }


def _sample_jets(name: str, plan: Mapping[str, Any], log: Callable[[str], None]) -> dict:
    from surrotag.io.parquet import read_parquet, read_parquet_metadata
    from surrotag.reference.vae_inputs import vae_inputs
    from surrotag.surrogates.card import sha256_file

    sample = plan["samples"][name]
    path = sample.generate(plan["jobs"])
    events = read_parquet(path, ["weight", "fatjets", "particles"])
    selected = select_jets(events, plan)
    selected["inputs"] = vae_inputs(selected["jets"], plan["constituents"])
    selected["p4"], selected["mask"] = four_momenta(selected["jets"], plan["lgae"]["constituents"])
    selected["file"] = path.name
    selected["sha256"] = sha256_file(path)
    selected["sigma_pb"] = read_parquet_metadata(path)["sigma_pb"]
    counts = np.bincount(selected["label"], minlength=len(LABELS)).tolist()
    log(f"  {name}: {len(selected['label'])} jets in the window, labels {counts}")
    return selected


def four_momenta(jets: ak.Array, n: int) -> tuple[Any, Any]:
    """The LGAE's inputs: the n hardest constituents' lab-frame (E, px, py, pz) in GeV,
    ``[J, n, 4]`` float32 zero-padded, and the ``[J, n]`` mask of real constituents."""
    import torch

    from surrotag.reference.vae_inputs import hardest_constituents

    parts = hardest_constituents(jets.constituents, n)
    columns = np.stack([parts[name] for name in ("E", "px", "py", "pz")], -1)
    p4 = torch.from_numpy(columns.astype(np.float32))
    mask = torch.arange(n)[None, :] < torch.from_numpy(parts["count"])[:, None]
    return p4, mask


def lgae_scores(model: Any, p4: Any, mask: Any, batch_size: int = 4096) -> np.ndarray:
    """The LGAE's anomaly score of every jet (float64), in batches of ``batch_size``."""
    import torch

    with torch.no_grad():
        parts = [
            model.anomaly_score(p4[lo : lo + batch_size], mask[lo : lo + batch_size]).double()
            for lo in range(0, len(p4), batch_size)
        ]
    return torch.cat(parts).numpy() if parts else np.zeros(0)


def _summary(selected: Mapping[str, Any]) -> dict[str, Any]:
    """A sample's line in the report: file, sha256, sigma, jets per label, effective jets."""
    counts = np.bincount(selected["label"], minlength=len(LABELS)).tolist()
    return {
        "file": selected["file"],
        "sha256": selected["sha256"],
        "sigma_pb": selected["sigma_pb"],
        "jets": len(selected["label"]),
        "labels": dict(zip(LABELS, counts, strict=True)),
        "effective_jets": kish_effective(selected["weight"]),
    }


def _measure(
    scores: Mapping[str, Mapping[str, np.ndarray]],
    test: Mapping[str, Mapping[str, Any]],
    headline: str,
    plan: Mapping[str, Any],
) -> dict[str, Any]:
    """AUCs per score and class, and the headline score's working point and sculpting."""
    qcd = test["qcd_test"]
    classes = {
        "top": ("top", LABELS["top"]),
        "W": ("wz", LABELS["W"]),
        "Z": ("wz", LABELS["Z"]),
    }
    out: dict[str, Any] = {"auc": {}, "headline_score": headline}
    for score in scores["qcd_test"]:
        out["auc"][score] = {}
        for cls, (sample, label) in classes.items():
            mask = test[sample]["label"] == label
            out["auc"][score][cls] = weighted_auc(
                scores[sample][score][mask], np.ones(int(mask.sum())),
                scores["qcd_test"][score], qcd["weight"],
            )  # fmt: skip
    target = plan["qcd_efficiency"]
    # the cut is set on QCD alone (one placeholder signal jet; the efficiencies come below)
    point = working_point(
        scores["qcd_test"][headline][:1], np.ones(1),
        scores["qcd_test"][headline], qcd["weight"], target,
    )  # fmt: skip
    passed = scores["qcd_test"][headline] > point.threshold
    out["working_point"] = {
        "qcd_efficiency_target": target,
        "threshold": point.threshold,
        "qcd_efficiency": point.background_efficiency,
        "qcd_effective_jets_passing": point.n_background_effective,
        "signal_efficiency": {
            cls: float(
                np.mean(scores[sample][headline][test[sample]["label"] == label] > point.threshold)
            )
            for cls, (sample, label) in classes.items()
        },
        "js_distance_qcd_mass": js_mass_sculpting(
            qcd["mass"], qcd["weight"], passed, plan["mass_bins_gev"]
        ),
        "qcd_mean_mass_gev": {
            "all": float(np.average(qcd["mass"], weights=qcd["weight"])),
            "passing": float(np.average(qcd["mass"][passed], weights=qcd["weight"][passed])),
        },
    }
    return out


def _figure(
    path: Path, test: Mapping[str, Any], scores: Mapping[str, Any], results: Mapping[str, Any],
    plan: Mapping[str, Any],
) -> None:  # fmt: skip
    from surrotag.io.figures import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    qcd = test["qcd_test"]
    lo, hi, n = plan["mass_bins_gev"]
    edges = np.linspace(lo, hi, int(n) + 1)
    axes[0].hist(qcd["mass"], edges, weights=qcd["weight"], density=True, histtype="step",
                 color="black", label="QCD, all")  # fmt: skip
    for name, result in results.items():
        headline = result["headline_score"]
        passed = scores[name]["qcd_test"][headline] > result["working_point"]["threshold"]
        js = result["working_point"]["js_distance_qcd_mass"]
        axes[0].hist(qcd["mass"][passed], edges, weights=qcd["weight"][passed], density=True,
                     histtype="step", label=f"{name} > cut ({headline}; JS {js:.3f})")  # fmt: skip
    axes[0].set_xlabel("jet mass [GeV]")
    axes[0].set_ylabel("QCD jets (normalised)")
    axes[0].set_title(f"QCD mass at {plan['qcd_efficiency']:.0%} QCD efficiency")
    axes[0].legend(fontsize=8)
    classes = ["top", "W", "Z"]
    x = np.arange(len(classes))
    for i, (name, result) in enumerate(results.items()):
        auc = result["auc"][result["headline_score"]]
        width = 0.8 / len(results)
        axes[1].bar(x + width * (i - (len(results) - 1) / 2), [auc[c] for c in classes],
                    width=width, label=name)  # fmt: skip
    axes[1].axhline(0.5, color="grey", lw=0.8)
    axes[1].set_xticks(x, [f"{c} jets" for c in classes])
    axes[1].set_ylim(0.3, 1.0)
    axes[1].set_ylabel("AUC against QCD (headline score)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _lgae_study(
    data: Mapping[str, Any], plan: Mapping[str, Any], folder: Path, log: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Train the Lorentz-group autoencoder on the QCD training jets and measure it."""
    from surrotag.reference.lgae import save_lgae, train_lgae

    settings = plan["lgae"]
    train = data["qcd_train"]
    log(f"training lgae ({len(train['label'])} QCD jets):")
    start = time.monotonic()
    model, losses = train_lgae(
        train["p4"], train["mask"], epochs=settings["epochs"],
        batch_size=settings["batch_size"], lr=settings["learning_rate"], seed=settings["seed"],
        model_kwargs={"n_slots": settings["slots"]},
    )  # fmt: skip
    seconds = time.monotonic() - start
    record = {"samples": {"qcd_train": train["sha256"]}, "losses": losses}
    save_lgae(model, folder / "lgae", record | {"settings": dict(settings)})
    scores = {
        k: {"lgae": lgae_scores(model, data[k]["p4"], data[k]["mask"])}
        for k in ("qcd_test", "top", "wz")
    }
    result = _measure(scores, data, "lgae", plan)
    result["training"] = {"losses": losses, "seconds": seconds, "n_train": len(train["label"])}
    auc = {k: round(v, 4) for k, v in result["auc"]["lgae"].items()}
    js = result["working_point"]["js_distance_qcd_mass"]
    log(f"  lgae: AUC {auc}, JS distance of the QCD mass {js:.4f}")
    return result, scores


def run_anomaly_study(
    folder: str | Path,
    plan: Mapping[str, Any] = ANOMALY_PLAN,
    *,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the pre-registered study; write the report, the figure and the three taggers.

    Args:
        folder: output folder (``anomaly_study.json``, ``anomaly_study.png`` and one
            sub-folder per tagger, :func:`surrotag.reference.vae.save_vae`).
        plan: the plan (default: :data:`ANOMALY_PLAN`).
        log: progress lines.

    Returns:
        The report.
    """
    from surrotag.io.atomic import atomic_outputs
    from surrotag.reference.vae import VAEConfig, save_vae, train_vae, vae_scores

    start = time.monotonic()
    folder = Path(folder)
    log("samples:")
    data = {name: _sample_jets(name, plan, log) for name in plan["samples"]}
    outliers = data["outliers"]["inputs"][data["outliers"]["label"] == LABELS["W"]]
    train = data["qcd_train"]
    results: dict[str, Any] = {}
    scores: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for name, (disco, oe) in VARIANTS.items():
        config = VAEConfig(
            latent=plan["latent"], beta=plan["beta"],
            disco_weight=plan["disco_weight"] if disco else 0.0,
            oe_weight=plan["oe_weight"] if oe else 0.0, oe_margin=plan["oe_margin"],
            epochs=plan["epochs"], batch_size=plan["batch_size"],
            learning_rate=plan["learning_rate"],
            validation_fraction=plan["validation_fraction"], seed=plan["training_seed"],
        )  # fmt: skip
        log(f"training {name} ({len(train['label'])} QCD jets, {len(outliers)} outliers):")
        model, scale, report = train_vae(
            train["inputs"], train["mass"], config, outliers if oe else None, log=log
        )
        inputs = {k: data[k]["sha256"] for k in ("qcd_train", "outliers")}
        save_vae(model, scale, config, report, folder / name, {"samples": inputs})
        scores[name] = {
            k: vae_scores(model, scale, data[k]["inputs"], config.beta)
            for k in ("qcd_test", "top", "wz")
        }
        results[name] = _measure(scores[name], data, plan["headline_score"][name], plan)
        results[name]["training"] = {
            "best_epoch": report.best_epoch, "seconds": report.seconds,
            "n_train": report.n_train, "n_validation": report.n_validation,
            "n_outliers": report.n_outliers,
        }  # fmt: skip
        headline = results[name]["headline_score"]
        auc = {k: round(v, 4) for k, v in results[name]["auc"][headline].items()}
        js = results[name]["working_point"]["js_distance_qcd_mass"]
        log(f"  {name}: AUC ({headline}) {auc}, JS distance of the QCD mass {js:.4f}")
    results["lgae"], scores["lgae"] = _lgae_study(data, plan, folder, log)
    samples = {name: sample.to_dict() for name, sample in plan["samples"].items()}
    plan_json = {**plan, "samples": samples}
    document = {
        "kind": "surrotag-anomaly-study",
        "plan": plan_json,
        "samples": {k: _summary(d) for k, d in data.items()},
        "results": results,
        "js_null_floor": js_null_floor(
            data["qcd_test"]["mass"],
            data["qcd_test"]["weight"],
            plan["qcd_efficiency"],
            plan["mass_bins_gev"],
        ),
        "seconds": time.monotonic() - start,
    }
    text = json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n"
    with atomic_outputs([folder / REPORT_NAME, folder / FIGURE_NAME]) as (report_tmp, figure_tmp):
        report_tmp.write_text(text, encoding="utf-8")
        _figure(Path(figure_tmp), data, scores, results, plan)
    return document
