"""Ancestral sampling with the exact eps of a Gaussian reproduces its mean and covariance."""

import pytest
import torch

from genflow.prediction import ModelFunction
from genflow.oracles import GaussianMixture, GaussianMixtureScore
from genflow.paths import CosineSchedule, DiscreteVPPath, LinearSchedule
from genflow.samplers.ancestral import AncestralSampler
from genflow.samplers.base import SPACINGS, strided_discrete_grid

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
    res = AncestralSampler(variance=variance, progress=False).sample(
        gaussian(path), (20_000, 2), torch.Generator().manual_seed(0))
    assert res.nfe == 1000
    mean_err, cov_err = moments_error(res.x)
    # sampling error of 20k draws: ~0.004 on the mean, ~0.003 on the covariance
    assert mean_err < 0.02 and cov_err < 0.02, (mean_err, cov_err)


class ScaledScore(ModelFunction):
    """A deliberately wrong model: the exact score times a constant."""

    kind = "score"

    def __init__(self, exact, factor):
        super().__init__()
        self.exact, self.factor, self.path = exact, factor, exact.path

    def raw(self, x, t):
        return self.factor * self.exact.raw(x, t)


def test_a_wrong_eps_fails_the_same_bound():
    path = DiscreteVPPath(LinearSchedule(), 1000)
    res = AncestralSampler(progress=False).sample(ScaledScore(gaussian(path), 0.8), (20_000, 2),
                                                  torch.Generator().manual_seed(0))
    mean_err, cov_err = moments_error(res.x)
    assert max(mean_err, cov_err) > 0.02


def test_update_is_ddpm_algorithm_2():
    """One step equals x_{t-1} = 1/sqrt(a_t) (x_t - beta_t / sqrt(1 - ab_t) eps) + sigma_t z."""
    path = DiscreteVPPath(LinearSchedule(), 1000)
    eps_value = torch.randn(4, 2)

    class Const(ModelFunction):
        kind = "eps"

        def __init__(self):
            super().__init__()
            self.path = path

        def raw(self, x, t):
            return eps_value

    sampler = AncestralSampler(num_steps=None, progress=False)
    x_t = torch.randn(4, 2)
    sampler.grid = lambda p: torch.tensor([1.0, 0.999, 0.0])  # one noisy step, then the last
    z = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    sampler.noise_like = lambda x, g: z
    x = x_t.clone()
    out = sampler.run(Const(), x, None)  # grid and noise patched above
    beta, ab = path.betas[-1].float(), path.alphabar[-1].float()
    x_prev = (x_t - beta / (1 - ab).sqrt() * eps_value) / (1 - beta).sqrt() + beta.sqrt() * z
    ab_prev = path.alphabar[-2].float()
    x0 = (x_prev - (1 - ab_prev).sqrt() * eps_value) / ab_prev.sqrt()  # last step lands on x0_hat
    assert torch.allclose(out, x0, atol=1e-4)


def test_spacings_pick_the_published_timesteps():
    """Lin et al. 2024 / diffusers (N = 1000, 10 steps; their 0-based timesteps are our indices into alphabar)."""
    times = DiscreteVPPath(LinearSchedule(), 1000).discrete_times
    index = {s: (strided_discrete_grid(times, 10, s) * 1000).round().long() - 1 for s in SPACINGS}
    assert index["linspace"].tolist() == [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    assert index["leading"].tolist() == [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]
    assert index["trailing"].tolist() == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    assert strided_discrete_grid(times, 2, "trailing").tolist() == pytest.approx([1.0, 0.5])


@pytest.mark.parametrize("spacing", SPACINGS)
def test_every_spacing_samples_the_gaussian(spacing):
    path = DiscreteVPPath(LinearSchedule(), 1000)
    res = AncestralSampler(num_steps=250, spacing=spacing, progress=False).sample(
        gaussian(path), (20_000, 2), torch.Generator().manual_seed(2))
    assert res.nfe == 250
    mean_err, cov_err = moments_error(res.x)
    assert mean_err < 0.02 and cov_err < 0.02, (spacing, mean_err, cov_err)
