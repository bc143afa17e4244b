"""EDM's second-order Heun sampler with stochastic churn (Karras et al. 2022, Algorithm 2), on any Gaussian path.

EDM works in y = x/alpha with the noise level sigma~ = sigma/alpha (``path.noise_ratio``), where the
probability-flow ODE is dy/dsigma~ = eps_hat. Step i, t_i -> t_{i+1}, of a grid of N times:
  1. churn: gamma = min(s_churn/N, sqrt(2) - 1) where s_tmin <= sigma~_i <= s_tmax (else 0);
     sigma~_hat = sigma~_i (1 + gamma), t_hat = the time at that ratio (at most 1, and sigma~_hat re-read there),
     x_hat = (alpha_hat/alpha_i) x_i + alpha_hat sqrt(sigma~_hat^2 - sigma~_i^2) s_noise z
     (exact: x_i ~ p_{t_i} gives x_hat ~ p_{t_hat} for s_noise = 1);
  2. Euler: x' = alpha_{i+1} x0_hat + sigma_{i+1} eps_hat at (x_hat, t_hat)   (DDIM; finite at alpha_hat = 0);
  3. Heun: x_{i+1} = x' + (sigma_{i+1} - alpha_{i+1} sigma~_hat) (eps_hat' - eps_hat)/2, eps_hat' at (x', t_{i+1})
     (the trapezoid in (y, sigma~)), skipped out of alpha_hat = 0 (sigma~ = inf) and into sigma_{i+1} = 0.
The last step into the data is the grid's jump x <- x0_hat (EDM's Euler step to sigma = 0), without churn.
NFE = 2N - 1 with the jump (2N - 2 when alpha(1) = 0). s_churn = 0 (the default) is deterministic. s_tmin,
s_tmax are in sigma/alpha units (EDM's S_min, S_max; k-diffusion's s_tmin, s_tmax). This is not pf_ode's
``heun``, which integrates in t (torchdiffeq's heun2): same tableau, another variable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genflow.errors import UserError
from genflow.samplers.base import Sampler


@dataclass(frozen=True)
class HeunStep:
    """One step's float64 coefficients: the churned time t_hat and x_hat = scale x + noise z, the Euler step's
    (alpha, sigma) at t_{i+1}, and the Heun correction's factor (None: no correction)."""

    t_hat: float
    scale: float
    noise: float
    alpha_next: float
    sigma_next: float
    heun: float | None


class EDMHeunSampler(Sampler):
    option = "edm_heun"

    evaluations_per_step = 2

    def __init__(self, num_steps: int | None = 18, s_churn: float = 0.0, s_tmin: float = 0.0,
                 s_tmax: float = math.inf, s_noise: float = 1.0, x0_clip: str = "auto", clip_value: float = 1.0,
                 clip_percentile: float = 0.995, progress: bool = True, **legacy):
        super().__init__(num_steps, x0_clip, clip_value, clip_percentile, progress, **legacy)
        s_churn, s_tmin, s_tmax, s_noise = (float(v) for v in (s_churn, s_tmin, s_tmax, s_noise))
        if not s_churn >= 0:
            raise UserError(f"sampler.s_churn={s_churn} must be >= 0 (0: deterministic; EDM's ImageNet-64: 40)")
        if not 0 <= s_tmin <= s_tmax:
            raise UserError(f"sampler.s_tmin={s_tmin} and sampler.s_tmax={s_tmax}: need 0 <= s_tmin <= s_tmax")
        if not s_noise > 0:
            raise UserError(f"sampler.s_noise={s_noise} must be > 0 (EDM: 1 to 1.007)")
        self.s_churn, self.s_tmin, self.s_tmax, self.s_noise = s_churn, s_tmin, s_tmax, s_noise

    def plan(self, path, times) -> list[HeunStep]:
        """Every step's coefficients, from the grid alone (float64, once per grid)."""
        times = times.double().cpu()
        ratio = path.noise_ratio(times).tolist()
        gamma = min(self.s_churn / len(times), math.sqrt(2) - 1)
        churned = [gamma if gamma > 0 and math.isfinite(r) and self.s_tmin <= r <= self.s_tmax else 0.0
                   for r in ratio[:-1]]
        t_hat = times[:-1].clone()
        if any(churned):
            target = torch.tensor([r * (1 + g) for r, g in zip(ratio, churned)], dtype=torch.float64)
            t_hat = torch.where(torch.tensor(churned) > 0, path.time_at_noise_ratio(target).clamp(max=1.0), t_hat)
        c_hat, c = path.coefficients(t_hat), path.coefficients(times)
        a_hat, s_hat = c_hat.alpha.tolist(), c_hat.sigma.tolist()
        alpha, sigma = c.alpha.tolist(), c.sigma.tolist()
        plan = []
        for i in range(len(times) - 1):
            if churned[i] and a_hat[i] > 0:
                r_hat = s_hat[i] / a_hat[i]
                scale = a_hat[i] / alpha[i]
                noise = a_hat[i] * math.sqrt(max(r_hat**2 - ratio[i] ** 2, 0.0)) * self.s_noise
            else:  # no churn (or a ratio so large that its time rounds to alpha = 0)
                t_hat[i], a_hat[i], r_hat, scale, noise = times[i], alpha[i], ratio[i], 1.0, 0.0
            a_next, s_next = alpha[i + 1], sigma[i + 1]
            heun = (s_next - a_next * r_hat) / 2 if a_hat[i] > 0 and s_next > 0 else None
            plan.append(HeunStep(float(t_hat[i]), scale, noise, a_next, s_next, heun))
        return plan

    def walk(self, model, x, times, generator):
        plan = self.plan(model.path, times)
        for i, t, s in self.steps(times):
            step = plan[i]
            if step.noise:
                x = step.scale * x + step.noise * self.noise_like(x, generator)
            pred = model(x, step.t_hat)
            euler = step.alpha_next * pred.x0 + step.sigma_next * pred.eps
            if step.heun is None:
                x = euler
            else:
                x = euler + step.heun * (model(euler, s).eps - pred.eps)
            self.track(x, t, s)
        return x

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_steps={self.num_steps}, s_churn={self.s_churn}, s_tmin={self.s_tmin}, "
                f"s_tmax={self.s_tmax}, s_noise={self.s_noise})")
