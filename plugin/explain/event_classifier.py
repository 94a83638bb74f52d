"""Explain the reference event classifier (stop pairs against dileptonic ttbar).

The studies of Roxlo and Reece (arXiv:1804.09278) on the internal event-level classifier
(:mod:`surrotag.reference.event_classifier`), and later on its surrogate:

* :func:`neuron_information`: the mutual information (nats) of every hidden neuron with
  physics variables. For a heavy stop decaying to a light neutralino the paper finds single
  neurons that carry more information about m_T2(ll) than about any single lepton pT.
* :func:`met_orientation`: where the missing transverse momentum points relative to the two
  leptons, for all events and for the events the classifier selects. The paper finds the
  selected events have large MET pointing azimuthally away from both leptons
  (|Delta phi(MET, l1)| and |Delta phi(MET, l2)| both above pi/2).
* :func:`isr_response`: the mean score and the selected fraction against the leading-jet
  pT and |Delta phi(MET, leading jet)|. For a light stop with three-body decays (small mass
  splitting) the paper finds the network turning to an ISR tag: a hard leading jet recoiling
  against the MET, so the score rises with the jet pT and towards |Delta phi| = pi.
* :func:`permutation_importance`: which inputs drive the decision (the drop of the weighted
  ROC AUC when one input column is permuted).

:func:`explain_event_classifier` runs them all, draws the figures and writes
``explanation.json`` and the PNGs into a folder as one unit
(:func:`surrotag.io.atomic.atomic_outputs`).

Mutual information is estimated by :mod:`surrotag.explain.information`: a binned (plug-in)
estimator on equal-frequency bins of each variable, Miller-Madow corrected per entropy.
Rank bins make it invariant under monotone transformations of either variable (an
activation, or GeV against log GeV) and need no bandwidth; they share ReLU's point mass at 0
out naturally (tied values share a bin). Binning loses information, so in the large-sample
limit the estimate lies at or below the true mutual information (the data-processing
inequality): about 0.04 nats below for a bivariate Gaussian of correlation 0.9 with 20 bins
(true 0.83 nats), 0.006 below at correlation 0.5 (true 0.144 nats).

Weights: the functions that take events use the events' ``weight`` field (generator weights
or event cross-sections) unless ``weights`` are given. The explanation weighs signal and
background to equal totals (as the classifier was trained) for the mutual information, the
MET orientation and the ISR response, and keeps the generator weights within each class.

References:
    T. Roxlo, M. Reece, Opening the black box of neural nets: case studies in stop/top
    discrimination, arXiv:1804.09278. G. A. Miller, Note on the bias of information
    estimates, in Information Theory in Psychology (Free Press, 1955) 95 (Miller-Madow
    correction). L. Kish, Survey Sampling (Wiley, 1965) (effective number of events).
    L. Breiman, Random forests, Mach. Learn. 45 (2001) 5 (permutation importance).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import awkward as ak
import numpy as np
import torch

from surrotag.errors import InputValueError
from surrotag.explain.information import (
    binned_columns,
    binned_mutual_information,
    check_bins,
    checked_weights,
    rank_bins,
)
from surrotag.io.atomic import atomic_outputs, strict_json
from surrotag.io.figures import experiment_label, figure_style, save_figure
from surrotag.reference import classifier_metrics
from surrotag.reference.event_classifier import (
    INPUT_NAMES,
    EventClassifier,
    event_inputs,
    weights_bytes,
    wrap_phi,
)

__all__ = [
    "EXPLANATION_NAME",
    "FIGURE_NAMES",
    "MI_VARIABLES",
    "NeuronInformation",
    "explain_event_classifier",
    "isr_response",
    "met_orientation",
    "neuron_information",
    "permutation_importance",
    "plot_input_importance",
    "plot_isr_response",
    "plot_met_orientation",
    "plot_neuron_information",
]

#: The summary :func:`explain_event_classifier` writes.
EXPLANATION_NAME: Final = "explanation.json"
#: Figure key -> PNG file name of :func:`explain_event_classifier`.
FIGURE_NAMES: Final = {
    "neuron_information": "neuron_information.png",
    "met_orientation": "met_orientation.png",
    "isr_response": "isr_response.png",
    "importance": "importance.png",
}
#: Variables whose mutual information with every neuron the explanation gives: m_T2(ll),
#: the two lepton pT and the MET (the paper's comparison), the leading-jet pT (ISR), the
#: azimuths of the MET to the leptons and m_ll. GeV and rad.
MI_VARIABLES: Final = (
    "event_mt2_ll",
    "lepton1_pt",
    "lepton2_pt",
    "met",
    "event_mll",
    "event_jet1_pt",
    "event_dphi_met_lep1",
    "event_dphi_met_lep2",
)
#: The variables of the neuron-information figure (the paper's comparison and the ISR jet).
_FIGURE_VARIABLES: Final = ("event_mt2_ll", "lepton1_pt", "lepton2_pt", "met", "event_jet1_pt")
_LEPTON_PT: Final = ("lepton1_pt", "lepton2_pt")
_KIND: Final = "surrotag-event-classifier-explanation"
_REFERENCES: Final = ("arXiv:1804.09278",)
_BATCH: Final = 65536


# --------------------------------------------------------------------------- network access


def _forward(
    model: EventClassifier, inputs: np.ndarray, *, hidden: bool = False
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Logits (float64 [N]) and, when ``hidden``, each hidden layer's post-ReLU activations
    (float64 [N, width]); evaluated in eval mode under ``torch.no_grad``, mode restored."""
    if model.n_inputs != inputs.shape[1]:
        raise InputValueError(
            f"the classifier reads {model.n_inputs} inputs, the events give {inputs.shape[1]}"
        )
    was_training = model.training
    model.eval()
    logits, layers = [], []
    try:
        with torch.no_grad():
            for lo in range(0, len(inputs), _BATCH):
                x = torch.from_numpy(np.ascontiguousarray(inputs[lo : lo + _BATCH]))
                logits.append(model(x).double().numpy())
                if hidden:
                    layers.append([a.double().numpy() for a in model.activations(x)])
    finally:
        model.train(was_training)
    n_layers = len(model.hidden)
    widths = model.hidden
    logit = np.concatenate(logits) if logits else np.zeros(0)
    acts = (
        [np.concatenate([batch[i] for batch in layers]) for i in range(n_layers)]
        if layers
        else [np.zeros((0, widths[i])) for i in range(n_layers)]
    )
    return logit, acts


