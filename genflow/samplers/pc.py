"""Predictor–corrector sampling (Song et al. 2021, Algorithms 2-3): at each time of the grid,
``corrector_steps`` Langevin corrector steps whose size follows the signal-to-noise ratio r,
    a = 2 alpha_i (r ||z|| / ||s||)^2,   x <- x + a s + sqrt(2 a) z,
with alpha_i = 1 - beta_i on variance-preserving paths (f < 0) and 1 otherwise; then a reverse-diffusion
(Euler–Maruyama) predictor step to the next time."""

from __future__ import annotations

import torch

from genflow.paths.base import broadcast_like
from genflow.samplers.base import Sampler
from genflow.samplers.euler_maruyama import reverse_sde_step


class PredictorCorrectorSampler(Sampler):
    option = "pc"

    evaluations_per_step = 2

    def __init__(self, num_steps: int = 500, snr: float = 0.16, corrector_steps: int = 1, x0_clip: str = "auto",
                 clip_value: float = 1.0, clip_percentile: float = 0.995, progress: bool = True, **legacy):
        super().__init__(num_steps, x0_clip, clip_value, clip_percentile, progress, **legacy)
        self.snr, self.corrector_steps = float(snr), int(corrector_steps)
        self.evaluations_per_step = 1 + self.corrector_steps

    def correct(self, model, x, t: float, dt: float, generator):
        path = model.path
        beta = path.g2(t) * dt
        alpha_i = (1 - beta).clamp_min(1e-3) if float(path.f(t)) < 0 else torch.ones_like(beta)
        for _ in range(self.corrector_steps):
            score = model(x, t).score
            z = self.noise_like(x, generator)
            ratio = z.flatten(1).norm(dim=1).mean() / score.flatten(1).norm(dim=1).mean().clamp_min(1e-12)
            a = broadcast_like(2 * alpha_i.to(x) * (self.snr * ratio) ** 2, x)
            x = x + a * score + (2 * a).sqrt() * z
        return x

    def walk(self, model, x, times, generator):
        last = len(times) - 2
        for i, t, s in self.steps(times):
            x = self.correct(model, x, t, t - s, generator)
            x = reverse_sde_step(model, x, t, t - s, i < last, generator)
            self.track(x, t, s)
        return x
