"""torchdiffeq solver names and options shared by the PF-ODE sampler and the likelihood ODE."""

from __future__ import annotations

FIXED = ("euler", "midpoint", "rk4", "heun3", "explicit_adams")
ADAPTIVE = ("dopri5", "dopri8", "bosh3", "adaptive_heun", "fehlberg2")
METHODS = FIXED + ADAPTIVE


def solver_options(method: str, t0: float, t1: float, num_steps: int) -> dict:
    """Fixed-step methods take ``num_steps`` equal steps over [t0, t1]; adaptive ones use rtol/atol."""
    return {"step_size": abs(t1 - t0) / num_steps} if method in FIXED else {}
