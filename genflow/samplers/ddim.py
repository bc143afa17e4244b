"""DDIM (Song, Meng & Ermon 2021) on any Gaussian path: for a step t -> s,
    x_s = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z,   c = eta sqrt(v sigma_s^2 / sigma_t^2),
with v the ancestral transition variance (genflow.samplers.ancestral). eta = 0 is deterministic and is an
Euler step of the probability-flow ODE in (x/alpha, sigma/alpha) coordinates; eta = 1 is ancestral
sampling with the posterior variance. Noise on every step but the one into the data (as the ancestral
sampler)."""

from __future__ import annotations

from genflow.errors import UserError
from genflow.samplers.ancestral import transition
from genflow.samplers.base import Sampler, noise_on_step


class DDIMSampler(Sampler):
    option = "ddim"

    def __init__(self, num_steps: int | None = 50, eta: float = 0.0, x0_clip: str = "auto", clip_value: float = 1.0,
                 clip_percentile: float = 0.995, progress: bool = True, **legacy):
        super().__init__(num_steps, x0_clip, clip_value, clip_percentile, progress, **legacy)
        if not 0 <= float(eta) <= 1:
            raise UserError(f"sampler.eta={eta} must be in [0, 1] (0: deterministic DDIM, 1: ancestral)")
        self.eta = float(eta)

    def walk(self, model, x, times, generator):
        for i, t, s in self.steps(times):
            pred = model(x, t)
            a_s, s_s, _, v, s_t = (c.to(x) for c in transition(model.path, t, s))
            c = self.eta * (v * s_s**2 / s_t**2).sqrt()
            x = a_s * pred.x0 + (s_s**2 - c**2).clamp_min(0).sqrt() * pred.eps
            if self.eta > 0 and noise_on_step(i, times, self.denoise):
                x = x + c * self.noise_like(x, generator)
            self.track(x, t, s)
        return x
