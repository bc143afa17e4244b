"""Few-step samplers (DPM-Solver++, UniPC, EDM's Heun) and the noise-ratio grids.

One step is exact where the method's order says it must be (x0_hat polynomial in lambda, EDM: eps_hat linear in
sigma/alpha); the global error falls at the stated order against an adaptive solution of the exact mixture's
probability-flow ODE; the same lambda grid gives the same answer on VP and VE; a flow path is walked from
t = 1 exactly; the SDE variant at eta = 0 is the ODE solver; NFE counts. The oracle matrix
(tests/test_oracle_samplers.py) checks the distributions on every path.
"""

import math

import pytest
import torch
from scipy.integrate import quad

import genflow.samplers.dpm_solver as dpm_solver
from genflow.errors import UserError
from genflow.metrics.sample_distance import energy_distance
from genflow.oracles import GaussianMixture, GaussianMixtureScore
from genflow.paths import CondOTPath, GeometricSchedule, LinearSchedule, VEPath, VPPath
from genflow.prediction import ModelFunction
from genflow.samplers.base import draw
from genflow.samplers.ddim import DDIMSampler
from genflow.samplers.dpm_solver import DPMSolverSampler, dpm_solver_update
from genflow.samplers.edm import EDMHeunSampler
from genflow.samplers.exponential import LogSNRStep, phi, psi2, psi3
from genflow.samplers.grids import KarrasGrid, LogSNRGrid, TimeGrid, UniformGrid
from genflow.samplers.pf_ode import ProbabilityFlowSampler
from genflow.samplers.unipc import UniPCSampler, unipc_update

MIXTURE = GaussianMixture([[-1.0, 0.0], [1.0, 0.5]], std=0.5, weights=[0.4, 0.6])
BROAD = GaussianMixture([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]], std=0.4, weights=[0.5, 0.3, 0.2])
VE = VEPath(GeometricSchedule(0.02, 80.0))


def quiet(cls, *args, **kwargs):
    return cls(*args, progress=False, **kwargs)


# --- the phi functions -------------------------------------------------------------------------------------
def test_phi_functions_match_their_closed_forms_and_limits():
    for h in (1e-6, 1e-3, 0.3, 0.99, 1.01, 5.0, 40.0):
        assert phi(1, -h) == pytest.approx(-math.expm1(-h) / h, rel=1e-12)
        assert psi2(h) == pytest.approx(1 + math.expm1(-h) / h, rel=1e-9, abs=1e-15)
        closed = psi2(h) / h - 0.5
        assert psi3(h) == pytest.approx(closed, rel=1e-6 if h > 1e-3 else 1e-2, abs=1e-15)
    assert psi2(1e-8) == pytest.approx(0.5e-8, rel=1e-6) and psi3(1e-8) == pytest.approx(-1e-8 / 6, rel=1e-6)
    assert (psi2(math.inf), psi3(math.inf), phi(2, -math.inf)) == (1.0, -0.5, 0.0)


# --- one step is exact on polynomials in lambda ------------------------------------------------------------
LAMBDA_T, H = 0.2, 0.7
PAST = [LAMBDA_T - 0.5, LAMBDA_T - 1.1]  # earlier lambdas, most recent first (unequal steps)
SIGMA_T, SIGMA_S = 0.9, 0.5
STEP = LogSNRStep(alpha_s=SIGMA_S * math.exp(LAMBDA_T + H), sigma_s=SIGMA_S, rho=SIGMA_S / SIGMA_T,
                  lambda_t=LAMBDA_T, lambda_s=LAMBDA_T + H)
X_T = 0.37


def poly(degree):
    coefficients = [0.3, 0.7, 0.5, 0.2, 0.1][: degree + 1]
    return lambda lam: sum(c * lam**j for j, c in enumerate(coefficients))


