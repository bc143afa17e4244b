"""The cosine schedule's end: Nichol & Dhariwal's clip of the betas at 0.999, in discrete and continuous time."""

import math

import pytest
import torch

from genflow.metrics.sample_distance import energy_distance
from genflow.oracles import GaussianMixture, GaussianMixtureScore
from genflow.paths import CosineSchedule, DiscreteVPPath, VPPath
from genflow.samplers.base import draw
from genflow.samplers.euler_maruyama import EulerMaruyamaSampler
from genflow.samplers.grids import UniformGrid
from genflow.samplers.pc import PredictorCorrectorSampler

MIXTURE = GaussianMixture([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]], std=0.4, weights=[0.5, 0.3, 0.2])


def test_continuous_rate_is_clipped_at_n_max_beta_and_log_alpha_is_its_integral():
    sched = CosineSchedule(s=0.008, max_beta=0.999)
    t = torch.linspace(0.0, 1.0, 4001, dtype=torch.float64)
    beta = -2 * sched.d_log_alpha(t)
    assert beta.max().item() == pytest.approx(999.0) and (beta > 0).all()
    unclipped = t < sched.t_star
    closed = math.pi / (1 + 0.008) * torch.tan((t + 0.008) / 1.008 * math.pi / 2)
    assert torch.allclose(beta[unclipped], closed[unclipped], rtol=1e-9)
    # d log alpha / dt = -beta / 2 on both sides of the kink at t*, and log alpha is continuous there
    h = 1e-6
    away = (t - sched.t_star).abs() > 2 * h
    fd = (sched.log_alpha(t + h) - sched.log_alpha(t - h)) / (2 * h)
    assert torch.allclose(fd[away], -0.5 * beta[away], rtol=1e-4)
    at = torch.tensor(sched.t_star, dtype=torch.float64)
    assert (sched.log_alpha(at + 1e-9) - sched.log_alpha(at - 1e-9)).abs() < 1e-6
    alpha_1 = VPPath(sched).alpha(torch.tensor(1.0)).item()
    assert 1e-3 < alpha_1 < 1.3e-3  # finite signal-to-noise ratio at t = 1 (not 0 / 0)


def test_discrete_cosine_betas_are_the_closed_form_clipped_at_max_beta():
    path = DiscreteVPPath(CosineSchedule(max_beta=0.999), 1000)
    assert path.betas[-1].item() == pytest.approx(0.999) and path.betas.max().item() <= 0.999
    assert path.alphabar[-1].item() > 0


@pytest.mark.parametrize("sampler", [EulerMaruyamaSampler(200, progress=False),
                                     PredictorCorrectorSampler(100, progress=False)], ids=["euler_maruyama", "pc"])
def test_reverse_sde_samplers_from_t_1_on_the_cosine_vp_path(sampler):
    """With the unclipped rate (beta(1) infinite, alpha(1) = 0) both produced non-finite samples at their first step."""
    model = GaussianMixtureScore(MIXTURE, VPPath(CosineSchedule()))
    x = draw(model, sampler, (2000, 2), UniformGrid(), torch.Generator().manual_seed(0)).x
    reference = MIXTURE.sample(2000, torch.Generator().manual_seed(99))[0]
    assert energy_distance(x, reference) < 0.008
