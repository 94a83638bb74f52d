"""The reference experiment's internal event-level classifier: stop pairs against dileptonic ttbar.

A fully connected network on detector-level objects (the two leading leptons, the four
leading jets and the missing transverse momentum) separates stop pair production from
dileptonic t tbar in the dilepton channel, as in Roxlo and Reece (arXiv:1804.09278). The
inputs (:func:`event_inputs`, 40 columns, :data:`INPUT_NAMES`) are invariant under a global
rotation in phi: every azimuth is taken relative to the leading lepton. The network
(:class:`EventClassifier`) standardises its inputs with the training set's mean and standard
deviation (buffers, saved with the weights) and exposes the post-ReLU activations of its
hidden layers (:meth:`EventClassifier.activations`) for mutual-information studies of single
neurons (e.g. against mT2(ll)).

Training (:func:`train_event_classifier`): the generator-weighted binary cross-entropy on the
logit, the two classes normalised to equal total weight, Adam, early stopping on the
validation loss (best epoch kept), a train/validation/test split of each class drawn with
the seed. The test split gives the weighted ROC AUC and the signal efficiency at background
efficiencies 1e-3 and 1e-2 (:func:`working_point`), which is None where fewer than 10
Kish-effective background events lie above the cut.

A saved classifier is a folder with ``event_classifier.safetensors`` (weights and input
standardisation, never pickled) and ``event_classifier.json`` (architecture, inputs, sha256
of the weights, training report); :func:`load_event_classifier` refuses weights whose sha256
differs from the recorded one.

References:
    T. Roxlo, M. Reece, Opening the black box of neural nets: case studies in stop/top
    discrimination, arXiv:1804.09278.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import awkward as ak
import numpy as np
import torch
from torch import nn

from surrotag.errors import (
    FeatureError,
    InputValueError,
)
from surrotag.io.atomic import strict_json
from surrotag.reference.classifier_metrics import (
    WorkingPoint,
    positive_total,
    weighted_auc,
    working_point,
)

__all__ = [
    "BACKGROUND_EFFICIENCIES",
    "CONFIG_NAME",
    "INPUT_NAMES",
    "WEIGHTS_NAME",
    "ClassifierConfig",
    "ClassifierReport",
    "EventClassifier",
    "classifier_scores",
    "evaluate_event_classifier",
    "event_inputs",
    "has_two_leptons",
    "load_dilepton_events",
    "load_event_classifier",
    "save_event_classifier",
    "train_event_classifier",
    "weights_bytes",
    "wrap_phi",
]

CONFIG_NAME: Final = "event_classifier.json"
WEIGHTS_NAME: Final = "event_classifier.safetensors"
_KIND: Final = "surrotag-reference-event-classifier"
_REFERENCES: Final = ("arXiv:1804.09278",)

#: Leptons and jets read per event (the leading ones in pT).
N_LEPTONS: Final = 2
N_JETS: Final = 4
_LEPTON_COLUMNS: Final = ("pt", "eta", "E", "charge", "is_muon", "dphi")
_JET_COLUMNS: Final = ("present", "pt", "eta", "E", "btag", "dphi")

#: Column names of :func:`event_inputs`: GeV for pt, E and met, rad for dphi (relative to
#: the leading lepton, in (-pi, pi]), units of e for charge, 0/1 for flags, counts for n_*.
INPUT_NAMES: Final = (
    *(f"lepton{i}_{c}" for i in range(1, N_LEPTONS + 1) for c in _LEPTON_COLUMNS),
    *(f"jet{i}_{c}" for i in range(1, N_JETS + 1) for c in _JET_COLUMNS),
    "met",
    "met_dphi",
    "n_jets",
    "n_bjets",
)

#: Background efficiencies at which the report gives the signal efficiency.
BACKGROUND_EFFICIENCIES: Final = (1e-3, 1e-2)
_SPLITS: Final = ("train", "val", "test")
_STD_FLOOR: Final = 1e-6  # below this a column is taken as constant (std 1)


# --------------------------------------------------------------------------------- inputs


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Azimuths (rad) wrapped into (-pi, pi].

    Example:
        >>> wrap_phi(np.array([0.0, np.pi, -np.pi, 1.5 * np.pi, -4.0])).round(4)
        array([ 0.    ,  3.1416,  3.1416, -1.5708,  2.2832])
    """
    return np.pi - np.mod(np.pi - np.asarray(phi, dtype=np.float64), 2.0 * np.pi)


