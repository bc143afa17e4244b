"""Every number a run depends on, checked before anything starts: one line, exit code 2.

The override validation (``genflow.app.validation``) already checks each value's type against its
default; these are the ranges: counts and sizes positive, a seed Lightning and NumPy accept
(0 .. 2**32 - 1), a run that ends (``trainer.max_steps`` > 0, or -1 with ``trainer.max_epochs`` > 0),
finite positive learning rates. Sampler parameters are checked by the samplers themselves.
"""

from __future__ import annotations

import math

from omegaconf import DictConfig, OmegaConf

from genflow.errors import UserError

MAX_SEED = 2**32 - 1


def _get(cfg: DictConfig, key: str):
    return OmegaConf.select(cfg, key, default=None, throw_on_missing=False)


def _number(key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{key}={value!r} must be a number")
    if not math.isfinite(value):
        raise UserError(f"{key}={value!r} must be a finite number")
    return value


def integer(cfg: DictConfig, key: str, low: int | None = None, high: int | None = None, what: str = "") -> None:
    """``key`` must be an integer in [low, high] (when present in ``cfg``)."""
    value = _get(cfg, key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{key}={value!r} must be an integer{what}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (f">= {low}" if high is None else f"between {low} and {high}") if low is not None else f"<= {high}"
        bounds = "a positive integer" if (low, high) == (1, None) else bounds
        raise UserError(f"{key}={value} must be {bounds}{what}")


def number(cfg: DictConfig, key: str, low: float | None = None, high: float | None = None, positive: bool = False,
           what: str = "") -> None:
    """``key`` must be a finite number in [low, high] (> 0 when ``positive``)."""
    value = _get(cfg, key)
    if value is None:
        return
    value = _number(key, value)
    if positive and value <= 0:
        raise UserError(f"{key}={value} must be positive{what}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise UserError(f"{key}={value} must be between {low} and {high}{what}")


def check_seed(cfg: DictConfig) -> None:
    integer(cfg, "seed", 0, MAX_SEED)


def check_train_values(cfg: DictConfig) -> None:
    check_seed(cfg)
    integer(cfg, "num_samples", 1, what=" (samples drawn for the final picture and metrics)")
    integer(cfg, "plot_every_n_steps", 0, what=" (0: no pictures during training)")
    integer(cfg, "checkpoint_every_n_steps", 0, what=" (0: a checkpoint only at the end)")
    integer(cfg, "data.batch_size", 1)
    integer(cfg, "data.num_samples", 2, what=" (the size of the training set)")
    integer(cfg, "data.num_workers", 0)
    number(cfg, "model.lr", positive=True)
    number(cfg, "model.weight_decay", low=0.0)
    number(cfg, "model.ema_decay", low=0.0, high=1.0)
    integer(cfg, "model.warmup_steps", 0)
    integer(cfg, "net.hidden", 1)
    integer(cfg, "net.depth", 0)
    integer(cfg, "net.time_dim", 1)
    number(cfg, "trainer.gradient_clip_val", low=0.0)
    integer(cfg, "trainer.accumulate_grad_batches", 1)
    integer(cfg, "trainer.log_every_n_steps", 1)
    max_steps, max_epochs = _get(cfg, "trainer.max_steps"), _get(cfg, "trainer.max_epochs")
    integer(cfg, "trainer.max_steps", -1)
    integer(cfg, "trainer.max_epochs", -1)
    if max_steps == 0 or (max_steps in (None, -1) and (max_epochs is None or max_epochs in (0, -1))):
        raise UserError(f"trainer.max_steps={max_steps} with trainer.max_epochs={max_epochs} trains for no steps or "
                        "forever; set trainer.max_steps to a positive number (or -1 with a positive max_epochs)")
    if max_epochs == 0:
        raise UserError("trainer.max_epochs=0 trains nothing; set it to a positive number, or -1 with trainer.max_steps")
    if cfg.get("teacher"):
        integer(cfg, "reflow.num_pairs", 1)
        integer(cfg, "reflow.num_steps", 1)


def check_sample_values(cfg: DictConfig) -> None:
    check_seed(cfg)
    integer(cfg, "num_samples", 1)
    integer(cfg, "batch_size", 1)
    number(cfg, "guidance.scale")


def check_eval_values(cfg: DictConfig) -> None:
    check_seed(cfg)
    integer(cfg, "num_points", 1)
    integer(cfg, "batch_size", 1)
    integer(cfg, "num_steps", 1)
    number(cfg, "rtol", positive=True)
    number(cfg, "atol", positive=True)
    number(cfg, "t_eps", low=0.0, high=1.0)
