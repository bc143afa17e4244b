"""Overhead vs the physical limit, measured side by side in one run.

1. Samplers: wall time of each sampler on a 2D MLP and a batch of 10,000, divided by the wall time
   of NFE bare forwards of the same network on the same batch, chained (x <- x - c net(x, t)) as
   a sampler chains them; the two are timed alternately, 5 times, minima ("alternated"). And, immune
   to drift in machine speed, the sampler's wall time / the time spent inside the network's forward
   during that same run ("in-run"). 1.00 is the limit.
2. Training: genflow's Lightning training step (DiffusionModule, DDPM objective, AdamW, warm-up
   schedule, gradient clipping, EMA) vs bare PyTorch loops on the same net, batch size and data:
   "bare, same work" does the same objective, clipping and EMA by hand; "bare, minimal" only
   forward / backward / AdamW step on L_simple. All three use the same optimizer (genflow's fused AdamW). Steady state: time per step after the first 50 steps;
   whole run: including Trainer construction and set-up. The three are interleaved, 5 rounds, medians.

    .venv/bin/python benchmarks/overhead.py            # writes benchmarks/results/overhead.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate

from common import bare_loop, build, machine

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
WARM = 50  # steps excluded from the steady-state time per step


class _ForwardClock:
    """Sums the wall time spent inside ``net``'s forward (pre- and post-forward hooks)."""

    def __init__(self, net):
        self.seconds, self._t0, self.active = 0.0, 0.0, False
        net.register_forward_pre_hook(self._start)
        net.register_forward_hook(self._stop)

    def _start(self, *_):
        self._t0 = time.perf_counter()

    def _stop(self, *_):
        if self.active:
            self.seconds += time.perf_counter() - self._t0


def sampler_overhead(batch: int, only=None, repeats: int = 5) -> list[dict]:
    """Two ratios per sampler, each 1.00 at the physical limit:
    alternated: min wall(sampler) / min wall(NFE chained forwards x <- x - c net(x, t) of the same network
        on the same batch), the two timed alternately ``repeats`` times (minimum: the least disturbed run);
    in-run: wall(sampler) / time spent inside the network's forward during that same run (hooks), which
        no drift in machine speed between two runs can bias."""
    rows = []
    for name, overrides in SAMPLERS.items():
        if only and not any(word in name for word in only):
            continue
        cfg, dm, module = build(overrides)
        module.eval()
        sampler = instantiate(cfg.sampler, progress=False)
        net = module.ema.module.net
        x0, t = torch.randn(batch, 2), torch.full((batch,), 0.5)
        nfe = module.generate(sampler, batch, generator=torch.Generator().manual_seed(0))[1]  # warm-up, NFE

        def bare():
            x = x0
            for _ in range(nfe):
                x = x - 1e-3 * net(x, t)

        walls, limits, in_run = [], [], []
        clock = _ForwardClock(net)
        with torch.no_grad():
            for _ in range(repeats):
                clock.seconds, clock.active = 0.0, True
                t0 = time.perf_counter()
                module.generate(sampler, batch, generator=torch.Generator().manual_seed(0))
                walls.append(time.perf_counter() - t0)
                clock.active = False
                in_run.append(walls[-1] / clock.seconds)
                t0 = time.perf_counter()
                bare()
                limits.append(time.perf_counter() - t0)
        wall, limit = min(walls), min(limits)
        row = {"sampler": name, "nfe": nfe, "wall_s": wall, "bare_forward_ms": 1e3 * limit / nfe,
               "ratio_alternated": wall / limit, "ratio_in_run": statistics.median(in_run)}
        rows.append(row)
        print(f"{name:<30} NFE {nfe:>5}  {wall:7.2f} s  {row['bare_forward_ms']:5.1f} ms/forward  "
              f"alternated {row['ratio_alternated']:.3f}  in-run {row['ratio_in_run']:.3f}", flush=True)
    return rows


class _StepClock(L.Callback):
    """Time from the start of step WARM to the end of training."""

    def on_train_batch_start(self, trainer, *_):
        if trainer.global_step == WARM:
            self.t0 = time.perf_counter()

    def on_train_end(self, trainer, *_):
        self.seconds = time.perf_counter() - self.t0


def training_overhead(steps: int, batch_size: int, rounds: int = 5) -> dict:
    overrides = [f"data.batch_size={batch_size}"]
    cfg, _, _ = build(overrides)
    clip = cfg.trainer.gradient_clip_val

    def lightning_run():
        _, dm, m = build(overrides)
        clock = _StepClock()
        L.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
                  enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                  gradient_clip_val=clip, callbacks=[clock]).fit(m, datamodule=dm)
        return clock.seconds

    def bare_run(same_work: bool):
        _, dm, m = build(overrides)
        denoiser, path = m.denoiser, m.path

        def l_simple(x):  # DDPM L_simple written out
            t = path.sample_time(x.shape[0], 1e-3, x.device)
            eps = torch.randn_like(x)
            xt = path.alpha(t)[:, None] * x + path.sigma(t)[:, None] * eps
            return (denoiser.net(xt, t) - eps).square().mean()

        if same_work:
            return bare_loop(m, dm, lambda x: m.objective(denoiser, m.normalize(x), None), steps, denoiser,
                             clip=clip, ema=m.ema, warm=WARM)
        return bare_loop(m, dm, l_simple, steps, denoiser, warm=WARM)

    steady, whole = {"lightning": [], "bare_same_work": [], "bare_minimal": []}, {}
    for _ in range(rounds):  # interleaved so that drift in machine speed hits all three alike
        for key, fn in (("lightning", lightning_run), ("bare_same_work", lambda: bare_run(True)),
                        ("bare_minimal", lambda: bare_run(False))):
            t0 = time.perf_counter()
            steady[key].append(fn())
            whole.setdefault(key, []).append(time.perf_counter() - t0)
    ms = {k: 1e3 * statistics.median(v) / (steps - WARM) for k, v in steady.items()}
    run = {k: statistics.median(v) for k, v in whole.items()}
    result = {"steps": steps, "batch_size": batch_size, "ms_per_step": ms, "whole_run_s": run,
              "ratio_vs_same_work": ms["lightning"] / ms["bare_same_work"],
              "ratio_vs_minimal": ms["lightning"] / ms["bare_minimal"],
              "whole_run_ratio_vs_same_work": run["lightning"] / run["bare_same_work"]}
    print(json.dumps(result, indent=2))
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--train-steps", type=int, default=1000)
    ap.add_argument("--train-batch-sizes", type=int, nargs="+", default=[256, 2048])
    ap.add_argument("--skip-samplers", action="store_true")
    ap.add_argument("--samplers", nargs="*", help="only the samplers whose name contains one of these words")
    ap.add_argument("--skip-training", action="store_true")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    print(f"machine: {machine()}")
    samplers = [] if args.skip_samplers else sampler_overhead(args.batch, args.samplers)
    training = [] if args.skip_training else [training_overhead(args.train_steps, b) for b in args.train_batch_sizes]
    partial = args.samplers or args.skip_training or args.skip_samplers
    out = OUT / ("overhead_partial.json" if partial else "overhead.json")
    out.write_text(json.dumps({"machine": machine(), "samplers": samplers, "training": training}, indent=2))


if __name__ == "__main__":
    main()