#: Fields the classifier reads from each collection.
_FIELDS: Final = {
    "electrons": ("pt", "eta", "phi", "mass", "charge"),
    "muons": ("pt", "eta", "phi", "mass", "charge"),
    "jets": ("pt", "eta", "phi", "mass", "btag"),
    "met": ("met", "phi"),
    "weight": (),
}


def _require(events: ak.Array, names: Sequence[str]) -> None:
    """Raise FeatureError naming the collections or fields the events lack."""
    missing = [name for name in names if name not in events.fields]
    missing += [
        f"{name}.{leaf}"
        for name in names
        if name in events.fields
        for leaf in _FIELDS[name]
        if leaf not in events[name].fields
    ]
    if missing:
        raise FeatureError(
            f"events with fields {', '.join(events.fields) or '(none)'} lack "
            f"{', '.join(missing)}; the event classifier reads canonical electrons, muons, "
            "jets and met (surrotag.io.iter_events with these collections)"
        )


def has_two_leptons(events: ak.Array) -> np.ndarray:
    """Whether each event holds at least two leptons (electrons and muons together).

    Args:
        events: canonical events with ``electrons`` and ``muons``.

    Returns:
        bool array (n_events,): the events :func:`event_inputs` accepts.
    """
    _require(events, ("electrons", "muons"))
    counts = ak.num(events["electrons"], axis=1) + ak.num(events["muons"], axis=1)
    return np.asarray(ak.to_numpy(counts) >= N_LEPTONS, dtype=bool)


def _leptons(events: ak.Array) -> ak.Array:
    """Electrons and muons merged, each with ``is_muon``, by decreasing pT (stable)."""
    parts = []
    for name, is_muon in (("electrons", 0), ("muons", 1)):
        c = events[name]
        pt = ak.values_astype(c["pt"], np.float64)
        parts.append(
            ak.zip(
                {
                    "pt": pt,
                    "eta": ak.values_astype(c["eta"], np.float64),
                    "phi": ak.values_astype(c["phi"], np.float64),
                    "mass": ak.values_astype(c["mass"], np.float64),
                    "charge": ak.values_astype(c["charge"], np.float64),
                    "is_muon": pt * 0.0 + is_muon,
                }
            )
        )
    merged = ak.concatenate(parts, axis=1)
    return merged[ak.argsort(merged["pt"], axis=1, ascending=False, stable=True)]


