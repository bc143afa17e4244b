"""Schedules and Gaussian paths against closed forms and finite differences."""

import math

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from genflow.app.compose import build_run, compose_config
from genflow.errors import UserError
from genflow.metrics.sample_distance import energy_distance
from genflow.oracles import GaussianMixture, GaussianMixtureScore
from genflow.prediction import Denoiser
from genflow.samplers.base import draw
from genflow.samplers.ddim import DDIMSampler
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
    "vp_zero_snr": lambda: VPPath(LinearSchedule(zero_terminal_snr=True)),
    "ddpm_cosine_zero_snr": lambda: DiscreteVPPath(CosineSchedule(zero_terminal_snr=True), 1000),
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


def test_zero_terminal_snr_rescales_ddpm_as_lin_et_al():
    """Lin et al. 2024, Algorithm 1: sqrt(alphabar) shifted and scaled so that a_1 is kept and a_N = 0;
    beta_N = 1, SNR strictly decreasing, sigma(1) = 1 and the prior N(0, I) exact."""
    plain, path = DiscreteVPPath(LinearSchedule(), 1000), DiscreteVPPath(LinearSchedule(zero_terminal_snr=True), 1000)
    a, a_new = plain.alphabar.sqrt(), path.alphabar.sqrt()
    assert torch.allclose(a_new, (a - a[-1]) * a[0] / (a[0] - a[-1]), rtol=1e-10, atol=1e-15)
    assert path.betas[-1].item() == 1.0 and path.alphabar[-1].item() == 0.0 and (path.betas[:-1] < 1).all()
    assert path.alphabar[0].item() == pytest.approx(plain.alphabar[0].item(), rel=1e-12)
    snr = path.alphabar / (1 - path.alphabar)
    assert (snr.diff() < 0).all()
    assert path.alpha(1.0).item() == 0.0 and path.sigma(1.0).item() == 1.0 and path.prior_std == 1.0
    assert path.zero_terminal_snr and not plain.zero_terminal_snr


def test_zero_terminal_snr_ddpm_interpolates_alpha_linearly_on_its_last_step():
    """log alphabar_N = -inf: on (t_{N-1}, 1] alpha = a_{N-1} (1 - t)/(1 - t_{N-1}) with its slope, and the drift
    f = alpha'/alpha is capped (finite) instead of -inf on the whole interval."""
    path = DiscreteVPPath(LinearSchedule(zero_terminal_snr=True), 100)
    frac = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64)
    t = 0.99 + frac / 100
    a_last = path.alphabar[-2].sqrt()
    c = path.coefficients(t)
    assert torch.allclose(c.alpha, a_last * (1 - frac), rtol=1e-12, atol=0)
    assert torch.allclose(c.d_alpha, torch.full_like(t, -100 * a_last.item()), rtol=1e-12)
    assert torch.isfinite(path.f(t)).all() and torch.isfinite(path.g2(t)).all()
    assert path.f(t[:3]).tolist() == pytest.approx((-100 / (1 - frac[:3])).tolist())


@pytest.mark.parametrize("schedule", [LinearSchedule, CosineSchedule])
def test_zero_terminal_snr_rescales_the_continuous_schedule(schedule):
    """alpha~(t) = (alpha(t) - alpha(1)) alpha(0) / (alpha(0) - alpha(1)): alpha~(1) = 0 exactly, alpha~(0) = 1
    (exactly in float64, within one float32 rounding in float32); alpha~' = alpha' alpha(0) / (alpha(0) - alpha(1))
    is finite at t = 1."""
    plain, path = VPPath(schedule()), VPPath(schedule(zero_terminal_snr=True))
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    end = plain.alpha(torch.tensor(1.0, dtype=torch.float64))
    # atol 2e-10: the cosine schedule's clamp near t = 1
    assert torch.allclose(path.alpha(t), (plain.alpha(t) - end) / (1 - end), rtol=1e-9, atol=2e-10)
    assert path.alpha(torch.tensor(0.0, dtype=torch.float64)).item() == 1.0 and path.alpha(1.0).item() == 0.0
    assert abs(path.alpha(0.0).item() - 1.0) <= 2e-7
    assert path.alpha(torch.ones(3)).tolist() == [0.0] * 3
    c = path.coefficients(torch.tensor([1.0], dtype=torch.float64))
    assert c.d_alpha.item() < 0 and math.isfinite(c.d_alpha.item()) and c.sigma.item() == 1.0


