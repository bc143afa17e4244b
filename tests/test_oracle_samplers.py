"""The oracle matrix: every sampler, driven by the exact denoiser of a Gaussian mixture, reproduces the
mixture on every path, or is refused up front with one line. Paths and samplers are read from the config
groups (genflow/conf/path, genflow/conf/sampler), so a new one is covered without touching this file; a
sampler missing from SETTINGS runs with its config's defaults.

Bound: energy distance to 4000 fresh mixture draws below 0.005 on 4000 samples, and the fraction of
samples nearest each mode within 0.03 of its weight. Two independent sets of 4000 mixture draws give
|ED| <= 0.003; the exact probability-flow map of 4000 prior draws (dopri5, 1e-7) 0.001; the samplers
below 0.0026; the score scaled by 0.7 at least 0.008.
"""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from genflow.errors import UserError
from genflow.metrics.sample_distance import energy_distance
from genflow.oracles import GaussianMixture, GaussianMixtureScore
from genflow.paths import CondOTPath, LinearSchedule, VPPath
from genflow.prediction import ModelFunction
from genflow.samplers.base import draw
from genflow.samplers.grids import LogSNRGrid, PowerGrid, UniformGrid, power_times
from genflow.samplers.langevin import AnnealedLangevinSampler
from genflow.samplers.pf_ode import FIXED, ProbabilityFlowSampler

MIXTURE = GaussianMixture([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]], std=0.4, weights=[0.5, 0.3, 0.2])
GAUSSIAN = GaussianMixture([[1.0, -0.5]], covs=[[[0.3, 0.1], [0.1, 0.2]]])
N = 4000
BOUND = 0.005
CONF = Path(__file__).resolve().parents[1] / "genflow" / "conf"
PATHS = sorted(p.stem for p in (CONF / "path").glob("*.yaml"))
SAMPLERS = sorted(p.stem for p in (CONF / "sampler").glob("*.yaml"))

# test settings per sampler: overrides (few evaluations, enough for the bound) and the grid
SETTINGS = {
    "ancestral": ["sampler.num_steps=200"],
    "ddim": ["sampler.num_steps=50"],
    "euler_maruyama": ["sampler.num_steps=200"],
    "pc": ["sampler.num_steps=100"],
    "pf_ode": ["sampler.method=rk4", "sampler.num_steps=25"],
    "annealed_langevin": ["sampler.num_steps=10", "sampler.steps_per_level=50", "grid=log_snr",
                          "grid.sigma_min=0.01", "grid.sigma_max=10"],  # Song & Ermon's geometric levels
    "langevin": ["sampler.num_steps=600"],
    # few-step solvers on their usual grids (DPM-Solver's log-SNR grid, EDM's Karras grid); the SDE variant and
    # sub-VP (whose t_eps = 1e-3 is sigma/alpha = 1e-4, so the log-SNR grid spends steps below the data's scale)
    # need the most
    "dpmpp_2m": ["sampler.num_steps=20", "grid=log_snr"],
    "dpmpp_3m": ["sampler.num_steps=20", "grid=log_snr"],
    "dpmpp_2m_sde": ["sampler.num_steps=30", "grid=log_snr"],
    "unipc": ["sampler.num_steps=20", "grid=log_snr"],
    "edm_heun": ["sampler.num_steps=20", "grid=karras"],  # 39 NFE (38 on the flow path)
}
#: (path, sampler) pairs that are refused with one line, and the words of the refusal
REFUSED: dict[tuple[str, str], str] = {}


def compose_pair(path_name: str, sampler_name: str):
    """(path, sampler, grid) from the configs: the discrete model's own grid on DDPM (1000 steps), uniform
    elsewhere (NCSN's own ten levels are too few for the stepping samplers), unless SETTINGS says."""
    settings = SETTINGS.get(sampler_name, [])
    grid = [] if any(o.startswith("grid=") for o in settings) else [
        f"grid={'discrete' if path_name == 'ddpm' else 'uniform'}"]
    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        cfg = compose("train", overrides=[f"path={path_name}", f"sampler={sampler_name}", *grid,
                                          "sampler.progress=false", *settings])
    return instantiate(cfg.path), instantiate(cfg.sampler), instantiate(cfg.grid)


