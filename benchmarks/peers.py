"""Quality per NFE at equal budget, genflow vs its peers, side by side in one run.

    pip install -e ".[bench]"     # torchcfm, flow_matching, diffusers
    .venv/bin/python benchmarks/peers.py --data eight_gaussians --steps 4000

Every method trains the same network (genflow's MLP, 3 x 256, SiLU) on the same normalised data
stream, batch size and number of steps, with the same optimisation (AdamW lr 2e-3, 100 warm-up
steps, gradient clipping at 1, EMA 0.995 with warm-up); only the method's library differs:

- genflow flow matching (PF-ODE, Euler or midpoint), OT-CFM (Euler) and DDPM (ancestral on a
  strided subset of its 1000 steps: linspace or trailing spacing, variance beta_t or the posterior
  beta~_t), trained by Lightning as `genflow train` does;
- torchcfm ``ConditionalFlowMatcher`` / ``ExactOptimalTransportConditionalFlowMatcher`` (sigma = 0),
  sampled with torchdyn's ``NeuralODE`` (Euler), as in torchcfm's examples;
- facebookresearch ``flow_matching``: ``AffineProbPath(CondOTScheduler())``, ``ODESolver`` (Euler);
- diffusers ``DDPMScheduler`` (linear betas 1e-4..0.02, 1000 steps, no clipping): ``add_noise`` for
  training, its ``step`` loop for sampling, with the default "leading" and the "trailing" spacing.

Metric: sliced W2 and energy distance of 10k samples to 10k fresh data points.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from common import bare_loop, machine, train_genflow  # noqa: E402
from genflow.app.compose import build_run  # noqa: E402
from genflow.metrics.sample_distance import sample_distances  # noqa: E402
from genflow.modules.ema import make_ema  # noqa: E402
from genflow.samplers.ancestral import AncestralSampler  # noqa: E402
from genflow.samplers.pf_ode import ProbabilityFlowSampler  # noqa: E402

OUT = Path(__file__).parent / "results"
NFES = (2, 5, 10, 20, 50, 100, 1000)


def train_bare(loss_fn, steps: int, seed: int = 0):
    """Train genflow's default MLP with a peer's loss, with genflow's optimisation settings; returns (EMA net, dm, s)."""
    cfg, dm, module = build_run(["model=flow_matching", f"data={ARGS.data}"], seed)
    net = module.denoiser.net
    ema = make_ema(net, cfg.model.ema_decay)
    seconds = bare_loop(module, dm, lambda x: loss_fn(net, module.normalize(x)), steps, net,
                        clip=cfg.trainer.gradient_clip_val, ema=ema)
    return ema.module.eval(), module, dm, seconds


# --- torchcfm -------------------------------------------------------------------------------------
def torchcfm_method(ot: bool):
    from torchcfm.conditional_flow_matching import (ConditionalFlowMatcher,
                                                    ExactOptimalTransportConditionalFlowMatcher)

    fm = ExactOptimalTransportConditionalFlowMatcher(sigma=0.0) if ot else ConditionalFlowMatcher(sigma=0.0)

    def loss(net, x1):
        t, xt, ut = fm.sample_location_and_conditional_flow(torch.randn_like(x1), x1)
        return (net(xt, t) - ut).square().mean()

    def sample(net, n, nfe, gen):
        from torchdyn.core import NeuralODE

        class Field(nn.Module):
            def forward(self, t, x, *args, **kwargs):
                return net(x, t.expand(x.shape[0]))

        x0 = torch.randn(n, 2, generator=gen)
        return NeuralODE(Field(), solver="euler").trajectory(x0, t_span=torch.linspace(0, 1, nfe + 1))[-1]

    return loss, sample


