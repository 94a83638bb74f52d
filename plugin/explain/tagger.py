"""Explain the internal PFN tagger: artificial jets by gradient ascent, mutual information
of hidden units with physics variables, and neural activation patterns.

* :func:`ascend_jets` starts from real (QCD) jets and moves their constituents to raise the
  tagger's logit. The
  constituents stay physical: each is a massless four-vector with ``eta = eta_0 + deta``,
  ``phi = phi_0 + dphi`` around the seed jet axis ``(eta_0, phi_0)`` and
  ``pt = pT_sum * softmax(a)`` (the scalar pT sum of the seed is kept); ``(deta, dphi)`` is
  projected into the jet cone ``Delta R <= R`` after every Adam step. The eight network
  inputs are recomputed differentiably from the four-vectors (:func:`network_inputs`,
  the same definitions as :func:`surrotag.reference.inputs.constituent_inputs`, with the jet
  axis, pT and energy of the constituent sum), so the ascended jets' mass and tau32 are
  those of their own constituents.
* :func:`hidden_activations` gives every hidden layer's ReLU outputs per jet (the
  per-constituent layers Phi summed over the jet's constituents, as the PFN pools them).
* :func:`mutual_information` estimates MI between each unit and physics variables
  (Kraskov k-NN estimator of scikit-learn; arXiv:1804.09278 uses MI of single neurons).
* :func:`activation_patterns` gives neural activation pattern diagrams (arXiv:2210.04371):
  per layer, the mean activation of every node for top and for QCD jets, normalised by the
  layer's largest mean, and the dead nodes (never active) that a simplified network drops.

References:
    Komiske, Metodiev, Thaler, arXiv:1810.05165 (PFN); Roxlo, Reece,
    arXiv:1804.09278 (mutual information of single neurons with physical variables);
    Khot, Neubauer, Roy, arXiv:2210.04371; Kraskov, Stoegbauer,
    Grassberger, Phys. Rev. E 69 (2004) 066138 (k-NN mutual information).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from surrotag.errors import InputValueError, MissingDependencyError

__all__ = [
    "AscendedJets",
    "Constituents",
    "activation_patterns",
    "ascend_jets",
    "constituents_of",
    "hidden_activations",
    "jet_observables",
    "mutual_information",
    "network_inputs",
]


@dataclass(frozen=True)
class Constituents:
    """Padded massless constituents of J jets, n slots each.

    Attributes:
        pt: ``[J, n]`` transverse momenta (GeV), 0 in padded slots.
        eta, phi: ``[J, n]`` pseudorapidity and azimuth (rad).
        charge: ``[J, n]`` electric charge (e).
        mask: ``[J, n]`` bool, True for real constituents.
    """

    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    charge: np.ndarray
    mask: np.ndarray

    def momenta(self) -> ak.Array:
        """Jagged jets x var * {px, py, pz, E} (GeV) of the real constituents."""
        counts = self.mask.sum(1)
        pt, eta, phi = (a[self.mask] for a in (self.pt, self.eta, self.phi))
        flat = {
            "px": pt * np.cos(phi),
            "py": pt * np.sin(phi),
            "pz": pt * np.sinh(eta),
            "E": pt * np.cosh(eta),
        }
        return ak.unflatten(ak.zip(flat), counts)


def constituents_of(jets: ak.Array, n_max: int = 100) -> Constituents:
    """The ``n_max`` hardest constituents of flat fat jets (reference samples), padded.

    Args:
        jets: flat fat jets with ``constituents`` (px, py, pz, E in GeV, charge).
        n_max: slots per jet (the tagger's ``n_constituents``).
    """
    c = jets.constituents
    px, py, pz = (ak.values_astype(c[f], np.float64) for f in ("px", "py", "pz"))
    pt = np.hypot(px, py)
    order = ak.argsort(pt, axis=1, ascending=False)
    columns = {
        "pt": pt,
        "eta": np.arcsinh(pz / np.maximum(pt, 1e-8)),
        "phi": np.arctan2(py, px),
        "charge": ak.values_astype(c.charge, np.float64),
    }
    padded = {
        k: ak.to_numpy(
            ak.fill_none(ak.pad_none(v[order][:, :n_max], n_max, axis=1, clip=True), 0.0)
        )
        for k, v in columns.items()
    }
    counts = np.minimum(ak.to_numpy(ak.num(c, axis=1)), n_max)
    mask = np.arange(n_max)[None, :] < counts[:, None]
    return Constituents(mask=mask, **{k: np.asarray(v, np.float64) for k, v in padded.items()})


def network_inputs(pt: Any, eta: Any, phi: Any, charge: Any, mask: Any) -> Any:
    """The tagger's eight inputs per constituent, differentiable (torch), ``[J, n, 8]``.

    Same definitions as :func:`surrotag.reference.inputs.constituent_inputs` (deta, dphi,
    log pt, log E, log pt/pt_jet, log E/E_jet, Delta R, charge) for massless constituents;
    the jet is the four-vector sum of the real constituents. Padded slots are zero.
    """
    import torch

    m = mask.to(pt.dtype)
    px, py = pt * torch.cos(phi) * m, pt * torch.sin(phi) * m
    pz, energy = pt * torch.sinh(eta) * m, pt * torch.cosh(eta) * m
    jpx, jpy, jpz, je = (v.sum(1, keepdim=True) for v in (px, py, pz, energy))
    jpt = torch.sqrt(jpx**2 + jpy**2)
    jeta, jphi = torch.asinh(jpz / jpt), torch.atan2(jpy, jpx)
    deta = eta - jeta
    dphi = torch.remainder(phi - jphi + torch.pi, 2 * torch.pi) - torch.pi
    log_pt = torch.log(torch.clamp(pt, min=1e-8))
    log_e = torch.log(torch.clamp(pt * torch.cosh(eta), min=1e-8))
    dr = torch.sqrt(deta**2 + dphi**2 + 1e-12)
    x = torch.stack(
        [deta, dphi, log_pt, log_e, log_pt - torch.log(jpt), log_e - torch.log(je), dr, charge],
        dim=-1,
    )
    return x * m.unsqueeze(-1)


@dataclass(frozen=True)
class AscendedJets:
    """Seed jets and the artificial jets gradient ascent made of them.

    Attributes:
        seeds, final: :class:`Constituents` before and after.
        logit_start, logit_final: ``[J]`` tagger logits.
        history: ``[steps + 1]`` mean logit after each step.
    """

    seeds: Constituents
    final: Constituents
    logit_start: np.ndarray
    logit_final: np.ndarray
    history: np.ndarray


def ascend_jets(
    model: Any,
    seeds: Constituents,
    *,
    steps: int = 150,
    learning_rate: float = 0.02,
    radius: float = 0.8,
) -> AscendedJets:
    """Gradient ascent of the tagger logit on the constituents of seed jets.

    Args:
        model: a :class:`~surrotag.reference.pfn.ParticleFlowNetwork` (``Tagger.model``).
        seeds: the seed jets' constituents (:func:`constituents_of`).
        steps: Adam steps (all jets at once).
        learning_rate: Adam step size (rad for deta/dphi, units of log pt for the shares).
        radius: jet radius R: constituents stay within Delta R <= R of the seed axis.

    Returns:
        :class:`AscendedJets`.
    """
    import torch

    if seeds.mask.shape[0] == 0 or not seeds.mask.any(1).all():
        raise InputValueError("ascent seeds: need at least one jet, each with a constituent")
    model = model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    dtype = torch.float64
    mask = torch.as_tensor(seeds.mask)
    pt0, eta0, phi0 = (torch.as_tensor(a, dtype=dtype) for a in (seeds.pt, seeds.eta, seeds.phi))
    charge = torch.as_tensor(seeds.charge, dtype=dtype)
    m = mask.to(dtype)
    px, py, pz = (
        (pt0 * f * m).sum(1) for f in (torch.cos(phi0), torch.sin(phi0), torch.sinh(eta0))
    )
    axis_eta = torch.asinh(pz / torch.sqrt(px**2 + py**2)).unsqueeze(1)
    axis_phi = torch.atan2(py, px).unsqueeze(1)
    pt_sum = (pt0 * m).sum(1, keepdim=True)
    deta = (eta0 - axis_eta).clone().requires_grad_(True)
    dphi = (torch.remainder(phi0 - axis_phi + torch.pi, 2 * torch.pi) - torch.pi).clone()
    dphi.requires_grad_(True)
    share = torch.log(torch.clamp(pt0, min=1e-8)).clone().requires_grad_(True)
    optimiser = torch.optim.Adam([deta, dphi, share], lr=learning_rate)

    def build() -> tuple[Any, Any, Any]:
        weights = torch.softmax(share.masked_fill(~mask, -torch.inf), dim=1)
        return pt_sum * weights, axis_eta + deta, axis_phi + dphi

    def logits() -> Any:
        pt, eta, phi = build()
        x = network_inputs(pt, eta, phi, charge, mask).float()
        return model(x, mask)

    with torch.no_grad():
        start = logits().double().numpy()
    history = [float(start.mean())]
    for _ in range(steps):
        optimiser.zero_grad()
        out = logits()
        (-out.sum()).backward()
        optimiser.step()
        with torch.no_grad():  # project into the cone
            r = torch.sqrt(deta**2 + dphi**2)
            factor = torch.clamp(radius / torch.clamp(r, min=1e-12), max=1.0)
            deta.mul_(factor)
            dphi.mul_(factor)
        history.append(float(out.detach().mean()))
    with torch.no_grad():
        final_logit = logits().double().numpy()
        pt, eta, phi = (v.detach().numpy() for v in build())
    history[-1] = float(final_logit.mean())
    final = Constituents(
        pt=np.where(seeds.mask, pt, 0.0),
        eta=np.where(seeds.mask, eta, 0.0),
        phi=np.where(seeds.mask, phi, 0.0),
        charge=seeds.charge,
        mask=seeds.mask,
    )
    return AscendedJets(seeds, final, start, final_logit, np.asarray(history))


def jet_observables(jets: Constituents, *, radius: float = 0.8) -> dict[str, np.ndarray]:
    """Mass (GeV), pT (GeV) and tau32 of jets from their own constituents.

    tau_N uses exclusive-kT axes and the normalised measure (beta = 1, R0 = ``radius``),
    :func:`surrotag.jets.nsubjettiness.nsubjettiness`; this needs fastjet.

    Returns:
        ``mass``, ``pt``, ``tau32`` (NaN where tau2 = 0) arrays ``[J]``.
    """
    m = jets.mask
    pt = np.where(m, jets.pt, 0.0)
    px, py = (pt * np.cos(jets.phi)).sum(1), (pt * np.sin(jets.phi)).sum(1)
    pz, energy = (pt * np.sinh(jets.eta)).sum(1), (pt * np.cosh(jets.eta)).sum(1)
    mass = np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))
    try:
        from surrotag.jets.clustering import kt_axes
        from surrotag.jets.nsubjettiness import nsubjettiness
    except ImportError as error:  # pragma: no cover - fastjet is in the reference extra
        raise MissingDependencyError(
            f"tau32 of artificial jets needs fastjet ({error}); pip install fastjet"
        ) from None
    momenta = jets.momenta()
    axes = kt_axes(momenta, n_max=3)
    tau2 = nsubjettiness(momenta, axes[1], r0=radius)
    tau3 = nsubjettiness(momenta, axes[2], r0=radius)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau32 = np.where(tau2 > 0, tau3 / tau2, np.nan)
    return {"mass": mass, "pt": np.hypot(px, py), "tau32": tau32}


def hidden_activations(model: Any, inputs: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """ReLU outputs of every hidden layer per jet, and the logit.

    Args:
        model: a :class:`~surrotag.reference.pfn.ParticleFlowNetwork`.
        inputs: ``[J, n, 8]`` constituent inputs; mask: ``[J, n]`` bool.

    Returns:
        ``{"Phi1": [J, u], ..., "Phi<L>" (the pooled latent), "F1": ..., "logit": [J]}``;
        the Phi layers act per constituent and are summed over each jet's constituents
        (the PFN's pooling), so ``Phi<L>`` is the F network's input.
    """
    import torch

    x, mk = torch.as_tensor(inputs), torch.as_tensor(mask)
    rows = torch.nonzero(mk, as_tuple=True)[0]
    out: dict[str, np.ndarray] = {}
    with torch.no_grad():
        h = (x[mk] - model.mean) / model.std
        n = 0
        for layer in model.phi:
            h = layer(h)
            if isinstance(layer, torch.nn.ReLU):
                n += 1
                pooled = torch.zeros(x.shape[0], h.shape[1], dtype=h.dtype).index_add(0, rows, h)
                out[f"Phi{n}"] = pooled.numpy()
        z = torch.as_tensor(out[f"Phi{n}"])
        n = 0
        for layer in model.f:
            z = layer(z)
            if isinstance(layer, torch.nn.ReLU):
                n += 1
                out[f"F{n}"] = z.numpy()
        out["logit"] = z[:, 0].numpy()
    return out


def mutual_information(
    activations: np.ndarray,
    variables: Mapping[str, np.ndarray],
    *,
    discrete: frozenset[str] | set[str] = frozenset(),
    n_neighbors: int = 3,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Mutual information (nats) between each unit and each physics variable.

    Args:
        activations: ``[J, U]`` unit activations.
        variables: name -> ``[J]`` values (rows with NaN are left out per variable).
        discrete: names of discrete variables (e.g. the number of contained top decay
            products, 0..3): estimated with ``mutual_info_classif``.
        n_neighbors: k of the k-NN estimator.
        seed: random state of the estimator's jitter.

    Returns:
        name -> ``[U]`` MI estimates (constant units get 0).
    """
    from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

    a = np.asarray(activations, dtype=np.float64)
    out = {}
    for name, values in variables.items():  # a few variables, not a hot path
        v = np.asarray(values, dtype=np.float64)
        ok = np.isfinite(v)
        if ok.sum() <= n_neighbors + 1:
            out[name] = np.zeros(a.shape[1])
            continue
        estimator = mutual_info_classif if name in discrete else mutual_info_regression
        target = v[ok].astype(np.int64) if name in discrete else v[ok]
        mi = np.zeros(a.shape[1])
        live = a[ok].std(0) > 0
        if live.any():
            mi[live] = estimator(a[ok][:, live], target, n_neighbors=n_neighbors, random_state=seed)
        out[name] = mi
    return out


def activation_patterns(
    activations: Mapping[str, np.ndarray], is_top: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Neural activation pattern per layer for top and QCD jets (arXiv:2210.04371).

    Returns:
        layer -> ``{"top": [U], "qcd": [U]}`` class-mean activations divided by the layer's
        largest class mean, ``"dead"`` (bool [U], never active on any jet) and
        ``"dead_fraction"``.
    """
    is_top = np.asarray(is_top, bool)
    patterns = {}
    for layer, a in activations.items():
        if a.ndim != 2:
            continue
        top, qcd = a[is_top].mean(0), a[~is_top].mean(0)
        norm = max(float(np.max(np.maximum(top, qcd), initial=0.0)), 1e-12)
        dead = ~(a > 0).any(0)
        patterns[layer] = {
            "top": top / norm,
            "qcd": qcd / norm,
            "dead": dead,
            "dead_fraction": float(dead.mean()),
        }
    return patterns
