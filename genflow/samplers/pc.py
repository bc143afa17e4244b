"""Predictor–corrector sampling (Song et al. 2021, Algorithms 2-3): each step a reverse-diffusion
(Euler–Maruyama) predictor, then ``corrector_steps`` Langevin corrector steps whose size follows
the signal-to-noise ratio r:  a = 2 alpha_i (r ||z|| / ||s||)^2,  x <- x + a s + sqrt(2 a) z,
with alpha_i = 1 - beta_i on variance-preserving paths and 1 otherwise."""

from __future__ import annotations

import torch

from genflow.paths.base import broadcast_like, collapse_uniform
from genflow.samplers.base import Sampler, tweedie
from genflow.samplers.euler_maruyama import reverse_sde_step


class PredictorCorrectorSampler(Sampler):
    def __init__(self, num_steps: int = 500, snr: float = 0.16, corrector_steps: int = 1, t_eps: float = 1e-3,
                 denoise: bool = True, progress: bool = True):
        super().__init__(num_steps, t_eps, progress)
        self.snr, self.corrector_steps, self.denoise = float(snr), int(corrector_steps), bool(denoise)

    def correct(self, model, x, t, dt, generator):
        path, tc = model.path, collapse_uniform(t)
        # alpha_i = 1 - beta_i with beta_i = g^2 dt for VP-type paths (f < 0); 1 for VE
        alpha_i = (1 - path.g2(tc) * dt).clamp_min(1e-3) if bool((path.f(tc) < 0).all()) else torch.ones_like(tc)
        for _ in range(self.corrector_steps):
            score = model(x, t, "score")
            z = self.noise_like(x, generator)
            ratio = z.flatten(1).norm(dim=1).mean() / score.flatten(1).norm(dim=1).mean().clamp_min(1e-12)
            a = broadcast_like(2 * alpha_i * (self.snr * ratio) ** 2, x)
            x = x + a * score + (2 * a).sqrt() * z
        return x

    def run(self, model, x, generator):
        times = self.continuous_grid(self.num_steps)
        for i in self.steps(range(self.num_steps), "predictor-corrector"):
            t = times[i].to(x).expand(x.shape[0])
            dt = (times[i] - times[i + 1]).item()
            x = self.correct(model, x, t, dt, generator)
            x = reverse_sde_step(model, x, t, dt, i == self.num_steps - 1, generator)
        return tweedie(model, x, times[-1]) if self.denoise else x
