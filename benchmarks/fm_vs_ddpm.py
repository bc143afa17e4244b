"""Quality per NFE, side by side in one run: genflow flow matching and OT-CFM (PF-ODE, Euler or
midpoint) vs genflow DDPM (ancestral), same MLP, data, batch size and number of training steps.

    .venv/bin/python benchmarks/fm_vs_ddpm.py --data eight_gaussians --steps 4000

Prints sliced W2 and energy distance of 10k samples to 10k fresh data points at several NFE and
writes a plot of quality vs NFE plus sample scatter plots into benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import lightning as L
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_module  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from hydra.utils import instantiate  # noqa: E402

from genflow.metrics.sample_distance import sample_distances  # noqa: E402
from genflow.plotting import scatter_samples  # noqa: E402
from genflow.train import build_module  # noqa: E402

OUT = Path(__file__).parent / "results"


def train(model: str, data: str, steps: int, seed: int = 0):
    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        cfg = compose("train", overrides=[f"model={model}", f"data={data}", "logger=none", f"seed={seed}"])
    L.seed_everything(seed, verbose=False)
    dm = instantiate(cfg.data)
    dm.setup()
    module = build_module(cfg, dm)
    t0 = time.time()
    L.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, limit_val_batches=0, gradient_clip_val=1.0).fit(module, datamodule=dm)
    return module, dm, time.time() - t0


def evaluate(module, sampler, ref, n):
    x, nfe = module.generate(sampler, n, generator=torch.Generator().manual_seed(0))
    d = sample_distances(x, ref)
    return x, nfe, d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="eight_gaussians")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--n", type=int, default=10_000)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    from genflow.samplers.ancestral import AncestralSampler
    from genflow.samplers.pf_ode import ProbabilityFlowSampler

    ddpm, dm, t_ddpm = train("ddpm", args.data, args.steps)
    fm, _, t_fm = train("flow_matching", args.data, args.steps)
    ot, _, t_ot = train("ot_cfm", args.data, args.steps)
    ref = dm.reference(args.n, seed=7)
    rows = []
    for nfe in (2, 5, 10, 20, 50, 100, 1000):
        _, n1, d1 = evaluate(fm, ProbabilityFlowSampler("euler", nfe, progress=False), ref, args.n)
        _, _, d3 = evaluate(ot, ProbabilityFlowSampler("euler", nfe, progress=False), ref, args.n)
        _, n4, d4 = evaluate(fm, ProbabilityFlowSampler("midpoint", max(nfe // 2, 1), progress=False), ref, args.n)
        x_ddpm, n2, d2 = evaluate(ddpm, AncestralSampler(num_steps=nfe, progress=False), ref, args.n)
        rows.append({"nfe": nfe, "flow_matching_euler": d1, "ot_cfm_euler": d3, "flow_matching_midpoint": d4,
                     "ddpm_ancestral": d2})
        fmt = lambda d: f"SW {d['sliced_wasserstein']:.4f} ED {d['energy_distance']:.4f}"  # noqa: E731
        print(f"NFE {nfe:5d} | FM Euler {fmt(d1)} | OT-CFM Euler {fmt(d3)} | FM midpoint ({n4} NFE) {fmt(d4)}"
              f" | DDPM ancestral {fmt(d2)}", flush=True)
    x_fm10, _, _ = evaluate(fm, ProbabilityFlowSampler("euler", 10, progress=False), ref, args.n)
    scatter_samples(x_fm10, OUT / f"fm_euler10_{args.data}.png", ref, title="flow matching, 10 Euler steps")
    scatter_samples(x_ddpm, OUT / f"ddpm_ancestral1000_{args.data}.png", ref, title="DDPM, 1000 ancestral steps")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for key, label in (("flow_matching_euler", "flow matching, Euler"), ("ot_cfm_euler", "OT-CFM, Euler"),
                       ("flow_matching_midpoint", "flow matching, midpoint"), ("ddpm_ancestral", "DDPM, ancestral")):
        ax.plot([r["nfe"] for r in rows], [r[key]["sliced_wasserstein"] for r in rows], "o-", label=label)
    ax.set_xscale("log"), ax.set_xlabel("NFE"), ax.set_ylabel("sliced W2 to data"), ax.legend()
    fig.tight_layout(), fig.savefig(OUT / f"quality_vs_nfe_{args.data}.png", dpi=110)
    summary = {"data": args.data, "train_steps": args.steps, "train_seconds": {"ddpm": t_ddpm, "flow_matching": t_fm, "ot_cfm": t_ot},
               "rows": rows}
    (OUT / f"fm_vs_ddpm_{args.data}.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary["train_seconds"]))


if __name__ == "__main__":
    main()
