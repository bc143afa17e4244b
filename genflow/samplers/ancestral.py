"""Ancestral sampling: draw x_s ~ q(x_s | x_t, x0_hat) step by step (Ho et al. 2020, Alg. 2).

For any Gaussian path and s < t, with a = alpha_t/alpha_s and v = sigma_t^2 - a^2 sigma_s^2
(the transition variance; beta_t for DDPM), the posterior mean written with eps is
    x_s = 1/a (x_t - v / sigma_t * eps) + std * z,
i.e. DDPM's x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alphabar_t) eps) + sigma_t z,
with std^2 = v ("beta", sigma_t^2 = beta_t) or the posterior variance v sigma_s^2 / sigma_t^2
("posterior", beta~_t). No noise is added on the last step.
"""

from __future__ import annotations

import torch

from genflow.errors import check_choice
from genflow.paths.base import collapse_uniform
from genflow.samplers.base import SPACINGS, Sampler, strided_discrete_grid

VARIANCES = ("beta", "posterior")


class AncestralSampler(Sampler):
    needs = ("eps",)

    def __init__(self, num_steps: int | None = None, variance: str = "beta", t_eps: float = 1e-3,
                 progress: bool = True, spacing: str = "linspace"):
        super().__init__(num_steps, t_eps, progress)
        check_choice("sampler.variance", variance, VARIANCES)
        check_choice("sampler.spacing", spacing, SPACINGS)
        self.variance, self.spacing = variance, spacing

    def grid(self, path) -> torch.Tensor:
        if path.is_discrete:
            times = strided_discrete_grid(path.discrete_times, self.num_steps, self.spacing)
        else:
            times = self.continuous_grid(self.num_steps or 1000)[:-1]
        return torch.cat([times, torch.zeros(1)])

    def run(self, model, x, generator):
        path, times = model.path, self.grid(model.path)
        shape = (-1, *[1] * (x.dim() - 1))
        for i in self.steps(range(len(times) - 1), type(self).__name__.removesuffix("Sampler").lower()):
            t = times[i].to(x).expand(x.shape[0])
            s = times[i + 1].to(x).expand(x.shape[0])
            last = i + 2 == len(times)
            eps = model(x, t, "eps")
            tc, sc = collapse_uniform(t), collapse_uniform(s)  # coefficients on one element, broadcast
            s_s = torch.zeros_like(sc).view(shape) if last else path.sigma(sc).view(shape)
            coeffs = (path.alpha(tc).view(shape), path.alpha(sc).view(shape), path.sigma(tc).view(shape), s_s)
            x = self.update(x, eps, *coeffs, last, generator)
        return x

    def update(self, x, eps, a_t, a_s, s_t, s_s, last, generator):
        """One step t -> s; sigma_s = 0 on the last step, which lands on x0_hat."""
        a = a_t / a_s
        v = (s_t**2 - a**2 * s_s**2).clamp_min(0)
        x = (x - v / s_t * eps) / a
        if not last:
            var = v if self.variance == "beta" else v * s_s**2 / s_t**2
            x = x + var.sqrt() * self.noise_like(x, generator)
        return x