def exact_step(p, eta=0.0):
    """The mean of x_s given x_t for x0_hat(lambda) = p(lambda): rho e^{-eta h} x_t +
    alpha_s int (1 + eta) e^{-(1 + eta)(lambda_s - l)} p(l) dl."""
    integral = quad(lambda lam: (1 + eta) * math.exp(-(1 + eta) * (STEP.lambda_s - lam)) * p(lam),
                    STEP.lambda_t, STEP.lambda_s, epsabs=1e-15, epsrel=1e-15)[0]
    return STEP.rho * math.exp(-eta * H) * X_T + STEP.alpha_s * integral


def apply(x_coefficient, coefficients, p, lambdas):
    return x_coefficient * X_T + sum(c * p(lam) for c, lam in zip(coefficients, lambdas))


@pytest.mark.parametrize("eta", [0.0, 0.5])
@pytest.mark.parametrize("order,solver_type,degree", [(1, "midpoint", 0), (2, "heun", 1), (3, "midpoint", 2)])
def test_dpm_solver_step_is_exact_up_to_its_degree(order, solver_type, degree, eta):
    """Order 1 for constant x0_hat, 2M (heun form) for linear, 3M for quadratic: exact to 1e-12; the 3M step
    with the peers' coefficient on D2 (psi3 instead of 2 psi3) is not."""
    p = poly(degree)
    u = dpm_solver_update(STEP, PAST[: order - 1], eta, solver_type)
    assert abs(apply(u.x, u.x0, p, [LAMBDA_T, *PAST]) - exact_step(p, eta)) < 1e-12
    assert u.z == pytest.approx(SIGMA_S * math.sqrt(-math.expm1(-2 * eta * H)), abs=1e-15)
    worse = poly(degree + 1)
    assert abs(apply(u.x, u.x0, worse, [LAMBDA_T, *PAST]) - exact_step(worse, eta)) > 1e-5


def test_dpm_solver_2m_midpoint_is_second_order_but_not_exact_for_linear_x0():
    u = dpm_solver_update(STEP, PAST[:1], 0.0, "midpoint")
    assert abs(apply(u.x, u.x0, poly(0), [LAMBDA_T, *PAST]) - exact_step(poly(0))) < 1e-12
    assert abs(apply(u.x, u.x0, poly(1), [LAMBDA_T, *PAST]) - exact_step(poly(1))) > 1e-4


def test_the_peers_third_order_coefficient_is_not_exact_for_quadratic_x0(monkeypatch):
    monkeypatch.setattr(dpm_solver, "psi3", lambda h: psi3(h) / 2)  # k-diffusion, diffusers, dpm-solver
    u = dpm_solver_update(STEP, PAST, 0.0)
    error = abs(apply(u.x, u.x0, poly(2), [LAMBDA_T, *PAST]) - exact_step(poly(2)))
    assert error > 1e-4  # ~ alpha_s c2 h^3 / 6 ... off by psi3 D2


@pytest.mark.parametrize("variant", ["bh1", "bh2"])
@pytest.mark.parametrize("order", [2, 3])
def test_unipc_corrector_is_exact_up_to_its_order_and_the_predictor_one_below(order, variant):
    """UniC-k is exact for x0_hat of degree k, UniP-3 for degree 2 (with m_new = x0_hat at lambda_s)."""
    u = unipc_update(STEP, PAST[: order - 1], variant)
    lambdas = [LAMBDA_T, *PAST]
    for degree in range(order + 1):
        p = poly(degree)
        corrected = apply(u.cx, u.c, p, lambdas) + u.c_new * p(STEP.lambda_s)
        assert abs(corrected - exact_step(p)) < 1e-12, degree
        if order == 3 and degree < 3:
            assert abs(apply(u.px, u.p, p, lambdas) - exact_step(p)) < 1e-12, degree
    p = poly(order + 1)
    assert abs(apply(u.cx, u.c, p, lambdas) + u.c_new * p(STEP.lambda_s) - exact_step(p)) > 1e-6


