"""Annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1). For noise levels
sigma_L > ... > sigma_1 (times t_L > ... > t_1 of the path) and M steps per level:
    a_i = eps sigma_i^2 / sigma_1^2,    x <- x + a_i/2 s(x, t_i) + sqrt(a_i) z.
The levels are the path's discrete grid (NCSN) or ``num_levels`` times spread over [t_eps, 1].
``denoise=true`` ends with Tweedie's step x <- x + sigma_1^2 s(x, t_1) (Song & Ermon 2020)."""

from __future__ import annotations

import torch

from genflow.paths.base import broadcast_like
from genflow.samplers.base import Sampler, tweedie


class AnnealedLangevinSampler(Sampler):
    def __init__(self, num_levels: int | None = None, steps_per_level: int = 100, step_size: float = 2e-5,
                 t_eps: float = 1e-3, denoise: bool = True, progress: bool = True):
        super().__init__(num_levels, t_eps, progress)
        self.steps_per_level, self.step_size, self.denoise = int(steps_per_level), float(step_size), bool(denoise)

    def levels(self, path) -> torch.Tensor:
        if path.is_discrete and self.num_steps is None:
            return path.discrete_times.flip(0)
        return torch.linspace(1.0, self.t_eps, self.num_steps or 10)

    def run(self, model, x, generator):
        path, levels = model.path, self.levels(model.path)
        alpha_min = path.alpha(levels[-1:]).item()
        sigma_min = path.sigma(levels[-1:]).item() / alpha_min  # noise scale in data units
        for t_level in self.steps(levels, "annealed langevin"):
            t = t_level.to(x).expand(x.shape[0])
            sigma = path.sigma(t) / path.alpha(t)
            a = broadcast_like(self.step_size * sigma**2 / sigma_min**2, x)
            for _ in range(self.steps_per_level):
                x = x + 0.5 * a * model(x, t, "score") + a.sqrt() * self.noise_like(x, generator)
        return tweedie(model, x, levels[-1]) if self.denoise else x
