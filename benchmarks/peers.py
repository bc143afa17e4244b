"""Few-step quality against peers, each at its best: settings tuned on tuning seeds, compared on held-out seeds.

    pip install -e ".[bench]"     # diffusers, flow_matching, torchcfm (torchdyn)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/peers.py --data moons      # ~13 minutes on 2 busy CPU cores

Protocol (issue 21; settings per the peers' docs, fewstep spec sec. 9):

- Five trained models per data set and seed, all genflow's MLP (3 x 256, SiLU) on the same normalised data
  stream, batch, number of steps, AdamW (lr 2e-3, 100 warm-up steps), clipping at 1 and EMA 0.995; the
  training seed also fixes the initial weights, identical for every method. genflow's two (``model=ddpm``,
  ``model=flow_matching``) train through Lightning as ``genflow train`` does; the peers' three in a plain loop
  with their own loss: diffusers DDPM (``DDPMScheduler.add_noise``, linear betas, 1000 steps, eps),
  facebookresearch flow_matching (``AffineProbPath(CondOTScheduler())``), torchcfm ``ConditionalFlowMatcher``
  (sigma 0). Trained weights are cached under results/peers_cache/.
- Every model gets its own library's samplers, swept over their options at each NFE budget:
  genflow: ddim, dpmpp_2m, dpmpp_3m, dpmpp_2m_sde, unipc (bh2 / bh1, order 2 / 3), edm_heun, pf_ode
  (euler / midpoint / heun), ancestral (DDPM) x the grid group (DDPM: discrete with spacing linspace / trailing
  / leading, linspace and leading also with drop_t1; uniform / time_power / karras / log_snr);
  diffusers: DPMSolverMultistep (order 2 / 3 x spacing linspace / trailing / leading, Karras sigmas, Lu lambdas;
  sde-dpmsolver++ order 2 x the spacings / Karras),
  UniPCMultistep (order 2 / 3 x bh2 / bh1 x spacing / Karras), DDIM (eta 0, no clipping, alpha_1 = 1, the three
  spacings), DDPM (fixed_small / fixed_large x leading / trailing);
  flow_matching: ODESolver euler / midpoint / heun2 x time grid uniform / time_power 1.5 (genflow's) / EDM
  (its image example's ``--edm_schedule``);  torchcfm: torchdyn NeuralODE euler / midpoint / rk4 x the same grids.
  At a budget B each sampler takes the largest number of steps whose NFE (counted network calls) is <= B.
- Settings are chosen per model and budget by the mean energy distance (ED) on the tuning seeds (default 0-2,
  --n-tune samples); the chosen settings are then run on the evaluation seeds (default 3-14, --n-eval
  samples): ED and sliced W2 (SW) against a fixed set of 10,000 fresh data points.
- Paired comparison on the evaluation seeds: d_s = ED(genflow's best, seed s) - ED(best peer, seed s)
  (negative: genflow better; "best" = the model x sampler with the lowest tuning-seed mean at that budget);
  mean, standard error (sd / sqrt(seeds)) and seeds won. Model comparison with the same sampler: every net of
  a family run with one fixed sampler (each library's tuned best, and flow_matching's midpoint on a uniform
  grid), paired the same way.

Writes results/peers_fair_<data>.json; per-line output ``<label>  seed S NFE N  SW x  ED y`` (paired_seeds.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from common import bare_loop, machine, train_genflow
from genflow.app.compose import build_run
from genflow.errors import NonFiniteSampleError, UserError
from genflow.metrics.frechet import digits_features, frechet_distance
from genflow.metrics.sample_distance import sliced_wasserstein
from genflow.modules.ema import make_ema

HERE = Path(__file__).parent
OUT = HERE / "results"
CACHE = OUT / "peers_cache"
CONF = HERE.parent / "genflow" / "conf"
DDPM_T = 1000

# --- which models, and how each is trained -------------------------------------------------------------
MODELS = {  # label: (family, library)
    "genflow DDPM": ("ddpm", "genflow"), "diffusers DDPM": ("ddpm", "diffusers"),
    "genflow FM": ("fm", "genflow"), "flow_matching FM": ("fm", "flow_matching"), "torchcfm CFM": ("fm", "torchcfm"),
}
GENFLOW_MODEL = {"ddpm": "ddpm", "fm": "flow_matching"}
OVERRIDES = []  # --override: Hydra overrides for every model's build (e.g. net=mlp net.hidden=512 on digits)
DATA_SHAPE = (2,)  # one sample's shape, set from the data module


def overrides(family: str, data: str) -> list[str]:
    """Every model's build: the model and data presets without a tuned recipe (conf/recipe: ddpm on moons has its
    own batch and learning rate), so that all five train alike."""
    return [f"model={GENFLOW_MODEL[family]}", f"data={data}", "~recipe", *OVERRIDES]


def peer_loss(label: str):
    """The peer's own training loss on a batch x1 (normalised data) for the bare net(x, t)."""
    if label == "diffusers DDPM":
        from diffusers import DDPMScheduler

        sched = DDPMScheduler(num_train_timesteps=DDPM_T, beta_schedule="linear", clip_sample=False)

        def loss(net, x):
            t = torch.randint(0, DDPM_T, (x.shape[0],))
            eps = torch.randn_like(x)
            return (net(sched.add_noise(x, eps, t), t / DDPM_T) - eps).square().mean()
        return loss
    if label == "flow_matching FM":
        from flow_matching.path import AffineProbPath
        from flow_matching.path.scheduler import CondOTScheduler

        path = AffineProbPath(scheduler=CondOTScheduler())

        def loss(net, x1):
            s = path.sample(x_0=torch.randn_like(x1), x_1=x1, t=torch.rand(x1.shape[0]))
            return (net(s.x_t, s.t) - s.dx_t).square().mean()
        return loss
    if label == "torchcfm CFM":
        from torchcfm.conditional_flow_matching import ConditionalFlowMatcher

        fm = ConditionalFlowMatcher(sigma=0.0)

        def loss(net, x1):
            t, xt, ut = fm.sample_location_and_conditional_flow(torch.randn_like(x1), x1)
            return (net(xt, t) - ut).square().mean()
        return loss
    raise KeyError(label)


