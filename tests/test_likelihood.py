"""PF-ODE / CNF likelihood against the Gaussian-mixture oracle's closed-form density."""

import itertools
import math

import pytest
import torch

from genflow.couplings import ot_pairing
from genflow.likelihood import VelocityField, log_likelihood
from genflow.prediction import ModelFunction
from genflow.oracles import GaussianMixture, GaussianMixtureScore
from genflow.paths import CondOTPath, GeometricSchedule, LinearSchedule, VEPath, VPPath

MIXTURE = GaussianMixture([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]], std=0.4, weights=[0.5, 0.3, 0.2])
T_EPS = 1e-3


def setup(path):
    x = MIXTURE.sample(100, torch.Generator().manual_seed(0))[0].double()
    exact = MIXTURE.log_prob(x, torch.full((100,), T_EPS, dtype=torch.float64), path)
    field = VelocityField(GaussianMixtureScore(MIXTURE, path))
    return x, exact, field


@pytest.mark.parametrize("path", [VPPath(LinearSchedule()), CondOTPath()], ids=["vp", "cond_ot"])
def test_exact_trace_matches_closed_form_density(path):
    x, exact, field = setup(path)
    res = log_likelihood(field, x, path.prior_logp, T_EPS, 1.0, trace="exact", rtol=1e-6, atol=1e-6)
    assert (res.logp - exact).abs().max() < 0.02  # measured: 0.011 (VP), 0.0003 (CondOT)


def test_ve_ode_is_exact_given_the_true_prior():
    """VE's N(0, sigma_max^2) prior is approximate; with the true p_1 the ODE part is exact."""
    path = VEPath(GeometricSchedule(0.01, 10.0))
    x, exact, field = setup(path)
    true_prior = lambda z: MIXTURE.log_prob(z, torch.ones(len(z), dtype=torch.float64), path)  # noqa: E731
    res = log_likelihood(field, x, true_prior, T_EPS, 1.0, trace="exact", rtol=1e-6, atol=1e-6)
    assert (res.logp - exact).abs().max() < 0.02


@pytest.mark.parametrize("noise", ["rademacher", "gaussian"])
def test_hutchinson_is_unbiased(noise):
    path = CondOTPath()
    x, exact, field = setup(path)
    draws = torch.stack([log_likelihood(field, x, path.prior_logp, T_EPS, 1.0, trace="hutchinson", noise=noise,
                                        method="rk4", num_steps=20,
                                        generator=torch.Generator().manual_seed(k)).logp for k in range(8)])
    err = draws - exact  # (draws, points)
    se = err.std() / err.numel() ** 0.5
    assert err.mean().abs() < 3 * se + 2e-3, (err.mean(), se)
    assert err.std() > 1e-3  # it is an estimate, not the exact trace


def test_wrong_model_gives_wrong_density():
    path = CondOTPath()
    x, exact, _ = setup(path)

    class Scaled(ModelFunction):
        """0.7 x the exact velocity (a score would be undefined at t = 1, where the flow path's alpha is 0)."""
        kind = "velocity"

        def __init__(self):
            super().__init__()
            self.exact, self.path = GaussianMixtureScore(MIXTURE, path), path

        def raw(self, x, t):
            return 0.7 * self.exact(x, t).velocity

    res = log_likelihood(VelocityField(Scaled()), x, path.prior_logp, T_EPS, 1.0)
    assert (res.logp - exact).abs().mean() > 0.1


def test_ot_pairing_is_the_optimal_permutation():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    paired = ot_pairing(x0, eps)
    cost = ((x0 - paired) ** 2).sum()
    best = min(((x0 - eps[list(p)]) ** 2).sum() for p in itertools.permutations(range(6)))
    assert torch.isclose(cost, best)
    assert sorted(paired[:, 0].tolist()) == sorted(eps[:, 0].tolist())
    big_x, big_e = torch.randn(256, 2, generator=g), torch.randn(256, 2, generator=g)
    assert ((big_x - ot_pairing(big_x, big_e)) ** 2).sum() < 0.5 * ((big_x - big_e) ** 2).sum()


def test_eval_nll_keeps_no_graph_through_the_solve(monkeypatch):
    """genflow eval integrates the likelihood ODE without a graph through the whole solve: with one, memory
    grows with every function evaluation (500 digits at ~1,000 NFE took all 80 GB of an H100)."""
    from omegaconf import OmegaConf

    import genflow.app.evaluate as evaluate
    from genflow.app.compose import build_run

    _, dm, module = build_run(["model=flow_matching", "data=moons", "net.hidden=16"])
    results, real = [], evaluate.log_likelihood
    monkeypatch.setattr(evaluate, "log_likelihood", lambda *a, **k: results.append(real(*a, **k)) or results[-1])
    cfg = OmegaConf.create({"trace": None, "t_eps": None, "use_ema": True, "seed": 0, "batch_size": 50,
                            "noise": "rademacher", "method": "euler", "num_steps": 4, "rtol": 1e-5, "atol": 1e-5})
    metrics = evaluate.negative_log_likelihood(module, dm.reference(100), cfg)
    assert len(results) == 2 and metrics["nfe"] == 8 and math.isfinite(metrics["nll_nats"])
    assert not any(r.logp.requires_grad or r.latent.requires_grad for r in results)
