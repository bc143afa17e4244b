"""Conditioning against closed forms: a Gaussian mixture's conditional p(x0[U] | x0[K] = y) is a mixture again
(``GaussianMixture.condition``), and its h(x_t, t) = p(y | x_t) is exact (``log_observation_likelihood``).
Inpainting one coordinate of a 2D and of a 5D mixture by the h-transform wrapper around the exact (unconditional)
denoiser must reproduce the conditional on each family (DDPM, VP SDE, flow matching) with a deterministic and a
stochastic sampler.

Bound: energy distance of 2000 samples' unknown coordinate to the exact conditional's law (closed form, no
reference sample) below 0.008. Measured: exact draws of 2000 give at most 0.0057 over 200 seeds (99%: 0.0034);
the exact h-transform -0.0008 to 0.0030 across the twelve cases; in 2D the replacement approximation gives
0.013 to 0.044 (it ignores what y says about the unknown coordinate at high noise) and reconstruction guidance
0.002 to 0.023 (stochastic samplers 0.002 to 0.0034, deterministic ones about 0.02).
"""

import math
from functools import cache

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from genflow.conditioning.bridges import TrajectoryRecorder, bridge
from genflow.conditioning.inpainting import Inpainting
from genflow.oracles import GaussianMixture, GaussianMixtureScore
from genflow.paths import VPPath, LinearSchedule
from genflow.samplers.base import draw

N, BOUND = 2000, 0.008
MIXTURE_2D = GaussianMixture([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]], std=0.4, weights=[0.5, 0.3, 0.2])
_A = torch.tensor([[0.6, 0.2, 0.0, 0.1, 0.0], [0.0, 0.5, 0.2, 0.0, 0.1], [0.1, 0.0, 0.4, 0.2, 0.0],
                   [0.0, 0.1, 0.0, 0.5, 0.2], [0.2, 0.0, 0.1, 0.0, 0.5]], dtype=torch.float64)
MIXTURE_5D = GaussianMixture([[-1.0, 0.5, -2.0, 0.0, 1.0], [1.0, -0.5, 2.0, 0.5, 0.0], [0.0, 2.0, 0.0, -2.0, 2.0]],
                             covs=(_A @ _A.T).expand(3, 5, 5), weights=[0.4, 0.35, 0.25])
#: (mixture, known {coordinate: value}): one coordinate unknown; both conditionals are bimodal
CASES = {"2d": (MIXTURE_2D, {1: 0.8}), "5d": (MIXTURE_5D, {0: 0.0, 1: 0.0, 3: 0.25, 4: 0.5})}
FAMILIES = {"ddpm": ("ddpm", "discrete"), "vp_sde": ("vp", "uniform"), "flow_matching": ("cond_ot", "uniform")}
SAMPLERS = {"ddim": ["sampler.num_steps=50"], "ancestral": ["sampler.num_steps=100"],
            "pf_ode": ["sampler.method=heun", "sampler.num_steps=25"], "euler_maruyama": ["sampler.num_steps=100"]}


def compose_pair(path_name, grid_name, sampler_name):
    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        cfg = compose("train", overrides=[f"path={path_name}", f"sampler={sampler_name}", f"grid={grid_name}",
                                          "sampler.progress=false", *SAMPLERS[sampler_name]])
    return instantiate(cfg.path), instantiate(cfg.sampler), instantiate(cfg.grid)


