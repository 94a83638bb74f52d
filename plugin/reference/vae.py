"""The internal VAE anomaly taggers: VAE, mass-decorrelated DisCo-VAE and outlier-exposed
OE-VAE, trained on QCD jets.

After Cheng, Arguin, Leissner-Martin, Pilette and Golling, "Variational Autoencoders for
Anomalous Jet Tagging", arXiv:2007.01850 (their code: github.com/taolicheng/VAE-Jet,
``tf2``). Inputs are :func:`surrotag.reference.vae_inputs.vae_inputs`, scaled by
:class:`~surrotag.reference.vae_inputs.RobustScale`.

* **Model** (:class:`JetVAE`): dense encoder 80 -> 256 -> 128 -> 64 -> (mu, log sigma^2)
  of a ``latent``-dimensional Gaussian, decoder 10 -> 64 -> 128 -> 256 -> 80, ReLU.
* **Loss** per jet: the mean squared error of the inputs (latent sampled) plus ``beta``
  times the KL divergence from the unit Gaussian (summed over the latent dimensions).
* **DisCo** (``disco_weight`` > 0): plus that weight times the distance correlation of the
  per-jet loss with the jet mass over the batch (Kasieczka and Shih, arXiv:2001.05310),
  to decorrelate the score from the mass.
* **OE** (``oe_weight`` > 0): plus that weight times the latent margin loss of the paper's
  KL-OE, mean over jets and latent dimensions of ``relu(KL_qcd - KL_outlier + margin)``,
  each QCD jet paired with an outlier jet (drawn with replacement): outliers are pushed to
  a latent KL at least ``margin`` above QCD's.

Scores (:func:`vae_scores`, latent mean decoded, no sampling): ``mse`` (reconstruction),
``kl`` (latent) and ``loss`` (``mse + beta kl``). Larger is more anomalous.

A trained tagger is a folder of ``vae.safetensors`` (weights and the input scale, never
pickled) and ``vae.json`` (config, training report, sha256 of the weights).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch
from torch import nn

from surrotag.errors import InputValueError
from surrotag.reference.vae_inputs import RobustScale

__all__ = [
    "CONFIG_NAME",
    "SCORES",
    "WEIGHTS_NAME",
    "JetVAE",
    "VAEConfig",
    "distance_correlation",
    "load_vae",
    "save_vae",
    "train_vae",
    "vae_scores",
]

CONFIG_NAME: Final = "vae.json"
WEIGHTS_NAME: Final = "vae.safetensors"
#: The anomaly scores :func:`vae_scores` gives.
SCORES: Final = ("mse", "kl", "loss")
_KIND: Final = "surrotag-vae-anomaly-tagger"
_REFERENCES: Final = (
    "Cheng, Arguin, Leissner-Martin, Pilette, Golling, arXiv:2007.01850",
    "Kasieczka, Shih, arXiv:2001.05310 (DisCo)",
)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class JetVAE(nn.Module):
    """Dense VAE of the paper (encoder 256-128-64, decoder 64-128-256, ReLU)."""

    def __init__(self, n_inputs: int, latent: int = 10) -> None:
        super().__init__()
        self.n_inputs, self.latent = int(n_inputs), int(latent)
        self.encoder = nn.Sequential(_mlp([n_inputs, 256, 128, 64]), nn.ReLU())
        self.mean = nn.Linear(64, latent)
        self.log_var = nn.Linear(64, latent)
        self.decoder = _mlp([latent, 64, 128, 256, n_inputs])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent mean and log-variance, ``[B, latent]`` each."""
        h = self.encoder(x)
        return self.mean(h), self.log_var(h)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction (latent sampled when ``generator`` is given, else its mean), mean,
        log-variance."""
        mu, log_var = self.encode(x)
        z = mu
        if generator is not None:
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
            z = mu + torch.exp(0.5 * log_var) * eps
        return self.decoder(z), mu, log_var


def _kl(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per latent dimension, ``[B, latent]``."""
    return 0.5 * (mu**2 + torch.exp(log_var) - 1.0 - log_var)


