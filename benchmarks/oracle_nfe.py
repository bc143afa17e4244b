"""Which sampler at which budget: energy distance to the exact Gaussian mixture against NFE, every sampler x grid,
driven by the mixture's exact denoiser (genflow.oracles: a perfect model, so only the sampler's discretisation
error is measured; trained networks come later).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/oracle_nfe.py --n 2000   # ~8 minutes on 2 busy CPU cores
    # writes benchmarks/results/oracle_nfe.json; the printed log is kept as results/oracle_nfe.log

Setting: 2D mixture of three modes (means (-2, 0), (2, 0), (0, 2.5), weights 0.5 / 0.3 / 0.2), narrow (std 0.1)
and broad (std 0.4); VP (linear beta 0.1..20) and CondOT paths; grids from the config group (uniform, karras,
log_snr, time_power with rho 1.5; t_eps = 1e-3, final jump to x0_hat); samplers from their presets in
genflow/conf/sampler with num_steps set so that the NFE (jump included) is the largest not above the budget
(5, 10, 20, 50): 1 per step for most, 2 per step for pf_ode heun/midpoint and edm_heun, 4 for rk4.
Measure: energy distance between --n samples (default 2000) and the mixture itself, ED = 2 E|X - Y| - E|X - X'| - E|Y - Y'|,
with the mixture's terms in closed form, so the only sampling noise is the samples' own (mostly how many land
in each mode); median over seeds 0-2 (the prior draws and the samplers' noise).
"noise floor": the same for --n exact draws from the mixture (10 seeds); "failed": a non-finite sample.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import platform
import statistics
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from genflow.errors import NonFiniteSampleError
from genflow.oracles import GaussianMixture, GaussianMixtureScore
from genflow.paths import CondOTPath, LinearSchedule, VPPath
from genflow.samplers.base import draw

HERE = Path(__file__).parent
CONF = HERE.parent / "genflow" / "conf"
MEANS, WEIGHTS = [[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]], [0.5, 0.3, 0.2]
MIXTURES = {"narrow": 0.1, "broad": 0.4}
PATHS = {"vp": lambda: VPPath(LinearSchedule()), "cond_ot": CondOTPath}
GRIDS = ("uniform", "karras", "log_snr", "time_power")
BUDGETS = (5, 10, 20, 50)
SAMPLERS = {  # name: (preset, overrides)
    "ddim": ("ddim", {}), "ancestral": ("ancestral", {}), "euler_maruyama": ("euler_maruyama", {}),
    "pf_ode_euler": ("pf_ode", {"method": "euler"}), "pf_ode_heun": ("pf_ode", {"method": "heun"}),
    "pf_ode_midpoint": ("pf_ode", {"method": "midpoint"}), "pf_ode_rk4": ("pf_ode", {"method": "rk4"}),
    "dpmpp_2m": ("dpmpp_2m", {}), "dpmpp_3m": ("dpmpp_3m", {}), "dpmpp_2m_sde": ("dpmpp_2m_sde", {}),
    "unipc": ("unipc", {}), "edm_heun": ("edm_heun", {}),
}


def folded_normal_mean(m: torch.Tensor, s: float) -> torch.Tensor:
    """E|m + s Z|, Z ~ N(0, 1)."""
    return s * math.sqrt(2 / math.pi) * torch.exp(-(m**2) / (2 * s**2)) + m * torch.erf(m / (s * math.sqrt(2)))


def energy_distance_to_mixture(x: torch.Tensor, mixture: GaussianMixture, std: float, directions: int = 32) -> float:
    """ED between the sample x and the isotropic mixture, through |v| = 1/2 int_0^pi |theta_phi . v| dphi (midpoint
    rule over ``directions`` angles): per direction the sample's pairwise term is a sorted sum (a U-statistic,
    O(n log n)), and the mixture's terms are folded-normal means. Against the direct O(n^2) estimator with the
    mixture's terms in closed form (Rice means) it agreed to 3e-6 on 2000 points."""
    x = x.double()
    phi = (torch.arange(directions, dtype=torch.float64) + 0.5) * math.pi / directions
    theta = torch.stack([phi.cos(), phi.sin()])
    u = x @ theta  # (n, directions)
    n = len(x)
    rank_weight = 2 * torch.arange(n, dtype=torch.float64) - (n - 1)
    xx = 2 * (rank_weight[:, None] * u.sort(0).values).sum(0) / (n * (n - 1))
    mu, w = mixture.means @ theta, mixture.weights  # (K, directions), (K,)
    xy = (folded_normal_mean(u[:, :, None] - mu.T[None], std) * w).sum(-1).mean(0)
    pairs = folded_normal_mean(mu[:, None] - mu[None], math.sqrt(2) * std)  # (K, K, directions)
    yy = (w[:, None, None] * w[None, :, None] * pairs).sum((0, 1))
    return float((2 * xy - xx - yy).mean() * math.pi / 2)


def build(group: str, name: str, **overrides):
    cfg = OmegaConf.load(CONF / group / f"{name}.yaml")
    for key, value in overrides.items():
        cfg[key] = value
    return instantiate(cfg)


def sampler_for(name: str, num_steps: int):
    preset, overrides = SAMPLERS[name]
    return build("sampler", preset, num_steps=num_steps, progress=False, x0_clip="none", **overrides)