def _event_weights(events: ak.Array, weights: np.ndarray | None) -> np.ndarray:
    """``weights``, else the events' ``weight`` field, else ones (float64 [N])."""
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
    elif "weight" in events.fields:
        w = np.asarray(ak.to_numpy(events["weight"]), dtype=np.float64)
    else:
        w = np.ones(len(events))
    if len(w) != len(events):
        raise InputValueError(f"{len(w)} weights for {len(events)} events")
    if not np.isfinite(w).all():
        raise InputValueError(f"{int(np.sum(~np.isfinite(w)))} non-finite event weights")
    return w


def _sigmoid(logit: np.ndarray) -> np.ndarray:
    """P(signal) = 1 / (1 + exp(-logit)), without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * logit))


def _column(inputs: np.ndarray, name: str) -> np.ndarray:
    return inputs[:, INPUT_NAMES.index(name)].astype(np.float64)


def _weights_sha256(model: EventClassifier) -> str:
    """sha256 (hex) of the model's weights (:func:`weights_bytes`): the digest
    :func:`~surrotag.reference.event_classifier.save_event_classifier` records."""
    return hashlib.sha256(weights_bytes(model)).hexdigest()


# --------------------------------------------------------------------------- neurons


@dataclass(frozen=True, eq=False)
class NeuronInformation:
    """Mutual information of every hidden neuron with physics variables (arXiv:1804.09278).

    Attributes:
        mi: ``[n_neurons, n_variables]`` estimates in nats (:func:`mutual_information`);
            rows run over the hidden layers in order, the neurons of each layer in order.
        layer: ``[n_neurons]`` index of the neuron's hidden layer (0-based, as in
            ``EventClassifier.layers``).
        neuron: ``[n_neurons]`` index of the neuron in its layer (0-based).
        variables: the variables' names, the columns of ``mi``.
        dead: ``[n_neurons]`` True for a neuron whose activation is constant over the sample
            (never active, or a constant); its MI is 0.
        bins: equal-frequency bins per variable of the estimator.
        n_effective: Kish's effective number of events of the sample.
    """

    mi: np.ndarray
    layer: np.ndarray
    neuron: np.ndarray
    variables: tuple[str, ...]
    dead: np.ndarray
    bins: int
    n_effective: float

    def column(self, variable: str) -> np.ndarray:
        """MI (nats) of every neuron with ``variable``.

        Raises:
            InputValueError: an unknown variable.
        """
        if variable not in self.variables:
            raise InputValueError(
                f"no mutual information with {variable!r}; variables: {', '.join(self.variables)}"
            )
        return self.mi[:, self.variables.index(variable)]

    def top(self, variable: str) -> dict[str, Any]:
        """The neuron with the largest MI with ``variable``, and its MI with every variable.

        Returns:
            ``{"variable", "index" (row of mi), "layer", "neuron", "mi_nats": {name: MI}}``.

        Raises:
            InputValueError: an unknown variable, or no finite MI with it.
        """
        values = self.column(variable)
        if not np.isfinite(values).any():
            raise InputValueError(f"no finite mutual information with {variable!r}")
        index = int(np.nanargmax(values))
        return {
            "variable": variable,
            "index": index,
            "layer": int(self.layer[index]),
            "neuron": int(self.neuron[index]),
            "mi_nats": dict(zip(self.variables, self.mi[index].tolist(), strict=True)),
        }

    def by_layer(self) -> dict[str, dict[str, np.ndarray]]:
        """``{"layer 1": {variable: [width] MI}, ...}`` (1-based names, for figures)."""
        return {
            f"layer {layer + 1}": {
                v: self.mi[self.layer == layer, j] for j, v in enumerate(self.variables)
            }
            for layer in np.unique(self.layer).tolist()
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (strict JSON: NaN as None): per layer the MI of every neuron with
        each variable and the dead neurons, and the top neuron of each variable."""
        layers = []
        for layer in np.unique(self.layer).tolist():
            rows = self.layer == layer
            layers.append(
                {
                    "layer": int(layer),
                    "width": int(rows.sum()),
                    "dead": self.neuron[rows & self.dead].tolist(),
                    "mi_nats": {v: self.mi[rows, j].tolist() for j, v in enumerate(self.variables)},
                }
            )
        tops = {}
        for v in self.variables:
            try:
                tops[v] = self.top(v)
            except InputValueError:
                tops[v] = None
        return strict_json(
            {
                "unit": "nats",
                "estimator": "equal-frequency bins, Miller-Madow corrected, Kish N",
                "bins": self.bins,
                "n_effective": self.n_effective,
                "variables": list(self.variables),
                "n_neurons": len(self.layer),
                "n_dead": int(self.dead.sum()),
                "layers": layers,
                "top": tops,
            }
        )


