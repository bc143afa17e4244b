"""Ancestral sampling with the exact eps of a Gaussian reproduces its mean and covariance; one step is
DDPM's Algorithm 2; the discrete spacings pick the published timesteps."""

import pytest
import torch

from genflow.oracles import GaussianMixture, GaussianMixtureScore
from genflow.paths import CosineSchedule, DiscreteVPPath, LinearSchedule
from genflow.prediction import ModelFunction
from genflow.samplers.ancestral import AncestralSampler
from genflow.samplers.base import draw
from genflow.errors import UserError
from genflow.samplers.grids import SPACINGS, DiscreteGrid, TimeGrid, strided

MEAN = torch.tensor([1.0, -0.5], dtype=torch.float64)
COV = torch.tensor([[0.30, 0.10], [0.10, 0.20]], dtype=torch.float64)


def gaussian(path):
    return GaussianMixtureScore(GaussianMixture(MEAN[None], covs=COV[None]), path)


def moments_error(x):
    x = x.double()
    return (x.mean(0) - MEAN).abs().max().item(), (torch.cov(x.T) - COV).abs().max().item()


@pytest.mark.parametrize("variance", ["beta", "posterior"])
@pytest.mark.parametrize("schedule", [LinearSchedule(), CosineSchedule()], ids=["linear", "cosine"])
def test_exact_eps_reproduces_gaussian(variance, schedule):
    path = DiscreteVPPath(schedule, 1000)
    res = draw(gaussian(path), AncestralSampler(250, variance=variance, progress=False), (20_000, 2),
               generator=torch.Generator().manual_seed(0))
    assert res.nfe == 250
    mean_err, cov_err = moments_error(res.x)
    # sampling error of 20k draws: ~0.004 on the mean, ~0.003 on the covariance
    assert mean_err < 0.02 and cov_err < 0.02, (mean_err, cov_err)


class ScaledEps(ModelFunction):
    """A deliberately wrong model: the exact eps times a constant."""

    kind = "eps"

    def __init__(self, exact, factor):
        super().__init__()
        self.exact, self.factor, self.path = exact, factor, exact.path

    def raw(self, x, t):
        return self.factor * self.exact(x, t).eps


def test_a_wrong_eps_fails_the_same_bound():
    path = DiscreteVPPath(LinearSchedule(), 1000)
    res = draw(ScaledEps(gaussian(path), 0.8), AncestralSampler(250, progress=False), (20_000, 2),
               generator=torch.Generator().manual_seed(0))
    mean_err, cov_err = moments_error(res.x)
    assert max(mean_err, cov_err) > 0.02


class EpsModel(ModelFunction):
    """eps_hat = fn(x, t) on ``path``."""

    kind = "eps"

    def __init__(self, path, fn):
        super().__init__()
        self.path, self.fn = path, fn

    def raw(self, x, t):
        return self.fn(x, t)


@pytest.mark.parametrize("denoise", [True, False])
def test_update_is_ddpm_algorithm_2(denoise):
    """One step equals x_{t-1} = 1/sqrt(a_t) (x_t - beta_t / sqrt(1 - ab_t) eps) + sigma_t z, with noise on
    every step but the one into the data: the jump at the end (Algorithm 2's t = 1 -> 0) lands on x0_hat;
    without the jump the last walk step is the one into the data, its mean."""
    path = DiscreteVPPath(LinearSchedule(), 1000)
    eps_value = torch.randn(4, 2)

    sampler = AncestralSampler(progress=False, x0_clip="none")
    x_t = torch.randn(4, 2)
    z = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    sampler.noise_like = lambda x, g: z
    grid = TimeGrid(torch.tensor([1.0, 0.999, 0.998], dtype=torch.float64), denoise=denoise)
    out = sampler.sample(EpsModel(path, lambda x, t: eps_value), x_t.clone(), grid).x
    beta, ab = path.betas[-1].float(), path.alphabar[-1].float()
    x_prev = (x_t - beta / (1 - ab).sqrt() * eps_value) / (1 - beta).sqrt() + beta.sqrt() * z
    beta2, ab2 = path.betas[-2].float(), path.alphabar[-2].float()
    x_prev2 = (x_prev - beta2 / (1 - ab2).sqrt() * eps_value) / (1 - beta2).sqrt()
    if not denoise:
        assert torch.allclose(out, x_prev2, atol=1e-5)  # the step into the data: its mean
        return
    x_prev2 = x_prev2 + beta2.sqrt() * z
    ab3 = path.alphabar[-3].float()
    x0 = (x_prev2 - (1 - ab3).sqrt() * eps_value) / ab3.sqrt()  # the jump lands on x0_hat
    assert torch.allclose(out, x0, atol=1e-4)


