"""Euler–Maruyama on the reverse SDE (Song et al. 2021), down the grid:
    x <- x - [f(t) x - g(t)^2 s(x, t)] dt + g(t) sqrt(dt) z,   dt = t_i - t_{i+1} > 0,
with no noise on the last step (the mean)."""

from __future__ import annotations

from genflow.paths.base import broadcast_like
from genflow.samplers.base import Sampler


def reverse_sde_step(model, x, t: float, dt: float, noise: bool, generator):
    """One Euler–Maruyama step of the reverse SDE from t to t - dt (the mean unless ``noise``)."""
    path = model.path
    g2 = broadcast_like(path.g2(t), x).to(x)
    x = x - (path.drift(x, t) - g2 * model(x, t).score) * dt
    if noise:
        x = x + (g2 * dt).sqrt() * Sampler.noise_like(x, generator)
    return x


class EulerMaruyamaSampler(Sampler):
    option = "euler_maruyama"

    def __init__(self, num_steps: int = 500, x0_clip: str = "auto", clip_value: float = 1.0,
                 clip_percentile: float = 0.995, progress: bool = True, **legacy):
        super().__init__(num_steps, x0_clip, clip_value, clip_percentile, progress, **legacy)

    def walk(self, model, x, times, generator):
        last = len(times) - 2
        for i, t, s in self.steps(times):
            x = reverse_sde_step(model, x, t, t - s, i < last, generator)
            self.track(x, t, s)
        return x