def _leading(collection: ak.Array, n: int, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The first ``n`` objects' fields as float64 (n_events, n) arrays, absent ones zero,
    plus ``present`` (1.0 where the object exists)."""
    padded = ak.pad_none(collection, n, axis=1, clip=True)
    out = {"present": 1.0 - ak.to_numpy(ak.is_none(padded, axis=1)).astype(np.float64)}
    for name in names:
        values = ak.fill_none(padded[name], 0.0)
        out[name] = np.asarray(ak.to_numpy(values), dtype=np.float64).reshape(len(padded), n)
    return out


def _energy(pt: np.ndarray, eta: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """E = sqrt((pT cosh eta)^2 + m^2) (GeV)."""
    return np.hypot(pt * np.cosh(eta), mass)


def _object_block(objects: dict[str, np.ndarray], phi0: np.ndarray, flags: Sequence[str]) -> dict:
    """Columns pt, eta, E, the ``flags`` and dphi (zero where the object is absent)."""
    present = objects["present"]
    dphi = wrap_phi(objects["phi"] - phi0[:, None]) * present
    block = {
        "present": present,
        "pt": objects["pt"],
        "eta": objects["eta"],
        "E": _energy(objects["pt"], objects["eta"], objects["mass"]) * present,
        "dphi": dphi,
    }
    block.update({flag: objects[flag] for flag in flags})
    return block


def event_inputs(events: ak.Array) -> tuple[np.ndarray, tuple[str, ...]]:
    """The classifier's inputs: one float32 row of :data:`INPUT_NAMES` per event.

    Columns (arXiv:1804.09278, Sec. 2: lepton, jet and MET four-vectors), all azimuths
    relative to the leading lepton and wrapped into (-pi, pi], so the matrix is invariant
    under a global rotation in phi:

    * the two leading leptons (electrons and muons merged, sorted by pT): ``pt`` (GeV),
      ``eta``, ``E`` (GeV), ``charge`` (e), ``is_muon`` (0/1), ``dphi`` (rad; 0 for the
      leading lepton);
    * the four leading jets (canonical jets come by decreasing pT): ``present`` (0/1),
      ``pt``, ``eta``, ``E``, ``btag`` (0/1: ``btag != 0``), ``dphi``; all zero for a jet
      the event lacks;
    * ``met`` (GeV) and ``met_dphi`` (rad);
    * ``n_jets`` and ``n_bjets``: all jets and b-tagged jets of the event.

    Contract: every event must hold at least two leptons; the caller selects dilepton
    events first (:func:`has_two_leptons`). Vectorised: no Python loop over events.

    Args:
        events: canonical events (:mod:`surrotag.io.canonical`) with ``electrons``,
            ``muons`` (var * {pt, eta, phi, mass, charge}), ``jets`` (var * {pt, eta, phi,
            mass, btag}) and ``met`` ({met, phi}), in GeV and rad.

    Returns:
        (inputs, names): float32 (n_events, 40) and :data:`INPUT_NAMES`.

    Raises:
        FeatureError: a collection is missing.
        InputValueError: events with fewer than two leptons, or non-finite inputs.
    """
    _require(events, ("electrons", "muons", "jets", "met"))
    dilepton = has_two_leptons(events)
    if not dilepton.all():
        raise InputValueError(
            f"{int(np.sum(~dilepton))} of {len(dilepton)} events have fewer than two leptons "
            "(electrons + muons); select dilepton events first (events[has_two_leptons(events)])"
        )
    leptons = _leading(
        _leptons(events), N_LEPTONS, ("pt", "eta", "phi", "mass", "charge", "is_muon")
    )
    jets = _leading(events["jets"], N_JETS, ("pt", "eta", "phi", "mass", "btag"))
    jets["btag"] = (jets["btag"] != 0).astype(np.float64)
    phi0 = leptons["phi"][:, 0]
    blocks = (
        (_object_block(leptons, phi0, ("charge", "is_muon")), N_LEPTONS, _LEPTON_COLUMNS),
        (_object_block(jets, phi0, ("btag",)), N_JETS, _JET_COLUMNS),
    )
    columns = [block[c][:, i] for block, n, names in blocks for i in range(n) for c in names]
    met = events["met"]
    btag = ak.values_astype(events["jets"]["btag"] != 0, np.int64)
    columns += [
        np.asarray(ak.to_numpy(met["met"]), dtype=np.float64),
        wrap_phi(np.asarray(ak.to_numpy(met["phi"]), dtype=np.float64) - phi0),
        np.asarray(ak.to_numpy(ak.num(events["jets"], axis=1)), dtype=np.float64),
        np.asarray(ak.to_numpy(ak.sum(btag, axis=1)), dtype=np.float64),
    ]
    inputs = np.stack(columns, axis=1).astype(np.float32).reshape(len(phi0), len(INPUT_NAMES))
    bad = ~np.isfinite(inputs).all(axis=1)
    if bad.any():
        raise InputValueError(
            f"{int(bad.sum())} of {len(bad)} events have non-finite classifier inputs "
            f"(first at event {int(np.argmax(bad))}, e.g. a missing MET); drop them first"
        )
    return inputs, INPUT_NAMES


# --------------------------------------------------------------------------------- network


class EventClassifier(nn.Module):
    """Fully connected network: standardised inputs, ReLU hidden layers, one logit.

    Args:
        n_inputs: inputs per event (``len(INPUT_NAMES)``).
        hidden: widths of the hidden layers (arXiv:1804.09278 uses a few layers of tens to
            hundreds of units).

    Shapes:
        forward(x (batch, n_inputs) float32) -> (batch,) logits of P(signal | event);
        activations(x) -> one (batch, width) tensor per hidden layer, after its ReLU.
    """

    def __init__(
        self, n_inputs: int = len(INPUT_NAMES), hidden: Sequence[int] = (64, 64, 64)
    ) -> None:
        super().__init__()
        if n_inputs < 1 or any(int(width) < 1 for width in hidden):
            raise InputValueError(f"need n_inputs >= 1 and widths >= 1, got {n_inputs}, {hidden}")
        self.n_inputs, self.hidden = int(n_inputs), tuple(int(width) for width in hidden)
        self.register_buffer("mean", torch.zeros(n_inputs))
        self.register_buffer("std", torch.ones(n_inputs))
        sizes = (self.n_inputs, *self.hidden)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.output = nn.Linear(sizes[-1], 1)

    def _hidden(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - self.mean) / self.std
        out = []
        for layer in self.layers:
            h = torch.relu(layer(h))
            out.append(h)
        return out

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Post-ReLU activations of each hidden layer, (batch, width) each, input order."""
        return self._hidden(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self._hidden(x)
        last = hidden[-1] if hidden else (x - self.mean) / self.std
        return self.output(last).squeeze(-1)

    def set_standardisation(self, inputs: np.ndarray) -> None:
        """Set the input mean and std (columns of std < 1e-6, i.e. constant, get std 1)."""
        mean = inputs.mean(axis=0, dtype=np.float64)
        std = inputs.std(axis=0, dtype=np.float64)
        std = np.where(std < _STD_FLOOR, 1.0, std)
        self.mean.copy_(torch.from_numpy(mean.astype(np.float32)))
        self.std.copy_(torch.from_numpy(std.astype(np.float32)))


def classifier_scores(
    model: EventClassifier, events: ak.Array, batch_size: int = 65536
) -> np.ndarray:
    """Logits (float64, n_events) of dilepton events, evaluated under ``torch.no_grad()``.

    The model is evaluated in eval mode and left in the mode it had.

    Raises:
        InputValueError: events :func:`event_inputs` refuses, or a model built for another
            number of inputs.
    """
    inputs, _ = event_inputs(events)
    return _logits(model, inputs, batch_size)


def _logits(model: EventClassifier, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    if model.n_inputs != inputs.shape[1]:
        raise InputValueError(
            f"the classifier reads {model.n_inputs} inputs, the events give {inputs.shape[1]}"
        )
    was_training = model.training
    model.eval()
    out = np.empty(len(inputs), np.float64)
    try:
        with torch.no_grad():
            for start in range(0, len(inputs), max(int(batch_size), 1)):
                stop = start + max(int(batch_size), 1)
                out[start:stop] = model(torch.from_numpy(inputs[start:stop])).double().numpy()
    finally:
        model.train(was_training)
    return out


# --------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture and training settings.

    Attributes:
        hidden: widths of the hidden layers.
        epochs: maximum number of epochs.
        batch_size: Adam mini-batch size (events).
        learning_rate: Adam step size.
        patience: stop after this many epochs without a lower validation loss.
        fractions: (train, validation, test) fractions of each class's events; positive,
            summing to 1.
    """

    hidden: tuple[int, ...] = (64, 64, 64)
    epochs: int = 50
    batch_size: int = 256
    learning_rate: float = 1e-3
    patience: int = 5
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(w) for w in self.hidden))
        object.__setattr__(self, "fractions", tuple(float(f) for f in self.fractions))
        fractions_ok = len(self.fractions) == 3 and all(f > 0 for f in self.fractions)
        if not fractions_ok or abs(sum(self.fractions) - 1.0) > 1e-9:
            raise InputValueError(
                f"fractions must be three positive numbers (train, val, test) summing to 1, "
                f"got {self.fractions}"
            )
        if min(self.epochs, self.batch_size, self.patience, *self.hidden) < 1:
            raise InputValueError(
                f"epochs, batch_size, patience and hidden widths must be >= 1, got {self}"
            )
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise InputValueError(f"learning_rate must be positive, got {self.learning_rate}")

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ClassifierConfig:
        """The config of :func:`dataclasses.asdict` output (lists for tuples)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in document.items()})


@dataclass(frozen=True)
class ClassifierReport:
    """What a training run did; every metric on the test split unless said otherwise.

    Attributes:
        auc: weighted ROC AUC.
        working_points: one :class:`WorkingPoint` per :data:`BACKGROUND_EFFICIENCIES`
            (signal efficiency None where fewer than 10 effective background events pass).
        train_loss, val_loss: per-epoch weighted BCE on the train and validation splits.
        best_epoch: the epoch whose weights were kept (1-based, lowest validation loss).
        n_events: events per split and class, ``{"train": {"signal": n, "background": n}}``.
        input_names: the columns the network reads.
        config: the training settings.
        seed: seeds the split, the initialisation and the batch order.
        inputs_sha256: sha256 of the input files, as given by the caller.
    """

    auc: float
    working_points: tuple[WorkingPoint, ...]
    train_loss: tuple[float, ...]
    val_loss: tuple[float, ...]
    best_epoch: int
    n_events: dict[str, dict[str, int]]
    input_names: tuple[str, ...]
    config: ClassifierConfig
    seed: int
    inputs_sha256: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (strict JSON: infinities as None)."""
        return strict_json(asdict(self))

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ClassifierReport:
        """The report of :meth:`to_dict` output."""
        points = tuple(
            WorkingPoint(
                **{**p, "threshold": -math.inf if p["threshold"] is None else p["threshold"]}
            )
            for p in document["working_points"]
        )
        return cls(
            auc=document["auc"],
            working_points=points,
            train_loss=tuple(document["train_loss"]),
            val_loss=tuple(document["val_loss"]),
            best_epoch=document["best_epoch"],
            n_events=dict(document["n_events"]),
            input_names=tuple(document["input_names"]),
            config=ClassifierConfig.from_dict(document["config"]),
            seed=document["seed"],
            inputs_sha256=dict(document["inputs_sha256"]),
        )


def _split(n: int, fractions: Sequence[float], rng: np.random.Generator) -> list[np.ndarray]:
    """Indices of a random train/val/test split of n events."""
    order = rng.permutation(n)
    n_train = round(fractions[0] * n)
    n_val = round(fractions[1] * n)
    return [order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]]


def _balanced(weights: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Weights rescaled so each class has total weight n/2 (mean weight 1 over the split)."""
    out = np.empty(len(weights), np.float64)
    for label, what in ((1.0, "signal"), (0.0, "background")):
        sel = labels == label
        out[sel] = weights[sel] * (0.5 * len(weights) / positive_total(weights[sel], what))
    return out


def _weights(events: ak.Array, what: str) -> np.ndarray:
    _require(events, ("weight",))
    w = np.asarray(ak.to_numpy(events["weight"]), dtype=np.float64)
    if not np.isfinite(w).all():
        raise InputValueError(f"{what}: {int(np.sum(~np.isfinite(w)))} non-finite event weights")
    return w


def _datasets(
    signal: ak.Array, background: ak.Array, fractions: Sequence[float], rng: np.random.Generator
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], dict[str, dict[str, int]]]:
    """Per split (inputs, labels, class-balanced weights) and the event counts."""
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {s: [] for s in _SPLITS}
    counts: dict[str, dict[str, int]] = {s: {} for s in _SPLITS}
    for events, label, what in ((signal, 1.0, "signal"), (background, 0.0, "background")):
        inputs, _ = event_inputs(events)
        weights = _weights(events, what)
        for split, index in zip(_SPLITS, _split(len(inputs), fractions, rng), strict=True):
            if len(index) == 0:
                raise InputValueError(
                    f"{what}: no events in the {split} split of {len(inputs)}; give more "
                    "events or larger fractions"
                )
            counts[split][what] = len(index)
            parts[split].append((inputs[index], np.full(len(index), label), weights[index]))
    data = {}
    for split, pieces in parts.items():
        x, y, w = (np.concatenate(p) for p in zip(*pieces, strict=True))
        data[split] = (x, y.astype(np.float32), _balanced(w, y))
    return data, counts