def mean_abs_gaussian(m: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """E|Z| for Z ~ N(m, var): s sqrt(2 / pi) exp(-m^2 / 2 var) + m (1 - 2 Phi(-m / s)), s = sqrt(var)."""
    s = var.sqrt()
    return s * math.sqrt(2 / math.pi) * torch.exp(-0.5 * m**2 / var) + m * torch.erf(m / (s * math.sqrt(2)))


def energy_distance_to_mixture(x: torch.Tensor, law: GaussianMixture) -> float:
    """Energy distance of 1D samples to a 1D mixture's law (no reference sample): 2 E|X - Y| - E|X - X'| - E|Y - Y'|,
    with E|x - Y| and E|Y - Y'| in closed form over components (differences of Gaussians are Gaussian)."""
    x = x.reshape(-1).double()
    w, mu, var = law.weights, law.means[:, 0], law.covs[:, 0, 0]
    xy = (w * mean_abs_gaussian(x[:, None] - mu, var.expand(len(x), -1))).sum(1).mean()
    xx = torch.cdist(x[:, None], x[:, None]).sum() / (len(x) * (len(x) - 1))
    yy = (w[:, None] * w * mean_abs_gaussian(mu[:, None] - mu, var[:, None] + var)).sum()
    return float(2 * xy - xx - yy)


@cache
def problem(case):
    mixture, known = CASES[case]
    mask = torch.zeros(mixture.dim, dtype=torch.bool)
    values = torch.zeros(mixture.dim)
    for k, v in known.items():
        mask[k], values[k] = True, v
    return mixture, known, mask, values, mixture.condition(known)


def exact_inpainting(mixture, known, mask, values, path, scale=1.0):
    indices = sorted(known)

    def log_h(pred):
        return mixture.log_observation_likelihood(pred.x, pred.t, path, indices, [known[k] for k in indices])
    return Inpainting(GaussianMixtureScore(mixture, path), mask, values, scale, log_h=log_h)


@pytest.mark.parametrize("case", sorted(CASES))
def test_conditional_is_bimodal_and_observation_likelihood_obeys_bayes(case):
    """log p(y | x_t) = log p_t(x_t | y) + log p(y) - log p_t(x_t) for a noisy observation (tau = 0.3)."""
    mixture, known, *_ = problem(case)
    assert (mixture.condition(known).weights > 0.2).sum() >= 2
    path, indices, y, tau = VPPath(LinearSchedule()), sorted(known), [known[k] for k in sorted(known)], 0.3
    x = mixture.sample(50, torch.Generator().manual_seed(1))[0].double()
    t = torch.full((50,), 0.4, dtype=torch.float64)
    x_t = path.sample_marginal(x, t)[0]
    posterior = mixture.given(indices, y, tau)
    noisy_y = GaussianMixture(mixture.marginal(indices).means,
                              mixture.marginal(indices).covs + tau**2 * torch.eye(len(indices), dtype=torch.float64),
                              mixture.weights)
    log_py = noisy_y.log_prob(torch.tensor([y], dtype=torch.float64))
    expected = posterior.log_prob(x_t, t, path) + log_py - mixture.log_prob(x_t, t, path)
    got = mixture.log_observation_likelihood(x_t, t, path, indices, y, tau)
    assert torch.allclose(got, expected, atol=1e-8), (got - expected).abs().max()


@pytest.mark.parametrize("sampler_name", ["ddim", "ancestral"])
@pytest.mark.parametrize("family", ["ddpm"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_exact_inpainting_reproduces_the_conditional_ddpm(case, family, sampler_name):
    check_exact(case, family, sampler_name)


@pytest.mark.parametrize("sampler_name", ["pf_ode", "euler_maruyama"])
@pytest.mark.parametrize("family", ["vp_sde", "flow_matching"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_exact_inpainting_reproduces_the_conditional(case, family, sampler_name):
    check_exact(case, family, sampler_name)


def check_exact(case, family, sampler_name):
    mixture, known, mask, values, reference = problem(case)
    path, sampler, grid = compose_pair(*FAMILIES[family], sampler_name)
    x = draw(exact_inpainting(mixture, known, mask, values, path), sampler, (N, mixture.dim), grid,
             torch.Generator().manual_seed(0)).x
    assert torch.allclose(x[:, mask], values[mask].expand(N, -1), atol=1e-4)
    ed = energy_distance_to_mixture(x[:, ~mask], reference)
    assert ed < BOUND, ed


def test_replacement_misses_the_conditional_and_reconstruction_guidance_closes_most_of_the_gap():
    """The practical approximations on the 2D mixture (measured: replacement 0.014, reconstruction 0.002 with
    Euler-Maruyama on the VP SDE): replacement fails the bound, reconstruction guidance is much closer. (On the
    correlated 5D mixture with data_var=1, reconstruction guidance is off by 0.05 to 0.11: its isotropic
    Gaussian p(x0 | x_t) is a poor fit there.)"""
    mixture, known, mask, values, reference = problem("2d")
    path, sampler, grid = compose_pair("vp", "uniform", "euler_maruyama")
    model = GaussianMixtureScore(mixture, path)
    eds = {}
    for scale in (0.0, 1.0):
        x = draw(Inpainting(model, mask, values, scale, data_var=1.0), sampler, (N, 2), grid,
                 torch.Generator().manual_seed(0)).x
        eds[scale] = energy_distance_to_mixture(x[:, ~mask], reference)
    assert eds[0.0] > BOUND and eds[1.0] < eds[0.0] / 3, eds


@pytest.mark.parametrize("sampler_name", ["ancestral", "pf_ode"])
def test_bridge_into_a_ball_is_exact_for_gaussian_data(sampler_name):
    """Data N(m, v I) and an end in a Gaussian ball of std rho around c: the Gaussian h of reconstruction guidance
    is exact, and the ends follow N((v c + rho^2 m) / (v + rho^2), v rho^2 / (v + rho^2) I): means within 4
    standard errors, covariances within 10% (sampling error about 3% at 2000 samples)."""
    m, v, c, rho = torch.tensor([0.5, -1.0]), 0.8, torch.tensor([-1.0, 1.0]), 0.5
    data = GaussianMixture([m.tolist()], covs=[(v * torch.eye(2)).tolist()])
    path, sampler, grid = compose_pair("vp", "uniform", sampler_name)
    model = bridge(GaussianMixtureScore(data, path), c, torch.ones(2, dtype=torch.bool), rho, data_var=v)
    x = draw(model, sampler, (N, 2), grid, torch.Generator().manual_seed(0)).x.double()
    exact = data.given([0, 1], c, rho)
    assert torch.allclose(exact.means[0].float(), (v * c + rho**2 * m) / (v + rho**2))
    se = (exact.covs[0].diagonal() / N).sqrt()
    assert ((x.mean(0) - exact.means[0]).abs() < 4 * se).all(), (x.mean(0), exact.means[0])
    assert torch.allclose(torch.cov(x.T), exact.covs[0], atol=0.1 * float(exact.covs[0, 0, 0])), torch.cov(x.T)


def test_bridge_to_a_point_has_the_law_of_the_forward_bridge():
    """Pinned to b: every path ends at b and, given x_1, x_t ~ N(alpha_t b + a (sigma_t / sigma_1)^2 (x_1 - alpha_1 b),
    sigma_t^2 (1 - a^2 sigma_t^2 / sigma_1^2)) with a = alpha_1 / alpha_t; the model is never evaluated."""
    b = torch.tensor([1.5, -0.5])
    path, sampler, grid = compose_pair("vp", "uniform", "ancestral")
    recorder = TrajectoryRecorder(bridge(GaussianMixtureScore(MIXTURE_2D, path), b, torch.ones(2, dtype=torch.bool),
                                         0.0), N)
    x = draw(recorder, sampler, (N, 2), grid, torch.Generator().manual_seed(0)).x
    assert torch.allclose(x, b.expand(N, 2), atol=1e-4)
    times, states = recorder.trajectories()
    i = int((times - 0.5).abs().argmin())
    t1, t = torch.tensor(float(times[0])), torch.tensor(float(times[i]))
    a1, s1, at, st = path.alpha(t1), path.sigma(t1), path.alpha(t), path.sigma(t)
    a = a1 / at
    mean = at * b + a * (st / s1) ** 2 * (states[0] - a1 * b)
    z = (states[i] - mean) / (st * (1 - a**2 * st**2 / s1**2).sqrt())
    assert z.mean(0).abs().max() < 0.06 and (z.var(0) - 1).abs().max() < 0.08, (z.mean(0), z.var(0))