def distance_correlation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sample distance correlation of two 1-D tensors (Szekely, Rizzo and Bakirov 2007),
    differentiable; 0 for independent, 1 for linearly related variables.

    Example:
        >>> x = torch.linspace(-1, 1, 101)
        >>> round(float(distance_correlation(x, 3 * x + 2)), 6)
        1.0
        >>> float(distance_correlation(x, x**2)) < 0.6
        True
    """

    def centred(v: torch.Tensor) -> torch.Tensor:
        d = (v[:, None] - v[None, :]).abs()
        return d - d.mean(0, keepdim=True) - d.mean(1, keepdim=True) + d.mean()

    a, b = centred(x.double()), centred(y.double())
    dcov2 = (a * b).mean()
    denominator = torch.sqrt((a * a).mean() * (b * b).mean())
    return (dcov2 / denominator.clamp_min(1e-300)).clamp_min(0.0).sqrt().to(x.dtype)


@dataclass(frozen=True)
class VAEConfig:
    """Training settings of one VAE variant.

    Attributes:
        latent: latent dimensions; beta: KL weight in the loss.
        disco_weight: weight of the mass distance correlation (0: none).
        oe_weight: weight of the outlier margin loss (0: none); oe_margin: its margin.
        epochs, batch_size, learning_rate: Adam training; the best epoch on the validation
            loss is kept.
        validation_fraction: share of the QCD jets held out for that choice.
        seed: initialisation, shuffling, latent sampling and outlier pairing.
    """

    latent: int = 10
    beta: float = 0.1
    disco_weight: float = 0.0
    oe_weight: float = 0.0
    oe_margin: float = 1.0
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 1e-3
    validation_fraction: float = 0.2
    seed: int = 0


@dataclass
class VAEReport:
    """What training measured: per-epoch losses, the epoch kept, time (s)."""

    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    n_train: int = 0
    n_validation: int = 0
    n_outliers: int = 0


def _batch_loss(
    model: JetVAE,
    x: torch.Tensor,
    mass: torch.Tensor,
    outliers: torch.Tensor | None,
    config: VAEConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    recon, mu, log_var = model(x, generator)
    kl = _kl(mu, log_var)
    per_jet = ((recon - x) ** 2).mean(1) + config.beta * kl.sum(1)
    loss = per_jet.mean()
    if config.disco_weight > 0:
        loss = loss + config.disco_weight * distance_correlation(per_jet, mass)
    if config.oe_weight > 0 and outliers is not None:
        mu_o, log_var_o = model.encode(outliers)
        margin = torch.relu(kl - _kl(mu_o, log_var_o) + config.oe_margin)
        loss = loss + config.oe_weight * margin.mean()
    return loss


def train_vae(
    inputs: np.ndarray,
    mass: np.ndarray,
    config: VAEConfig,
    outliers: np.ndarray | None = None,
    *,
    log: Any = None,
) -> tuple[JetVAE, RobustScale, VAEReport]:
    """Train one variant on QCD jets (and, for the OE-VAE, outlier jets).

    Args:
        inputs: QCD jets' :func:`~surrotag.reference.vae_inputs.vae_inputs`, ``[J, D]``.
        mass: their masses (GeV), ``[J]``, for the DisCo term.
        config: the variant.
        outliers: the outlier jets' inputs (needed when ``config.oe_weight > 0``).
        log: called with one line per epoch (e.g. ``print``), or None.

    Returns:
        (model in eval mode, the input scale fitted on the training jets, the report).

    Raises:
        InputValueError: mismatched or too few rows, or OE without outliers.
    """
    inputs = np.asarray(inputs, dtype=np.float32)
    mass = np.asarray(mass, dtype=np.float32)
    if inputs.ndim != 2 or len(inputs) != len(mass) or len(inputs) < 2 * config.batch_size:
        raise InputValueError(
            f"VAE training needs [J, D] inputs and J masses with J >= {2 * config.batch_size}, "
            f"got {inputs.shape} and {mass.shape}"
        )
    if config.oe_weight > 0 and (outliers is None or len(outliers) == 0):
        raise InputValueError("the OE-VAE needs outlier jets (oe_weight > 0)")
    if config.epochs < 1:
        raise InputValueError(f"VAE training needs epochs >= 1, got {config.epochs}")
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(inputs))
    n_val = round(config.validation_fraction * len(inputs))
    val, train = order[:n_val], order[n_val:]
    scale = RobustScale.fit(inputs[train])
    x_all = torch.from_numpy(scale(inputs))
    m_all = torch.from_numpy(mass)
    o_all = torch.from_numpy(scale(outliers)) if outliers is not None else None
    with torch.random.fork_rng(devices=[]):  # the initial weights; global RNG untouched
        torch.manual_seed(config.seed)
        model = JetVAE(inputs.shape[1], config.latent)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)
    report = VAEReport(n_train=len(train), n_validation=len(val))
    report.n_outliers = 0 if outliers is None else len(outliers)
    best, best_state = math.inf, None
    start = time.monotonic()

    def pairs(rows: np.ndarray, draw: np.random.Generator) -> torch.Tensor | None:
        """An outlier jet for each row (with replacement), when the variant has OE."""
        if o_all is None or config.oe_weight <= 0:
            return None
        return o_all[torch.from_numpy(draw.integers(0, len(o_all), len(rows)))]

    for epoch in range(config.epochs):
        model.train()
        shuffled = rng.permutation(train)
        total, batches = 0.0, 0
        for lo in range(0, len(shuffled) - config.batch_size + 1, config.batch_size):
            rows = shuffled[lo : lo + config.batch_size]
            loss = _batch_loss(model, x_all[rows], m_all[rows], pairs(rows, rng), config, generator)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total, batches = total + loss.item(), batches + 1
        model.eval()
        with torch.no_grad():
            fixed = torch.Generator().manual_seed(config.seed + 1)
            pair_rng = np.random.default_rng(config.seed + 1)
            val_total, val_batches = 0.0, 0
            for lo in range(0, len(val) - config.batch_size + 1, config.batch_size):
                rows = val[lo : lo + config.batch_size]
                paired = pairs(rows, pair_rng)
                val_loss = _batch_loss(model, x_all[rows], m_all[rows], paired, config, fixed)
                val_total, val_batches = val_total + float(val_loss), val_batches + 1
        report.train_loss.append(total / max(batches, 1))
        report.validation_loss.append(val_total / max(val_batches, 1))
        if report.validation_loss[-1] < best:
            best, report.best_epoch = report.validation_loss[-1], epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if log is not None:
            log(
                f"  epoch {epoch + 1}/{config.epochs}: train {report.train_loss[-1]:.4f}, "
                f"validation {report.validation_loss[-1]:.4f}"
            )
    assert best_state is not None
    model.load_state_dict(best_state)
    report.seconds = time.monotonic() - start
    return model.eval(), scale, report


def vae_scores(
    model: JetVAE, scale: RobustScale, inputs: np.ndarray, beta: float, batch_size: int = 8192
) -> dict[str, np.ndarray]:
    """Anomaly scores of jets: ``mse``, ``kl`` and ``loss`` (``mse + beta kl``), float64.

    The latent mean is decoded (no sampling), so a jet's scores are deterministic.
    """
    x = torch.from_numpy(scale(inputs))
    out: dict[str, list[np.ndarray]] = {name: [] for name in SCORES}
    with torch.no_grad():
        for lo in range(0, len(x), batch_size):
            batch = x[lo : lo + batch_size]
            recon, mu, log_var = model(batch)
            mse = ((recon - batch) ** 2).mean(1).double()
            kl = _kl(mu, log_var).sum(1).double()
            out["mse"].append(mse.numpy())
            out["kl"].append(kl.numpy())
            out["loss"].append((mse + beta * kl).numpy())
    return {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in out.items()}


def save_vae(
    model: JetVAE,
    scale: RobustScale,
    config: VAEConfig,
    report: VAEReport,
    folder: str | Path,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``vae.safetensors`` and ``vae.json`` into ``folder`` as one unit.

    Args:
        extra: further JSON fields (e.g. the sha256 of the training samples).

    Returns:
        The folder.
    """
    from surrotag.reference.verified import write_verified_folder

    tensors = dict(model.state_dict())
    tensors["scale.center"] = torch.from_numpy(np.ascontiguousarray(scale.center))
    tensors["scale.scale"] = torch.from_numpy(np.ascontiguousarray(scale.scale))
    document = {
        "kind": _KIND,
        "n_inputs": model.n_inputs,
        "latent": model.latent,
        "config": asdict(config),
        "report": asdict(report),
        "scores": list(SCORES),
        "torch": torch.__version__,
        "references": list(_REFERENCES),
        **(extra or {}),
    }
    return write_verified_folder(folder, CONFIG_NAME, WEIGHTS_NAME, document, tensors)


def load_vae(folder: str | Path) -> tuple[JetVAE, RobustScale, dict[str, Any]]:
    """Load a VAE folder, checking the weights' sha256 against ``vae.json`` (never pickle).

    Returns:
        (model in eval mode, input scale, the ``vae.json`` document).

    Raises:
        InputFileError: a file is missing. IntegrityError: the sha256 differs.
        FormatError: the document or tensors do not describe a VAE tagger.
    """
    from surrotag.reference.verified import load_verified_network

    scale: list[RobustScale] = []

    def build(document: dict[str, Any], tensors: dict[str, Any]) -> JetVAE:
        center, spread = tensors.pop("scale.center"), tensors.pop("scale.scale")
        scale.append(RobustScale(center=center.numpy(), scale=spread.numpy()))
        model = JetVAE(int(document["n_inputs"]), int(document["latent"]))
        model.load_state_dict(tensors)
        return model

    model, document = load_verified_network(
        folder, CONFIG_NAME, WEIGHTS_NAME, _KIND, "VAE anomaly tagger",
        "train one with surrotag.reference.anomaly", ("n_inputs", "latent", "sha256"), build,
    )  # fmt: skip
    return model, scale[0], document