def _loss(
    model: EventClassifier, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor
) -> torch.Tensor:
    """Weighted BCE on the logit, summed over the batch (divide by the split's size)."""
    bce = nn.functional.binary_cross_entropy_with_logits(model(x), y, reduction="none")
    return (bce * w).sum()


def _evaluate(model: EventClassifier, data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
    x, y, w = data
    with torch.no_grad():
        model.eval()
        loss = _loss(model, torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(w).float())
    return float(loss) / len(x)


def _fit(
    model: EventClassifier,
    data: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    config: ClassifierConfig,
    seed: int,
) -> tuple[list[float], list[float], int]:
    """Adam with early stopping; leaves the best epoch's weights in ``model``."""
    x, y, w = (torch.from_numpy(a) for a in data["train"])
    w = w.float()
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    train_loss: list[float] = []
    val_loss: list[float] = []
    best = (math.inf, 0, {})
    for epoch in range(1, config.epochs + 1):
        model.train()
        total = 0.0
        for batch in torch.randperm(len(x), generator=generator).split(config.batch_size):
            optimiser.zero_grad()
            loss = _loss(model, x[batch], y[batch], w[batch])
            (loss / len(batch)).backward()
            optimiser.step()
            total += float(loss.detach())
        train_loss.append(total / len(x))
        val_loss.append(_evaluate(model, data["val"]))
        if val_loss[-1] < best[0]:
            best = (val_loss[-1], epoch, {k: v.clone() for k, v in model.state_dict().items()})
        if epoch - best[1] >= config.patience:
            break
    model.load_state_dict(best[2])
    model.eval()
    return train_loss, val_loss, best[1]


def train_event_classifier(
    signal: ak.Array,
    background: ak.Array,
    *,
    config: ClassifierConfig,
    seed: int,
    inputs_sha256: Mapping[str, str] | None = None,
) -> tuple[EventClassifier, ClassifierReport]:
    """Train the event classifier on dilepton-selected stop (label 1) and ttbar (label 0) events.

    Each class is split into train, validation and test events by ``config.fractions``
    (numpy Generator seeded with ``seed``); in each split the generator weights of each
    class are rescaled to the same total (half the split's events). The loss is the
    weighted binary cross-entropy on the logit; Adam; the weights of the epoch with the
    lowest validation loss are kept, and training stops after ``config.patience`` epochs
    without improvement. Initialisation and batch order follow ``seed``
    (``torch.manual_seed`` inside :func:`torch.random.fork_rng`, so the caller's global
    torch state is untouched): the same seed, data and thread count give the same weights
    bit for bit on CPU.

    Args:
        signal: canonical stop-pair events, every one with two leptons, with ``weight``.
        background: canonical dileptonic ttbar events, the same way.
        config: architecture and training settings.
        seed: seeds the split, the initialisation and the batch order.
        inputs_sha256: sha256 of the input files (name -> hex), recorded verbatim.

    Returns:
        (model in eval mode, report with the test-split metrics).

    Raises:
        InputValueError: events without two leptons, non-finite inputs or weights, a split
            without events of a class, or a class of non-positive total weight.
        FeatureError: a collection is missing.
    """
    recorded = dict(inputs_sha256 or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in recorded.items()):
        raise InputValueError(f"inputs_sha256 must map names to hex strings, got {recorded!r}")
    rng = np.random.default_rng(seed)
    data, counts = _datasets(signal, background, config.fractions, rng)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = EventClassifier(len(INPUT_NAMES), config.hidden)
        model.set_standardisation(data["train"][0])
        train_loss, val_loss, best_epoch = _fit(model, data, config, seed)
    x, y, w = data["test"]
    scores = _logits(model, x, 65536)
    sig, bkg = y == 1.0, y == 0.0
    args = (scores[sig], w[sig], scores[bkg], w[bkg])
    report = ClassifierReport(
        auc=weighted_auc(*args),
        working_points=tuple(working_point(*args, target) for target in BACKGROUND_EFFICIENCIES),
        train_loss=tuple(train_loss),
        val_loss=tuple(val_loss),
        best_epoch=best_epoch,
        n_events=counts,
        input_names=INPUT_NAMES,
        config=config,
        seed=int(seed),
        inputs_sha256=recorded,
    )
    return model, report


def evaluate_event_classifier(
    model: EventClassifier, signal: ak.Array, background: ak.Array
) -> dict[str, Any]:
    """ROC AUC and working points of a trained classifier on independent samples.

    The training run's own figures come from its test split; this gives them on events it
    never saw (another seed), e.g. a larger background sample for the efficiency at 1e-3.

    Args:
        model: the classifier.
        signal, background: dilepton events with ``weight`` (event cross-sections, as
            :func:`load_dilepton_events` gives).

    Returns:
        ``{"auc", "working_points": [WorkingPoint as dict], "n_signal", "n_background",
        "n_background_effective"}``.
    """
    from surrotag.reference.classifier_metrics import kish_effective

    s_scores, b_scores = classifier_scores(model, signal), classifier_scores(model, background)
    s_w = np.asarray(ak.to_numpy(signal.weight), dtype=np.float64)
    b_w = np.asarray(ak.to_numpy(background.weight), dtype=np.float64)
    args = (s_scores, s_w, b_scores, b_w)
    return strict_json(
        {
            "auc": weighted_auc(*args),
            "working_points": [asdict(working_point(*args, t)) for t in BACKGROUND_EFFICIENCIES],
            "n_signal": len(signal),
            "n_background": len(background),
            "n_background_effective": kish_effective(b_w),
        }
    )


def load_dilepton_events(paths: Sequence[str | Path]) -> tuple[ak.Array, dict[str, str]]:
    """The dilepton events of reference samples, weighted by their cross-sections.

    Each file's events with two leptons and a finite MET are kept; their weights become
    event cross-sections ``sigma_pb w / sum(w)`` (pb, the sum over all events of the file),
    so samples of different processes or sizes add up.

    Args:
        paths: surrotag reference samples (Parquet with ``electrons``, ``muons``, ``jets``,
            ``met``; ``particles`` too when present, for truth features).

    Returns:
        (events, sha256 of each file by name).

    Raises:
        InputFileError, FormatError: a missing or unreadable file.
        InputValueError: a file without a positive cross-section or sum of weights.
    """
    from surrotag.io.parquet import read_parquet, read_parquet_metadata, sha256_file

    chunks, digests = [], {}
    for path in map(Path, paths):
        meta = read_parquet_metadata(path)
        sigma, total = meta.get("sigma_pb"), meta.get("sum_weights")
        if not (isinstance(sigma, int | float) and sigma > 0 and isinstance(total, int | float)
                and total > 0):  # fmt: skip
            raise InputValueError(
                f"{path}: no positive sigma_pb and sum_weights in its provenance; pass a "
                "surrotag reference sample (surrotag reference generate)"
            )
        columns = ["weight", "electrons", "muons", "jets", "met", "particles"]
        events = read_parquet(path, columns=columns, events=True)
        keep = has_two_leptons(events) & np.isfinite(ak.to_numpy(events.met.met))
        events = events[keep]
        events = ak.with_field(events, events.weight * (float(sigma) / float(total)), "weight")
        chunks.append(events)
        digests[path.name] = sha256_file(path)
    if not chunks:
        raise InputValueError("no sample given")
    return ak.concatenate(chunks), digests


# --------------------------------------------------------------------------------- storage


def weights_bytes(model: EventClassifier) -> bytes:
    """The model's safetensors serialisation: what :func:`save_event_classifier` writes and
    whose sha256 it records."""
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})