class LinearEps(ModelFunction):
    """eps_hat = a + b sigma/alpha, the same for every x: EDM's ODE dy/dsigma~ = eps_hat is then a polynomial
    of degree 1 in sigma~, which the trapezoid integrates exactly."""

    kind = "eps"

    def __init__(self, path, a=0.3, b=-0.8):
        super().__init__()
        self.path, self.a, self.b = path, a, b

    def raw(self, x, t):
        return torch.full_like(x, self.a) + self.b * self.path.noise_ratio(t).to(x)


def test_edm_heun_step_is_exact_for_eps_linear_in_the_noise_ratio():
    path = VPPath(LinearSchedule())
    t, s = 0.6, 0.35
    x = torch.tensor([[0.4, -1.2]], dtype=torch.float64)
    out = quiet(EDMHeunSampler, 1).sample(LinearEps(path), x, TimeGrid(torch.tensor([t, s], dtype=torch.float64),
                                                                       False))
    r_t, r_s = float(path.noise_ratio(torch.tensor(t, dtype=torch.float64))), float(path.noise_ratio(
        torch.tensor(s, dtype=torch.float64)))
    y = x / float(path.alpha(torch.tensor(t, dtype=torch.float64))) + 0.3 * (r_s - r_t) - 0.4 * (r_s**2 - r_t**2)
    assert out.nfe == 2
    assert (out.x - float(path.alpha(torch.tensor(s, dtype=torch.float64))) * y).abs().max() < 1e-13


# --- global order on the oracle ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ve_problem():
    """200 prior points at sigma = 80 and their exact probability-flow image at sigma = 0.02 (dopri5, 1e-11)."""
    model = GaussianMixtureScore(MIXTURE, VE)
    x1 = 80 * torch.randn(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grid = LogSNRGrid(t_eps=0.0, denoise=False)
    exact = quiet(ProbabilityFlowSampler, "dopri5", rtol=1e-11, atol=1e-11)
    return model, x1, grid, exact.sample(model, x1.clone(), grid(VE, 1)).x


def slopes(sampler, model, x1, grid, reference, steps):
    errors = [(sampler.sample(model, x1.clone(), grid(model.path, n)).x - reference).abs().max().item()
              for n in steps]
    return [math.log2(errors[i] / errors[i + 1]) for i in range(len(errors) - 1)], errors


ORDERS = {  # sampler, order, numbers of steps; lower_order_final off: the order of the method itself
    "dpmpp_1": (lambda: quiet(DPMSolverSampler, order=1), 1, (16, 32, 64)),
    "dpmpp_2m": (lambda: quiet(DPMSolverSampler, order=2, lower_order_final=False), 2, (16, 32, 64)),
    "dpmpp_2m_heun": (lambda: quiet(DPMSolverSampler, order=2, solver_type="heun", lower_order_final=False), 2,
                      (16, 32, 64)),
    "dpmpp_3m": (lambda: quiet(DPMSolverSampler, order=3, lower_order_final=False), 3, (64, 128, 256)),
    "unipc_1": (lambda: quiet(UniPCSampler, order=1, lower_order_final=False), 2, (32, 64, 128)),
    "unipc_2": (lambda: quiet(UniPCSampler, order=2, lower_order_final=False), 3, (16, 32, 64)),
    "unipc_2_bh1": (lambda: quiet(UniPCSampler, order=2, variant="bh1", lower_order_final=False), 3, (16, 32, 64)),
    "unipc_3": (lambda: quiet(UniPCSampler, order=3, lower_order_final=False), 4, (64, 128, 256)),
    "unip_2": (lambda: quiet(UniPCSampler, order=2, corrector=False, lower_order_final=False), 2, (16, 32, 64)),
    "edm_heun": (lambda: quiet(EDMHeunSampler), 2, (16, 32, 64)),
}


@pytest.mark.parametrize("name", list(ORDERS))
def test_global_error_falls_at_the_stated_order(ve_problem, name):
    """Lambda-uniform grid on the VE path, sigma 80 -> 0.02, two-mode mixture, float64. Measured slopes (this
    test): order 1 0.97 0.98, 2M 2.02 2.03, 3M 2.92 2.99, UniPC-1 1.90 1.97, UniPC-2 2.96 3.00, UniPC-3 3.88 3.97,
    EDM 2.14 2.07. Like every multistep method started without history, 3M's first step is first order and
    its O(h^2) error ends as the leading term at many steps; starting at sigma = 80, where x0_hat hardly moves,
    keeps it small (3M's slopes from 16 steps: 2.56 2.76 2.92 2.99)."""
    make, order, steps = ORDERS[name]
    model, x1, grid, reference = ve_problem
    measured, errors = slopes(make(), model, x1, grid, reference, steps)
    assert min(measured) > order - 0.3, (measured, errors)


def test_the_peers_third_order_coefficient_converges_at_second_order(ve_problem, monkeypatch):
    model, x1, grid, reference = ve_problem
    steps = (64, 128, 256)
    ours, _ = slopes(quiet(DPMSolverSampler, order=3, lower_order_final=False), model, x1, grid, reference, steps)
    monkeypatch.setattr(dpm_solver, "psi3", lambda h: psi3(h) / 2)
    peers, _ = slopes(quiet(DPMSolverSampler, order=3, lower_order_final=False), model, x1, grid, reference, steps)
    assert ours[-1] > 2.8 and peers[-1] < 2.2, (ours, peers)


# --- invariances and special cases ---------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: quiet(DPMSolverSampler, 8, order=3), lambda: quiet(UniPCSampler, 8),
                                  lambda: quiet(UniPCSampler, 8, order=3, variant="bh1"),
                                  lambda: quiet(EDMHeunSampler, 8, s_churn=0.0)])
