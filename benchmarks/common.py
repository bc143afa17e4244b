"""Helpers shared by the benchmark scripts: train a module as `genflow train` does, or with a bare loop."""

from __future__ import annotations

import platform
import time

import torch

from genflow.app.compose import build_run, quiet_trainer
from genflow.app.host import tune_host

tune_host()  # as the genflow CLI does


def train_genflow(overrides, steps: int, seed: int = 0):
    """Train with Lightning as `genflow train` does (no checkpoints / validation); returns (module, dm, seconds)."""
    cfg, dm, module = build_run(overrides, seed)
    t0 = time.perf_counter()
    quiet_trainer(steps, cfg=cfg).fit(module, datamodule=dm)
    return module, dm, time.perf_counter() - t0


class BareTrainer:
    """A plain PyTorch training loop with genflow's optimizer and warm-up schedule; ``step()``: loss_fn(x)
    on the next batch, backward, optional clipping of ``trained``'s gradients, AdamW step, scheduler
    step, optional EMA update of ``trained``."""

    def __init__(self, module, dm, loss_fn, trained, clip: float | None = None, ema=None):
        optim = module.configure_optimizers()
        self.opt, self.sched = optim["optimizer"], optim["lr_scheduler"]["scheduler"]
        self.loss_fn, self.trained, self.clip, self.ema = loss_fn, trained, clip, ema
        self.batches = (x for _ in iter(int, 1) for x, _ in dm.train_dataloader())  # epochs without end

    def step(self) -> None:
        loss = self.loss_fn(next(self.batches))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.trained.parameters(), self.clip)
        self.opt.step()
        self.sched.step()
        if self.ema is not None:
            self.ema.update_parameters(self.trained)

    def run(self, steps: int, warm: int = 0) -> float:
        """``steps`` steps; the seconds from the start of step ``warm`` to the end."""
        for _ in range(warm):
            self.step()
        t0 = time.perf_counter()
        for _ in range(steps - warm):
            self.step()
        return time.perf_counter() - t0


def bare_loop(module, dm, loss_fn, steps: int, trained, clip: float | None = None, ema=None, warm: int = 0) -> float:
    """Train ``steps`` steps with a BareTrainer; the seconds from the start of step ``warm`` to the end."""
    return BareTrainer(module, dm, loss_fn, trained, clip, ema).run(steps, warm)


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a wall-clock interval covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
