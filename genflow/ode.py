"""torchdiffeq solver names and options shared by the PF-ODE sampler and the likelihood ODE."""

from __future__ import annotations

import torch
from torch import Tensor

FIXED = ("euler", "midpoint", "rk4", "heun3", "explicit_adams")
ADAPTIVE = ("dopri5", "dopri8", "bosh3", "adaptive_heun", "fehlberg2")
METHODS = FIXED + ADAPTIVE


def time_grid(t0: float, t1: float, num_steps: int, power: float = 1.0) -> Tensor:
    """``num_steps + 1`` times from t0 to t1 (float64): t = lo + (hi - lo) (1 - s)^power, s uniform on
    [0, 1] from the noise end hi. power = 1 is uniform; power > 1 takes finer steps near the data (lo)."""
    lo, hi = min(t0, t1), max(t0, t1)
    s = torch.linspace(0.0, 1.0, num_steps + 1, dtype=torch.float64)
    grid = lo + (hi - lo) * (1.0 - s) ** power
    grid[0], grid[-1] = hi, lo
    return grid if t0 > t1 else grid.flip(0)


def solver_options(method: str, t0: float, t1: float, num_steps: int, time_power: float = 1.0) -> dict:
    """Fixed-step methods take ``num_steps`` steps over [t0, t1], equal or on ``time_grid(power)``;
    adaptive ones use rtol/atol."""
    if method not in FIXED:
        return {}
    if time_power == 1.0:
        return {"step_size": abs(t1 - t0) / num_steps}
    grid = time_grid(t0, t1, num_steps, time_power)
    return {"grid_constructor": lambda func, y0, t: torch.cat([t[:1], grid[1:-1].to(t), t[-1:]])}