def test_same_lambda_grid_on_vp_and_ve_gives_the_same_samples(make):
    """x_VP / alpha = x_VE along the same noise-to-signal ratios (the solvers see only lambda and alpha)."""
    vp = VPPath(LinearSchedule())
    ratios = torch.exp(torch.linspace(math.log(40.0), math.log(0.03), 8, dtype=torch.float64))
    t_vp, t_ve = vp.time_at_noise_ratio(ratios), VE.time_at_noise_ratio(ratios)
    x_ve = 40 * torch.randn(300, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a_start, a_end = (float(vp.alpha(t)) for t in (t_vp[0], t_vp[-1]))
    out_ve = make().sample(GaussianMixtureScore(MIXTURE, VE), x_ve, TimeGrid(t_ve, False)).x
    out_vp = make().sample(GaussianMixtureScore(MIXTURE, vp), a_start * x_ve, TimeGrid(t_vp, False)).x
    assert (out_vp / a_end - out_ve).abs().max() < 1e-10


@pytest.mark.parametrize("make", [lambda: quiet(DPMSolverSampler, order=2), lambda: quiet(DPMSolverSampler, order=3),
                                  lambda: quiet(DPMSolverSampler, eta=1.0), lambda: quiet(UniPCSampler, order=3),
                                  lambda: quiet(UniPCSampler, variant="bh1"), lambda: quiet(EDMHeunSampler)])
def test_a_flow_path_is_walked_from_t_one(make):
    """Out of alpha = 0 (lambda = -inf) the first step is finite and is x_s = alpha_s x0_hat(x_1) + sigma_s x_1
    (SDE: + fresh noise instead of sigma_s x_1), and a whole run from t = 1 is finite."""
    path = CondOTPath()
    model = GaussianMixtureScore(BROAD, path)
    x1 = torch.randn(500, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    s = 0.8
    sampler = make()
    z = torch.randn(500, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    sampler.noise_like = lambda x, generator: z
    one = sampler.sample(model, x1.clone(), TimeGrid(torch.tensor([1.0, s], dtype=torch.float64), True))
    x0_hat = model(x1, 1.0).x0
    step = (1 - s) * x0_hat + s * (z if getattr(sampler, "eta", 0) else x1)
    assert (one.x - model(step, s).x0).abs().max() < 1e-12
    result = draw(model, make(), (500, 2), UniformGrid(), torch.Generator().manual_seed(0))
    assert torch.isfinite(result.x).all()


@pytest.mark.parametrize("make", [lambda: quiet(DPMSolverSampler, order=2), lambda: quiet(UniPCSampler, order=2),
                                  lambda: quiet(EDMHeunSampler)])
def test_a_flow_path_from_t_one_converges_at_second_order(make):
    """CondOT from exactly t = 1 with a uniform grid to t = 0.01: the first step out of lambda = -inf is first
    order with an error of O(SNR(t_1)), so every method is second order there (measured 1.9-2.1)."""
    path = CondOTPath()
    model = GaussianMixtureScore(MIXTURE, path)
    x1 = torch.randn(200, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grid = UniformGrid(t_eps=0.01, denoise=False)
    reference = quiet(ProbabilityFlowSampler, "dopri5", rtol=1e-10, atol=1e-10).sample(model, x1.clone(),
                                                                                        grid(path, 1)).x
    measured, errors = slopes(make(), model, x1, grid, reference, (16, 32, 64))
    assert min(measured) > 1.6, (measured, errors)


def test_sde_variant_at_eta_zero_is_the_ode_solver_and_its_first_order_step_is_ddim_eta_one():
    model = GaussianMixtureScore(BROAD, VPPath(LinearSchedule()))
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(4))
    grid = LogSNRGrid()(model.path, 10)
    ode = quiet(DPMSolverSampler, 10).sample(model, x.clone(), grid).x
    sde0 = quiet(DPMSolverSampler, 10, eta=0.0).sample(model, x.clone(), grid, torch.Generator().manual_seed(5)).x
    assert torch.equal(ode, sde0)
    z = torch.randn(300, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    three = TimeGrid(torch.tensor([1.0, 0.6, 0.3], dtype=torch.float64), False)  # noise on the first step only
    outs = []
    for sampler in (quiet(DPMSolverSampler, order=1, eta=1.0), quiet(DDIMSampler, eta=1.0)):
        sampler.noise_like = lambda x, generator: z
        outs.append(sampler.sample(model, x.double(), three).x)
    assert (outs[0] - outs[1]).abs().max() < 1e-12


@pytest.mark.parametrize("steps,denoise,lower_order_final,orders", [
    (20, True, True, [1, 2, 3, 3, 2]),     # with the jump: the step before it is second order at any length
    (20, False, True, [1, 2, 3, 3, 3]),    # without: diffusers' rule, only below 15 steps
    (10, False, True, [1, 2, 3, 2, 1]),
    (20, True, False, [1, 2, 3, 3, 3])])
def test_dpm_solver_orders_along_the_grid(steps, denoise, lower_order_final, orders):
    """Warm-up from order 1, and the final steps' orders (the first two and the last three steps shown)."""
    path = VPPath(LinearSchedule())
    grid = UniformGrid(denoise=denoise)(path, steps)
    plan = quiet(DPMSolverSampler, steps, order=3, lower_order_final=lower_order_final).plan(path, grid.times, denoise)
    assert [len(u.x0) for u in plan[:2] + plan[-3:]] == orders


def test_unipc_without_its_corrector_is_dpm_solver_2m():
    model = GaussianMixtureScore(BROAD, VPPath(LinearSchedule()))
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    grid = LogSNRGrid()(model.path, 10)
    reference = quiet(DPMSolverSampler, 10).sample(model, x.clone(), grid).x
    for sampler in (quiet(UniPCSampler, 10, corrector=False),
                    quiet(UniPCSampler, 10, disable_corrector=list(range(10)))):
        assert (sampler.sample(model, x.clone(), grid).x - reference).abs().max() < 1e-12
    corrected = quiet(UniPCSampler, 10).sample(model, x.clone(), grid).x
    assert (corrected - reference).abs().max() > 1e-4


@pytest.mark.parametrize("path,denoise,nfe", [(VPPath(LinearSchedule()), True, (10, 10, 19)),
                                              (VPPath(LinearSchedule()), False, (10, 10, 20)),
                                              (CondOTPath(), True, (10, 10, 18)),
                                              (CondOTPath(), False, (10, 10, 19))])
def test_nfe_counts(path, denoise, nfe):
    """One evaluation per step for DPM-Solver++ and UniPC (the jump included); EDM's Heun 2n - 1 with the jump,
    one fewer out of alpha(1) = 0 (no correction there)."""
    model = GaussianMixtureScore(BROAD, path)
    grid = KarrasGrid(denoise=denoise)
    for sampler, expected in zip((quiet(DPMSolverSampler, 10, order=3, eta=1.0), quiet(UniPCSampler, 10, order=3),
                                  quiet(EDMHeunSampler, 10)), nfe):
        assert draw(model, sampler, (5, 2), grid).nfe == expected, sampler


@pytest.mark.parametrize("make", [lambda: quiet(DPMSolverSampler, 5), lambda: quiet(UniPCSampler, 5),
                                  lambda: quiet(EDMHeunSampler, 5)])
def test_samplers_take_the_arguments_the_module_passes(make):
    """DiffusionModule.generate calls sample(model, x, grid, generator, progress, data_range) positionally."""
    model = GaussianMixtureScore(BROAD, CondOTPath())
    seen = []
    x = model.path.prior_sample((50, 2), torch.Generator().manual_seed(0))
    result = make().sample(model, x, LogSNRGrid()(model.path, 5), torch.Generator().manual_seed(1), seen.append, 1.0)
    assert seen and seen[-1] == 0.0 and result.x.abs().max() <= 1.0  # progress reported; data_range clips x0_hat


def test_bad_options_are_refused_with_the_key():
    for make, key in ((lambda: DPMSolverSampler(order=4), "sampler.order"),
                      (lambda: DPMSolverSampler(eta=1.5), "sampler.eta"),
                      (lambda: DPMSolverSampler(solver_type="rk"), "sampler.solver_type"),
                      (lambda: UniPCSampler(variant="bh3"), "sampler.variant"),
                      (lambda: UniPCSampler(disable_corrector=[-1]), "sampler.disable_corrector"),
                      (lambda: EDMHeunSampler(s_churn=-1), "sampler.s_churn"),
                      (lambda: EDMHeunSampler(s_tmin=2, s_tmax=1), "sampler.s_tmin"),
                      (lambda: EDMHeunSampler(s_noise=0), "sampler.s_noise")):
        with pytest.raises(UserError, match=key):
            make()


# --- EDM's churn -------------------------------------------------------------------------------------------------
def test_edm_without_churn_is_k_diffusion_sample_heun():
    """k-diffusion's sample_heun on the VE path's sigmas (alpha = 1): d = (x - D)/sigma, Euler, trapezoid."""
    model = GaussianMixtureScore(BROAD, VE)
    x = 80 * torch.randn(100, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    grid = KarrasGrid(denoise=False)(VE, 6)
    times, sigmas = grid.times.tolist(), VE.sigma(grid.times).tolist()
    y = x.clone()
    for i in range(len(times) - 1):
        d = (y - model(y, times[i]).x0) / sigmas[i]
        dt = sigmas[i + 1] - sigmas[i]
        y2 = y + d * dt
        d2 = (y2 - model(y2, times[i + 1]).x0) / sigmas[i + 1]
        y = y + (d + d2) / 2 * dt
    assert (quiet(EDMHeunSampler, 6).sample(model, x.clone(), grid).x - y).abs().max() < 1e-10


@pytest.mark.parametrize("s_noise,exact", [(1.0, True), (1.5, False)])
def test_churn_keeps_the_marginal(s_noise, exact):
    """Exact draws from p_t, churned (gamma = sqrt 2 - 1), are draws from p_{t_hat}; with s_noise = 1.5 they are not."""
    path = VPPath(LinearSchedule())
    sampler = quiet(EDMHeunSampler, 2, s_churn=10.0, s_noise=s_noise)
    times = torch.tensor([0.5, 0.3], dtype=torch.float64)
    step = sampler.plan(path, times)[0]
    assert step.t_hat > 0.5 and step.noise > 0
    x0 = BROAD.sample(4000, torch.Generator().manual_seed(8))[0].double()
    x = path.sample_marginal(x0, 0.5, torch.randn(4000, 2, generator=torch.Generator().manual_seed(9),
                                                   dtype=torch.float64))[0]
    churned = step.scale * x + step.noise * torch.randn(4000, 2, generator=torch.Generator().manual_seed(10),
                                                        dtype=torch.float64)
    fresh = path.sample_marginal(BROAD.sample(4000, torch.Generator().manual_seed(11))[0].double(), step.t_hat,
                                 torch.randn(4000, 2, generator=torch.Generator().manual_seed(12),
                                             dtype=torch.float64))[0]
    ed = energy_distance(churned, fresh)
    assert (ed < 0.004) if exact else (ed > 0.01), ed


def test_edm_with_churn_reproduces_the_mixture():
    model = GaussianMixtureScore(BROAD, VPPath(LinearSchedule()))
    reference = BROAD.sample(4000, torch.Generator().manual_seed(99))[0]
    sampler = quiet(EDMHeunSampler, 20, s_churn=20.0, s_tmin=0.05, s_tmax=50.0)
    result = draw(model, sampler, (4000, 2), KarrasGrid(), torch.Generator().manual_seed(0))
    assert energy_distance(result.x, reference) < 0.005
    deterministic = draw(model, quiet(EDMHeunSampler, 20), (4000, 2), KarrasGrid(), torch.Generator().manual_seed(0))
    assert not torch.equal(result.x, deterministic.x)


# --- grids -------------------------------------------------------------------------------------------------------
def test_karras_grid_hits_its_noise_ratios_and_its_ends():
    vp = VPPath(LinearSchedule())
    grid = KarrasGrid()(vp, 12)
    times, ratios = grid.times, vp.noise_ratio(grid.times)
    top, bottom = ratios[0].item(), vp.noise_ratio(torch.tensor(1e-3, dtype=torch.float64)).item()
    i = torch.arange(12, dtype=torch.float64) / 11
    expected = (top ** (1 / 7) + i * (bottom ** (1 / 7) - top ** (1 / 7))) ** 7
    assert times[0] == 1.0 and times[-1] == 1e-3 and (times.diff() < 0).all() and len(times) == 12
    assert ((ratios - expected).abs() / expected).max() < 1e-10


def test_karras_grid_on_the_edm_path_is_edms_own():
    """EDM's edm_sampler t_steps (sigma_min 0.002, sigma_max 80, rho 7, 18 steps) then its Euler step to 0."""
    edm = VEPath(GeometricSchedule(0.002, 80.0))
    grid = KarrasGrid(sigma_min=0.002, sigma_max=80.0)(edm, 18)
    i = torch.arange(18, dtype=torch.float64)
    t_steps = (80 ** (1 / 7) + i / 17 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7
    assert grid.denoise and grid.num_steps == 18
    assert ((edm.sigma(grid.times) - t_steps).abs() / t_steps).max() < 1e-10


@pytest.mark.parametrize("grid_class", [KarrasGrid, LogSNRGrid])
def test_a_flow_path_grid_starts_at_t_one_then_at_sigma_80(grid_class):
    path = CondOTPath()
    for steps in (2, 3, 10):
        times = grid_class()(path, steps).times
        assert times[0] == 1.0 and times[-1] == 1e-3 and len(times) == steps and (times.diff() < 0).all()
    times = grid_class()(path, 10).times
    assert path.noise_ratio(times[1]).item() == pytest.approx(80.0, rel=1e-12)
    if grid_class is LogSNRGrid:
        lam = -path.noise_ratio(times[1:]).log()
        assert (lam.diff() - lam.diff()[0]).abs().max() < 1e-10


def test_log_snr_grid_needs_a_positive_end():
    with pytest.raises(UserError, match="grid.t_eps"):
        LogSNRGrid(t_eps=0.0)(CondOTPath(), 10)