def _neuron_information(
    activations: Sequence[np.ndarray],
    variables: Mapping[str, np.ndarray],
    weights: np.ndarray,
    bins: int,
) -> NeuronInformation:
    bins = check_bins(bins)
    matrix = np.concatenate([np.asarray(a, dtype=np.float64) for a in activations], axis=1)
    n = len(matrix)
    w = checked_weights(weights, n, "neuron information")
    layer = np.concatenate([np.full(a.shape[1], i) for i, a in enumerate(activations)])
    neuron = np.concatenate([np.arange(a.shape[1]) for a in activations])
    dead = np.ptp(matrix[w > 0], axis=0) == 0 if (w > 0).any() else np.ones(len(layer), bool)
    mi = np.zeros((len(layer), len(variables)))
    positive = w > 0
    every: np.ndarray | None = None  # the neurons' bins over all rows of positive weight
    for j, (name, values) in enumerate(variables.items()):  # a few variables
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(v) != n:
            raise InputValueError(f"variable {name!r} has {len(v)} values for {n} events")
        keep = ~np.isnan(v) & positive
        if not keep.any():
            mi[:, j] = np.nan
            continue
        if np.array_equal(keep, positive):
            if every is None:
                every = binned_columns(matrix[keep], w[keep], bins)
            bx = every
        else:  # the equal-frequency bins of the rows where this variable is defined
            bx = binned_columns(matrix[keep], w[keep], bins)
        mi[:, j] = binned_mutual_information(bx, rank_bins(v[keep], w[keep], bins), w[keep], bins)
    mi[dead] = 0.0
    return NeuronInformation(
        mi=mi,
        layer=layer.astype(np.int64),
        neuron=neuron.astype(np.int64),
        variables=tuple(variables),
        dead=dead,
        bins=bins,
        n_effective=classifier_metrics.kish_effective(w),
    )


def neuron_information(
    model: EventClassifier,
    events: ak.Array,
    variables: Mapping[str, np.ndarray],
    weights: np.ndarray | None = None,
    bins: int = 20,
) -> NeuronInformation:
    """Mutual information (nats) of every hidden neuron with each variable (arXiv:1804.09278).

    Each neuron's post-ReLU activation (:meth:`EventClassifier.activations`, every hidden
    layer) is compared with each variable by :func:`mutual_information`. Neurons whose
    activation is constant over the events (dead) get 0 and are flagged. Events where a
    variable is NaN (e.g. the leading-jet pT of an event without jets) are left out for that
    variable only.

    Args:
        model: the event classifier.
        events: dilepton events (:func:`surrotag.reference.event_classifier.event_inputs`).
        variables: name -> one value per event (e.g. ``dilepton_features(events,
            {"event_mt2_ll"})`` or columns of ``event_inputs``), GeV and rad.
        weights: non-negative event weights; None: the events' ``weight`` field (ones
            without one).
        bins: equal-frequency bins per variable.

    Returns:
        :class:`NeuronInformation`.

    Raises:
        InputValueError: events the classifier refuses, variables or weights of the wrong
            length, negative weights.
    """
    inputs, _ = event_inputs(events)
    _, activations = _forward(model, inputs, hidden=True)
    return _neuron_information(activations, variables, _event_weights(events, weights), bins)


# --------------------------------------------------------------------------- importance


