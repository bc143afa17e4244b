"""Euler–Maruyama on the reverse SDE (Song et al. 2021), from t = 1 down to t_eps:
    x <- x - [f(t) x - g(t)^2 s(x, t)] dt + g(t) sqrt(dt) z,   dt = t_i - t_{i+1} > 0.
The last step returns the mean (no noise); ``denoise=true`` then applies Tweedie's formula
x0 = (x + sigma^2 s) / alpha at t_eps."""

from __future__ import annotations

from genflow.paths.base import broadcast_like, collapse_uniform
from genflow.samplers.base import Sampler, tweedie


def reverse_sde_step(model, x, t, dt: float, last: bool, generator):
    """One Euler–Maruyama step of the reverse SDE from t to t - dt (the mean on the last step)."""
    path, tc = model.path, collapse_uniform(t)
    g2 = broadcast_like(path.g2(tc), x)
    x = x - (path.drift(x, tc) - g2 * model(x, t, "score")) * dt
    if not last:
        x = x + (g2 * dt).sqrt() * Sampler.noise_like(x, generator)
    return x


class EulerMaruyamaSampler(Sampler):
    def __init__(self, num_steps: int = 500, t_eps: float = 1e-3, denoise: bool = False, progress: bool = True):
        super().__init__(num_steps, t_eps, progress)
        self.denoise = bool(denoise)

    def run(self, model, x, generator):
        times = self.continuous_grid(self.num_steps)
        for i in self.steps(range(self.num_steps), "euler-maruyama"):
            t = times[i].to(x).expand(x.shape[0])
            x = reverse_sde_step(model, x, t, (times[i] - times[i + 1]).item(), i == self.num_steps - 1, generator)
        return tweedie(model, x, times[-1]) if self.denoise else x
