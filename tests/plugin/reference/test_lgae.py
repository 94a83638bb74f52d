"""The Lorentz-group autoencoder: group algebra, invariance, covariance, training, errors.

Toy boosted jets (jet axis pT ~ 500 GeV, |eta| < 1, 10-20 light constituents within
Delta R < 0.8) are made in float64, transformed in float64 and only then rounded to
float32, so that the float32 comparisons test the model, not the test's own arithmetic.
"""

from __future__ import annotations

import doctest

import pytest
import torch

from surrotag.errors import InputValueError
from surrotag.reference import lgae
from surrotag.reference.lgae import LorentzAutoencoder, minkowski_dot, random_lorentz, train_lgae

METRIC = torch.diag(torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=torch.float64))
#: relative agreement of float32 scores and latents between Lorentz frames (issue's goal)
RTOL = 1e-5


def toy_jets(n_jets: int, n_max: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """QCD-like toy jets: float64 ``p4 [n_jets, n_max, 4]`` and ``mask``, 10-n_max each."""
    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, dtype=f64)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=f64)

    pt_jet = 500.0 * (1.0 + 0.1 * randn(n_jets, 1))
    eta_jet = 2.0 * rand(n_jets, 1) - 1.0
    phi_jet = 2.0 * torch.pi * rand(n_jets, 1) - torch.pi
    share = rand(n_jets, n_max) ** 3 + 1e-3  # hard-soft hierarchy of pT fractions
    n_const = torch.randint(10, n_max + 1, (n_jets,), generator=gen)
    mask = torch.arange(n_max)[None, :] < n_const[:, None]
    share = torch.where(mask, share, 0.0)
    pt = pt_jet * share / share.sum(1, keepdim=True)
    d_eta, d_phi = 0.15 * randn(n_jets, n_max), 0.15 * randn(n_jets, n_max)
    radius = torch.hypot(d_eta, d_phi)
    shrink = torch.where(radius > 0.8, 0.8 / radius, 1.0)
    eta, phi = eta_jet + d_eta * shrink, phi_jet + d_phi * shrink
    mass = torch.where(rand(n_jets, n_max) < 0.5, 0.13957, 0.0)  # pions and photons
    px, py, pz = pt * torch.cos(phi), pt * torch.sin(phi), pt * torch.sinh(eta)
    energy = torch.sqrt(px**2 + py**2 + pz**2 + mass**2)
    p4 = torch.stack([energy, px, py, pz], -1)
    return torch.where(mask[..., None], p4, 0.0), mask