def _permutation_importance(
    model: EventClassifier,
    inputs: np.ndarray,
    is_signal: np.ndarray,
    weights: np.ndarray,
    repeats: int,
    seed: int,
) -> tuple[dict[str, float], dict[str, float], float]:
    """(mean AUC drop, its standard error over the repeats, base AUC) per input column."""
    if repeats < 1:
        raise InputValueError(f"repeats must be >= 1, got {repeats}")

    def auc(logit: np.ndarray) -> float:
        return classifier_metrics.weighted_auc(
            logit[is_signal], weights[is_signal], logit[~is_signal], weights[~is_signal]
        )

    base = auc(_forward(model, inputs)[0])
    rng = np.random.default_rng(seed)
    work = np.array(inputs, dtype=np.float32, copy=True)
    drops = np.empty((repeats, inputs.shape[1]))
    for r in range(repeats):  # repeats x 40 columns, each a vectorised pass over the events
        for c in range(inputs.shape[1]):
            work[:, c] = inputs[rng.permutation(len(inputs)), c]
            drops[r, c] = base - auc(_forward(model, work)[0])
            work[:, c] = inputs[:, c]
    error = (
        drops.std(axis=0, ddof=1) / math.sqrt(repeats) if repeats > 1 else np.zeros(len(drops[0]))
    )
    names = INPUT_NAMES[: inputs.shape[1]]
    return (
        dict(zip(names, drops.mean(axis=0).tolist(), strict=True)),
        dict(zip(names, error.tolist(), strict=True)),
        base,
    )


def permutation_importance(
    model: EventClassifier,
    signal: ak.Array,
    background: ak.Array,
    *,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, float]:
    """Drop of the weighted ROC AUC when one input is permuted, per input (Breiman 2001).

    The inputs of both samples (:func:`event_inputs`, computed once) are stacked; for each
    column in turn its values are permuted across the combined sample (signal and background
    rows alike, so the column no longer tells them apart), the classifier is evaluated and
    the weighted AUC (:func:`surrotag.reference.classifier_metrics.weighted_auc`, events'
    ``weight`` fields) compared with the unpermuted one. Mean over ``repeats`` permutations,
    drawn by ``numpy.random.default_rng(seed)`` in a fixed order: the same seed gives the
    same numbers. A constant input (e.g. ``lepton1_dphi``, always 0) gets exactly 0.

    Args:
        model: the event classifier.
        signal, background: dilepton events with ``weight`` (ones where absent).
        repeats: permutations per input.
        seed: seed of the permutations.

    Returns:
        Input name -> mean AUC drop (positive: the input matters), in :data:`INPUT_NAMES`
        order.

    Raises:
        InputValueError: events the classifier refuses, a class of non-positive total weight,
            ``repeats < 1``.
    """
    xs, xb = event_inputs(signal)[0], event_inputs(background)[0]
    w = np.concatenate([_event_weights(signal, None), _event_weights(background, None)])
    is_signal = np.arange(len(xs) + len(xb)) < len(xs)
    mean, _, _ = _permutation_importance(
        model, np.concatenate([xs, xb]), is_signal, w, int(repeats), seed
    )
    return mean


# --------------------------------------------------------------------------- MET orientation


def _fraction(mask: np.ndarray, w: np.ndarray) -> float:
    total = float(w.sum())
    return float(w[mask].sum()) / total if total != 0.0 else math.nan


def _orientation(
    dphi1: np.ndarray, dphi2: np.ndarray, selected: np.ndarray, w: np.ndarray, bins: int
) -> dict[str, Any]:
    edges = np.linspace(0.0, np.pi, bins + 1)
    ok = ~(np.isnan(dphi1) | np.isnan(dphi2))
    away = (dphi1 > 0.5 * np.pi) & (dphi2 > 0.5 * np.pi)
    out: dict[str, Any] = {"edges_rad": edges, "away_above_rad": 0.5 * np.pi}
    for key, mask in (("all", ok), ("selected", ok & selected)):
        counts, _, _ = np.histogram2d(
            dphi1[mask], dphi2[mask], bins=(edges, edges), weights=w[mask]
        )
        total = counts.sum()
        out[key] = {
            "n_events": int(mask.sum()),
            "sum_weights": float(w[mask].sum()),
            "histogram": counts,
            "normalised": counts / total if total != 0.0 else np.zeros_like(counts),
            "both_away_fraction": _fraction(away[mask], w[mask]),
        }
    out["both_away_fraction_all"] = out["all"]["both_away_fraction"]
    out["both_away_fraction_selected"] = out["selected"]["both_away_fraction"]
    return out