@pytest.fixture(scope="module")
def references():
    return {id(m): m.sample(N, torch.Generator().manual_seed(99))[0] for m in (MIXTURE, GAUSSIAN)}


def mode_fractions(x, mixture):
    nearest = torch.cdist(x.double(), mixture.means).argmin(1)
    return torch.bincount(nearest, minlength=mixture.num_components) / len(x)


@pytest.mark.parametrize("sampler_name", SAMPLERS)
@pytest.mark.parametrize("path_name", PATHS)
def test_every_sampler_reproduces_the_mixture_on_every_path(references, path_name, sampler_name):
    path, sampler, grid = compose_pair(path_name, sampler_name)
    mixture = MIXTURE if sampler.mixes_modes else GAUSSIAN
    model = GaussianMixtureScore(mixture, path)
    if (path_name, sampler_name) in REFUSED:
        with pytest.raises(UserError, match=REFUSED[path_name, sampler_name]):
            draw(model, sampler, (N, 2), grid, torch.Generator().manual_seed(0))
        return
    result = draw(model, sampler, (N, 2), grid, torch.Generator().manual_seed(0))
    assert result.nfe > 0
    ed = energy_distance(result.x, references[id(mixture)])
    assert ed < BOUND, ed
    fractions = mode_fractions(result.x, mixture)
    assert torch.allclose(fractions, mixture.weights.float(), atol=0.03), fractions


class ScaledScore(ModelFunction):
    """A deliberately wrong model: the exact score times 0.7."""

    kind = "score"

    def __init__(self, path):
        super().__init__()
        self.exact, self.path = GaussianMixtureScore(MIXTURE, path), path

    def raw(self, x, t):
        return 0.7 * self.exact(x, t).score


@pytest.mark.parametrize("path_name,sampler_name", [("vp", "euler_maruyama"), ("ve", "pf_ode"), ("ncsn", "pc"),
                                                    ("ddpm", "ddim"), ("cond_ot", "annealed_langevin"),
                                                    ("subvp", "ancestral")])
def test_a_wrong_score_violates_the_bound(references, path_name, sampler_name):
    path, sampler, grid = compose_pair(path_name, sampler_name)
    x = draw(ScaledScore(path), sampler, (N, 2), grid, torch.Generator().manual_seed(0)).x
    assert energy_distance(x, references[id(MIXTURE)]) > BOUND


def test_plain_langevin_keeps_wrong_mode_weights_and_annealing_fixes_them():
    """Plain Langevin at the smallest noise level finds the modes but not their weights (Song & Ermon 2019,
    section 3); annealed over geometric levels it gets them (measured: 0.44 / 0.40 / 0.16 vs 0.5 / 0.3 / 0.2)."""
    path, plain, grid = compose_pair("vp", "langevin")
    model = GaussianMixtureScore(MIXTURE, path)
    x = draw(model, plain, (N, 2), grid, torch.Generator().manual_seed(0)).x
    assert (mode_fractions(x, MIXTURE) - MIXTURE.weights).abs().max() > 0.05
    annealed = AnnealedLangevinSampler(10, 50, progress=False)
    x = draw(model, annealed, (N, 2), LogSNRGrid(0.01, 10.0), torch.Generator().manual_seed(0)).x
    assert (mode_fractions(x, MIXTURE) - MIXTURE.weights).abs().max() < 0.03


def test_nfe_is_counted():
    model = GaussianMixtureScore(MIXTURE, VPPath(LinearSchedule()))
    shape = (10, 2)
    for sampler, grid, nfe in ((ProbabilityFlowSampler("rk4", 10, progress=False), UniformGrid(denoise=False), 40),
                               (ProbabilityFlowSampler("euler", 10, progress=False), UniformGrid(), 10),
                               (ProbabilityFlowSampler("heun", 10, progress=False), UniformGrid(denoise=False), 20),
                               (AnnealedLangevinSampler(5, 3, progress=False), UniformGrid(), 16),  # 5 levels and the jump
                               (AnnealedLangevinSampler(5, 3, progress=False), UniformGrid(denoise=False), 18)):  # 6 levels
        assert draw(model, sampler, shape, grid).nfe == nfe


