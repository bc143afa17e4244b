"""Learning-rate multipliers per optimizer step n: linear warm-up over W steps, then constant or a
decay to zero at the last of T steps,

    m(n) = (n + 1) / W                       for n < W
    m(n) = 1                                 constant
    m(n) = (1 + cos(pi p)) / 2               cosine (Loshchilov & Hutter 2017)
    m(n) = 1 - p                             linear,      p = (n - W) / (T - W) clipped to [0, 1].
"""

from __future__ import annotations

import math

from genflow.errors import UserError, check_choice

LR_SCHEDULES = ("constant", "cosine", "linear")


def check_lr_schedule(name: str) -> None:
    check_choice("model.lr_schedule", name, LR_SCHEDULES)


def lr_multiplier(name: str, warmup_steps: int, total_steps: float):
    """The function n -> m(n) above, for ``torch.optim.lr_scheduler.LambdaLR``."""
    check_lr_schedule(name)
    warm = max(int(warmup_steps), 0)
    if name != "constant" and not math.isfinite(total_steps):
        raise UserError(f"model.lr_schedule={name} decays to zero at the last step: set trainer.max_steps")

    def multiplier(n: int) -> float:
        if n < warm:
            return (n + 1) / warm
        if name == "constant":
            return 1.0
        p = min(max((n - warm) / max(total_steps - warm, 1), 0.0), 1.0)
        return 0.5 * (1 + math.cos(math.pi * p)) if name == "cosine" else 1 - p

    return multiplier