def met_orientation(
    events: ak.Array,
    selected: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    bins: int = 12,
) -> dict[str, Any]:
    """Where the MET points relative to the two leptons, all events against selected ones.

    Roxlo and Reece (arXiv:1804.09278) find that the network selects events with large MET
    oriented azimuthally away from both leptons. The angles are
    ``event_dphi_met_lep1`` and ``event_dphi_met_lep2`` of
    :func:`surrotag.features.dilepton.dilepton_features` (|Delta phi| in [0, pi], rad; the
    leptons by decreasing pT); events with fewer than two leptons are left out.

    Args:
        events: canonical events with ``electrons``, ``muons`` and ``met``.
        selected: bool [N], e.g. the classifier's score above a working point.
        weights: event weights; None: the events' ``weight`` field (ones without one).
        bins: bins of each angle in [0, pi].

    Returns:
        ``{"edges_rad": [bins + 1], "away_above_rad": pi/2, "all": {...}, "selected": {...},
        "both_away_fraction_all", "both_away_fraction_selected"}``; ``all`` and ``selected``
        hold ``n_events``, ``sum_weights``, the weighted 2-D ``histogram`` [bins, bins]
        (rows: |Delta phi(MET, l1)|, columns: |Delta phi(MET, l2)|), its ``normalised``
        version (sum 1) and ``both_away_fraction``: the weighted fraction of events with
        both angles above pi/2 (NaN for no events).

    Raises:
        InputValueError: a mask or weights of the wrong length, ``bins < 1``.
    """
    from surrotag.features.dilepton import dilepton_features

    mask = _selection(selected, len(events))
    if int(bins) < 1:
        raise InputValueError(f"bins must be >= 1, got {bins}")
    angles = dilepton_features(events, {"event_dphi_met_lep1", "event_dphi_met_lep2"})
    return _orientation(
        np.asarray(angles["event_dphi_met_lep1"], dtype=np.float64),
        np.asarray(angles["event_dphi_met_lep2"], dtype=np.float64),
        mask,
        _event_weights(events, weights),
        int(bins),
    )


def _selection(selected: np.ndarray, n: int) -> np.ndarray:
    mask = np.asarray(selected)
    if mask.dtype != np.bool_ or mask.shape != (n,):
        raise InputValueError(
            f"selected must be a bool array of one entry per event ({n}), got "
            f"{mask.dtype} {mask.shape}"
        )
    return mask


# --------------------------------------------------------------------------- ISR response


def _weighted_quantile_edges(values: np.ndarray, w: np.ndarray, bins: int) -> np.ndarray:
    """Edges of ``bins`` equal-frequency bins of ``values`` (duplicates merged)."""
    if len(values) == 0:
        return np.array([0.0, 1.0])
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(w[order])
    cumulative /= cumulative[-1]
    inner = values[order][np.searchsorted(cumulative, np.arange(1, bins) / bins)]
    edges = np.unique(np.concatenate([[values.min()], inner, [values.max()]]))
    return edges if len(edges) > 1 else np.array([edges[0] - 0.5, edges[0] + 0.5])


