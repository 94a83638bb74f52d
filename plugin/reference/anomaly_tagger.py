"""An internal anomaly tagger seen as a jet tagger: one log anomaly score per fat jet.

The reference experiment's jet-tagger interface (:class:`surrotag.reference.tagger.Tagger`:
``sha256``, ``config`` and ``logits(jets)``) is what its scoring, official yields and
training tables use (:mod:`surrotag.reference.score`, :mod:`surrotag.reference.official`).
:class:`AnomalyTagger` gives the stored anomaly taggers of :mod:`surrotag.reference.anomaly`
the same interface, so that an anomaly-tagged search is built and checked by the same code
as a top-tagged one:

* the VAE family (:mod:`surrotag.reference.vae`, after arXiv:2007.01850): the headline
  score of its variant in :data:`~surrotag.reference.anomaly_plan.ANOMALY_PLAN` (the
  OE-VAE's KL divergence of the encoder's posterior from the prior; the per-jet loss of
  the VAE and the DisCo-VAE) of the 20 hardest constituents;
* the Lorentz-group autoencoder (:mod:`surrotag.reference.lgae`, arXiv:2212.07347): its
  invariant reconstruction score of the 30 hardest constituents.

The "logit" is the natural logarithm of the (positive) score, floored at
:data:`SCORE_FLOOR`: a monotone map, so that a cut on it is a cut on the score, onto the
whole real line where the surrogate's flow lives. A tagger's identity is the sha256 of its
weights, checked when its folder is read (:mod:`surrotag.reference.verified`).

Example:
    >>> tagger = load_anomaly_tagger("reference/anomaly/oe")  # doctest: +SKIP
    >>> tagger.logits(flat_fatjets(events))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import awkward as ak
import numpy as np

from surrotag.errors import InputFileError

__all__ = ["SCORE_FLOOR", "AnomalyTagger", "is_anomaly_tagger", "load_anomaly_tagger"]

#: Smallest score whose logarithm is taken (scores below are set to it).
SCORE_FLOOR: Final = 1e-12
_VAE_CONFIG: Final = "vae.json"
_LGAE_CONFIG: Final = "lgae.json"


@dataclass(frozen=True)
class AnomalyTagger:
    """A loaded anomaly tagger with the jet-tagger interface.

    Attributes:
        family: ``"vae"`` (VAE, DisCo-VAE, OE-VAE) or ``"lgae"``.
        score: the score it gives (``kl``, ``loss``, ``mse`` or ``lgae``).
        model: the network in eval mode.
        scale: the VAE's input scale (None for the LGAE).
        constituents: hardest constituents per jet that it reads.
        beta: the VAE's KL weight (enters its ``loss`` score).
        sha256: sha256 of its weights.
        config: its stored document (``architecture`` names the family and score).
    """

    family: str
    score: str
    model: Any
    scale: Any
    constituents: int
    beta: float
    sha256: str
    config: dict[str, Any]

    def scores(self, jets: ak.Array) -> np.ndarray:
        """The anomaly score of every jet (float64, >= 0; NaN where the LGAE cannot score a
        jet: its constituents have no invariant mass, e.g. a single constituent).

        Args:
            jets: flat fat jets with ``constituents`` (``surrotag.reference.inputs.flat_fatjets``).
        """
        if len(jets) == 0:
            return np.zeros(0)
        if self.family == "lgae":
            import torch

            from surrotag.reference.anomaly import four_momenta, lgae_scores
            from surrotag.reference.lgae import minkowski_dot

            p4, mask = four_momenta(jets, self.constituents)
            jet = torch.where(mask[..., None], p4.double(), 0.0).sum(1)
            massive = (minkowski_dot(jet, jet) > 0).numpy()
            out = np.full(len(jets), np.nan)
            if massive.any():
                out[massive] = lgae_scores(self.model, p4[massive], mask[massive])
            return out
        from surrotag.reference.vae import vae_scores
        from surrotag.reference.vae_inputs import vae_inputs

        inputs = vae_inputs(jets, self.constituents)
        return vae_scores(self.model, self.scale, inputs, self.beta)[self.score]

    def logits(self, jets: ak.Array) -> np.ndarray:
        """``log(max(score, SCORE_FLOOR))`` of every jet, float32 (the table's logit; NaN
        stays NaN: such a jet is never tagged, and leaves the surrogate's table)."""
        return np.log(np.maximum(self.scores(jets), SCORE_FLOOR)).astype(np.float32)


def is_anomaly_tagger(folder: str | Path) -> bool:
    """Whether ``folder`` holds a stored VAE or LGAE (rather than a PFN top tagger)."""
    folder = Path(folder)
    return (folder / _VAE_CONFIG).exists() or (folder / _LGAE_CONFIG).exists()


def load_anomaly_tagger(folder: str | Path, score: str | None = None) -> AnomalyTagger:
    """Load a stored anomaly tagger, its weights checked against their sha256.

    Args:
        folder: a folder written by :func:`surrotag.reference.vae.save_vae` or
            :func:`surrotag.reference.lgae.save_lgae`.
        score: the VAE score to give (default: the plan's headline score of the variant,
            named by the folder: ``oe`` -> ``kl``, ``vae`` and ``disco`` -> ``loss``).

    Raises:
        InputFileError: neither tagger is in the folder. IntegrityError, FormatError: as
            :func:`surrotag.reference.verified.load_verified_network`.
    """
    from surrotag.reference.anomaly_plan import ANOMALY_PLAN

    folder = Path(folder)
    if (folder / _LGAE_CONFIG).exists():
        from surrotag.reference.lgae import load_lgae

        model, document = load_lgae(folder)
        settings = document.get("settings", ANOMALY_PLAN["lgae"])
        return AnomalyTagger(
            "lgae", "lgae", model, None, int(settings["constituents"]), 0.0,
            document["sha256"], {**document, "architecture": "lgae"},
        )  # fmt: skip
    if not (folder / _VAE_CONFIG).exists():
        raise InputFileError(
            f"{folder}: no anomaly tagger ({_VAE_CONFIG} or {_LGAE_CONFIG}); train them with "
            "surrotag reference anomaly-study"
        )
    from surrotag.reference.vae import load_vae

    model, scale, document = load_vae(folder)
    headline = ANOMALY_PLAN["headline_score"].get(folder.name, "loss")
    chosen = score or headline
    config = document["config"]
    return AnomalyTagger(
        "vae", chosen, model, scale, int(document["n_inputs"]) // 4, float(config["beta"]),
        document["sha256"], {**document, "architecture": f"vae-{folder.name}-{chosen}"},
    )  # fmt: skip