def save_event_classifier(
    model: EventClassifier, report: ClassifierReport, folder: str | Path
) -> Path:
    """Write ``event_classifier.safetensors`` and ``event_classifier.json`` into ``folder``.

    Both files are written as one unit (:func:`surrotag.io.atomic.atomic_outputs`: temporary
    files, then ``os.replace``): a failure leaves the previous pair, if any.

    Returns:
        The folder.

    Raises:
        InputValueError: the model does not read the report's inputs.
        OutputError: the folder cannot be written.
    """
    from surrotag.reference.verified import write_verified_folder

    if model.n_inputs != len(report.input_names):
        raise InputValueError(
            f"the model reads {model.n_inputs} inputs, the report names {len(report.input_names)}"
        )
    document = {
        "kind": _KIND,
        "architecture": "EventClassifier",
        "n_inputs": model.n_inputs,
        "hidden": list(model.hidden),
        "inputs": list(report.input_names),
        "output": "logit of P(stop pair | dilepton event); label 1 = stop pair, 0 = ttbar",
        "config": asdict(report.config),
        "report": report.to_dict(),
        "torch": torch.__version__,
        "references": list(_REFERENCES),
    }
    return write_verified_folder(
        folder, CONFIG_NAME, WEIGHTS_NAME, strict_json(document), model.state_dict()
    )


def load_event_classifier(folder: str | Path) -> tuple[EventClassifier, dict[str, Any]]:
    """Load a classifier folder, checking the weights' sha256 against the JSON.

    The weights are read once, hashed and deserialised from the same bytes
    (``safetensors.torch.load``; never pickle).

    Returns:
        (model in eval mode, the ``event_classifier.json`` document).

    Raises:
        InputFileError: the folder lacks one of the two files.
        FormatError: the JSON is invalid, not an event classifier's, or does not match the
            weights' tensors.
        IntegrityError: the weights' sha256 differs from the recorded one.
    """
    from surrotag.reference.verified import load_verified_network

    def build(document: dict[str, Any], tensors: dict[str, Any]) -> EventClassifier:
        model = EventClassifier(int(document["n_inputs"]), document["hidden"])
        model.load_state_dict(tensors)
        return model

    return load_verified_network(
        folder, CONFIG_NAME, WEIGHTS_NAME, _KIND, "event classifier",
        "write one with save_event_classifier", ("n_inputs", "hidden", "inputs", "sha256"),
        build,
    )  # fmt: skip
