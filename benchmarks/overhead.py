"""Overhead vs the physical limit, measured side by side in one run.

1. Samplers: wall time of each sampler on a 2D MLP and a batch of 10,000, divided by
   NFE x (one bare forward of the same network on the same batch). 1.00 is the limit.
2. Training: genflow's Lightning training step (DiffusionModule, DDPM objective, AdamW, warm-up
   schedule, gradient clipping, EMA) vs bare PyTorch loops on the same net, batch size and data:
   "bare, same work" does the same objective, clipping and EMA by hand; "bare, minimal" only
   forward / backward / AdamW.

    .venv/bin/python benchmarks/overhead.py            # writes benchmarks/results/overhead.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from genflow.train import build_module

OUT = Path(__file__).parent / "results"
SAMPLERS = {  # name: sampler overrides (fixed-step samplers first)
    "ancestral (1000)": ["sampler=ancestral"],
    "ddim (50)": ["sampler=ddim"],
    "euler_maruyama (500)": ["sampler=euler_maruyama"],
    "pf_ode euler (100)": ["sampler=pf_ode", "sampler.method=euler"],
    "pf_ode rk4 (25 x 4)": ["sampler=pf_ode", "sampler.method=rk4", "sampler.num_steps=25"],
    "pc (500 x 2)": ["sampler=pc"],
    "annealed_langevin (10 x 100)": ["sampler=annealed_langevin", "sampler.num_levels=10"],
    "pf_ode dopri5 (adaptive)": ["sampler=pf_ode"],
}


def compose_run(overrides):
    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        return compose("train", overrides=["logger=none", *overrides])


def build(overrides):
    L.seed_everything(0, verbose=False)
    cfg = compose_run(overrides)
    dm = instantiate(cfg.data)
    dm.setup()
    return cfg, dm, build_module(cfg, dm)


def timed(fn, repeats: int = 3) -> float:
    """Median wall time of fn() over repeats (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def sampler_overhead(batch: int) -> list[dict]:
    rows = []
    for name, overrides in SAMPLERS.items():
        cfg, dm, module = build(overrides)
        module.eval()
        sampler = instantiate(cfg.sampler, progress=False)
        net = module.ema.module.net
        x, t = torch.randn(batch, 2), torch.full((batch,), 0.5)
        with torch.no_grad():
            forward = timed(lambda: net(x, t), repeats=20)
        result = {}

        def run():
            result["nfe"] = module.generate(sampler, batch, generator=torch.Generator().manual_seed(0))[1]

        wall = timed(run, repeats=2)
        rows.append({"sampler": name, "nfe": result["nfe"], "wall_s": wall, "forward_ms": 1e3 * forward,
                     "ratio": wall / (result["nfe"] * forward)})
        print(f"{name:<30} NFE {result['nfe']:>5}  {wall:7.2f} s  ratio {rows[-1]['ratio']:.3f}", flush=True)
    return rows


def training_overhead(steps: int) -> dict:
    cfg, dm, module = build([])
    trainer_kwargs = dict(accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                          gradient_clip_val=cfg.trainer.gradient_clip_val)

    def lightning_run():
        _, dm2, m = build([])
        L.Trainer(**trainer_kwargs).fit(m, datamodule=dm2)

    def bare_run(same_work: bool):
        _, dm2, m = build([])
        denoiser, path = m.denoiser, m.path
        opt = torch.optim.AdamW(denoiser.parameters(), lr=m.hparams.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / m.hparams.warmup_steps))
        batches = iter(dm2.train_dataloader())
        for _ in range(steps):
            try:
                x, y = next(batches)
            except StopIteration:
                batches = iter(dm2.train_dataloader())
                x, y = next(batches)
            if same_work:
                loss = m.objective(denoiser, m.normalize(x), None)
            else:  # DDPM L_simple written out
                t = path.sample_time(x.shape[0], 1e-3, x.device)
                eps = torch.randn_like(x)
                xt = path.alpha(t)[:, None] * x + path.sigma(t)[:, None] * eps
                loss = (denoiser.net(xt, t) - eps).square().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if same_work:
                torch.nn.utils.clip_grad_norm_(denoiser.parameters(), cfg.trainer.gradient_clip_val)
            opt.step()
            sched.step()
            if same_work:
                m.ema.update_parameters(denoiser)

    # interleave the three so that drift in machine speed hits them alike
    times = {"lightning": [], "bare_same_work": [], "bare_minimal": []}
    for _ in range(3):
        for key, fn in (("lightning", lightning_run), ("bare_same_work", lambda: bare_run(True)),
                        ("bare_minimal", lambda: bare_run(False))):
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {"steps": steps, **{f"{k}_s": v for k, v in med.items()},
              "ratio_vs_same_work": med["lightning"] / med["bare_same_work"],
              "ratio_vs_minimal": med["lightning"] / med["bare_minimal"]}
    print(json.dumps(result, indent=2))
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--train-steps", type=int, default=500)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    print(f"machine: {machine}")
    samplers = sampler_overhead(args.batch)
    training = training_overhead(args.train_steps)
    (OUT / "overhead.json").write_text(json.dumps({"machine": machine, "samplers": samplers,
                                                    "training": training}, indent=2))


if __name__ == "__main__":
    main()
