"""Helpers shared by the benchmark scripts: compose genflow's train config, build and train a module."""

from __future__ import annotations

import platform
import time

import lightning as L
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from genflow.host_tuning import tune_host
from genflow.train import build_module

tune_host()  # as the genflow CLI does


def compose_train(overrides):
    """The `genflow train` config with these overrides (no logger)."""
    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        return compose("train", overrides=["logger=none", *overrides])


def build(overrides, seed: int = 0):
    """(config, set-up data module, module) as `genflow train` builds them."""
    L.seed_everything(seed, verbose=False)
    cfg = compose_train([f"seed={seed}", *overrides])
    dm = instantiate(cfg.data)
    dm.setup()
    return cfg, dm, build_module(cfg, dm)


def train_genflow(overrides, steps: int, seed: int = 0):
    """Train with Lightning as `genflow train` does (no checkpoints / validation); returns (module, dm, seconds)."""
    _, dm, module = build(overrides, seed)
    t0 = time.perf_counter()
    lightning_trainer(steps).fit(module, datamodule=dm)
    return module, dm, time.perf_counter() - t0


def lightning_trainer(steps: int, callbacks=()) -> L.Trainer:
    """A CPU Trainer without logger, checkpoints, progress bar or validation; clipping is the module's
    (build_module sets it from trainer.gradient_clip_val)."""
    return L.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                     callbacks=list(callbacks))


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


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