# --- facebookresearch flow_matching ---------------------------------------------------------------
def flow_matching_method():
    from flow_matching.path import AffineProbPath
    from flow_matching.path.scheduler import CondOTScheduler
    from flow_matching.solver import ODESolver
    from flow_matching.utils import ModelWrapper

    path = AffineProbPath(scheduler=CondOTScheduler())

    def loss(net, x1):
        s = path.sample(x_0=torch.randn_like(x1), x_1=x1, t=torch.rand(x1.shape[0]))
        return (net(s.x_t, s.t) - s.dx_t).square().mean()

    def sample(net, n, nfe, gen):
        class Field(ModelWrapper):
            def forward(self, x, t, **extras):
                return self.model(x, t.expand(x.shape[0]))

        x0 = torch.randn(n, 2, generator=gen)
        grid = torch.linspace(0, 1, nfe + 1)  # step_size=1/nfe can add a zero-length step to torchdiffeq's grid
        return ODESolver(velocity_model=Field(net)).sample(x_init=x0, step_size=None, method="euler", time_grid=grid)

    return loss, sample


# --- diffusers ------------------------------------------------------------------------------------
def diffusers_method():
    from diffusers import DDPMScheduler

    def scheduler(spacing: str = "leading"):
        return DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False,
                             timestep_spacing=spacing)

    train_sched = scheduler()

    def loss(net, x):
        t = torch.randint(0, 1000, (x.shape[0],))
        eps = torch.randn_like(x)
        return (net(train_sched.add_noise(x, eps, t), t / 1000) - eps).square().mean()

    def sample(net, n, nfe, gen, spacing="leading"):
        sched = scheduler(spacing)
        sched.set_timesteps(nfe)
        x = torch.randn(n, 2, generator=gen)
        for t in sched.timesteps:
            x = sched.step(net(x, torch.full((n,), int(t) / 1000)), t, x, generator=gen).prev_sample
        return x

    return loss, sample


def ancestral(variance: str, spacing: str):
    return lambda n: AncestralSampler(num_steps=n, variance=variance, spacing=spacing, progress=False)


