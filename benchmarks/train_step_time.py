"""Time per training step of ``genflow train`` as the command line runs it (the same Trainer: progress
bar, checkpoint and picture callbacks, logger; EMA, clipping, data), for several option sets, and the
sampling time of the trained EMA network; each variant in its own process-free Trainer, one after the
other.

    python benchmarks/train_step_time.py --case cifar10 --variants eager compiled          # on a GPU
    python benchmarks/train_step_time.py --case digits --variants eager compiled cudagraphs
    python benchmarks/train_step_time.py --case moons --variants eager fast_step --steps 300   # a CPU

Cases: ``cifar10`` (model=vp_sde data=cifar10 trainer=gpu: the 35.7M U-Net, bf16-mixed, batch 128, on
6,000 fabricated images in the real pickle format), ``digits`` (model=ddpm data=digits trainer=gpu: the
0.7M U-Net), ``moons`` (the default toy run on the CPU trainer). Variants: ``eager``, ``compiled``
(compile=true), ``cudagraphs`` (compile=true compile_mode=reduce-overhead), ``fast_step``
(fast_step=true), ``channels_last`` (net.channels_last=true), and ``+``-joined combinations such as
``compiled+channels_last``. The time per step is the wall time from step ``--warm`` to the last step
(device synchronised at both ends) over the steps between: compilation and warm-up are outside it and
reported as ``first_steps_s``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate

from common import sync
from genflow.app.acceleration import apply_tf32
from genflow.app.compose import build_run, compose_config
from genflow.app.train import build_trainer

OUT = Path(__file__).parent / "results"
CASES = {
    "cifar10": ["model=vp_sde", "data=cifar10", "trainer=gpu"],
    "digits": ["model=ddpm", "data=digits", "trainer=gpu"],
    "moons": ["model=ddpm", "data=moons"],
}
VARIANTS = {
    "eager": [],
    "compiled": ["compile=true"],
    "cudagraphs": ["compile=true", "compile_mode=reduce-overhead"],
    "fast_step": ["fast_step=true"],
    "channels_last": ["net.channels_last=true"],
}


class StepClock(L.Callback):
    """Wall time of steps ``warm`` .. last, the device synchronised at both ends; and of the first steps."""

    def __init__(self, warm: int):
        self.warm, self.t0, self.marks = warm, None, {}

    def on_train_start(self, trainer, pl_module):
        self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, *_):
        step = trainer.global_step
        if step == self.warm or step == trainer.max_steps:
            sync(pl_module.device)
            self.marks[step] = time.perf_counter()


def cifar_root(tmp: Path) -> str:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from image_files import write_cifar10

    write_cifar10(tmp / "cifar", n_per_batch=1000)
    return str(tmp / "cifar")


def run(case: str, variant: str, steps: int, warm: int, tmp: Path, sample_steps: int) -> dict:
    overrides = list(CASES[case]) + [f"trainer.max_steps={steps}", "plot_every_n_steps=0",
                                     f"checkpoint_every_n_steps={steps + 1}", "logger=csv",
                                     f"logger.save_dir={tmp / variant}"]
    if case == "cifar10":
        overrides.append(f"data.root={cifar_root(tmp)}")
    if sample_steps:
        overrides.append(f"sampler.num_steps={sample_steps}")
    for part in variant.split("+"):
        overrides += VARIANTS[part]
    cfg = compose_config(overrides)
    _, dm, module = build_run(overrides)
    clock = StepClock(warm)
    trainer = build_trainer(cfg, tmp / variant, instantiate(cfg.sampler), dm)
    trainer.callbacks.append(clock)
    apply_tf32(trainer.strategy.root_device, cfg.tf32)
    trainer.fit(module, datamodule=dm)
    per_step = (clock.marks[steps] - clock.marks[warm]) / (steps - warm)
    batch = cfg.data.batch_size
    row = {"case": case, "variant": variant, "overrides": overrides, "batch": batch, "steps": steps, "warm": warm,
           "first_steps_s": clock.marks[warm] - clock.t0, "ms_per_step": 1e3 * per_step, "img_per_s": batch / per_step}
    if sample_steps:  # the trained EMA network, the run's sampler on one batch; the second call timed
        module.to(trainer.strategy.root_device)
        sampler = instantiate(cfg.sampler, progress=False)
        times = []
        for _ in range(2):
            sync(module.device)
            t0 = time.perf_counter()
            _, nfe = module.generate(sampler, batch, generator=torch.Generator().manual_seed(0))
            sync(module.device)
            times.append(time.perf_counter() - t0)
        row.update({"sample_nfe": nfe, "sample_first_s": times[0], "sample_ms_per_nfe": 1e3 * times[1] / nfe})
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=list(CASES), default="cifar10")
    ap.add_argument("--variants", nargs="+", default=["eager", "compiled"])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warm", type=int, default=50)
    ap.add_argument("--sample-steps", type=int, default=0, help="also time sampling with this many steps")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    out = Path(args.out) if args.out else OUT / f"train_step_time_{args.case}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"device": device, "torch": torch.__version__, "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants:
            row = run(args.case, variant, args.steps, args.warm, Path(tmp), args.sample_steps)
            print(json.dumps(row), flush=True)
            result["rows"].append(row)
            out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
