"""Loss weightings, time samplers and EDM's preconditioning against closed forms and invariants."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from genflow.errors import UserError
from genflow.modules.diffusion import resolve_sigma_data
from genflow.metrics.sample_distance import energy_distance
from genflow.objectives import DenoisingObjective
from genflow.oracles import GaussianMixture, GaussianMixtureScore
from genflow.paths import (CondOTPath, CosineSchedule, DiscreteVPPath, GeometricSchedule, LinearSchedule, SubVPPath,
                           VEPath, VPPath)
from genflow.prediction import KINDS, Denoiser, NetworkModel, Prediction
from genflow.preconditioning import EDMPreconditioning
from genflow.samplers.base import draw
from genflow.samplers.grids import KarrasGrid
from genflow.samplers.pf_ode import ProbabilityFlowSampler
from genflow.time_sampling import LogNormalTimes, LogSNRUniformTimes, UniformTimes
from genflow.weighting import loss_weight

MIXTURE = GaussianMixture([[-1.5, 0.0], [1.5, 0.5], [0.0, -1.2]], std=0.4, weights=[0.5, 0.3, 0.2])
PATHS = {
    "vp": lambda: VPPath(LinearSchedule()),
    "subvp": lambda: SubVPPath(LinearSchedule()),
    "ddpm": lambda: DiscreteVPPath(LinearSchedule(), 1000),
    "ve": lambda: VEPath(GeometricSchedule(0.01, 50.0)),
    "edm": lambda: VEPath(GeometricSchedule(0.002, 80.0)),
    "cond_ot": lambda: CondOTPath(0.01),
    "rectified": lambda: CondOTPath(0.0),
    "vp_cosine_zero_snr": lambda: VPPath(CosineSchedule(zero_terminal_snr=True)),
    "ddpm_zero_snr": lambda: DiscreteVPPath(LinearSchedule(zero_terminal_snr=True), 1000),
}
INVARIANT = ("sigma2", "likelihood", "min_snr", "edm")


class PerturbedOracle(nn.Module):
    """A model of ``kind``: the exact posterior mean of x0 plus a fixed perturbation, as that kind predicts it."""

    def __init__(self, path, kind, delta, sigma_data=0.7):
        super().__init__()
        self.path, self.kind, self.delta, self.sigma_data = path, kind, delta, sigma_data

    def forward(self, x, t, y=None):
        x0 = MIXTURE.posterior(x, t, self.path)[0] + self.delta
        c = self.path.coefficients(t).like(x)
        return Prediction(x, t, self.path, x0=x0, eps=(x - c.alpha * x0) / c.sigma).as_kind(self.kind)


def batch(n=512, seed=0, t_range=(0.02, 0.98)):
    g = torch.Generator().manual_seed(seed)
    x0 = MIXTURE.sample(n, g)[0].double()
    eps = torch.randn(n, 2, generator=g, dtype=torch.float64)
    t = t_range[0] + (t_range[1] - t_range[0]) * torch.rand(n, generator=g, dtype=torch.float64)
    delta = 0.3 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return x0, eps, t, delta


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_weighting_but_uniform_gives_one_objective_whatever_the_network_predicts(name):
    """The same model (oracle + a fixed error) in each parameterization, the same (x0, eps, t): equal per-sample
    losses under sigma2, likelihood, min_snr and edm; uniform differs between kinds."""
    path = PATHS[name]()
    x0, eps, t, delta = batch()
    for weighting in INVARIANT + ("uniform",):
        objective = DenoisingObjective(weighting=weighting, min_snr_gamma=3.0)
        losses = {k: objective.per_sample_loss(PerturbedOracle(path, k, delta), x0, eps, t) for k in KINDS}
        for k in KINDS:
            assert torch.isfinite(losses[k]).all(), (weighting, k)
            same = torch.allclose(losses[k], losses["eps"], rtol=1e-8, atol=0)
            assert same or weighting == "uniform", (weighting, k, (losses[k] / losses["eps"]).aminmax())
        if weighting == "uniform":
            assert not torch.allclose(losses["x0"], losses["eps"], rtol=1e-2)


@pytest.mark.parametrize("name", ["vp", "subvp", "ddpm", "ve", "cond_ot"])
def test_likelihood_weight_of_a_score_network_is_g2_as_before(name):
    """Song et al. 2021: g^2 on the score error, the path's own g2 (the weighting genflow always had for score);
    the closed form 2 (alpha sigma' - sigma alpha') sigma / alpha agrees with it, and sigma2 is sigma^2."""
    path = PATHS[name]()
    t = torch.linspace(0.01, 0.99, 50, dtype=torch.float64) + 3e-4
    assert torch.equal(loss_weight("likelihood", path, t, "score"), path.g2(t))
    c = path.coefficients(t)
    closed = 2 * (c.alpha * c.d_sigma - c.sigma * c.d_alpha) * c.sigma / c.alpha
    assert torch.allclose(path.g2(t), closed, rtol=1e-6)
    assert torch.equal(loss_weight("sigma2", path, t, "score"), c.sigma**2)
    assert torch.equal(loss_weight("uniform", path, t, "score"), torch.ones_like(t))


@pytest.mark.parametrize("name", ["vp", "subvp", "ddpm", "ve", "cond_ot", "vp_cosine_zero_snr"])
def test_likelihood_weight_integrates_to_twice_the_log_snr_range(name):
    """int_{t_eps}^{1 - t_eps} w_eps dt = 2 (lambda(t_eps) - lambda(1 - t_eps)), lambda = log(alpha/sigma)
    (composite Gauss-Legendre on panels aligned with DDPM's steps)."""
    path, t_eps = PATHS[name](), 1e-3
    nodes, weights = (torch.from_numpy(a) for a in np.polynomial.legendre.leggauss(8))
    edges = torch.linspace(t_eps, 1 - t_eps, 1997, dtype=torch.float64)  # panel width 1/2000
    mid, half = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
    t = (mid[:, None] + half[:, None] * nodes[None]).flatten()
    w = loss_weight("likelihood", path, t, "eps").view(-1, 8)
    integral = float((w * weights[None] * half[:, None]).sum())
    lam = lambda u: float(-path.noise_ratio(torch.tensor(u, dtype=torch.float64)).log())  # noqa: E731
    assert integral == pytest.approx(2 * (lam(t_eps) - lam(1 - t_eps)), rel=1e-6)


def vp_linear_closed_form(t, beta_min=0.1, beta_max=20.0):
    """alpha, sigma, alpha', sigma' and g^2 = beta(t) of the VP linear schedule, written out here."""
    beta = beta_min + t * (beta_max - beta_min)
    alpha = torch.exp(-0.25 * t**2 * (beta_max - beta_min) - 0.5 * t * beta_min)
    sigma = (1 - alpha**2).sqrt()
    d_alpha = -0.5 * beta * alpha
    return alpha, sigma, d_alpha, -alpha * d_alpha / sigma, beta


def test_likelihood_weight_per_kind_is_g2_converted_from_the_score_error():
    """Song et al. 2021's g^2 ||s - s*||^2 rewritten for each kind (s = -eps/sigma, eps = (x - alpha x0)/sigma,
    u = alpha' x0 + sigma' eps): eps g^2/sigma^2, x0 g^2 alpha^2/sigma^4 (= -SNR'(t), VDM), score g^2,
    velocity g^2 alpha^2/(sigma^2 (alpha sigma' - sigma alpha')^2). VP written out; CondOT (sigma_min = 0):
    eps 2/(t(1-t)), x0 2(1-t)/t^3, velocity 2(1-t)/t."""
    path = PATHS["vp"]()
    t = torch.linspace(0.01, 0.99, 99, dtype=torch.float64)
    a, s, da, ds, g2 = vp_linear_closed_form(t)
    det = a * ds - s * da
    expected = {"eps": g2 / s**2, "x0": g2 * a**2 / s**4, "score": g2, "velocity": g2 * a**2 / (s**2 * det**2)}
    for kind, w in expected.items():
        assert torch.allclose(loss_weight("likelihood", path, t, kind), w, rtol=1e-9), kind
    snr = lambda u: (a_ := vp_linear_closed_form(u)[0]) ** 2 / (1 - a_**2)  # noqa: E731
    h = 1e-6
    d_snr = (snr(t + h) - snr(t - h)) / (2 * h)
    assert torch.allclose(loss_weight("likelihood", path, t, "x0"), -d_snr, rtol=1e-6)
    flow = PATHS["rectified"]()
    expected = {"eps": 2 / (t * (1 - t)), "x0": 2 * (1 - t) / t**3, "velocity": 2 * (1 - t) / t}
    for kind, w in expected.items():
        assert torch.allclose(loss_weight("likelihood", flow, t, kind), w, rtol=1e-9), kind


@pytest.mark.parametrize("gamma", [1.0, 5.0])
def test_min_snr_weight_per_kind_is_the_closed_form(gamma):
    """Hang et al. 2023: min(SNR, gamma) on the x0 error, carried to each kind by |d x0/d pred|^2: eps
    min(1, gamma/SNR), score sigma^2 min(1, gamma/SNR), velocity min(SNR, gamma) sigma^2/(alpha sigma' -
    sigma alpha')^2 (VP written out; both sides of SNR = gamma are in the range)."""
    path = PATHS["vp"]()
    t = torch.linspace(0.01, 0.99, 99, dtype=torch.float64)
    a, s, da, ds, _ = vp_linear_closed_form(t)
    snr = a**2 / s**2
    assert (snr > gamma).any() and (snr < gamma).any()
    clipped = torch.clamp(snr, max=gamma)
    expected = {"eps": clipped / snr, "x0": clipped, "score": s**2 * clipped / snr,
                "velocity": clipped * s**2 / (a * ds - s * da) ** 2}
    for kind, w in expected.items():
        assert torch.allclose(loss_weight("min_snr", path, t, kind, min_snr_gamma=gamma), w, rtol=1e-9), kind
    flow = PATHS["rectified"]()  # CondOT: alpha sigma' - sigma alpha' = 1
    assert torch.allclose(loss_weight("min_snr", flow, t, "velocity", min_snr_gamma=gamma),
                          torch.minimum((1 - t) ** 2, gamma * t**2), rtol=1e-12)


def test_min_snr_matches_diffusers_and_stays_finite_at_zero_snr():
    """diffusers (examples/text_to_image, snr_gamma): eps weight min(SNR, gamma)/SNR, x0 weight min(SNR, gamma);
    at alpha = 0 (t = 1 of the flow path) the eps weight is 1 and the x0 / velocity weights 0, not NaN."""
    path = DiscreteVPPath(LinearSchedule(), 1000)
    t = torch.arange(1, 1001, dtype=torch.float64) / 1000
    snr = path.alphabar / (1 - path.alphabar)
    assert torch.allclose(loss_weight("min_snr", path, t, "eps"), torch.clamp(snr, max=5.0) / snr, rtol=1e-9)
    assert torch.allclose(loss_weight("min_snr", path, t, "x0"), torch.clamp(snr, max=5.0), rtol=1e-9)
    flow = CondOTPath(0.0)
    one = torch.tensor([1.0], dtype=torch.float64)
    assert loss_weight("min_snr", flow, one, "eps").item() == 1.0
    assert loss_weight("min_snr", flow, one, "x0").item() == 0.0
    assert loss_weight("min_snr", flow, one, "velocity").item() == 0.0
    half = torch.tensor([0.5], dtype=torch.float64)  # CondOT: min((1 - t)^2, gamma t^2) for velocity
    assert loss_weight("min_snr", flow, half, "velocity").item() == pytest.approx(0.25)
    assert loss_weight("likelihood", flow, half, "velocity").item() == pytest.approx(2.0)  # 2 (1 - t)/t


def test_edm_weight_is_one_over_c_out_squared_on_the_x0_error():
    path, sd = PATHS["edm"](), 0.5
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    sigma = path.sigma(t)
    c_out = sigma * sd / (sigma**2 + sd**2).sqrt()
    assert torch.allclose(loss_weight("edm", path, t, "x0", sigma_data=sd), c_out**-2, rtol=1e-12)


@pytest.mark.parametrize("sigma_data", [0.5, 1.0])
def test_edm_coefficients_are_the_papers(sigma_data):
    """Karras et al. 2022, table 1: c_skip = sd^2/(sigma^2 + sd^2), c_out = sigma sd/sqrt(sigma^2 + sd^2),
    c_in = 1/sqrt(sigma^2 + sd^2) on the EDM path (alpha = 1); on VP the same functions of sigma~ = sigma/alpha
    acting on y = x/alpha (c_skip/alpha, c_out, c_in/alpha). The network's time t on the EDM path is affine in
    c_noise = ln(sigma)/4."""
    path, precond, sd = PATHS["edm"](), EDMPreconditioning(sigma_data), sigma_data
    sigma = torch.tensor([0.002, 0.1, 0.5, 1.0, 10.0, 80.0], dtype=torch.float64)
    t = path.time_at_noise_ratio(sigma)
    assert torch.allclose(path.sigma(t), sigma, rtol=1e-12)
    c_skip, c_out, c_in = (c.flatten() for c in precond.coefficients(path, t, torch.zeros(6, 1, dtype=torch.float64)))
    assert torch.allclose(c_skip, sd**2 / (sigma**2 + sd**2), rtol=1e-12)
    assert torch.allclose(c_out, sigma * sd / (sigma**2 + sd**2).sqrt(), rtol=1e-12)
    assert torch.allclose(c_in, 1 / (sigma**2 + sd**2).sqrt(), rtol=1e-12)
    if sd == 0.5:  # at sigma = sd: c_skip 1/2, c_out sd/sqrt 2, c_in 1/(sd sqrt 2)
        assert (c_skip[2].item(), c_out[2].item(), c_in[2].item()) == pytest.approx((0.5, 0.3535533906, 1.4142135624))
    c_noise = sigma.log() / 4
    assert torch.allclose(t, (4 * c_noise - math.log(0.002)) / math.log(80 / 0.002), rtol=1e-12)
    vp = PATHS["vp"]()
    tv = torch.linspace(0.05, 0.95, 7, dtype=torch.float64)
    c = vp.coefficients(tv)
    ratio = c.sigma / c.alpha
    c_skip, c_out, c_in = (x.flatten() for x in precond.coefficients(vp, tv, torch.zeros(7, 1, dtype=torch.float64)))
    assert torch.allclose(c_skip * c.alpha, sd**2 / (ratio**2 + sd**2), rtol=1e-12)
    assert torch.allclose(c_out, ratio * sd / (ratio**2 + sd**2).sqrt(), rtol=1e-12)
    assert torch.allclose(c_in * c.alpha, 1 / (ratio**2 + sd**2).sqrt(), rtol=1e-12)


class OracleNetwork(nn.Module):
    """EDM's F for the exact denoiser of MIXTURE: F = (x0_hat - c_skip x) / c_out, so D = x0_hat."""

    def __init__(self, path, precond):
        super().__init__()
        self.path, self.precond = path, precond

    def forward(self, x_in, t, y=None):
        c_skip, c_out, c_in = self.precond.coefficients(self.path, t, x_in)
        x = x_in / c_in
        return (MIXTURE.posterior(x, t, self.path)[0] - c_skip * x) / c_out


def test_edm_denoiser_with_the_oracle_network_is_the_oracle():
    """The EDM-preconditioned denoiser whose F is built from the mixture's exact x0_hat: its x0, eps and velocity
    equal the oracle's at every noise level (1e-9); on EDM's Karras grid (0.002..80) the PF-ODE gives the oracle's
    samples (Heun, 18 steps: 35 evaluations) and the mixture (Heun, 40 steps: energy distance < 0.005 on 2000;
    measured 0.001; 18 steps give 0.0067, Heun being in t, not in sigma as EDM's sampler)."""
    path, sd = PATHS["edm"](), 1.0
    denoiser = Denoiser(OracleNetwork(path, EDMPreconditioning(sd)), path, "x0", "edm", sd)
    model, oracle = NetworkModel(denoiser), GaussianMixtureScore(MIXTURE, path)
    g = torch.Generator().manual_seed(2)
    for sigma in (0.002, 0.05, 0.5, 3.0, 80.0):
        t = path.time_at_noise_ratio(torch.tensor(sigma, dtype=torch.float64))
        x = MIXTURE.sample(256, g)[0].double() + sigma * torch.randn(256, 2, generator=g, dtype=torch.float64)
        got, want = model(x, t), oracle(x, t)
        for kind in ("x0", "eps", "velocity"):
            assert torch.allclose(getattr(got, kind), getattr(want, kind), rtol=1e-9, atol=1e-9), (sigma, kind)
    grid = KarrasGrid(t_eps=0.0)
    torch.set_default_dtype(torch.float64)
    try:
        heun18 = ProbabilityFlowSampler("heun", 18, progress=False)
        ours = draw(model, heun18, (500, 2), grid, torch.Generator().manual_seed(0))
        reference = draw(oracle, heun18, (500, 2), grid, torch.Generator().manual_seed(0))
        converged = draw(model, ProbabilityFlowSampler("heun", 40, progress=False), (2000, 2), grid,
                         torch.Generator().manual_seed(0))
    finally:
        torch.set_default_dtype(torch.float32)
    assert ours.nfe == 35 and converged.nfe == 79
    assert torch.allclose(ours.x, reference.x, rtol=1e-7, atol=1e-7)
    assert energy_distance(converged.x, MIXTURE.sample(4000, torch.Generator().manual_seed(9))[0].double()) < 0.005


class TargetNet(nn.Module):
    """F = F* + delta for a fixed batch: EDM's network target, known exactly, plus a chosen error."""

    def __init__(self, target, delta):
        super().__init__()
        self.target, self.delta = target, delta

    def forward(self, x, t, y=None):
        return self.target + self.delta


@pytest.mark.parametrize("name", ["edm", "vp", "rectified"])
def test_edm_preconditioning_regresses_a_unit_weight_target(name):
    """D = c_skip x + c_out F with F = F*: D is x0 itself; with F = F* + delta the EDM-weighted loss is
    exactly mean(delta^2) (lambda ||D - x0||^2 = ||F - F*||^2) at every noise level, t = 1 included (alpha(1) = 0
    on the flow path: D = sd F(x / sigma), finite) and t = 0 where sigma(0) > 0 (EDM's 0.002; elsewhere
    1/c_out^2 is infinite there, as in EDM at sigma = 0)."""
    path, sd = PATHS[name](), 0.5
    x0, eps, t, delta = batch(t_range=(0.0, 1.0))
    t[0] = 1.0
    if name == "edm":
        t[1] = 0.0
    precond = EDMPreconditioning(sd)
    target = precond.network_target(path, x0, eps, t)
    xt, _ = path.sample_marginal(x0, t, eps)
    exact = Denoiser(TargetNet(target, 0.0), path, "x0", "edm", sd)
    assert torch.allclose(exact(xt, t), x0, rtol=0, atol=1e-9)
    perturbed = Denoiser(TargetNet(target, delta), path, "x0", "edm", sd)
    loss = DenoisingObjective(weighting="edm").per_sample_loss(perturbed, x0, eps, t)
    assert torch.allclose(loss, (delta**2).mean(1), rtol=1e-7, atol=1e-12)


def test_edm_network_input_and_target_have_unit_variance():
    """Var x0 = sigma_data^2: c_in x_t and F* have unit second moment at every noise level (1e5 draws)."""
    path, sd = PATHS["edm"](), 0.5
    g = torch.Generator().manual_seed(1)
    x = MIXTURE.sample(100_000, g)[0].double()
    x0 = sd * x / x.pow(2).mean().sqrt()
    precond = EDMPreconditioning(sd)
    for sigma in (0.002, 0.1, 0.5, 2.0, 80.0):
        t = path.time_at_noise_ratio(torch.tensor(sigma)).expand(len(x0))
        eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
        xt, _ = path.sample_marginal(x0, t, eps)
        c_in = precond.coefficients(path, t, xt)[2]
        assert (c_in * xt).pow(2).mean().item() == pytest.approx(1.0, rel=0.02), sigma
        assert precond.network_target(path, x0, eps, t).pow(2).mean().item() == pytest.approx(1.0, rel=0.02), sigma


@pytest.mark.parametrize("name", ["edm", "vp", "rectified"])
def test_lognormal_times_give_lognormal_noise_levels(name):
    """ln(sigma/alpha) at the drawn times ~ N(p_mean, p_std^2) (KS test); a mean off by 0.15 is rejected."""
    path, sampler = PATHS[name](), LogNormalTimes(0.0, p_mean=-1.2, p_std=1.2)
    torch.manual_seed(3)
    t, factor = sampler(path, 4000)
    assert factor is None and t.min() >= 0 and t.max() <= 1
    log_ratio = path.noise_ratio(t.double()).log().numpy()
    assert abs(log_ratio.mean() + 1.2) < 4 * 1.2 / math.sqrt(4000) and log_ratio.std() == pytest.approx(1.2, rel=0.05)
    assert stats.kstest(log_ratio, "norm", args=(-1.2, 1.2)).pvalue > 1e-3
    assert stats.kstest(log_ratio, "norm", args=(-1.05, 1.2)).pvalue < 1e-3


def test_lognormal_mean_follows_the_data_scale():
    """p_mean null: EDM's -1.2 at sigma_data 0.5, -1.2 + ln 2 for unit data; auto sigma_data by data shape."""
    assert LogNormalTimes().mean(0.5) == pytest.approx(-1.2)
    assert LogNormalTimes().mean(1.0) == pytest.approx(-1.2 + math.log(2))
    assert LogNormalTimes(p_mean=-0.3).mean(1.0) == -0.3
    assert resolve_sigma_data("auto", (2,)) == 1.0 and resolve_sigma_data("auto", (1, 8, 8)) == 0.5
    assert resolve_sigma_data(0.3, (2,)) == 0.3


def test_log_snr_importance_sampling_keeps_the_objective_and_lowers_its_variance():
    """weighting=likelihood on the VP path with the exact denoiser: log-SNR-uniform times with the density
    correction estimate the same objective as U(t_eps, 1) (means within 4 standard errors) with a
    per-sample variance at least 5x lower (the likelihood weight -2 lambda' ~ 1/t under U(t_eps, 1))."""
    path, n = PATHS["vp"](), 20_000
    model = PerturbedOracle(path, "eps", 0.0)
    objective = DenoisingObjective(weighting="likelihood")
    g = torch.Generator().manual_seed(5)
    x0 = MIXTURE.sample(n, g)[0].double()
    eps = torch.randn(n, 2, generator=g, dtype=torch.float64)
    torch.manual_seed(5)
    t_u, _ = UniformTimes(1e-3)(path, n)
    t_is, factor = LogSNRUniformTimes(1e-3)(path, n)
    plain = objective.per_sample_loss(model, x0, eps, t_u.double())
    weighted = objective.per_sample_loss(model, x0, eps, t_is.double()) * factor.double()
    se = math.sqrt(plain.var() / n + weighted.var() / n)
    assert abs(plain.mean() - weighted.mean()) < 4 * se, (plain.mean(), weighted.mean(), se)
    assert weighted.var() < plain.var() / 5, (weighted.var(), plain.var())
    lam = lambda u: float(-path.noise_ratio(torch.tensor(u, dtype=torch.float64)).log())  # noqa: E731
    constant = 2 * (lam(1e-3) - lam(1.0)) / (1 - 1e-3)  # w_eps / ((1 - t_eps) q(t)) for the likelihood weight
    per_sample = loss_weight("likelihood", path, t_is.double(), "eps") * factor.double()
    assert torch.allclose(per_sample, torch.full((n,), constant, dtype=torch.float64), rtol=1e-4)


def test_log_snr_and_lognormal_sampling_are_refused_where_they_cannot_apply():
    for sampling in ("log_snr_uniform", "lognormal"):
        with pytest.raises(UserError, match=f"time_sampling={sampling}.*discrete"):
            DenoisingObjective(time_sampling=sampling).check(PATHS["ddpm"]())
    with pytest.raises(UserError, match="t_eps"):
        DenoisingObjective(time_sampling="log_snr_uniform", t_eps=0.0).check(PATHS["rectified"]())
    DenoisingObjective(time_sampling="log_snr_uniform", t_eps=1e-3).check(PATHS["rectified"]())


def test_bad_objective_and_preconditioning_settings_are_one_line_errors():
    with pytest.raises(UserError, match="model.objective.weighting='snr' is not valid"):
        DenoisingObjective(weighting="snr")
    with pytest.raises(UserError, match="model.objective.time_sampling"):
        DenoisingObjective(time_sampling="beta")
    with pytest.raises(UserError, match="min_snr_gamma"):
        DenoisingObjective(weighting="min_snr", min_snr_gamma=0)
    with pytest.raises(UserError, match="parameterization=x0"):
        Denoiser(nn.Identity(), PATHS["edm"](), "eps", "edm")
    with pytest.raises(UserError, match="model.preconditioning"):
        Denoiser(nn.Identity(), PATHS["edm"](), "x0", "karras")