@pytest.mark.parametrize("path_name", ["vp", "ve", "cond_ot"])
def test_pf_ode_is_deterministic_and_invertible(path_name):
    path, _, _ = compose_pair(path_name, "pf_ode")
    model = GaussianMixtureScore(MIXTURE, path)
    sampler = ProbabilityFlowSampler("dopri5", rtol=1e-6, atol=1e-6, progress=False)
    grid = UniformGrid(denoise=False)(path, 1)
    z = torch.randn(500, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = sampler.sample(model, z.clone(), grid).x
    assert torch.equal(x, sampler.sample(model, z.clone(), grid).x)
    assert (sampler.encode(model, x, grid.times) - z).abs().max() < 1e-3


@pytest.mark.parametrize("method,order", [("euler", 1), ("midpoint", 2), ("heun", 2), ("heun3", 3), ("rk4", 4)])
def test_fixed_step_methods_converge_at_their_order(method, order):
    """Global error of the probability-flow ODE of a broad mixture on the flow path against an adaptive
    solution at 1e-10, from the same prior draw to t = 0.1: halving the step divides it by about 2^order.
    ``heun`` is the second-order method (2 evaluations per step) of EDM, k-diffusion and diffusers."""
    mixture = GaussianMixture([[-1.0, 0.0], [1.0, 0.5]], std=0.8)
    model = GaussianMixtureScore(mixture, CondOTPath())
    z = torch.randn(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    end = UniformGrid(t_eps=0.1, denoise=False)
    exact = ProbabilityFlowSampler("dopri5", rtol=1e-10, atol=1e-10, progress=False)
    reference = exact.sample(model, z.clone(), end(model.path, 1)).x
    errors = []
    for steps in (8, 16):
        sampler = ProbabilityFlowSampler(method, steps, progress=False)
        result = sampler.sample(model, z.clone(), end(model.path, steps))
        assert result.nfe == steps * FIXED[method][1]
        errors.append((result.x - reference).abs().max().item())
    assert errors[0] / errors[1] > 2 ** (order - 0.4), errors


def test_power_grid_is_uniform_at_one_and_finer_near_the_data_above():
    uniform = power_times(1.0, 1e-3, 4)
    assert torch.allclose(uniform, torch.linspace(1.0, 1e-3, 5, dtype=torch.float64))
    fine = power_times(1.0, 1e-3, 4, 1.5)
    steps = -fine.diff()
    assert fine[0] == 1.0 and fine[-1] == 1e-3 and (steps > 0).all()
    assert steps[-1] < uniform[0] - uniform[1] < steps[0]  # large steps near the prior, small near the data
    assert torch.equal(power_times(1e-3, 1.0, 4, 1.5), fine.flip(0))  # encoding walks the same grid back


@pytest.mark.parametrize("std,better", [(0.1, 1.5), (0.4, 1.0)])
def test_a_power_grid_helps_few_steps_where_modes_are_narrow(std, better):
    """Two midpoint steps (4 NFE) of the exact flow-matching field: the field bends near the data when
    the modes are narrow, and steps finer there (rho = 1.5) win; for broad modes uniform ones do."""
    mixture = GaussianMixture(MIXTURE.means.tolist(), std=std, weights=MIXTURE.weights.tolist())
    reference = mixture.sample(N, torch.Generator().manual_seed(99))[0]

    def ed(rho):
        model = GaussianMixtureScore(mixture, CondOTPath())
        x = draw(model, ProbabilityFlowSampler("midpoint", 2, progress=False), (N, 2), PowerGrid(rho, denoise=False),
                 torch.Generator().manual_seed(0)).x
        return energy_distance(x, reference)
    other = 1.0 if better == 1.5 else 1.5
    assert ed(better) < 0.5 * ed(other)
