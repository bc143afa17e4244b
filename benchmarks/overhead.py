"""Overhead vs the physical limit, measured side by side in one run.

1. Samplers: wall time of each sampler on a 2D MLP and a batch of 10,000, divided by the wall time
   of NFE bare forwards of the same network on the same batch, chained (x <- x - c net(x, t)) as
   a sampler chains them; the two are timed alternately, 5 times, minima ("alternated"). And, immune
   to drift in machine speed, the sampler's wall time / the time spent inside the network's forward
   during that same run ("in-run"). 1.00 is the limit.
2. Training: genflow's Lightning training step (DiffusionModule, DDPM objective, AdamW, warm-up
   schedule, gradient clipping, EMA) vs bare PyTorch loops on the same net, batch size and data:
   "bare, same work" does the same objective, clipping and EMA by hand; "bare, minimal" only
   forward / backward / AdamW step on L_simple; all three use genflow's fused AdamW. Two Lightning
   Trainers: "quiet" (no logger, checkpoints or progress bar: the training step alone) and "cli"
   (the Trainer `genflow train` builds). Per step: the three run interleaved in blocks of 50 steps
   in one Lightning run (after every 50 Lightning steps, 50 steps of each bare loop; steps after the
   first 50), so drift in machine speed hits all alike (``--block 1``: step by step, every step
   with cold caches); 3 runs per Trainer; ratio = median over all blocks of Lightning's block time
   / the bare loop's next block time. Whole run (quiet Trainer): Trainer construction and set-up
   included, separate runs alternated 3 times, medians.

    .venv/bin/python benchmarks/overhead.py   # writes benchmarks/results/overhead_{samplers,training}.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate

from common import BareTrainer, machine
from genflow.app.compose import build_run, compose_config, quiet_trainer
from genflow.app.train import build_trainer

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
        cfg, dm, module = build_run(overrides)
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


class _Interleaved(L.Callback):
    """Blocks of ``block`` Lightning steps alternate with ``block`` steps of each bare loop, all in one
    Lightning run; each part timed on its own. Lightning's time runs from the end of one bare block to
    the callback after the next ``block`` steps: its whole cycle (data, hooks, training step,
    optimizer, EMA, scheduler, logging). Blocks are short against the VM's drift in speed, which so
    hits all loops alike, and long enough that each loop runs with its own data in the caches
    (``block=1`` measures every step just after the other loops' steps: all slower, Lightning's long
    Python path most). Steps after WARM count."""

    def __init__(self, bares: dict, block: int):
        self.bares, self.block = bares, block
        self.blocks = {name: [] for name in ("lightning", *bares)}  # seconds of each timed block
        self.resumed = None

    def on_train_batch_end(self, trainer, *_):
        step = trainer.global_step
        if step < WARM or (step - WARM) % self.block:
            return
        counted = self.resumed is not None  # the first bare blocks, before any timed Lightning block, warm up
        if counted:
            self.blocks["lightning"].append(time.perf_counter() - self.resumed)
        for name, bare in self.bares.items():
            seconds = bare.run(self.block)
            if counted:
                self.blocks[name].append(seconds)
        self.resumed = time.perf_counter()

    def ratios(self, bare: str) -> list[float]:
        """Lightning's time over the bare loop's, block by block (neighbours in time)."""
        return [a / b for a, b in zip(self.blocks["lightning"], self.blocks[bare])]


def _bare_trainer(overrides, same_work: bool) -> BareTrainer:
    """Same work: genflow's objective, clipping and EMA by hand. Minimal: forward / backward / AdamW on
    DDPM's L_simple written out."""
    cfg, dm, m = build_run(overrides)
    denoiser, path = m.denoiser, m.path
    if same_work:
        loss = lambda x: m.objective(denoiser, m.normalize(x), None)  # noqa: E731
        return BareTrainer(m, dm, loss, denoiser, clip=cfg.trainer.gradient_clip_val, ema=m.ema)

    def l_simple(x):
        t = path.sample_time(x.shape[0], 1e-3, x.device)
        eps = torch.randn_like(x)
        xt = path.alpha(t)[:, None] * x + path.sigma(t)[:, None] * eps
        return (denoiser.net(xt, t) - eps).square().mean()

    return BareTrainer(m, dm, l_simple, denoiser)