@pytest.mark.parametrize("variance,diffusers_variance", [("beta", "fixed_large"), ("posterior", "fixed_small")])
def test_few_step_ancestral_is_diffusers_ddpm_scheduler(variance, diffusers_variance):
    """5 steps on the discrete grid with leading spacing, the same network and the same noise stream: the same
    samples as diffusers' DDPMScheduler (its strided steps take the effective beta 1 - ab_t / ab_prev, as the
    path's transition). Not with trailing spacing, whose last step diffusers noises (it checks t > 0, and
    trailing's last t is 199): the returned samples carry noise of variance 1 - ab_199."""
    spacing = "leading"
    diffusers = pytest.importorskip("diffusers")
    path = DiscreteVPPath(LinearSchedule(), 1000)
    net = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2)).double()

    def eps_net(x, k):  # diffusers' integer timestep k is our t = (k + 1) / 1000
        return net(torch.cat([x, torch.full((len(x), 1), (k + 1) / 1000, dtype=x.dtype)], 1))

    x_t = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sched = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", variance_type=diffusers_variance,
                                    timestep_spacing=spacing, clip_sample=False)
    sched.set_timesteps(5)
    x, g = x_t.clone(), torch.Generator().manual_seed(1)
    with torch.no_grad():
        for k in sched.timesteps:
            x = sched.step(eps_net(x, int(k)), k, x, generator=g).prev_sample
    sampler = AncestralSampler(num_steps=5, variance=variance, progress=False, x0_clip="none")
    model = EpsModel(path, lambda x, t: eps_net(x, round(float(t) * 1000) - 1))
    ours = sampler.sample(model, x_t.clone(), DiscreteGrid(spacing)(path, 5), torch.Generator().manual_seed(1)).x
    assert torch.allclose(ours, x, atol=1e-5), (ours - x).abs().max()


def test_spacings_pick_the_published_timesteps():
    """Lin et al. 2024 / diffusers (N = 1000, 10 steps; their 0-based timesteps are our indices into alphabar)."""
    times = DiscreteVPPath(LinearSchedule(), 1000).discrete_times
    index = {s: (strided(times, 10, s) * 1000).round().long() - 1 for s in SPACINGS}
    assert index["linspace"].tolist() == [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    assert index["leading"].tolist() == [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]
    assert index["trailing"].tolist() == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    assert strided(times, 2, "trailing").tolist() == pytest.approx([1.0, 0.5])


def test_drop_t1_gives_the_multistep_schedulers_timesteps():
    """diffusers' DPMSolverMultistep / UniPCMultistep stride N + 1 points and drop timestep 0 (linspace,
    leading); trailing never reaches it and is unchanged."""
    path = DiscreteVPPath(LinearSchedule(), 1000)
    index = {s: (DiscreteGrid(s, drop_t1=True)(path, 10).times * 1000).round().long() - 1 for s in SPACINGS}
    assert index["leading"].tolist() == [900, 810, 720, 630, 540, 450, 360, 270, 180, 90]
    assert index["linspace"].tolist() == [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]
    assert index["trailing"].tolist() == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    assert all(DiscreteGrid(s, drop_t1=True)(path, 10).num_steps == 10 for s in SPACINGS)
    with pytest.raises(UserError, match="drop_t1"):
        DiscreteGrid(drop_t1=True, denoise=False)
    diffusers = pytest.importorskip("diffusers")
    for spacing in ("linspace", "leading", "trailing"):
        for cls in (diffusers.DPMSolverMultistepScheduler, diffusers.UniPCMultistepScheduler):
            sched = cls(num_train_timesteps=1000, beta_schedule="linear", timestep_spacing=spacing)
            for n in (5, 10, 20):
                sched.set_timesteps(n)
                ours = (DiscreteGrid(spacing, drop_t1=True)(path, n).times * 1000).round().long() - 1
                assert ours.tolist() == sched.timesteps.tolist(), (cls.__name__, spacing, n)


def test_drop_t1_auto_follows_the_sampler_as_diffusers_schedulers_do():
    """auto (the default): the multistep solvers leave out t_1 (DPMSolverMultistep / UniPCMultistep), DDIM and
    ancestral keep it (DDIMScheduler / DDPMScheduler); false and true override; no jump, no drop."""
    from genflow.samplers.ddim import DDIMSampler
    from genflow.samplers.dpm_solver import DPMSolverSampler
    from genflow.samplers.unipc import UniPCSampler

    path = DiscreteVPPath(LinearSchedule(), 1000)

    def last_index(grid, sampler):
        return round(float(grid(path, 10, sampler).times[-1]) * 1000) - 1

    leading = DiscreteGrid("leading")
    assert last_index(leading, DPMSolverSampler(10)) == last_index(leading, UniPCSampler(10)) == 90
    assert last_index(leading, DDIMSampler(10)) == last_index(leading, AncestralSampler(10)) == 0
    assert last_index(leading, None) == 0
    assert last_index(DiscreteGrid("leading", drop_t1=False), DPMSolverSampler(10)) == 0
    assert last_index(DiscreteGrid("leading", drop_t1=True), DDIMSampler(10)) == 90
    assert last_index(DiscreteGrid("leading", denoise=False), DPMSolverSampler(10)) == 0


def test_a_discrete_grid_of_num_steps_costs_num_steps_evaluations():
    path = DiscreteVPPath(LinearSchedule(), 1000)
    for denoise in (True, False):
        assert DiscreteGrid(denoise=denoise)(path, 10).num_steps == 10
    assert len(DiscreteGrid()(path, None).times) == 1000  # null: every step, the last of them the jump


@pytest.mark.parametrize("spacing", SPACINGS)
def test_every_spacing_samples_the_gaussian(spacing):
    path = DiscreteVPPath(LinearSchedule(), 1000)
    res = draw(gaussian(path), AncestralSampler(num_steps=250, progress=False), (20_000, 2), DiscreteGrid(spacing),
               torch.Generator().manual_seed(2))
    assert res.nfe == 250
    mean_err, cov_err = moments_error(res.x)
    assert mean_err < 0.02 and cov_err < 0.02, (spacing, mean_err, cov_err)
