"""DPM-Solver++ (Lu et al. 2022b), multistep, data prediction, on any Gaussian path; with ``eta`` > 0 its SDE
variant (k-diffusion's ``sample_dpmpp_2m_sde``, diffusers' ``sde-dpmsolver++``).

A step t -> s (notation of genflow.samplers.exponential: rho = sigma_s/sigma_t, h = lambda_s - lambda_t,
h_e = (1 + eta) h, E = e^{-h}) with x0_hat = x0_hat(x_t, t) and the previous values x0_hat', x0_hat'' at
the grid's previous times t', t'' (r0 = (lambda_t - lambda_t')/h, r1 = (lambda_t' - lambda_t'')/h):

    x_s = rho E^eta x_t + alpha_s (1 - E^{1 + eta}) x0_hat + [higher order] + sigma_s sqrt(1 - E^{2 eta}) z
    order 1 (eta = 0: DDIM)      nothing more
    order 2, midpoint (default)  + alpha_s (1 - E^{1 + eta}) D1 / 2                     D1 = (x0_hat - x0_hat')/r0
    order 2, heun                + alpha_s psi2(h_e) D1
    order 3                      + alpha_s psi2(h_e) D1 - 2 alpha_s psi3(h_e) D2
        with D1 = D1_0 + r0/(r0 + r1) (D1_0 - D1_1), D2 = (D1_0 - D1_1)/(r0 + r1),
        D1_0 = (x0_hat - x0_hat')/r0, D1_1 = (x0_hat' - x0_hat'')/r1.

Third order, deliberately unlike the peers: k-diffusion (``sample_dpmpp_3m_sde``), diffusers
(``multistep_dpm_solver_third_order_update``) and LuChengTHU/dpm-solver (``multistep_dpm_solver_third_update``)
all add ``- alpha_s psi3 D2``. The Taylor term of the exact solution is
alpha_s int_0^h e^{-(h - u)} u^2/2 du x0'' = -alpha_s psi3 h^2 x0'' and D2 ~ h^2 x0''/2, so its coefficient is
-2 alpha_s psi3 (dpm-solver's own singlestep third order carries this 2). With it one step is exact for an
x0_hat quadratic in lambda (tests/test_fewstep.py; with the peers' 1 it is off by ~h^3/6) and the global
error falls at third order; the peers' form falls at second (slopes 2.0, 2.5, 2.3 against 2.8, 3.2, 3.7 on a
1D mixture, /work/notes/fewstep_checks). At 20-40 NFE the peers' damped form can have the smaller error;
order 2 is the default.

Steps: the first is order 1 (no history), each later one uses the previous evaluations whose lambda is finite
(the one at t = 1 on a flow path, lambda = -inf, never enters a difference), and a step out of alpha = 0 or
into sigma = 0 is order 1. ``lower_order_final`` caps the order at n - i on step i of n: on grids of fewer than
15 steps (diffusers' rule), and on every grid that ends with the jump, where it only makes the step before the
jump second order (no loss of order there; diffusers keeps 3M on it from 15 steps, and on a flow path's
uniform grid, whose last step in lambda is 5x the one before, that extrapolation made 3M's energy distance
0.079 at 20 NFE against 0.0026 capped, benchmarks/oracle_nfe.py setting). The last step into the data is the
grid's jump x <- x0_hat (genflow.samplers.base). One evaluation per step. With eta > 0
noise is added on every step the model sees again (not on the last one when the grid ends without the jump).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from genflow.errors import UserError, check_choice, flag
from genflow.samplers.base import noise_on_step
from genflow.samplers.exponential import LogSNRStep, MultistepSampler, one_minus_exp, psi2, psi3

SOLVER_TYPES = ("midpoint", "heun")
#: without the final jump, the order of the last steps is lowered only on grids shorter than this (diffusers)
LOWER_ORDER_FINAL_BELOW = 15


@dataclass(frozen=True)
class Update:
    """A step as a linear map: x_s = x * x_t + sum_j x0[j] x0_hat(t_{i-j}) + z * noise (x0[0]: the current one)."""

    x: float
    x0: tuple[float, ...]
    z: float = 0.0


def dpm_solver_update(step: LogSNRStep, previous: list[float], eta: float = 0.0,
                      solver_type: str = "midpoint") -> Update:
    """The coefficients of one DPM-Solver++ step of order 1 + len(previous) (at most 3); ``previous``: lambda
    at the earlier evaluations, most recent first, all finite."""
    h, a_s = step.h, step.alpha_s
    h_e = (1 + eta) * h
    decay = math.exp(-eta * h) if eta > 0 else 1.0
    phi_e = one_minus_exp(h_e)
    c = [a_s * phi_e]
    if len(previous) == 1:
        r0 = (step.lambda_t - previous[0]) / h
        w = a_s * phi_e / 2 if solver_type == "midpoint" else a_s * psi2(h_e)
        c = [c[0] + w / r0, -w / r0]
    elif len(previous) == 2:
        r0 = (step.lambda_t - previous[0]) / h
        r1 = (previous[0] - previous[1]) / h
        a, b, q = a_s * psi2(h_e), 2 * a_s * psi3(h_e), r0 / (r0 + r1)
        u = a * (1 + q) - b / (r0 + r1)  # on D1_0
        w = -a * q + b / (r0 + r1)  # on D1_1
        c = [c[0] + u / r0, -u / r0 + w / r1, -w / r1]
    elif previous:
        raise ValueError(f"DPM-Solver++ has orders 1 to 3, not {1 + len(previous)}")
    z = step.sigma_s * math.sqrt(one_minus_exp(2 * eta * h)) if eta > 0 else 0.0
    return Update(step.rho * decay, tuple(c), z)


class DPMSolverSampler(MultistepSampler):
    """``order`` 1, 2 (2M) or 3 (3M); ``eta`` in [0, 1]: 0 the ODE solver, 1 the SDE variant (2M SDE);
    ``solver_type`` midpoint | heun (the second-order term); ``lower_order_final`` as diffusers."""

    def __init__(self, num_steps: int | None = 20, order: int = 2, eta: float = 0.0, solver_type: str = "midpoint",
                 lower_order_final: bool = True, x0_clip: str = "auto", clip_value: float = 1.0,
                 clip_percentile: float = 0.995, progress: bool = True, **legacy):
        super().__init__(num_steps, x0_clip, clip_value, clip_percentile, progress, **legacy)
        check_choice("sampler.order", order, (1, 2, 3))
        check_choice("sampler.solver_type", solver_type, SOLVER_TYPES)
        if not 0 <= float(eta) <= 1:
            raise UserError(f"sampler.eta={eta} must be in [0, 1] (0: the ODE solver, 1: DPM-Solver++ SDE)")
        self.order, self.eta, self.solver_type = int(order), float(eta), solver_type
        self.lower_order_final = flag("sampler.lower_order_final", lower_order_final)

    @property
    def name(self) -> str:
        return f"dpmpp_{self.order}m" + ("_sde" if self.eta > 0 else "")

    def plan(self, path, times, denoise: bool = True) -> list[Update]:
        """Every step's coefficients, from the grid alone (float64, once per grid)."""
        lower_final = self.lower_order_final and (denoise or len(times) - 1 + int(denoise) < LOWER_ORDER_FINAL_BELOW)
        planned = self.orders(path, times, denoise, lower_final)
        updates = [dpm_solver_update(step, past, self.eta, self.solver_type) for step, past in planned]
        # the step into the data (the last one when no jump follows) takes its mean
        return [u if noise_on_step(i, times, denoise) else replace(u, z=0.0) for i, u in enumerate(updates)]

    def walk(self, model, x, times, generator):
        plan = self.plan(model.path, times, self.denoise)
        history = []  # x0_hat at t_i, t_{i-1}, ...
        for i, t, s in self.steps(times):
            history = [model(x, t).x0, *history[: self.order - 1]]
            u = plan[i]
            out = u.x * x
            for c, d in zip(u.x0, history):
                out = out + c * d
            if u.z:
                out = out + u.z * self.noise_like(x, generator)
            x = out
            self.track(x, t, s)
        return x

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_steps={self.num_steps}, order={self.order}, eta={self.eta}, "
                f"solver_type={self.solver_type}, lower_order_final={self.lower_order_final})")