def _trainer(kind: str, overrides, steps: int, dm, callbacks, out: str):
    """"quiet": a Trainer without logger, checkpoints or progress bar. "cli": the Trainer `genflow train`
    builds (progress bar, CSV logger, learning-rate monitor, checkpoint and picture callbacks), with the
    periodic checkpoint and sample picture set beyond the run (that work is not a step's). Both clip as
    the run's trainer.* keys say."""
    if kind == "quiet":
        return quiet_trainer(steps, callbacks, cfg=compose_config(overrides))
    cfg = compose_config([*overrides, "logger=csv", f"logger.save_dir={out}", f"trainer.max_steps={steps}",
                          f"checkpoint_every_n_steps={steps + 1}", "plot_every_n_steps=0"])
    trainer = build_trainer(cfg, Path(out), instantiate(cfg.sampler), dm)
    trainer.callbacks.extend(callbacks)
    return trainer


def training_overhead(steps: int, batch_size: int, block: int, repeats: int, rounds: int = 3,
                      fast_step: bool = False) -> dict:
    overrides = [f"data.batch_size={batch_size}", f"fast_step={fast_step}"]

    # 1. interleaved in blocks, `repeats` runs per Trainer (kinds alternated): the median over all blocks of
    # the ratio of neighbouring blocks is immune to drift in machine speed and to a burst from another tenant
    clocks = {"quiet": [], "cli": []}
    for _ in range(repeats):
        for kind, runs in clocks.items():
            _, dm, m = build_run(overrides)
            clock = _Interleaved({"bare_same_work": _bare_trainer(overrides, True),
                                  "bare_minimal": _bare_trainer(overrides, False)}, block)
            with tempfile.TemporaryDirectory() as out:
                _trainer(kind, overrides, steps, dm, [clock], out).fit(m, datamodule=dm)
            runs.append(clock)
    ms = {kind: {name: 1e3 * statistics.median(t for c in runs for t in c.blocks[name]) / block
                 for name in runs[0].blocks} for kind, runs in clocks.items()}
    ratios, ratio_per_run = {}, {}
    for kind, runs in clocks.items():
        for bare in ("same_work", "minimal"):
            key = f"{kind}_vs_{bare}"
            ratios[key] = statistics.median(r for c in runs for r in c.ratios(f"bare_{bare}"))
            ratio_per_run[key] = [statistics.median(c.ratios(f"bare_{bare}")) for c in runs]

    # 2. whole runs, Trainer construction and set-up included; alternated, medians
    def lightning_run():
        cfg, dm, m = build_run(overrides)
        quiet_trainer(steps, cfg=cfg).fit(m, datamodule=dm)

    whole = {"lightning": [], "bare_same_work": []}
    for _ in range(rounds):
        for key, fn in (("lightning", lightning_run), ("bare_same_work", lambda: _bare_trainer(overrides, True).run(steps))):
            t0 = time.perf_counter()
            fn()
            whole[key].append(time.perf_counter() - t0)
    run = {k: statistics.median(v) for k, v in whole.items()}
    result = {"steps": steps, "batch_size": batch_size, "fast_step": fast_step, "block": block, "repeats": repeats,
              "ms_per_step_interleaved": ms, "ratios": ratios, "ratio_median_per_run": ratio_per_run,
              "whole_run_s": run, "whole_run_ratio_vs_same_work": run["lightning"] / run["bare_same_work"]}
    print(json.dumps(result, indent=2), flush=True)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--train-steps", type=int, default=2050)
    ap.add_argument("--train-batch-sizes", type=int, nargs="+", default=[256, 2048])
    ap.add_argument("--block", type=int, default=50, help="steps per interleaved block (1: step by step)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs per Trainer and batch size")
    ap.add_argument("--skip-samplers", action="store_true")
    ap.add_argument("--samplers", nargs="*", help="only the samplers whose name contains one of these words")
    ap.add_argument("--skip-training", action="store_true")
    ap.add_argument("--fast-step", nargs="+", type=int, default=[0, 1],
                    help="training: 0 = Lightning's automatic optimisation (default), 1 = fast_step=true")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    print(f"machine: {machine()}")
    if not args.skip_samplers:
        samplers = sampler_overhead(args.batch, args.samplers)
        name = "overhead_samplers_partial.json" if args.samplers else "overhead_samplers.json"
        (OUT / name).write_text(json.dumps({"machine": machine(), "samplers": samplers}, indent=2))
    if not args.skip_training:
        training = [training_overhead(args.train_steps, b, args.block, args.repeats, fast_step=bool(f))
                    for b in args.train_batch_sizes for f in args.fast_step]
        (OUT / "overhead_training.json").write_text(json.dumps({"machine": machine(), "training": training}, indent=2))


if __name__ == "__main__":
    main()
