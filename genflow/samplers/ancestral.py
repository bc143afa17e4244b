"""Ancestral sampling (Ho et al. 2020, Algorithm 2) on any Gaussian path.

For a step t -> s < t, with a = alpha_t / alpha_s and v = sigma_t^2 - a^2 sigma_s^2 (the variance of
x_t given x_s; beta_t for DDPM), x_s is drawn from
    mean = alpha_s x0_hat + (a sigma_s^2 / sigma_t) eps_hat,     std^2 = v ("beta") or v sigma_s^2 / sigma_t^2
("posterior", beta~_t), the posterior q(x_s | x_t, x0 = x0_hat). With eps_hat this is DDPM's
x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alphabar_t) eps) + sigma_t z; written with the pair
(x0_hat, eps_hat) it stays finite where alpha_t = 0 (t = 1 on a flow path). Noise on every step but the one
into the data: the last walk step is noised when the grid's jump to x0_hat follows it (the jump from t_1 is
Algorithm 2's step t = 1 -> 0), so on a discrete grid this is diffusers' DDPMScheduler (``beta``: fixed_large,
``posterior``: fixed_small) step for step.
"""

from __future__ import annotations

import torch

from genflow.errors import check_choice
from genflow.samplers.base import Sampler, noise_on_step

VARIANCES = ("beta", "posterior")


def transition(path, t: float, s: float):
    """(alpha_s, sigma_s, a = alpha_t / alpha_s, v = sigma_t^2 - a^2 sigma_s^2, sigma_t) for a step t -> s."""
    ct, cs = (path.coefficients(torch.tensor(u, dtype=torch.float64)) for u in (t, s))
    a = ct.alpha / cs.alpha
    v = (ct.sigma**2 - a**2 * cs.sigma**2).clamp_min(0)
    return cs.alpha, cs.sigma, a, v, ct.sigma


class AncestralSampler(Sampler):
    option = "ancestral"

    def __init__(self, num_steps: int | None = None, variance: str = "beta", x0_clip: str = "auto",
                 clip_value: float = 1.0, clip_percentile: float = 0.995, progress: bool = True, **legacy):
        super().__init__(num_steps, x0_clip, clip_value, clip_percentile, progress, **legacy)
        check_choice("sampler.variance", variance, VARIANCES)
        self.variance = variance

    def walk(self, model, x, times, generator):
        for i, t, s in self.steps(times):
            pred = model(x, t)
            a_s, s_s, a, v, s_t = (c.to(x) for c in transition(model.path, t, s))
            x = a_s * pred.x0 + (a * s_s**2 / s_t) * pred.eps
            if noise_on_step(i, times, self.denoise):
                var = v if self.variance == "beta" else v * s_s**2 / s_t**2
                x = x + var.sqrt() * self.noise_like(x, generator)
            self.track(x, t, s)
        return x
