"""Inputs of the internal VAE anomaly taggers: the hardest constituents' four-momenta, in the
jet's own frame, scaled.

After the preprocessing of Cheng, Arguin, Leissner-Martin, Pilette and Golling
(arXiv:2007.01850; their code, github.com/taolicheng/VAE-Jet, ``preprocessing.py``), for
each fat jet, vectorised over jets (no Python loop over jets):

1. rotate about the beam axis so that the jet has phi = 0;
2. boost along the beam axis so that the jet has rapidity 0;
3. rotate about the jet axis (now x) so that the energy-weighted principal direction of the
   constituents in the (phi, eta) plane, weights E_i / R_i, lies along +phi;
4. keep the ``n`` constituents of highest pT (zero-padded), as (E, px, py, pz) in GeV,
   divided by the jet pT (the paper's ``pt_scaling`` option: one tagger over a pT range).

:class:`RobustScale` then centres each of the ``4 n`` inputs on its QCD median and divides
by its interquartile range (scikit-learn's ``RobustScaler``, which the paper uses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import awkward as ak
import numpy as np

from surrotag.errors import FeatureError

__all__ = ["N_VAE_CONSTITUENTS", "RobustScale", "hardest_constituents", "vae_inputs"]

#: Constituents per jet the VAE reads (the paper's 20, i.e. 80 inputs).
N_VAE_CONSTITUENTS: Final = 20


def hardest_constituents(constituents: ak.Array, n: int) -> dict[str, np.ndarray]:
    """(E, px, py, pz) in GeV of the n hardest (in pT) constituents per jet, ``[J, n]``
    float64 each, zero-padded; also ``count``, the real ones per jet (at most n)."""
    order = ak.argsort(np.hypot(constituents.px, constituents.py), axis=1, ascending=False)
    hardest = constituents[order][:, :n]
    padded = {
        name: ak.to_numpy(
            ak.fill_none(ak.pad_none(hardest[name], n, axis=1, clip=True), 0.0)
        ).astype(np.float64)
        for name in ("E", "px", "py", "pz")
    }
    return padded | {"count": ak.to_numpy(ak.num(hardest, axis=1))}


def vae_inputs(jets: ak.Array, n: int = N_VAE_CONSTITUENTS) -> np.ndarray:
    """The VAE inputs of every jet: ``[J, 4 n]`` float32, constituents (E, px, py, pz) / pT.

    Args:
        jets: a flat array of fat jets with ``pt``, ``eta``, ``phi``, ``mass`` (GeV, rad)
            and ``constituents`` (``px``, ``py``, ``pz``, ``E`` in GeV).
        n: constituents kept per jet.

    Returns:
        ``[J, 4 n]``: for constituent k the columns 4k..4k+3 are E, px, py, pz in the jet
        frame (module docstring), divided by the jet pT.

    Raises:
        FeatureError: the jets lack a field.

    Example:
        >>> jet = ak.Array([{"pt": 100.0, "eta": 0.0, "phi": 0.5, "mass": 0.0,
        ...     "constituents": [{"px": 100 * np.cos(0.5), "py": 100 * np.sin(0.5),
        ...                       "pz": 0.0, "E": 100.0}]}])
        >>> np.round(vae_inputs(jet, n=2), 6).tolist()
        [[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]
    """
    missing = [f for f in ("pt", "eta", "phi", "mass", "constituents") if f not in jets.fields]
    if missing:
        raise FeatureError(
            f"fat jets lack {', '.join(missing)}; the VAE taggers read reference samples "
            "(surrotag reference generate)"
        )
    pt, eta, phi, mass = (
        ak.to_numpy(jets[f]).astype(np.float64) for f in ("pt", "eta", "phi", "mass")
    )
    parts = hardest_constituents(jets.constituents, n)
    energy, px, py, pz = parts["E"], parts["px"], parts["py"], parts["pz"]
    real = energy > 0.0
    # 1. the jet at phi = 0
    cos, sin = np.cos(phi)[:, None], np.sin(phi)[:, None]
    px, py = px * cos + py * sin, -px * sin + py * cos
    # 2. the jet at rapidity 0: boost along z with the jet's beta_z = tanh(y)
    jet_e = np.sqrt(pt**2 * np.cosh(eta) ** 2 + mass**2)
    rapidity = np.arctanh(np.clip(pt * np.sinh(eta) / jet_e, -1 + 1e-15, 1 - 1e-15))
    gamma, gamma_beta = np.cosh(rapidity)[:, None], np.sinh(rapidity)[:, None]
    energy, pz = gamma * energy - gamma_beta * pz, gamma * pz - gamma_beta * energy
    # 3. the principal direction in (phi, eta) along +phi
    c_pt = np.hypot(px, py)
    c_phi = np.arctan2(py, px)
    c_eta = np.arcsinh(np.divide(pz, c_pt, out=np.zeros_like(pz), where=c_pt > 0))
    radius = np.hypot(c_phi, c_eta)
    weight = np.where(real & (radius > 0), energy / np.where(radius > 0, radius, 1.0), 0.0)
    alpha = np.arctan2(np.sum(weight * c_eta, axis=1), np.sum(weight * c_phi, axis=1))[:, None]
    py, pz = py * np.cos(alpha) + pz * np.sin(alpha), -py * np.sin(alpha) + pz * np.cos(alpha)
    scale = np.where(pt > 0, pt, 1.0)[:, None]
    stacked = np.stack([energy, px, py, pz], axis=-1) / scale[..., None]
    return np.where(real[..., None], stacked, 0.0).reshape(len(pt), 4 * n).astype(np.float32)


@dataclass(frozen=True)
class RobustScale:
    """Per-input centring on the median and scaling by the interquartile range.

    Attributes:
        center: the medians, one per input.
        scale: the interquartile ranges (1 where an input's range is 0, e.g. always padded).
    """

    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, inputs: np.ndarray) -> RobustScale:
        """The scale of ``inputs`` ``[J, D]`` (QCD training jets).

        Example:
            >>> RobustScale.fit(np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])).scale.tolist()
            [1.0, 1.0]
        """
        q25, median, q75 = np.quantile(
            np.asarray(inputs, dtype=np.float64), [0.25, 0.5, 0.75], axis=0
        )
        iqr = q75 - q25
        return cls(center=median, scale=np.where(iqr > 0, iqr, 1.0))

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        """``(inputs - center) / scale`` as float32."""
        return ((np.asarray(inputs, dtype=np.float64) - self.center) / self.scale).astype(
            np.float32
        )
