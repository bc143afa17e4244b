"""Schedules and Gaussian paths against closed forms and finite differences."""

import math

import pytest
import torch

from genflow.paths import (CondOTPath, CosineSchedule, DiscreteVPPath, GeometricSchedule, LinearSchedule, SubVPPath,
                           VEPath, VPPath)

PATHS = {
    "vp": lambda: VPPath(LinearSchedule()),
    "vp_cosine": lambda: VPPath(CosineSchedule()),
    "subvp": lambda: SubVPPath(LinearSchedule()),
    "ddpm": lambda: DiscreteVPPath(LinearSchedule(), 1000),
    "ddpm_cosine": lambda: DiscreteVPPath(CosineSchedule(), 1000),
    "ve": lambda: VEPath(GeometricSchedule(0.01, 50.0)),
    "ncsn": lambda: VEPath(GeometricSchedule(0.01, 10.0), num_levels=10),
    "cond_ot": lambda: CondOTPath(sigma_min=0.01),
}


def test_ddpm_linear_betas_match_ho_et_al():
    path = DiscreteVPPath(LinearSchedule(0.1, 20.0), 1000)
    assert path.betas[0].item() == pytest.approx(1e-4)
    assert path.betas[-1].item() == pytest.approx(0.02)
    assert path.alphabar[-1].item() == pytest.approx(4.0e-5, rel=0.02)
    # the product formula, computed independently
    prod = 1.0
    for b in torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64).tolist():
        prod *= 1 - b
    assert path.alphabar[-1].item() == pytest.approx(prod, rel=1e-9)


def test_ddpm_cosine_alphabar_matches_closed_form():
    path = DiscreteVPPath(CosineSchedule(s=0.008), 1000)
    s = 0.008
    t = torch.arange(1, 1001, dtype=torch.float64) / 1000
    closed = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2 / math.cos(s / (1 + s) * math.pi / 2) ** 2
    unclipped = path.betas < 0.999
    assert unclipped[:-5].all()
    assert torch.allclose(path.alphabar[:990], closed[:990], rtol=1e-9, atol=1e-12)
    assert path.betas.max().item() <= 0.999


def test_discrete_path_interpolates_grid_exactly():
    path = DiscreteVPPath(LinearSchedule(), 1000)
    t = path.discrete_times[[0, 9, 499, 999]]
    assert torch.allclose(path.alpha(t).double() ** 2, path.alphabar[[0, 9, 499, 999]], rtol=1e-5)
    assert torch.allclose(path.alpha(t) ** 2 + path.sigma(t) ** 2, torch.ones(4), atol=1e-6)


def test_continuous_vp_is_the_limit_of_ddpm():
    disc, cont = DiscreteVPPath(LinearSchedule(), 1000), VPPath(LinearSchedule())
    t = torch.linspace(0.05, 1, 20)
    assert torch.allclose(disc.alpha(t), cont.alpha(t), rtol=0.08)
    assert torch.allclose(disc.g2(t + 1e-4), cont.g2(t + 1e-4), rtol=0.02)


@pytest.mark.parametrize("name", sorted(PATHS))
def test_derivatives_match_finite_differences(name):
    path = PATHS[name]()
    t = torch.tensor([0.1234, 0.3711, 0.6523, 0.8517], dtype=torch.float64)
    h = 1e-6
    for fn, dfn in ((path.alpha, path.d_alpha), (path.sigma, path.d_sigma)):
        fd = (fn(t + h) - fn(t - h)) / (2 * h)
        assert torch.allclose(dfn(t), fd, rtol=1e-4, atol=1e-6), (name, fn.__name__)
    # the fused (alpha, sigma, alpha', sigma') of samplers and conversions: same values, same derivatives
    c = path.coefficients(t)
    for fused, single in ((c.alpha, path.alpha(t)), (c.sigma, path.sigma(t)), (c.d_alpha, path.d_alpha(t)),
                          (c.d_sigma, path.d_sigma(t))):
        assert torch.allclose(fused, single, rtol=1e-12, atol=0), name
    up, down = path.coefficients(t + h), path.coefficients(t - h)
    assert torch.allclose(c.d_alpha, (up.alpha - down.alpha) / (2 * h), rtol=1e-4, atol=1e-6), name
    assert torch.allclose(c.d_sigma, (up.sigma - down.sigma) / (2 * h), rtol=1e-4, atol=1e-6), name