def genflow_variants():
    """(model config, {label: sampler for a nominal NFE})."""
    euler = lambda n: ProbabilityFlowSampler("euler", n, progress=False)  # noqa: E731
    midpoint = lambda n, power=1.0: ProbabilityFlowSampler("midpoint", max(n // 2, 1), progress=False,  # noqa: E731
                                                           time_power=power)
    return (("flow_matching", {"genflow FM (Euler)": euler, "genflow FM (midpoint)": midpoint,
                               "genflow FM (midpoint, time_power 1.5)": lambda n: midpoint(n, 1.5)}),
            ("ot_cfm", {"genflow OT-CFM (Euler)": euler}),
            ("ddpm", {"genflow DDPM (ancestral)": ancestral("beta", "linspace"),
                      "genflow DDPM (ancestral, posterior)": ancestral("posterior", "linspace"),
                      "genflow DDPM (ancestral, trailing)": ancestral("beta", "trailing"),
                      "genflow DDPM (ancestral, posterior, trailing)": ancestral("posterior", "trailing")}))


def peer_variants():
    """(label of the trained peer, (loss, sample), {label: sampler options})."""
    return (("torchcfm CFM", torchcfm_method(False), {"torchcfm CFM (Euler)": {}}),
            ("torchcfm OT-CFM", torchcfm_method(True), {"torchcfm OT-CFM (Euler)": {}}),
            ("flow_matching FM", flow_matching_method(), {"flow_matching FM (Euler)": {}}),
            ("diffusers DDPM", diffusers_method(), {"diffusers DDPM (leading)": {"spacing": "leading"},
                                                    "diffusers DDPM (trailing)": {"spacing": "trailing"}}))


def _mean_sd(rows: list[dict]) -> dict:
    out = {"nfe": rows[0]["nfe"]}
    for key in ("sliced_wasserstein", "energy_distance"):
        values = torch.tensor([r[key] for r in rows], dtype=torch.float64)
        out[key] = values.mean().item()
        out[key + "_sd"] = values.std().item() if len(rows) > 1 else 0.0
    return out


def _print_table(results: dict):
    """Mean (sd over seeds) per method and nominal NFE, markdown."""
    for key in ("sliced_wasserstein", "energy_distance"):
        print(f"\n{key}\n| method | " + " | ".join(str(n) for n in NFES) + " |")
        print("| --- |" + " ---: |" * len(NFES))
        for label, rows in results.items():
            print(f"| {label} | " + " | ".join(f"{rows[n][key]:.4f} ({rows[n][key + '_sd']:.4f})" for n in NFES) + " |")


def main():
    OUT.mkdir(exist_ok=True)
    print(f"machine: {machine()}", flush=True)
    per_seed, train_seconds = {}, {}
    ref = build_run([f"data={ARGS.data}"])[1].reference(ARGS.n, seed=7)
    wanted = lambda name: not ARGS.only or any(w.lower() in name.lower().replace("-", "_") for w in ARGS.only)  # noqa: E731

    def score(name, draw, seed):
        """draw(nominal NFE, generator) -> (samples, NFE spent)."""
        for nfe in NFES:
            with torch.no_grad():
                x, spent = draw(nfe, torch.Generator().manual_seed(seed))
            row = {"nfe": spent, **sample_distances(x, ref)}
            per_seed.setdefault(name, {}).setdefault(nfe, []).append(row)
            print(f"{name:<44} seed {seed} NFE {spent:5d}  SW {row['sliced_wasserstein']:.4f}  "
                  f"ED {row['energy_distance']:.5f}", flush=True)

    for seed in ARGS.seeds:
        for model, variants in genflow_variants():
            if not wanted(f"genflow {model}"):
                continue
            module, _, seconds = train_genflow([f"model={model}", f"data={ARGS.data}"], ARGS.steps, seed)
            train_seconds.setdefault(model, []).append(seconds)
            module.eval()
            for label, make in variants.items():
                score(label, lambda nfe, g: module.generate(make(nfe), ARGS.n, generator=g), seed)

        for name, (loss, sample), variants in peer_variants():
            if not wanted(name):
                continue
            net, module, _, seconds = train_bare(loss, ARGS.steps, seed)
            train_seconds.setdefault(name, []).append(seconds)
            calls = []
            net.register_forward_pre_hook(lambda *_: calls.append(1))

            def draw(nfe, g):
                calls.clear()
                x = module.denormalize(sample(net, ARGS.n, nfe, g, **options))
                return x, len(calls)

            for label, options in variants.items():
                score(label, draw, seed)

    results = {label: {nfe: _mean_sd(rows) for nfe, rows in by_nfe.items()} for label, by_nfe in per_seed.items()}
    summary = {"machine": machine(), "data": ARGS.data, "train_steps": ARGS.steps, "n": ARGS.n,
               "seeds": ARGS.seeds, "train_seconds": train_seconds, "results": results}
    suffix = "" if not ARGS.only else "_" + "_".join(w.replace(" ", "") for w in ARGS.only)
    (OUT / f"peers_{ARGS.data}{suffix}.json").write_text(json.dumps(summary, indent=2))
    _print_table(results)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, rows in results.items():
        style = "o-" if label.startswith("genflow") else "s--"
        for ax, key in zip(axes, ("sliced_wasserstein", "energy_distance")):
            ax.plot([rows[n]["nfe"] for n in NFES], [rows[n][key] for n in NFES], style, label=label, ms=4)
    for ax, key in zip(axes, ("sliced W2 to data", "energy distance to data")):
        ax.set_xscale("log"), ax.set_yscale("log"), ax.set_xlabel("NFE"), ax.set_ylabel(key)
    axes[1].legend(fontsize=7)
    fig.tight_layout(), fig.savefig(OUT / f"peers_quality_vs_nfe_{ARGS.data}{suffix}.png", dpi=110)
    print(json.dumps(train_seconds, indent=2))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="eight_gaussians")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="training (and sampling) seeds; mean and sd")
    ap.add_argument("--only", nargs="*", help="only methods whose name contains one of these words "
                                              "(genflow flow_matching|ot_cfm|ddpm, torchcfm, flow_matching, diffusers)")
    ARGS = ap.parse_args()
    main()
