"""Exponential moving average of weights with warm-up:
theta_ema <- d_n theta_ema + (1 - d_n) theta,  d_n = min(decay, (1 + n) / (10 + n)),
so short runs are not dominated by the random initialisation (as in many DDPM code bases)."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def _ema_fn(decay: float):
    @torch.no_grad()
    def update(ema_params, params, num_averaged):
        n = int(num_averaged)
        d = min(decay, (1 + n) / (10 + n))
        torch._foreach_lerp_(ema_params, params, 1 - d)

    return update


def make_ema(module: nn.Module, decay: float) -> AveragedModel:
    ema = AveragedModel(module, multi_avg_fn=_ema_fn(float(decay)), use_buffers=True)
    ema.requires_grad_(False)
    return ema
