"""Langevin dynamics on the marginals p_t of a Gaussian path.

Annealed (Song & Ermon 2019, Algorithm 1): at each time t_i of the grid (the noise levels, from the
noisiest), M = ``steps_per_level`` steps
    x <- x + a_i/2 s(x, t_i) + sqrt(a_i) z,    a_i = eps sigma(t_i)^2 / sigma(t_L)^2,
with sigma(t) the path's noise std and t_L the grid's last level, and between levels the rescaling
x <- x alpha(t_{i+1}) / alpha(t_i). This is Song & Ermon's algorithm run on y = x / alpha, whose marginals
y = x0 + (sigma/alpha) eps form a variance-exploding path (x / alpha moves a step a / alpha^2 on a score
alpha s): on a VE path exactly their a_i = eps sigma_i^2 / sigma_L^2, on every path finite steps
(sigma <= 1 on VP and flow paths), and the rescaling carries the mass as alpha grows, which Langevin
steps of the noise's size would take many steps to do. Out of a level where alpha = 0 (t = 1 on a flow
path) x is rescaled by the ratio of the marginal stds of unit-variance data, sqrt(alpha^2 + sigma^2).
``step_size`` null: eps = 0.2 sigma_L^2, Song & Ermon's 2e-5 at sigma_L = 0.01. Give it their geometric
levels on any path with grid=log_snr grid.sigma_min=0.01 grid.sigma_max=10.

Plain (``LangevinSampler``): ``num_steps`` steps x <- x + a/2 s(x, t_L) + sqrt(a) z of a fixed size a
(``step_size``, in model units, where the data has unit variance) at one level, the grid's last time (the
score of the data blurred by sigma(t_L)), from the prior. It converges to p_{t_L} in the long run, but
mixes slowly between distant modes and keeps about the mode weights it starts with, which is what
annealing is for (Song & Ermon 2019, section 3)."""

from __future__ import annotations

import torch

from genflow.errors import UserError
from genflow.samplers.base import Sampler

#: Song & Ermon's step: eps = 2e-5 at sigma_L = 0.01, i.e. a_L = 0.2 sigma_L^2
RELATIVE_STEP = 0.2


def langevin_steps(model, x, t: float, a: float, n: int, generator, sampler: Sampler):
    for _ in range(n):
        x = x + 0.5 * a * model(x, t).score + a**0.5 * sampler.noise_like(x, generator)
    sampler.track(x, t, t)
    return x


def base_step(path, t_last: float, step_size: float | None) -> tuple[float, float]:
    """(eps, sigma_L^2): the step at the last level and the noise variance there."""
    sigma_l2 = float(path.sigma(torch.tensor(t_last, dtype=torch.float64))) ** 2
    if sigma_l2 <= 0:
        raise UserError(f"Langevin needs noise at its last level; sigma(t = {t_last}) = 0 on this path: raise grid.t_eps")
    return (RELATIVE_STEP * sigma_l2 if step_size is None else float(step_size)), sigma_l2


def check_step(step_size) -> None:
    if step_size is not None and not float(step_size) > 0:
        raise UserError(f"sampler.step_size={step_size} must be positive (null: Song & Ermon's relative step)")


class AnnealedLangevinSampler(Sampler):
    option = "annealed_langevin"

    def __init__(self, num_steps: int | None = 10, steps_per_level: int = 100, step_size: float | None = None,
                 x0_clip: str = "auto", clip_value: float = 1.0, clip_percentile: float = 0.995,
                 progress: bool = True, **legacy):
        if "num_levels" in legacy:  # checkpoints written before the grid group named the levels so
            num_steps = legacy.pop("num_levels")
        super().__init__(num_steps, x0_clip, clip_value, clip_percentile, progress, **legacy)
        check_step(step_size)
        if int(steps_per_level) < 1:
            raise UserError(f"sampler.steps_per_level={steps_per_level} must be a positive integer")
        self.steps_per_level, self.step_size = int(steps_per_level), step_size
        self.evaluations_per_step = self.steps_per_level

    def walk(self, model, x, times, generator):
        eps, sigma_l2 = base_step(model.path, float(times[-1]), self.step_size)
        coefficients = [model.path.coefficients(t) for t in times.double()]
        for i, t in enumerate(times.tolist()):
            c = coefficients[i]
            if i > 0:
                x = x * level_scale(coefficients[i - 1], c)
            a = eps * float(c.sigma) ** 2 / sigma_l2
            x = langevin_steps(model, x, t, a, self.steps_per_level, generator, self)
            self.report(t)
        return x


def level_scale(previous, current) -> float:
    """alpha_i / alpha_{i-1}: y = x / alpha stays put between levels; out of alpha = 0 the ratio of the
    marginal stds of unit-variance data."""
    if float(previous.alpha) > 0:
        return float(current.alpha / previous.alpha)
    return float((current.alpha**2 + current.sigma**2).sqrt() / (previous.alpha**2 + previous.sigma**2).sqrt())


class LangevinSampler(Sampler):
    option = "langevin"

    #: reproduces one mode; the weights of distant modes it does not (the oracle matrix checks it on a Gaussian)
    mixes_modes = False

    def __init__(self, num_steps: int = 1000, step_size: float = 0.01, x0_clip: str = "auto",
                 clip_value: float = 1.0, clip_percentile: float = 0.995, progress: bool = True, **legacy):
        super().__init__(num_steps, x0_clip, clip_value, clip_percentile, progress, **legacy)
        if not float(step_size) > 0:
            raise UserError(f"sampler.step_size={step_size} must be positive")
        self.step_size = float(step_size)

    def walk(self, model, x, times, generator):
        t, a = float(times[-1]), self.step_size
        chunk = max(1, self.num_steps // 100)
        for done in range(0, self.num_steps, chunk):
            x = langevin_steps(model, x, t, a, min(chunk, self.num_steps - done), generator, self)
            self.report(1 - (done + chunk) / self.num_steps)
        return x
