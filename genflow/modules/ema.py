"""Exponential moving average of weights with warm-up:
theta_ema <- d_n theta_ema + (1 - d_n) theta,  d_n = min(decay, (1 + n) / (10 + n)),
so short runs are not dominated by the random initialisation (as in many DDPM code bases); the first
update (n = 0) copies the weights.

``n`` is counted on the host: ``torch.optim.swa_utils.AveragedModel`` reads its device-side counter
on every update (``bool(n_averaged == 0)``, ``n_averaged > 0``), three host syncs per training step on
a GPU. The state dict keeps AveragedModel's keys (``module.*``, ``n_averaged``), so checkpoints written
with either load into the other.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA(nn.Module):
    """``module``: the averaged copy; ``update_parameters(model)`` after each optimizer step."""

    def __init__(self, module: nn.Module, decay: float):
        super().__init__()
        self.module = copy.deepcopy(module).requires_grad_(False)
        self.decay = float(decay)
        self.register_buffer("n_averaged", torch.tensor(0, dtype=torch.long))
        self._count: int | None = 0  # host copy of n_averaged; None: read it at the next update
        self.register_load_state_dict_post_hook(EMA._forget_count)

    @staticmethod
    def _forget_count(module, incompatible_keys) -> None:
        module._count = None

    def weight(self, n: int) -> float:
        """1 - d_n, the weight of the new parameters after n updates."""
        return 1.0 - min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        if self._count is None:
            self._count = int(self.n_averaged)  # once after loading a checkpoint
        ours = [*self.module.parameters(), *self.module.buffers()]
        theirs = [t.detach() for t in (*model.parameters(), *model.buffers())]
        floats = [(a, b) for a, b in zip(ours, theirs, strict=True) if a.is_floating_point()]
        others = [(a, b) for a, b in zip(ours, theirs, strict=True) if not a.is_floating_point()]
        if floats:
            a, b = map(list, zip(*floats))
            if self._count == 0:
                torch._foreach_copy_(a, b)
            else:
                torch._foreach_lerp_(a, b, self.weight(self._count))
        for a, b in others:
            a.copy_(b)
        self._count += 1
        self.n_averaged.fill_(self._count)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


def make_ema(module: nn.Module, decay: float) -> EMA:
    return EMA(module, decay)