def transform(p4: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Apply one Lorentz matrix per jet ``[B, 4, 4]`` to every constituent (float64)."""
    return torch.einsum("bij,bnj->bni", lam, p4)


@pytest.fixture(scope="module")
def jets() -> tuple[torch.Tensor, torch.Tensor]:
    return toy_jets(32, seed=1)


@pytest.fixture(scope="module")
def lorentz() -> torch.Tensor:
    return random_lorentz(torch.Generator().manual_seed(2), batch=32, max_rapidity=1.0)


@pytest.fixture(scope="module")
def models() -> dict[str, LorentzAutoencoder]:
    torch.manual_seed(3)
    untrained = LorentzAutoencoder(n_slots=24).eval()
    p4, mask = toy_jets(64, seed=4)
    trained, _ = train_lgae(
        p4.float(), mask, epochs=3, batch_size=32, lr=1e-2, seed=5, model_kwargs={"n_slots": 24}
    )
    return {"untrained": untrained, "trained": trained}


def test_doctests() -> None:
    result = doctest.testmod(lgae)
    assert result.attempted > 0 and result.failed == 0


def test_random_lorentz_is_proper_orthochronous() -> None:
    lam = random_lorentz(torch.Generator().manual_seed(0), batch=200, max_rapidity=3.0)
    assert lam.shape == (200, 4, 4) and lam.dtype == torch.float64
    assert torch.allclose(lam.transpose(1, 2) @ METRIC @ lam, METRIC.expand(200, 4, 4), atol=1e-10)
    assert torch.allclose(torch.linalg.det(lam), torch.ones(200, dtype=torch.float64), atol=1e-10)
    assert bool((lam[:, 0, 0] >= 1.0).all())
    # genuinely boosted and rotated, not the identity
    assert float(lam[:, 0, 0].max()) > 2.0 and float((lam[:, 1:, 1:].diagonal(0, 1, 2)).min()) < 0
    single = random_lorentz(torch.Generator().manual_seed(0), max_rapidity=0.0)
    assert single.shape == (4, 4) and torch.allclose(single.T @ METRIC @ single, METRIC)
    assert float(single[0, 0]) == pytest.approx(1.0)  # rapidity 0: a pure rotation
    p = torch.tensor([5.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    assert float(minkowski_dot(lam @ p, lam @ p).sub(11.0).abs().max()) < 1e-10


def jet_gamma(p4: torch.Tensor) -> torch.Tensor:
    """E_jet / m_jet of each jet (float64)."""
    jet = p4.sum(1)
    return jet[:, 0] / minkowski_dot(jet, jet).sqrt()


@pytest.mark.parametrize("which", ["untrained", "trained"])
def test_score_is_lorentz_invariant_in_float32(which, models, jets, lorentz) -> None:
    model = models[which]
    p4, mask = jets
    moved_p4 = transform(p4, lorentz)
    with torch.no_grad():
        score = model.anomaly_score(p4.float(), mask)
        moved = model.anomaly_score(moved_p4.float(), mask)
        exact = model.anomaly_score(p4, mask).double()
        exact_moved = model.anomaly_score(moved_p4, mask).double()
    assert score.dtype == torch.float32 and score.shape == (32,)
    assert bool((score > 0).all())
    # the score does depend on the jet: it is not trivially invariant
    assert float(score.std()) > 1e-3 * float(score.mean())
    rel = ((moved - score).abs() / score).double()
    gamma = torch.maximum(jet_gamma(p4), jet_gamma(moved_p4))
    # 1e-5 relative in float32 for jets with E/m <= 10 in both frames (most of them) ...
    slow = gamma <= 10.0
    assert int(slow.sum()) >= 24
    assert float(rel[slow].max()) < RTOL, f"worst relative difference {float(rel.max()):.2e}"
    # ... and the documented float32-input rounding bound 2e-7 (E/m)^2 for all
    assert bool((rel <= 2e-7 * gamma**2).all()), (rel / gamma**2).max()
    # the model adds no error of its own: on the same (float64) inputs, invariant to 1e-9
    assert float(((exact_moved - exact).abs() / exact).max()) < 1e-9
    # and float32 inputs agree with float64 ones (same frame) to float32 rounding
    assert float(((score.double() - exact).abs() / exact).max()) < RTOL


def test_score_float64_invariance_at_large_rapidity(models, jets) -> None:
    p4, mask = jets
    lam = random_lorentz(torch.Generator().manual_seed(7), batch=32, max_rapidity=4.0)
    with torch.no_grad():
        score = models["trained"].anomaly_score(p4, mask)
        moved = models["trained"].anomaly_score(transform(p4, lam), mask)
    assert float(((moved - score).abs() / score).max()) < 1e-9


@pytest.mark.parametrize("which", ["untrained", "trained"])
def test_latent_is_covariant(which, models, jets, lorentz) -> None:
    model = models[which]
    p4, mask = jets
    with torch.no_grad():
        scalars, vectors = model.encode(p4.float(), mask)
        scalars_moved, vectors_moved = model.encode(transform(p4, lorentz).float(), mask)
        recon, recon_moved = model(p4.float(), mask), model(transform(p4, lorentz).float(), mask)
    assert scalars.shape == (32, model.n_scalars) and vectors.shape == (32, model.n_vectors, 4)
    expected = torch.einsum("bij,bvj->bvi", lorentz, vectors.double())
    scale = expected.abs().amax((1, 2), keepdim=True)
    assert float(((vectors_moved.double() - expected).abs() / scale).max()) < RTOL
    assert float((scalars_moved - scalars).abs().max() / scalars.abs().max()) < RTOL
    # vector 0 is the jet momentum; the reconstruction transforms covariantly as well
    assert torch.allclose(vectors[:, 0].double(), p4.sum(1), rtol=1e-6)
    expected = torch.einsum("bij,bkj->bki", lorentz, recon.double())
    scale = expected.abs().amax((1, 2), keepdim=True)
    assert float(((recon_moved.double() - expected).abs() / scale).max()) < RTOL
    # decode(encode(.)) is forward
    assert torch.allclose(model.decode(scalars, vectors), recon, rtol=1e-4, atol=1e-4)


def test_permutation_invariance(models, jets) -> None:
    p4, mask = jets
    perm = torch.randperm(p4.shape[1], generator=torch.Generator().manual_seed(8))
    for model in models.values():
        with torch.no_grad():
            score = model.anomaly_score(p4.float(), mask)
            shuffled = model.anomaly_score(p4[:, perm].float(), mask[:, perm])
        assert torch.allclose(shuffled, score, rtol=1e-6)
    # the check has teeth: shuffling the momenta without the mask changes the jets
    with torch.no_grad():
        wrong = models["trained"].anomaly_score(p4[:, perm].float(), mask)
    assert not torch.allclose(wrong, score, rtol=1e-3)


def test_padding_invariance(models, jets) -> None:
    p4, mask = jets
    padded = torch.cat([p4, torch.zeros(32, 7, 4, dtype=p4.dtype)], 1)
    padded_mask = torch.cat([mask, torch.zeros(32, 7, dtype=torch.bool)], 1)
    # and garbage under the padding must not leak in
    padded[:, -7:] = 123.0
    for model in models.values():
        with torch.no_grad():
            score = model.anomaly_score(p4.float(), mask)
            more = model.anomaly_score(padded.float(), padded_mask)
        assert torch.allclose(more, score, rtol=1e-6)
    # dropping a real constituent does change the score
    fewer = mask.clone()
    fewer[:, 0] = False
    with torch.no_grad():
        changed = models["trained"].anomaly_score(p4.float(), fewer)
    assert not torch.allclose(changed, score, rtol=1e-3)


def test_training_reduces_loss_and_is_reproducible() -> None:
    p4, mask = toy_jets(256, seed=9)
    kwargs = {"epochs": 3, "batch_size": 32, "lr": 1e-2, "seed": 10}
    model, losses = train_lgae(p4.float(), mask, **kwargs)
    assert len(losses) == 3 and losses[-1] < 0.9 * losses[0], losses
    _, again = train_lgae(p4.float(), mask, **kwargs)
    assert again == losses
    _, other = train_lgae(p4.float(), mask, **{**kwargs, "seed": 11})
    assert other != losses
    assert not model.training
    # the trained model reconstructs held-out QCD-like jets better than a fresh one
    test_p4, test_mask = toy_jets(64, seed=12)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(10)
        fresh = LorentzAutoencoder()
    with torch.no_grad():
        trained_score = model.anomaly_score(test_p4.float(), test_mask).mean()
        fresh_score = fresh.anomaly_score(test_p4.float(), test_mask).mean()
    assert float(trained_score) < 0.9 * float(fresh_score)


def test_bad_inputs_raise(models, jets) -> None:
    model = models["untrained"]
    p4, mask = jets[0].float(), jets[1]
    bad = [
        (p4[..., :3], mask),  # last axis not 4
        (p4[0], mask[0]),  # no batch axis
        (p4, mask[:, :-1]),  # mask of the wrong shape
        (p4, mask.float()),  # mask not bool
        (p4[:0], mask[:0]),  # empty batch
        (torch.full_like(p4, float("nan")), mask),  # non-finite
        (p4, torch.zeros_like(mask)),  # no constituents: J.J = 0
    ]
    for p, m in bad:
        for call in (model.anomaly_score, model.encode, model.forward):
            with pytest.raises(InputValueError) as info:
                call(p, m)
            assert "\n" not in str(info.value)
    with pytest.raises(InputValueError):
        model.decode(torch.zeros(2, model.n_scalars), torch.zeros(2, model.n_vectors, 3))
    with pytest.raises(InputValueError):
        minkowski_dot(torch.zeros(3), torch.zeros(4))
    with pytest.raises(InputValueError):
        random_lorentz(torch.Generator(), batch=0)
    with pytest.raises(InputValueError):
        train_lgae(p4, mask, epochs=0)
    with pytest.raises(InputValueError):
        LorentzAutoencoder(n_vectors=0)
