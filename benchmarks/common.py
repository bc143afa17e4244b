"""Helpers shared by the benchmark scripts: compose genflow's train config, build and train a module."""

from __future__ import annotations

import platform
import time

import lightning as L
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from genflow.allocator import tune_malloc
from genflow.train import build_module

tune_malloc()  # as the genflow CLI does


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
    cfg, dm, module = build(overrides, seed)
    t0 = time.perf_counter()
    L.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, limit_val_batches=0,
              gradient_clip_val=cfg.trainer.gradient_clip_val).fit(module, datamodule=dm)
    return module, dm, time.perf_counter() - t0


def bare_loop(module, dm, loss_fn, steps: int, trained, clip: float | None = None, ema=None, warm: int = 0) -> float:
    """A plain PyTorch loop with genflow's optimizer and warm-up schedule: loss_fn(x) -> loss, backward,
    optional clipping of ``trained``'s gradients, AdamW step, optional EMA update of ``trained``.
    Returns the seconds from the start of step ``warm`` to the end."""
    optim = module.configure_optimizers()
    opt, sched = optim["optimizer"], optim["lr_scheduler"]["scheduler"]
    step = 0
    while step < steps:
        for x, _ in dm.train_dataloader():
            if step == warm:
                t0 = time.perf_counter()
            loss = loss_fn(x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(trained.parameters(), clip)
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(trained)
            step += 1
            if step == steps:
                break
    return time.perf_counter() - t0


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