@functools.lru_cache(maxsize=None)
def steps_for_budget(name, path_name, grid_name, budget) -> tuple[int, int]:
    """The largest num_steps whose NFE (probed on one point) is at most the budget, and that NFE."""
    model = GaussianMixtureScore(GaussianMixture(MEANS, weights=WEIGHTS), PATHS[path_name]())
    grid = build("grid", grid_name)

    def nfe(n):
        return draw(model, sampler_for(name, n), (1, 2), grid, torch.Generator().manual_seed(0)).nfe
    per_step = sampler_for(name, 2).evaluations_per_step
    n = max(1, (budget - 1) // per_step + 1)
    while n > 1 and nfe(n) > budget:
        n -= 1
    while nfe(n + 1) <= budget:
        n += 1
    return n, nfe(n)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n", type=int, default=2000, help="samples per draw")
    parser.add_argument("--out", default=str(HERE / "results" / "oracle_nfe.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    N = args.n
    start = time.time()
    print(f"# {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), N = {N}, seeds 0-{args.seeds - 1}", flush=True)
    results = {"setting": {"n": N, "seeds": args.seeds, "budgets": BUDGETS, "means": MEANS, "weights": WEIGHTS},
               "floor": {}, "rows": []}
    for mix_name, std in MIXTURES.items():
        mixture = GaussianMixture(MEANS, std=std, weights=WEIGHTS)
        floor = [energy_distance_to_mixture(mixture.sample(N, torch.Generator().manual_seed(1000 + s))[0], mixture,
                                            std) for s in range(10)]
        results["floor"][mix_name] = floor
        print(f"# noise floor ({mix_name}, {N} exact draws, 10 seeds): median {statistics.median(floor):.5f}, "
              f"max |ED| {max(abs(f) for f in floor):.5f}", flush=True)
    for path_name, make_path in PATHS.items():
        for mix_name, std in MIXTURES.items():
            mixture = GaussianMixture(MEANS, std=std, weights=WEIGHTS)
            model = GaussianMixtureScore(mixture, make_path())
            print(f"\n## path={path_name}, {mix_name} modes (std {std}): median energy distance (NFE)", flush=True)
            print(f"{'sampler':16s} {'grid':11s}" + "".join(f"{b:>16d}" for b in BUDGETS), flush=True)
            for name in SAMPLERS:
                for grid_name in GRIDS:
                    grid = build("grid", grid_name)
                    cells = []
                    for budget in BUDGETS:
                        steps, nfe = steps_for_budget(name, path_name, grid_name, budget)
                        eds = []
                        for seed in range(args.seeds):
                            try:
                                x = draw(model, sampler_for(name, steps), (N, 2), grid,
                                         torch.Generator().manual_seed(seed)).x
                                eds.append(energy_distance_to_mixture(x, mixture, std))
                            except NonFiniteSampleError:
                                eds.append(math.inf)
                        ed = statistics.median(eds)
                        results["rows"].append({"path": path_name, "mixture": mix_name, "sampler": name,
                                                "grid": grid_name, "budget": budget, "num_steps": steps, "nfe": nfe,
                                                "ed": eds, "median": ed})
                        cells.append(f"{ed:9.5f} ({nfe:2d})" if math.isfinite(ed) else f"{'failed':>9s} ({nfe:2d})")
                    print(f"{name:16s} {grid_name:11s}" + "".join(f"{c:>16s}" for c in cells), flush=True)
    summarize(results)
    results["seconds"] = time.time() - start
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"\n# {time.time() - start:.0f} s; wrote {args.out}")


def summarize(results):
    """Per budget, the sampler x grid with the lowest mean of the median ED over the four settings (two paths x
    two mixtures), the runner-up, and the best of each setting."""
    floor = max(abs(f) for fs in results["floor"].values() for f in fs)
    print(f"\n## which sampler at which budget (mean of the median ED over VP narrow / VP broad / CondOT narrow /"
          f" CondOT broad; differences below the noise floor {floor:.4f} are ties)")
    for budget in BUDGETS:
        rows = [r for r in results["rows"] if r["budget"] == budget]
        scores = {}
        for r in rows:
            scores.setdefault((r["sampler"], r["grid"]), []).append(r["median"])
        ranked = sorted(scores.items(), key=lambda kv: statistics.fmean(kv[1]))
        (best, b_eds), (second, s_eds) = ranked[0], ranked[1]
        print(f"{budget:3d} NFE: best {best[0]} + {best[1]}: {statistics.fmean(b_eds):.4f} "
              f"({' / '.join(f'{e:.4f}' for e in b_eds)}); runner-up {second[0]} + {second[1]}: "
              f"{statistics.fmean(s_eds):.4f} ({' / '.join(f'{e:.4f}' for e in s_eds)})")
        for path_name in PATHS:
            for mix_name in MIXTURES:
                case = sorted((r for r in rows if r["path"] == path_name and r["mixture"] == mix_name),
                              key=lambda r: r["median"])
                print(f"      {path_name:7s} {mix_name:6s}: " + ", ".join(
                    f"{r['sampler']} + {r['grid']} {r['median']:.4f}" for r in case[:3]))


if __name__ == "__main__":
    main()
