"""Probability-flow ODE dx/dt = f(t) x - 1/2 g(t)^2 s(x, t) (= the model's velocity), solved with
torchdiffeq from t = 1 to t_eps: fixed-step (euler, midpoint, heun3, rk4) or adaptive (dopri5,
rtol/atol). Fixed-step grids are uniform or, with ``time_power`` = rho > 1, finer near the data:
t_i = t_eps + (1 - t_eps) (1 - i/n)^rho (genflow.ode.time_grid). Deterministic; ``encode`` runs it
forwards (data -> latent) for invertibility and likelihoods."""

from __future__ import annotations

import torch
from torchdiffeq import odeint

from genflow.errors import UserError, check_choice
from genflow.ode import METHODS, solver_options
from genflow.samplers.base import Sampler, tweedie



class ProbabilityFlowSampler(Sampler):
    needs = ("velocity",)

    def __init__(self, method: str = "dopri5", num_steps: int = 100, rtol: float = 1e-5, atol: float = 1e-5,
                 t_eps: float = 1e-3, denoise: bool = False, progress: bool = True, time_power: float = 1.0):
        super().__init__(num_steps, t_eps, progress)
        if not float(time_power) > 0:
            raise UserError(f"sampler.time_power={time_power} must be positive (1: uniform steps)")
        self.time_power = float(time_power)
        if method == "heun":
            method = "heun3"
        check_choice("sampler.method", method, METHODS)
        self.method, self.rtol, self.atol, self.denoise = method, float(rtol), float(atol), bool(denoise)

    def velocity_field(self, model):
        def field(t, x):
            return model(x, t, "velocity")
        return field

    def solve(self, model, x, t0: float, t1: float):
        times = torch.tensor([t0, t1], dtype=x.dtype, device=x.device)
        return odeint(self.velocity_field(model), x, times, method=self.method, rtol=self.rtol, atol=self.atol,
                      options=solver_options(self.method, t0, t1, self.num_steps, self.time_power))[-1]

    def run(self, model, x, generator):
        x = self.solve(model, x, 1.0, self.t_eps)
        return tweedie(model, x, torch.tensor(self.t_eps)) if self.denoise else x

    @torch.no_grad()
    def encode(self, model, x0):
        """Map data at t_eps to its latent at t = 1 along the same ODE."""
        return self.solve(model, x0, self.t_eps, 1.0)
