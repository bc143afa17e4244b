"""Probability-flow ODE dx/dt = f(t) x - 1/2 g(t)^2 s(x, t) (= the model's velocity), solved with
torchdiffeq down the grid: fixed-step methods take one step per interval of the grid (``euler`` 1
evaluation per step, ``midpoint`` and ``heun`` 2 (second order: Heun's method as EDM, k-diffusion and
diffusers mean it), ``heun3`` 3, ``rk4`` 4); adaptive ones (``dopri5``, ...) integrate from the grid's
first time to its last with ``rtol`` / ``atol``. Deterministic; ``encode`` runs it forwards
(data -> latent) for invertibility and likelihoods."""

from __future__ import annotations

import torch
from torchdiffeq import odeint

from genflow.errors import check_choice
from genflow.samplers.base import Sampler

#: genflow's name -> (torchdiffeq's name, evaluations per step)
FIXED = {"euler": ("euler", 1), "midpoint": ("midpoint", 2), "heun": ("heun2", 2), "heun3": ("heun3", 3),
         "rk4": ("rk4", 4)}
ADAPTIVE = ("dopri5", "dopri8", "bosh3", "adaptive_heun", "fehlberg2")
METHODS = tuple(FIXED) + ADAPTIVE


def solver_options(method: str, times: torch.Tensor) -> dict:
    """torchdiffeq options: fixed-step methods step exactly on ``times``, walked in whichever direction the
    solver integrates (the adjoint method integrates back)."""
    if method not in FIXED:
        return {}
    grid = times.double()

    def constructor(func, y0, t):
        forward = (grid[-1] > grid[0]) == (t[-1] > t[0])
        return (grid if forward else grid.flip(0)).to(t)
    return {"grid_constructor": constructor}


def torchdiffeq_method(method: str) -> str:
    check_choice("sampler.method", method, METHODS)
    return FIXED[method][0] if method in FIXED else method


class ProbabilityFlowSampler(Sampler):
    option = "pf_ode"

    def __init__(self, method: str = "dopri5", num_steps: int = 100, rtol: float = 1e-5, atol: float = 1e-5,
                 x0_clip: str = "auto", clip_value: float = 1.0, clip_percentile: float = 0.995, progress: bool = True,
                 **legacy):
        super().__init__(num_steps, x0_clip, clip_value, clip_percentile, progress, **legacy)
        torchdiffeq_method(method)
        self.method, self.rtol, self.atol = method, float(rtol), float(atol)
        self.evaluations_per_step = FIXED[method][1] if method in FIXED else 1

    def velocity_field(self, model):
        def field(t, x):
            v = model(x, t).velocity
            self.track(v, t, t)
            self.report(t)
            return v
        return field

    def solve(self, model, x, times: torch.Tensor):
        """x at times[0] carried to times[-1] (any direction)."""
        ends = torch.stack([times[0], times[-1]]).to(x)
        return odeint(self.velocity_field(model), x, ends, method=torchdiffeq_method(self.method), rtol=self.rtol,
                      atol=self.atol, options=solver_options(self.method, times))[-1]

    def walk(self, model, x, times, generator):
        return self.solve(model, x, times)

    @torch.no_grad()
    def encode(self, model, x0, times: torch.Tensor):
        """Map data at the grid's last time to its latent at t = 1 along the same ODE and grid."""
        self.start_tracking(None)
        return self.solve(model, x0, times.flip(0))
