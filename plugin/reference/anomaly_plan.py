"""The pre-registered samples and settings of the internal anomaly taggers' study.

The internal anomaly taggers of the reference experiment (VAE, mass-decorrelated DisCo-VAE
and outlier-exposed OE-VAE after Cheng, Arguin, Leissner-Martin, Pilette and Golling,
arXiv:2007.01850; the Lorentz-group autoencoder after Hao, Kansal, Duarte and
Chernyavskaya, arXiv:2212.07347) are trained on QCD jets only and measured on jets of
signals they never saw. This module fixes, before any of its samples exists, what the study
generates and measures (:data:`ANOMALY_PLAN`): samples, seeds, the jet window and the
working point. Changing it is a new plan with fresh seeds, never a rerun of this one.

Choices, after the paper's code (github.com/taolicheng/VAE-Jet, ``tf2``): the 20 hardest
constituents' (E, px, py, pz) of a fat jet, jets of pT 550-650 GeV widened to 500-800 GeV
here (inputs divided by the jet pT, the paper's ``pt_scaling`` option) so the QCD sample
of 100k events gives tens of thousands of jets; latent dimension 10, KL weight beta = 0.1;
DisCo weight 100 on the distance correlation of the per-jet loss with the jet mass; the
OE-VAE's outliers are W jets (the paper's choice), with the latent (KL) margin loss, margin
1, weight 2. They come from Standard-Model t tbar (jets containing both quarks of a W but
not the whole top), so that no signal model of the anomaly-tagged search (W' -> W Z,
Y -> X X') takes part in training any tagger. Amended before the study ran: the first
version took them from a W' -> W Z sample (seed 8021, generated, never used).

The OE-VAE here is the DisCo-VAE plus that margin loss: the paper's claim is that outlier
exposure restores the detection power the mass decorrelation costs, so both carry the same
DisCo term.

Scores (fixed with the plan): every model is measured on its reconstruction score (the
mean squared error of the 80 scaled inputs, latent mean decoded) and its latent score (the
KL divergence of the encoder's posterior from the prior); the headline score of the VAE
and the DisCo-VAE is the per-jet training loss (MSE + beta KL, the quantity DisCo
decorrelates), that of the OE-VAE the latent score its margin loss acts on. QCD enters
every figure with its generator (pTHat-bias) weights; training is unweighted.

The Lorentz-group autoencoder (:mod:`surrotag.reference.lgae`) is trained on the same QCD
jets (the 30 hardest constituents' lab-frame four-momenta, 20 output slots, no validation
split: its fixed number of epochs is the plan) and measured the same way on its invariant
reconstruction score.
"""

from __future__ import annotations

from typing import Final

from surrotag.reference.publish import Sample

__all__ = ["ANOMALY_PLAN"]

#: Samples and settings of the anomaly-tagger study, fixed before generation (session 14).
ANOMALY_PLAN: Final = {
    "samples": {
        "qcd_train": Sample("qcd_train", "qcd-dijet", 100_000, 8001),
        "qcd_test": Sample("qcd_test", "qcd-dijet", 40_000, 8002),
        "top": Sample("top", "zprime-ttbar", 10_000, 8011, 1300.0),
        "wz": Sample("wz", "wprime-wz", 10_000, 8012, 1300.0),
        "outliers": Sample("outliers", "ttbar-allhad", 8_000, 8022),
    },
    "jobs": 2,
    "jet_pt_gev": (500.0, 800.0),
    "jet_abs_eta": 2.0,
    "leading_jets": 2,
    "constituents": 20,
    "containment_radius": 0.8,
    "latent": 10,
    "beta": 0.1,
    "disco_weight": 100.0,
    "oe_weight": 2.0,
    "oe_margin": 1.0,
    "epochs": 40,
    "batch_size": 256,
    "learning_rate": 1e-3,
    "validation_fraction": 0.2,
    "training_seed": 8101,
    "headline_score": {"vae": "loss", "disco": "loss", "oe": "kl", "lgae": "lgae"},
    "lgae": {
        "constituents": 30,
        "slots": 20,
        "epochs": 10,
        "batch_size": 256,
        "learning_rate": 1e-3,
        "seed": 8102,
    },
    "qcd_efficiency": 0.1,
    "mass_bins_gev": (0.0, 300.0, 30),
}