def trained_net(label: str, data: str, steps: int, seed: int) -> nn.Module:
    """The EMA network of ``label`` trained on ``data`` (cached): for genflow the Denoiser's MLP (genflow's time,
    t = 0 data), for the peers the MLP in their own convention."""
    family, library = MODELS[label]
    override_tag = "".join(f"_{o.replace('=', '-')}" for o in OVERRIDES)
    path = CACHE / f"{data}{override_tag}_{label.replace(' ', '_')}_{steps}_s{seed}.pt"
    _, _, module = build_run(overrides(family, data), seed)
    net = module.denoiser.net
    if path.exists():
        net.load_state_dict(torch.load(path, weights_only=True))
        return net.eval()
    t0 = time.perf_counter()
    if library == "genflow":
        module, _, _ = train_genflow(overrides(family, data), steps, seed)
        net = module.ema.module.net
    else:
        cfg, dm, module = build_run(overrides(family, data), seed)
        bare, loss = module.denoiser.net, peer_loss(label)
        ema = make_ema(bare, cfg.model.ema_decay)
        bare_loop(module, dm, lambda x: loss(bare, module.normalize(x)), steps, bare,
                  clip=cfg.trainer.gradient_clip_val, ema=ema)
        net = ema.module
    print(f"# trained {label} seed {seed}: {time.perf_counter() - t0:.1f} s", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return net.eval()


# --- nets seen through each library's convention -------------------------------------------------------
class GenflowView(nn.Module):
    """A net in genflow's convention (t = 0 data; FM: velocity dx/dt; DDPM: eps at t = (k + 1)/T)."""

    def __init__(self, net: nn.Module, library: str):
        super().__init__()
        self.net, self.library = net, library

    def forward(self, x, t, y=None):
        if self.library == "genflow":
            return self.net(x, t, y)
        if self.library == "diffusers":  # trained on input k/T for genflow's t = (k + 1)/T
            return self.net(x, t - 1 / DDPM_T)
        return -self.net(x, 1 - t)  # flow_matching / torchcfm: s = 1 - t, velocity towards the data at s = 1


def peer_view(net: nn.Module, family: str, library: str):
    """The net as the peers' samplers call it: FM: velocity v(x, s) with s = 1 data; DDPM: eps(x, k) for an
    integer timestep k."""
    if family == "ddpm":
        shift = 1 if library == "genflow" else 0  # genflow's t = (k + 1)/T, diffusers' input k/T
        return lambda x, k: net(x, torch.full((len(x),), (float(k) + shift) / DDPM_T))
    if library == "genflow":
        return lambda x, s: -net(x, 1 - s.expand(len(x)))
    return lambda x, s: net(x, s.expand(len(x)))


# --- samplers ------------------------------------------------------------------------------------------
def build(group: str, name: str, **overrides):
    cfg = OmegaConf.load(CONF / group / f"{name}.yaml")
    for key, value in overrides.items():
        cfg[key] = value
    return instantiate(cfg)


GENFLOW_SAMPLERS = {  # name: (preset, overrides, evaluations per step)
    "ddim": ("ddim", {}), "dpmpp_2m": ("dpmpp_2m", {}), "dpmpp_3m": ("dpmpp_3m", {}),
    "dpmpp_2m_sde": ("dpmpp_2m_sde", {}), "unipc": ("unipc", {}), "unipc_bh1": ("unipc", {"variant": "bh1"}),
    "unipc_3": ("unipc", {"order": 3}), "edm_heun": ("edm_heun", {}),
    "pf_ode_euler": ("pf_ode", {"method": "euler"}), "pf_ode_midpoint": ("pf_ode", {"method": "midpoint"}),
    "pf_ode_heun": ("pf_ode", {"method": "heun"}), "ancestral": ("ancestral", {}),
    "ancestral_posterior": ("ancestral", {"variance": "posterior"}),
}
GENFLOW_GRIDS = {"ddpm": ("discrete", "discrete+drop_t1", "trailing", "leading", "leading+drop_t1", "uniform",
                          "time_power", "karras", "log_snr"),
                 "fm": ("uniform", "time_power", "karras", "log_snr")}
GRID_PRESETS = {  # a sweep name: (grid preset, overrides); drop_t1 explicit (its default, auto, follows the sampler)
    "discrete": ("discrete", {"drop_t1": False}), "discrete+drop_t1": ("discrete", {"drop_t1": True}),
    "leading": ("discrete", {"spacing": "leading", "drop_t1": False}),
    "leading+drop_t1": ("discrete", {"spacing": "leading", "drop_t1": True}),
    "trailing": ("trailing", {"drop_t1": False}),
}
GENFLOW_FAMILY_SAMPLERS = {
    "ddpm": ("ddim", "dpmpp_2m", "dpmpp_3m", "dpmpp_2m_sde", "unipc", "unipc_bh1", "unipc_3", "edm_heun",
             "ancestral", "ancestral_posterior"),
    "fm": ("ddim", "dpmpp_2m", "dpmpp_3m", "unipc", "unipc_bh1", "unipc_3", "edm_heun", "pf_ode_euler",
           "pf_ode_midpoint", "pf_ode_heun"),
}


class GenflowSampling:
    """genflow's sampler ``name`` on ``grid`` for a family's module whose EMA net is replaced by ``view``."""

    def __init__(self, module, name: str, grid: str):
        self.module, self.name, self.grid_name = module, name, grid
        preset, overrides = GRID_PRESETS.get(grid, (grid, {}))
        self.grid = build("grid", preset, **overrides)
        self._steps = {}

    def sampler(self, n):
        preset, overrides = GENFLOW_SAMPLERS[self.name]
        return build("sampler", preset, num_steps=n, progress=False, x0_clip="none", **overrides)

    def steps(self, budget: int) -> int:
        """The largest num_steps whose NFE (probed on one point) is <= budget."""
        if budget not in self._steps:
            def nfe(n):
                return self.module.generate(self.sampler(n), 1, grid=self.grid,
                                            generator=torch.Generator().manual_seed(0))[1]
            n = max(1, budget // self.sampler(2).evaluations_per_step)
            while n > 1 and nfe(n) > budget:
                n -= 1
            while nfe(n + 1) <= budget:
                n += 1
            self._steps[budget] = n
        return self._steps[budget]

    def __call__(self, view, n_samples, budget, gen):
        self.module.ema.module.net = view
        x, nfe = self.module.generate(self.sampler(self.steps(budget)), n_samples, grid=self.grid, generator=gen)
        return self.module.normalize(x), nfe


def diffusers_configs():
    """name: (scheduler class name, constructor options)."""
    out = {}
    for order, spacing in itertools.product((2, 3), ("linspace", "trailing", "leading")):
        out[f"dpmsolver++ o{order} {spacing}"] = ("DPMSolverMultistepScheduler",
                                                  {"solver_order": order, "timestep_spacing": spacing})
    for order in (2, 3):
        out[f"dpmsolver++ o{order} karras"] = ("DPMSolverMultistepScheduler",
                                               {"solver_order": order, "use_karras_sigmas": True})
        out[f"dpmsolver++ o{order} lu_lambdas"] = ("DPMSolverMultistepScheduler",
                                                   {"solver_order": order, "use_lu_lambdas": True})
    spacings = ("linspace", "trailing", "leading", "karras")
    for spacing in spacings:  # the SDE variant at the order diffusers' docs recommend
        opts = {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}
        opts.update({"use_karras_sigmas": True} if spacing == "karras" else {"timestep_spacing": spacing})
        out[f"sde-dpmsolver++ o2 {spacing}"] = ("DPMSolverMultistepScheduler", opts)
    for order, kind, spacing in itertools.product((2, 3), ("bh2", "bh1"), spacings):
        opts = {"solver_order": order, "solver_type": kind}
        opts.update({"use_karras_sigmas": True} if spacing == "karras" else {"timestep_spacing": spacing})
        out[f"unipc o{order} {kind} {spacing}"] = ("UniPCMultistepScheduler", opts)
    for spacing in ("trailing", "leading", "linspace"):
        out[f"ddim {spacing}"] = ("DDIMScheduler", {"timestep_spacing": spacing, "clip_sample": False,
                                                    "set_alpha_to_one": True})
    for variance, spacing in itertools.product(("fixed_small", "fixed_large"), ("leading", "trailing")):
        out[f"ddpm {variance} {spacing}"] = ("DDPMScheduler", {"variance_type": variance, "timestep_spacing": spacing,
                                                               "clip_sample": False})
    return out


class DiffusersSampling:
    def __init__(self, name):
        import diffusers

        cls, opts = diffusers_configs()[name]
        self.name, self.make = name, lambda: getattr(diffusers, cls)(num_train_timesteps=DDPM_T,
                                                                      beta_schedule="linear", **opts)
        self.stochastic = cls == "DDPMScheduler" or opts.get("algorithm_type", "").startswith("sde")

    def __call__(self, view, n_samples, budget, gen):
        sched = self.make()
        sched.set_timesteps(budget)
        x = torch.randn(n_samples, *DATA_SHAPE, generator=gen) * sched.init_noise_sigma
        calls = 0
        for t in sched.timesteps:
            eps = view(sched.scale_model_input(x, t), int(t))
            calls += 1
            extra = {"generator": gen} if self.stochastic else {}
            x = sched.step(eps, t, x, **extra).prev_sample
        return x, calls


def fm_grid(kind: str, intervals: int) -> torch.Tensor:
    """Times s from 0 (noise) to 1 (data): uniform; genflow's time_power 1.5 (finer near the data, t = 1 - s);
    EDM's Karras sigmas (0.002..80, rho 7) mapped by s = 1/(1 + sigma), as flow_matching's image example."""
    i = torch.arange(intervals + 1, dtype=torch.float64) / intervals
    if kind == "uniform":
        return i.float()
    if kind == "time_power":
        return (1 - (1 - i) ** 1.5).float()
    k = torch.arange(intervals, dtype=torch.float64)
    smax, smin, rho = 80.0, 0.002, 7.0
    denom = max(intervals - 1, 1)
    sigma = (smax ** (1 / rho) + k / denom * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    sigma = torch.cat([sigma, sigma.new_zeros(1)])
    return (1 / (1 + sigma)).float()


FM_PER_STEP = {"euler": 1, "midpoint": 2, "heun2": 2, "rk4": 4}


class FlowMatchingSampling:
    """facebookresearch flow_matching's ODESolver (torchdiffeq methods) on a time grid."""

    def __init__(self, method, grid):
        self.method, self.grid, self.name = method, grid, f"ODESolver {method} {grid}"

    def __call__(self, view, n_samples, budget, gen):
        from flow_matching.solver import ODESolver
        from flow_matching.utils import ModelWrapper

        calls = []

        class Field(ModelWrapper):
            def forward(self, x, t, **extras):
                calls.append(1)
                return view(x, t)

        grid = fm_grid(self.grid, max(budget // FM_PER_STEP[self.method], 1))
        x0 = torch.randn(n_samples, *DATA_SHAPE, generator=gen)
        x = ODESolver(velocity_model=Field(None)).sample(x_init=x0, step_size=None, method=self.method, time_grid=grid)
        return x, len(calls)


class TorchdynSampling:
    """torchcfm's sampler: torchdyn NeuralODE with a fixed-step solver over t_span."""

    def __init__(self, method, grid):
        self.method, self.grid, self.name = method, grid, f"NeuralODE {method} {grid}"

    def __call__(self, view, n_samples, budget, gen):
        from torchdyn.core import NeuralODE

        calls = []

        class Field(nn.Module):
            def forward(self, t, x, *args, **kwargs):
                calls.append(1)
                return view(x, t)

        span = fm_grid(self.grid, max(budget // FM_PER_STEP[self.method], 1))
        x0 = torch.randn(n_samples, *DATA_SHAPE, generator=gen)
        x = NeuralODE(Field(), solver=self.method).trajectory(x0, t_span=span)[-1]
        return x, len(calls)


def sweeps(family_modules):
    """{model label: {sampler label: callable(view, n, budget, generator) -> (x in model units, nfe)}}"""
    out = {}
    for label, (family, library) in MODELS.items():
        if library == "genflow":
            out[label] = {f"genflow {s} / {g}": GenflowSampling(family_modules[family], s, g)
                          for s in GENFLOW_FAMILY_SAMPLERS[family] for g in GENFLOW_GRIDS[family]}
        elif library == "diffusers":
            out[label] = {f"diffusers {name}": DiffusersSampling(name) for name in diffusers_configs()}
        elif library == "flow_matching":
            out[label] = {f"flow_matching {m} / {g}": FlowMatchingSampling(m, g)
                          for m in ("euler", "midpoint", "heun2") for g in ("uniform", "time_power", "edm")}
        else:
            out[label] = {f"torchcfm {m} / {g}": TorchdynSampling(m, g)
                          for m in ("euler", "midpoint", "rk4") for g in ("uniform", "time_power", "edm")}
    return out


# --- metric --------------------------------------------------------------------------------------------
class Reference:
    """Energy distance ED = 2 E|X - Y| - E|X - X'| - E|Y - Y'| (unbiased within-sample terms) to a fixed 2D
    reference Y, through |v| = 1/2 int_0^pi |theta_phi . v| dphi (midpoint rule, 64 angles): per angle the
    pairwise sums are sorted sums, sum_{i<j} |z_i - z_j| = sum_k (2k - N + 1) z_(k), so O(n log n) instead of
    the O(n m) distance matrix; and sliced W2 (POT, 256 directions)."""

    def __init__(self, y: torch.Tensor, angles: int = 64):
        phi = (torch.arange(angles, dtype=torch.float64) + 0.5) * math.pi / angles
        self.theta = torch.stack([phi.cos(), phi.sin()])
        self.y = y.double()
        self.py = self.y @ self.theta
        self.syy = self._pair_sum(self.py)

    @staticmethod
    def _pair_sum(z):
        n = len(z)
        return ((2 * torch.arange(n, dtype=torch.float64) - n + 1)[:, None] * z.sort(0).values).sum(0)

    def ed(self, x):
        px = x.double() @ self.theta
        n, m = len(px), len(self.py)
        sxx = self._pair_sum(px)
        cross = self._pair_sum(torch.cat([px, self.py])) - sxx - self.syy
        per_angle = 2 * cross / (n * m) - 2 * sxx / (n * (n - 1)) - 2 * self.syy / (m * (m - 1))
        return float(per_angle.mean() * math.pi / 2)

    def sw(self, x):
        return sliced_wasserstein(x, self.y)


class FrechetReference:
    """Images: the digits Frechet distance (genflow.metrics.frechet, as ``genflow eval metric=fd_digits``) in
    place of ED, and sliced W2 on the flattened pixels, against every real digit ([0, 1] pixels)."""

    def __init__(self, y: torch.Tensor):
        self.y, self.features = y, digits_features()

    def ed(self, x):
        return frechet_distance(self.y, x.clamp(0, 1), self.features)

    def sw(self, x):
        return sliced_wasserstein(x.clamp(0, 1), self.y)


def run(sampling, view, module, n, budget, seed):
    """Samples in data units and the NFE spent; None where the sampler refuses or diverges."""
    try:
        with torch.no_grad():
            x, nfe = sampling(view, n, budget, torch.Generator().manual_seed(seed))
    except (NonFiniteSampleError, UserError, ValueError, RuntimeError) as err:
        print(f"#   {sampling.name if hasattr(sampling, 'name') else sampling}: {type(err).__name__}: "
              f"{str(err)[:120]}", flush=True)
        return None, None
    x = module.denormalize(x)
    if not bool(torch.isfinite(x).all()):
        return None, nfe
    return x, nfe


def paired(a: dict, b: dict) -> dict:
    seeds = sorted(set(a) & set(b))
    d = [a[s] - b[s] for s in seeds]
    mean = math.fsum(d) / len(d)
    se = math.sqrt(math.fsum((x - mean) ** 2 for x in d) / (len(d) - 1) / len(d)) if len(d) > 1 else math.nan
    return {"mean_a": math.fsum(a[s] for s in seeds) / len(d), "mean_b": math.fsum(b[s] for s in seeds) / len(d),
            "diff": mean, "se": se, "seeds": len(d), "a_ahead": sum(x < 0 for x in d)}


def main():
    args = ARGS
    torch.set_num_threads(1)
    start = time.time()
    print(f"# machine: {machine()}; data {args.data}, {args.steps} steps, tuning seeds {args.tune_seeds}, "
          f"evaluation seeds {args.eval_seeds}, overrides {args.override}", flush=True)
    global DATA_SHAPE
    OVERRIDES[:] = args.override
    family_modules = {f: build_run(overrides(f, args.data), 0)[2].eval() for f in GENFLOW_MODEL}
    DATA_SHAPE = tuple(family_modules["ddpm"].hparams.data_shape)
    reference = build_run([f"data={args.data}"])[1].reference(10_000, seed=7)
    ref = Reference(reference) if DATA_SHAPE == (2,) else FrechetReference(reference)
    nets = {}

    def net_of(label, seed):
        if (label, seed) not in nets:
            nets[(label, seed)] = trained_net(label, args.data, args.steps, seed)
        return nets[(label, seed)]

    def view_of(label, seed, sampling):
        family, library = MODELS[label]
        net = net_of(label, seed)
        return GenflowView(net, library) if isinstance(sampling, GenflowSampling) else peer_view(net, family, library)

    table = sweeps(family_modules)
    module_of = {label: family_modules[family] for label, (family, _) in MODELS.items()}
    # 1. tuning: every model x its library's samplers x budget on the tuning seeds
    tuning = {}
    for label, samplers in table.items():
        for name, sampling in samplers.items():
            for budget in args.nfes:
                eds, nfes = [], set()
                for seed in args.tune_seeds:
                    x, nfe = run(sampling, view_of(label, seed, sampling), module_of[label], args.n_tune, budget, seed)
                    eds.append(ref.ed(x) if x is not None else math.inf)
                    nfes.add(nfe)
                tuning.setdefault(label, {}).setdefault(budget, {})[name] = {"ed": eds, "mean": statistics.fmean(eds),
                                                                            "nfe": sorted(n for n in nfes if n)}
            print(f"# tune {label:18s} {name:48s} " + "  ".join(
                f"{b}: {tuning[label][b][name]['mean']:.5f} ({tuning[label][b][name]['nfe']})" for b in args.nfes),
                flush=True)
    chosen = {label: {b: min(by_name, key=lambda k: by_name[k]["mean"]) for b, by_name in per_budget.items()}
              for label, per_budget in tuning.items()}
    print("# chosen on the tuning seeds: " + json.dumps(chosen, indent=1), flush=True)

    # 2. evaluation: each model with its chosen sampler; same-sampler cross runs
    def cross(family, budget):
        """Samplers every net of the family runs at this budget: the tuned choices of genflow's, flow_matching's
        and diffusers' own models, and flow_matching's midpoint on a uniform grid."""
        names = {chosen[m][budget] for m, (f, lib) in MODELS.items() if f == family and lib != "torchcfm"}
        return sorted(names | ({"flow_matching midpoint / uniform"} if family == "fm" else set()))

    # one family's samplers by name (genflow's DDPM and FM nets have samplers of the same name, each bound to
    # its own family's module)
    family_samplers = {}
    for label, samplers in table.items():
        family_samplers.setdefault(MODELS[label][0], {}).update(samplers)
    evals = {}  # (label, sampler name, budget) -> {seed: (ed, sw, nfe)}

    def evaluate(label, name, budget, seed):
        key = (label, name, budget)
        if seed in evals.get(key, {}):
            return
        sampling = family_samplers[MODELS[label][0]][name]
        x, nfe = run(sampling, view_of(label, seed, sampling), module_of[label], args.n_eval, budget, seed)
        ed, sw = (ref.ed(x), ref.sw(x)) if x is not None else (math.inf, math.inf)
        evals.setdefault(key, {})[seed] = (ed, sw, nfe)
        print(f"{label} [{name}] @{budget}  seed {seed} NFE {nfe or 0:5d}  SW {sw:.4f}  ED {ed:.5f}", flush=True)

    for seed in args.eval_seeds:
        for label, (family, _) in MODELS.items():
            for budget in args.nfes:
                for name in sorted({chosen[label][budget], *cross(family, budget)}):
                    evaluate(label, name, budget, seed)

    # 3. paired summaries
    def per_seed(label, name, budget, metric=0):
        return {s: v[metric] for s, v in evals[(label, name, budget)].items()}

    summary = {"best_vs_best": {}, "same_sampler": {}}
    print("\n## genflow's best vs the best peer (tuning-seed choice), evaluation seeds, ED; negative: genflow better")
    for budget in args.nfes:
        for family in ("ddpm", "fm", "all"):
            labels = [m for m in MODELS if family == "all" or MODELS[m][0] == family]
            ours = min((m for m in labels if MODELS[m][1] == "genflow"),
                       key=lambda m: tuning[m][budget][chosen[m][budget]]["mean"])
            peer = min((m for m in labels if MODELS[m][1] != "genflow"),
                       key=lambda m: tuning[m][budget][chosen[m][budget]]["mean"])
            row = {"genflow": [ours, chosen[ours][budget]], "peer": [peer, chosen[peer][budget]]}
            for metric, key in ((0, "ed"), (1, "sw")):
                row[key] = paired(per_seed(ours, chosen[ours][budget], budget, metric),
                                  per_seed(peer, chosen[peer][budget], budget, metric))
            summary["best_vs_best"][f"{family}@{budget}"] = row
            print(f"{family:4s} NFE {budget:2d}: {ours} [{chosen[ours][budget]}] ED {row['ed']['mean_a']:.5f} vs "
                  f"{peer} "
                  f"[{chosen[peer][budget]}] {row['ed']['mean_b']:.5f}: diff {row['ed']['diff']:+.5f} (se "
                  f"{row['ed']['se']:.5f}), genflow ahead on {row['ed']['a_ahead']}/{row['ed']['seeds']}; SW "
                  f"{row['sw']['mean_a']:.4f} vs {row['sw']['mean_b']:.4f} diff {row['sw']['diff']:+.4f} "
                  f"(se {row['sw']['se']:.4f}) ahead {row['sw']['a_ahead']}", flush=True)
    print("\n## same sampler, different trained nets (genflow's net minus the peer's; negative: genflow's net better)")
    for (label, name, budget) in sorted(evals):
        family, library = MODELS[label]
        if library != "genflow":
            continue
        for peer in (m for m in MODELS if MODELS[m][0] == family and MODELS[m][1] != "genflow"):
            if (peer, name, budget) not in evals:
                continue
            row = {key: paired(per_seed(label, name, budget, metric), per_seed(peer, name, budget, metric))
                   for metric, key in ((0, "ed"), (1, "sw"))}
            summary["same_sampler"][f"{label} vs {peer} [{name}] @{budget}"] = row
            print(f"{label} vs {peer} [{name}] NFE {budget}: ED {row['ed']['mean_a']:.5f} vs {row['ed']['mean_b']:.5f} "
                  f"diff {row['ed']['diff']:+.5f} (se {row['ed']['se']:.5f}) ahead {row['ed']['a_ahead']}/"
                  f"{row['ed']['seeds']}; SW diff {row['sw']['diff']:+.4f} (se {row['sw']['se']:.4f})", flush=True)
    result = {"machine": machine(), "data": args.data, "overrides": args.override, "train_steps": args.steps,
              "tune_seeds": args.tune_seeds, "eval_seeds": args.eval_seeds, "n_tune": args.n_tune,
              "n_eval": args.n_eval, "nfes": args.nfes,
              "tuning": tuning, "chosen": chosen, "summary": summary,
              "evals": {f"{k[0]} [{k[1]}] @{k[2]}": v for k, v in evals.items()}, "seconds": time.time() - start}
    OUT.mkdir(exist_ok=True)
    (OUT / f"peers_fair_{args.data}.json").write_text(json.dumps(result, indent=1))
    print(f"\n# {time.time() - start:.0f} s; wrote results/peers_fair_{args.data}.json", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="eight_gaussians")
    ap.add_argument("--override", nargs="*", default=[],
                    help="Hydra overrides for every model, e.g. net=mlp net.hidden=512 (default: the data's presets)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--nfes", type=int, nargs="+", default=[5, 10, 20])
    ap.add_argument("--tune-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--eval-seeds", type=int, nargs="+", default=list(range(3, 15)))
    ap.add_argument("--n-tune", type=int, default=1000)
    ap.add_argument("--n-eval", type=int, default=4000)
    ARGS = ap.parse_args()
    main()