@pytest.mark.parametrize("kind", ["eps", "score"])
def test_eps_and_score_are_refused_on_a_zero_terminal_snr_schedule(kind):
    path = VPPath(LinearSchedule(zero_terminal_snr=True))
    with pytest.raises(UserError, match=f"model.parameterization={kind} is ill-posed.*velocity or x0"):
        Denoiser(torch.nn.Identity(), path, kind)
    with pytest.raises(InstantiationException) as refused:  # genflow train: this cause, one line, exit code 2
        build_run(["model=ddpm", "path.schedule.zero_terminal_snr=true", "net.hidden=8"])
    cause = refused.value.__cause__
    assert isinstance(cause, UserError) and "model.parameterization=eps" in str(cause) and "\n" not in str(cause)


@pytest.mark.parametrize("kind", ["x0", "velocity"])
def test_zero_terminal_snr_ddpm_trains_with_x0_or_velocity(kind):
    """t = 1 is one of the discrete training times (alpha = 0): x0 and velocity targets are finite there."""
    from genflow.app.compose import quiet_trainer

    cfg, dm, module = build_run(["model=ddpm", "path.schedule.zero_terminal_snr=true", f"model.parameterization={kind}",
                                 "net.hidden=16", "data.num_samples=2000"])
    quiet_trainer(30).fit(module, datamodule=dm)
    x, _ = module.generate(instantiate(cfg.sampler, num_steps=10, progress=False), 100)
    assert torch.isfinite(x).all()


MIXTURE = GaussianMixture([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]], std=0.4, weights=[0.5, 0.3, 0.2])


@pytest.mark.parametrize("path_name,sampler,settings", [
    ("ddpm", "ddim", ["sampler.num_steps=50", "grid=discrete"]),
    ("ddpm", "ancestral", ["sampler.num_steps=100", "grid=discrete"]),
    ("vp", "pf_ode", ["sampler.method=rk4", "sampler.num_steps=25", "grid=uniform"]),
    ("vp", "euler_maruyama", ["sampler.num_steps=100", "grid=uniform"]),
])
def test_samplers_start_at_zero_terminal_snr_and_reproduce_the_mixture(path_name, sampler, settings):
    """From exactly t = 1 (alpha = 0) with the exact denoiser: finite samples within the oracle matrix's bound
    (energy distance < 0.005 on 4000 samples, tests/test_oracle_samplers.py); measured 0.002 or less."""
    cfg = compose_config([f"path={path_name}", "path.schedule.zero_terminal_snr=true", f"sampler={sampler}",
                          "sampler.progress=false", *settings])
    path, grid = instantiate(cfg.path), instantiate(cfg.grid)
    assert grid(path, 10).times[0].item() == 1.0
    result = draw(GaussianMixtureScore(MIXTURE, path), instantiate(cfg.sampler), (4000, 2), grid,
                  torch.Generator().manual_seed(0))
    assert energy_distance(result.x, MIXTURE.sample(4000, torch.Generator().manual_seed(99))[0]) < 0.005


def test_the_first_ddim_step_from_zero_snr_is_the_closed_form():
    """At t = 1 the exact x0_hat is the data mean and eps_hat = x_1: x_s = alpha_s E[x0] + sigma_s x_1."""
    path = DiscreteVPPath(LinearSchedule(zero_terminal_snr=True), 1000)
    x1 = torch.randn(64, 2, dtype=torch.float64)
    s = 0.9
    x = DDIMSampler(progress=False).walk(GaussianMixtureScore(MIXTURE, path), x1,
                                          torch.tensor([1.0, s], dtype=torch.float64), None)
    c = path.coefficients(torch.tensor(s, dtype=torch.float64))
    assert torch.allclose(x, c.alpha * MIXTURE.mean() + c.sigma * x1, rtol=1e-10, atol=1e-12)


def test_zero_terminal_snr_is_refused_where_it_does_not_apply(capsys):
    """A variance-exploding schedule has alpha = 1 (nothing to rescale): one line naming the option and what
    applies; a path without a schedule (cond_ot: alpha(1) = 0 already) has no such option."""
    from genflow.app.cli import main

    with pytest.raises(UserError, match="zero_terminal_snr=true rescales a variance-preserving schedule"):
        GeometricSchedule(zero_terminal_snr=True)
    with pytest.raises(InstantiationException) as refused:
        build_run(["model=ve_sde", "path.schedule.zero_terminal_snr=true", "net.hidden=8"])
    assert "path=vp, subvp or ddpm" in str(refused.value.__cause__)
    assert main(["train", "model=flow_matching", "path.schedule.zero_terminal_snr=true"]) == 2
    assert "path.schedule" in capsys.readouterr().err