@pytest.mark.parametrize("name", sorted(PATHS))
def test_a_scalar_time_gives_the_coefficients_of_a_batch_of_that_time(name):
    """The time contract: a number, a 0-d tensor and a batch of equal times give the same coefficients,
    shaped like the time they were given."""
    path = PATHS[name]()
    batch = path.coefficients(torch.full((5,), 0.37, dtype=torch.float64))
    for t in (0.37, torch.tensor(0.37, dtype=torch.float64)):
        one = path.coefficients(t)
        for field in ("alpha", "sigma", "d_alpha", "d_sigma"):
            value = getattr(one, field)
            assert value.shape == () and torch.allclose(getattr(batch, field), value.double().expand(5), rtol=1e-6), field
    assert path.g2(0.37).shape == () and path.f(torch.full((3,), 0.37)).shape == (3,)


@pytest.mark.parametrize("name", sorted(PATHS))
def test_time_at_noise_ratio_inverts_the_ratio(name):
    path = PATHS[name]()
    t = torch.tensor([0.05, 0.3, 0.6, 0.9], dtype=torch.float64)
    assert torch.allclose(path.time_at_noise_ratio(path.noise_ratio(t)), t, atol=1e-9)


@pytest.mark.parametrize("name", sorted(PATHS))
def test_g2_is_the_diffusion_of_the_path(name):
    """g^2 = 2 sigma sigma' - 2 (alpha'/alpha) sigma^2 (the base-class formula) for every override."""
    path = PATHS[name]()
    t = torch.tensor([0.1234, 0.5, 0.8517], dtype=torch.float64)
    s, ds = path.sigma(t), path.d_sigma(t)
    expected = 2 * s * ds - 2 * (path.d_alpha(t) / path.alpha(t)) * s**2
    assert torch.allclose(path.g2(t), expected, rtol=1e-5, atol=1e-8)
    assert (path.g2(t) >= 0).all()


@pytest.mark.parametrize("name", sorted(PATHS))
def test_sample_marginal_moments(name):
    path = PATHS[name]()
    x0 = torch.full((200_000, 1), 2.0, dtype=torch.float64)
    t = torch.full((200_000,), 0.4, dtype=torch.float64)
    xt, _ = path.sample_marginal(x0, t)
    a, s = path.alpha(t[:1]).item(), path.sigma(t[:1]).item()
    assert xt.mean().item() == pytest.approx(2 * a, abs=4 * s / 400)
    assert xt.std().item() == pytest.approx(s, rel=0.01)


def test_prior_matches_the_marginal_at_t1():
    assert VPPath(LinearSchedule()).prior_std == pytest.approx(1.0)
    assert VEPath(GeometricSchedule(0.01, 50.0)).prior_std == pytest.approx(math.sqrt(1 + 50.0**2))
    assert CondOTPath().prior_std == pytest.approx(1.0)
    path = VPPath(LinearSchedule())
    x = torch.randn(5, 3)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(1)
    assert torch.allclose(path.prior_logp(x), expected, atol=1e-4)


def test_training_times_follow_the_grid():
    path = DiscreteVPPath(LinearSchedule(), 50)
    t = path.sample_time(1000)
    assert torch.allclose(t * 50, (t * 50).round(), atol=1e-4) and t.min() >= 1 / 50 - 1e-6
    assert len(t.unique()) > 40
    t = VPPath(LinearSchedule()).sample_time(1000, t_eps=1e-3)
    assert t.min() >= 1e-3 and t.max() <= 1


@pytest.mark.parametrize("path", [DiscreteVPPath(LinearSchedule()), VEPath(GeometricSchedule(), num_levels=10)],
                         ids=["ddpm", "ncsn"])
def test_grids_are_copied_to_the_device_once(path, monkeypatch):
    """A grid copied to the device at every call is a blocking transfer, a host sync per training step
    on a GPU: training steps on another device (meta here) copy each grid once, however many steps."""
    copies, to = [], torch.Tensor.to

    def counting_to(self, *args, **kwargs):
        out = to(self, *args, **kwargs)
        if out.device != self.device:
            copies.append(out.device)
        return out

    monkeypatch.setattr(torch.Tensor, "to", counting_to)
    x0 = torch.empty(8, 2, device="meta")

    def step():
        t = path.sample_time(8, device=x0.device)
        path.sample_marginal(x0, t)
        path.coefficients(t)

    step()
    first = len(copies)
    for _ in range(3):
        step()
    assert 1 <= first == len(copies)