def _profile(
    values: np.ndarray, edges: np.ndarray, score: np.ndarray, passed: np.ndarray, w: np.ndarray
) -> dict[str, np.ndarray]:
    """Weighted mean score and selected fraction per bin (under/overflow in the end bins)."""
    n = len(edges) - 1
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, n - 1)
    total = np.bincount(index, weights=w, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(index, weights=w * score, minlength=n) / total
        fraction = np.bincount(index, weights=w * passed, minlength=n) / total
    return {
        "edges": edges,
        "centres": 0.5 * (edges[1:] + edges[:-1]),
        "mean_score": np.where(total != 0.0, mean, np.nan),
        "selected_fraction": np.where(total != 0.0, fraction, np.nan),
        "sum_weights": total,
        "n_events": np.bincount(index, minlength=n),
    }


def _weighted_correlation(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    total = w.sum()
    if len(a) < 2 or total <= 0.0:
        return math.nan
    da, db = a - np.sum(w * a) / total, b - np.sum(w * b) / total
    norm = math.sqrt(float(np.sum(w * da * da) * np.sum(w * db * db)))
    return float(np.sum(w * da * db)) / norm if norm > 0.0 else math.nan


def _isr(
    inputs: np.ndarray,
    logit: np.ndarray,
    w: np.ndarray,
    bins: int,
    threshold: float,
    pt_edges: Sequence[float] | None,
) -> dict[str, Any]:
    score, passed = _sigmoid(logit), (logit > threshold).astype(np.float64)
    jet = _column(inputs, "jet1_present") > 0.0
    pt = _column(inputs, "jet1_pt")
    dphi = np.abs(wrap_phi(_column(inputs, "met_dphi") - _column(inputs, "jet1_dphi")))
    edges = (
        _weighted_quantile_edges(pt[jet], w[jet], bins)
        if pt_edges is None
        else np.asarray(pt_edges, dtype=np.float64)
    )
    if len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise InputValueError(f"pt_edges must increase, at least two: got {list(edges)}")
    no_jet_total = float(w[~jet].sum())
    return {
        "threshold_logit": float(threshold),
        "jet_pt": _profile(pt[jet], edges, score[jet], passed[jet], w[jet]),
        "dphi_met_jet": _profile(
            dphi[jet], np.linspace(0.0, np.pi, bins + 1), score[jet], passed[jet], w[jet]
        ),
        "no_jet": {
            "n_events": int((~jet).sum()),
            "sum_weights": no_jet_total,
            "mean_score": float(np.sum(w[~jet] * score[~jet])) / no_jet_total
            if no_jet_total != 0.0
            else math.nan,
            "selected_fraction": _fraction(passed[~jet] > 0, w[~jet]),
        },
        "correlation": {
            "jet_pt": _weighted_correlation(pt[jet], score[jet], w[jet]),
            "dphi_met_jet": _weighted_correlation(dphi[jet], score[jet], w[jet]),
        },
    }


def isr_response(
    model: EventClassifier,
    events: ak.Array,
    weights: np.ndarray | None = None,
    bins: int = 10,
    *,
    threshold: float = 0.0,
    pt_edges: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The classifier's response to an ISR jet: score against the leading jet (arXiv:1804.09278).

    For a light stop with three-body decays the paper's network interpolates towards an ISR
    tag: a hard leading jet recoiling against the MET. That shows as a weighted mean score
    (sigmoid of the logit) and a selected fraction rising with the leading-jet pT and
    towards |Delta phi(MET, leading jet)| = pi. The leading jet and the angle come from the
    classifier's own inputs (``jet1_pt``, ``jet1_dphi`` and ``met_dphi``).

    Args:
        model: the event classifier.
        events: dilepton events.
        weights: event weights; None: the events' ``weight`` field (ones without one).
        bins: bins of each variable: equal-frequency (weighted) bins of the leading-jet pT
            (unless ``pt_edges``), uniform bins of |Delta phi| in [0, pi].
        threshold: an event is selected when its logit exceeds it (0: score > 1/2; use
            a working point's ``threshold``).
        pt_edges: leading-jet pT bin edges (GeV), increasing; under- and overflow go into
            the first and last bins.

    Returns:
        ``{"threshold_logit", "jet_pt": profile, "dphi_met_jet": profile, "no_jet":
        {"n_events", "sum_weights", "mean_score", "selected_fraction"}, "correlation":
        {"jet_pt", "dphi_met_jet"}}``; a profile holds ``edges`` (GeV or rad),
        ``centres``, ``mean_score``, ``selected_fraction`` (NaN in empty bins),
        ``sum_weights`` and ``n_events`` per bin; the correlations are the weighted Pearson
        correlations of the score with the variable over events with a jet.

    Raises:
        InputValueError: events the classifier refuses, bad edges, ``bins < 1``.
    """
    if int(bins) < 1:
        raise InputValueError(f"bins must be >= 1, got {bins}")
    inputs, _ = event_inputs(events)
    logit, _ = _forward(model, inputs)
    return _isr(inputs, logit, _event_weights(events, weights), int(bins), threshold, pt_edges)


# --------------------------------------------------------------------------- figures


def plot_neuron_information(
    information: NeuronInformation, path: str | Path, variables: Sequence[str] | None = None
) -> Path:
    """MI (nats) of every neuron with each variable, one panel per hidden layer.

    Drawn by :func:`surrotag.explain.plots.plot_mutual_information`.

    Args:
        information: the neurons' mutual information.
        path: the PNG.
        variables: the variables drawn (default: the first six, one colour of the style
            each).
    """
    from surrotag.explain.plots import plot_mutual_information

    names = list(information.variables[:6] if variables is None else variables)
    layers = {
        layer: {name: values[name] for name in names}
        for layer, values in information.by_layer().items()
    }
    return plot_mutual_information(layers, path)


_DPHI_LABEL: Final = r"$|\Delta\phi(E_\mathrm{T}^\mathrm{miss}, \ell_{%d})|$ [rad]"


def plot_met_orientation(orientation: Mapping[str, Any], path: str | Path) -> Path:
    """Normalised 2-D distributions of |Delta phi(MET, l1)| and |Delta phi(MET, l2)|, all
    events (left) and selected events (right); the both-away quadrant is outlined."""
    edges = np.asarray(orientation["edges_rad"])
    with figure_style() as plt:
        fig, axes = plt.subplots(1, 2, figsize=(17, 7))
        fig.subplots_adjust(wspace=0.4)
        for ax, key in zip(axes, ("all", "selected"), strict=True):
            part = orientation[key]
            mesh = ax.pcolormesh(edges, edges, np.asarray(part["normalised"]).T, cmap="viridis")
            fig.colorbar(mesh, ax=ax, label="fraction of events")
            ax.axvline(0.5 * np.pi, color="w", ls="--")
            ax.axhline(0.5 * np.pi, color="w", ls="--")
            fraction = part["both_away_fraction"]
            text = "n/a" if fraction is None or not np.isfinite(fraction) else f"{fraction:.3f}"
            ax.text(
                0.04,
                0.04,
                f"{key} events\nboth > $\\pi/2$: {text}",
                transform=ax.transAxes,
                fontsize=13,
                bbox={"facecolor": "w", "alpha": 0.8},
            )
            ax.set_xlabel(_DPHI_LABEL % 1, fontsize=14)
            ax.set_ylabel(_DPHI_LABEL % 2, fontsize=14)
        experiment_label(axes[0])
        return save_figure(fig, path, dpi=72)


def plot_isr_response(response: Mapping[str, Any], path: str | Path) -> Path:
    """Mean score and selected fraction against the leading-jet pT and |Delta phi(MET, j1)|."""
    panels = (
        ("jet_pt", r"leading-jet $p_\mathrm{T}$ [GeV]"),
        ("dphi_met_jet", r"$|\Delta\phi(E_\mathrm{T}^\mathrm{miss}, j_1)|$ [rad]"),
    )
    with figure_style() as plt:
        fig, axes = plt.subplots(1, 2, figsize=(16, 6))
        for ax, (key, label) in zip(axes, panels, strict=True):
            profile = response[key]
            centres = np.asarray(profile["centres"], dtype=np.float64)
            for name, what in (("mean_score", "mean score"), ("selected_fraction", "selected")):
                values = np.asarray(profile[name], dtype=np.float64)  # None -> NaN: gaps
                ax.plot(centres, values, "o-", label=what)
            no_jet = response["no_jet"]["mean_score"]
            if no_jet is not None and np.isfinite(no_jet):
                ax.axhline(no_jet, color="grey", ls=":", label="mean score, no jet")
            ax.set_xlabel(label, fontsize=14)
            ax.set_ylim(0.0, 1.05)
            ax.legend(fontsize=11)
        axes[0].set_ylabel("score, fraction", fontsize=14)
        experiment_label(axes[0])
        return save_figure(fig, path, dpi=72)


def plot_input_importance(importance: Mapping[str, float], path: str | Path, top: int = 20) -> Path:
    """The ``top`` inputs by permutation importance (AUC drop), largest first."""
    names = sorted(importance, key=lambda k: -importance[k])[: max(int(top), 1)]
    values = [importance[k] for k in names]
    with figure_style() as plt:
        fig, ax = plt.subplots(figsize=(9, 0.35 * len(names) + 2))
        y = np.arange(len(names))
        ax.barh(y, values)
        ax.set_yticks(y, names, fontsize=11)
        ax.invert_yaxis()
        ax.set_xlabel("drop of the weighted ROC AUC when permuted", fontsize=13)
        experiment_label(ax)
        return save_figure(fig, path, dpi=72)


# --------------------------------------------------------------------------- all of it


def _jsonable(value: Any) -> Any:
    """numpy arrays -> lists, recursively, then strict JSON (NaN and infinities -> None)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return strict_json(value.tolist())
    return strict_json(value)


def _balanced(ws: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """Weights with each class summing to 1/2 (generator weights kept within a class)."""
    return np.concatenate(
        [
            0.5 * ws / classifier_metrics.positive_total(ws, "signal"),
            0.5 * wb / classifier_metrics.positive_total(wb, "background"),
        ]
    )


def _variables(events: ak.Array, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """:data:`MI_VARIABLES` of the events (GeV, rad)."""
    from surrotag.features.dilepton import dilepton_features

    features = dilepton_features(events, set(MI_VARIABLES))
    return {
        name: _column(inputs, name)
        if name in INPUT_NAMES
        else np.asarray(features[name], dtype=np.float64)
        for name in MI_VARIABLES
    }


def explain_event_classifier(
    model: EventClassifier,
    signal: ak.Array,
    background: ak.Array,
    out_dir: str | Path,
    *,
    working_point: float = 1e-2,
    seed: int = 0,
) -> dict[str, Any]:
    """All explanations of the event classifier (arXiv:1804.09278), its figures and summary.

    The events are selected where the logit exceeds the cut at background efficiency
    ``working_point`` (:func:`surrotag.reference.classifier_metrics.working_point`, generator
    weights). Signal and background are weighed to equal totals (generator weights within
    each class) for the mutual information of every neuron with :data:`MI_VARIABLES`
    (20 bins), the MET orientation and the ISR response; the permutation importance
    (3 repeats, ``seed``) uses the generator weights (the AUC normalises each class).

    ``out_dir`` receives ``explanation.json`` (strict JSON: the returned summary) and the
    PNGs of :data:`FIGURE_NAMES`, all written as one unit
    (:func:`surrotag.io.atomic.atomic_outputs`): all are replaced, or none.

    Args:
        model: the event classifier.
        signal, background: dilepton events (stop pairs, dileptonic ttbar) with ``weight``
            (positive; ones where absent), e.g. of :func:`load_dilepton_events`.
        out_dir: the output folder (created).
        working_point: background efficiency of the selection, in (0, 1].
        seed: seed of the permutations.

    Returns:
        The summary (JSON-able): ``model`` (``sha256`` of the weights as
        :func:`save_event_classifier` records it, architecture), ``auc``, ``working_point``,
        ``findings`` (``mt2_ll_top_neuron``: layer, neuron and MI in nats with m_T2(ll),
        lepton1 pT and lepton2 pT; ``max_mi_single_lepton_pt``: the largest MI of any neuron
        with either lepton pT; ``mt2_ll_exceeds_lepton_pt``; ``both_away_fraction`` for all
        and selected events; ``isr_correlation``; ``importance_ranking``), and the full
        ``mutual_information``, ``importance``, ``met_orientation`` and ``isr_response``,
        and ``files``.

    Raises:
        InputValueError: events the classifier refuses, negative weights, a class of
            non-positive total weight, a working point outside (0, 1].
        OutputError: the folder cannot be written (nothing is left of the unit).
    """
    out_dir = Path(out_dir)
    xs, xb = event_inputs(signal)[0], event_inputs(background)[0]
    ws, wb = _event_weights(signal, None), _event_weights(background, None)
    inputs = np.concatenate([xs, xb])
    generator = np.concatenate([ws, wb])
    is_signal = np.arange(len(inputs)) < len(xs)
    balanced = _balanced(ws, wb)

    logit, activations = _forward(model, inputs, hidden=True)
    args = (logit[is_signal], ws, logit[~is_signal], wb)
    point = classifier_metrics.working_point(*args, working_point)
    selected = logit > point.threshold

    parts = [_variables(signal, xs), _variables(background, xb)]
    variables = {k: np.concatenate([p[k] for p in parts]) for k in MI_VARIABLES}
    information = _neuron_information(activations, variables, balanced, 20)
    importance, importance_error, auc = _permutation_importance(
        model, inputs, is_signal, generator, 3, seed
    )
    ranking = sorted(importance, key=lambda k: -importance[k])
    d1, d2 = variables["event_dphi_met_lep1"], variables["event_dphi_met_lep2"]
    orientation = _orientation(d1, d2, selected, balanced, 12)
    per_class = {
        name: {
            key: _orientation(d1[m], d2[m], selected[m], generator[m], 12)[key]
            for key in ("both_away_fraction_all", "both_away_fraction_selected")
        }
        for name, m in (("signal", is_signal), ("background", ~is_signal))
    }
    isr = _isr(inputs, logit, balanced, 10, point.threshold, None)

    top = information.top("event_mt2_ll")
    lepton = information.mi[:, [information.variables.index(v) for v in _LEPTON_PT]]
    row, col = np.unravel_index(int(np.nanargmax(lepton)), lepton.shape)
    best_lepton = {
        "mi_nats": float(lepton[row, col]),
        "variable": _LEPTON_PT[col],
        "layer": int(information.layer[row]),
        "neuron": int(information.neuron[row]),
    }
    findings = {
        "mt2_ll_top_neuron": {
            "layer": top["layer"],
            "neuron": top["neuron"],
            "mi_nats": top["mi_nats"]["event_mt2_ll"],
            "mi_lepton1_pt_nats": top["mi_nats"]["lepton1_pt"],
            "mi_lepton2_pt_nats": top["mi_nats"]["lepton2_pt"],
        },
        "max_mi_single_lepton_pt": best_lepton,
        "mt2_ll_exceeds_lepton_pt": bool(top["mi_nats"]["event_mt2_ll"] > best_lepton["mi_nats"]),
        "both_away_fraction": {
            "all": orientation["both_away_fraction_all"],
            "selected": orientation["both_away_fraction_selected"],
            **per_class,
        },
        "isr_correlation": isr["correlation"],
        "importance_ranking": ranking,
    }
    document = _jsonable(
        {
            "kind": _KIND,
            "references": list(_REFERENCES),
            "model": {
                "sha256": _weights_sha256(model),
                "n_inputs": model.n_inputs,
                "hidden": list(model.hidden),
            },
            "events": {
                "signal": len(xs),
                "background": len(xb),
                "selected": int(selected.sum()),
                "signal_sum_weights": float(ws.sum()),
                "background_sum_weights": float(wb.sum()),
            },
            "seed": int(seed),
            "auc": auc,
            "working_point": asdict(point),
            "findings": findings,
            "mutual_information": information.to_dict(),
            "importance": {
                "method": "weighted ROC AUC drop when the input is permuted, mean of 3",
                "auc_drop": importance,
                "standard_error": importance_error,
                "ranking": ranking,
            },
            "met_orientation": orientation,
            "isr_response": isr,
            "files": {**FIGURE_NAMES, "explanation": EXPLANATION_NAME},
        }
    )
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    drawers = {
        "neuron_information": lambda path: plot_neuron_information(
            information, path, _FIGURE_VARIABLES
        ),
        "met_orientation": lambda path: plot_met_orientation(orientation, path),
        "isr_response": lambda path: plot_isr_response(isr, path),
        "importance": lambda path: plot_input_importance(importance, path),
    }
    keys = list(FIGURE_NAMES)
    targets = [out_dir / FIGURE_NAMES[key] for key in keys] + [out_dir / EXPLANATION_NAME]
    with atomic_outputs(targets) as temporaries:
        for key, temporary in zip(keys, temporaries, strict=False):
            drawers[key](temporary)
        temporaries[-1].write_text(text, encoding="utf-8")
    return document
