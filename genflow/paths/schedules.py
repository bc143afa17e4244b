"""Noise schedules for the variance-preserving family, as log alpha(t) on t in [0, 1].

``linear``: beta(t) = beta_min + t (beta_max - beta_min),
    log alpha(t) = -1/4 t^2 (beta_max - beta_min) - 1/2 t beta_min            (Song et al. 2021).
    Discretised to N steps it is DDPM's betas = linspace(beta_min/N, beta_max/N, N)
    (1e-4 .. 0.02 for N = 1000, Ho et al. 2020).
``cosine``: alphabar(t) = cos^2((t + s)/(1 + s) pi/2) / cos^2(s/(1 + s) pi/2)  (Nichol & Dhariwal 2021),
    discretised with betas clipped at ``max_beta`` (N&D: 0.999, "to prevent singularities at the end of the
    diffusion process near t = T"). In continuous time the same clip bounds the rate:
    beta(t) = -2 d log alpha/dt = min(pi/(1 + s) tan((t + s)/(1 + s) pi/2), 1000 max_beta),
    i.e. N beta_i at DDPM's N = 1000 (DPM-Solver's cosine_beta_max = 999). It binds from t* ~ 0.998 on, where
    log alpha continues linearly, so alpha(1) = 1.1e-3 (not 0) and alpha' / alpha stays finite.
``geometric`` (variance exploding): sigma(t) = sigma_min (sigma_max/sigma_min)^t.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class LinearSchedule:
    family = "vp"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)

    def log_alpha(self, t: Tensor) -> Tensor:
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def d_log_alpha(self, t: Tensor) -> Tensor:
        return -0.5 * (self.beta_min + t * (self.beta_max - self.beta_min))

    def discrete_betas(self, n: int) -> Tensor:
        return torch.linspace(self.beta_min / n, self.beta_max / n, n, dtype=torch.float64)


class CosineSchedule:
    family = "vp"
    #: DDPM's number of steps: the continuous rate is capped at N max_beta
    RATE_STEPS = 1000

    def __init__(self, s: float = 0.008, max_beta: float = 0.999):
        self.s, self.max_beta = float(s), float(max_beta)
        if not 0 < self.max_beta < 1:
            raise ValueError(f"cosine schedule needs 0 < max_beta < 1, got {max_beta}")
        self.beta_cap = self.RATE_STEPS * self.max_beta
        # beta(t*) = beta_cap: tan(u*) = beta_cap (1 + s) / pi
        u_star = math.atan(self.beta_cap * (1 + self.s) / math.pi)
        self.t_star = u_star * 2 * (1 + self.s) / math.pi - self.s

    def _u(self, t: Tensor) -> Tensor:
        return (t + self.s) / (1 + self.s) * math.pi / 2

    def alphabar(self, t: Tensor) -> Tensor:
        """The closed form of Nichol & Dhariwal (0 at t = 1); the discrete betas are taken from it."""
        return torch.cos(self._u(t)) ** 2 / math.cos(self.s / (1 + self.s) * math.pi / 2) ** 2

    def log_alpha(self, t: Tensor) -> Tensor:
        """1/2 log alphabar(min(t, t*)) - beta_cap/2 max(t - t*, 0): -1/2 the integral of the clipped beta."""
        t = torch.as_tensor(t)
        head = 0.5 * torch.log(self.alphabar(t.clamp(max=self.t_star)))
        return head - 0.5 * self.beta_cap * (t - self.t_star).clamp_min(0)

    def d_log_alpha(self, t: Tensor) -> Tensor:
        """-beta(t)/2 with beta(t) = min(pi/(1 + s) tan(u), beta_cap) (d/dt 1/2 log cos^2(u) = -tan(u) du/dt)."""
        t = torch.as_tensor(t)
        rate = torch.tan(self._u(t.clamp(max=self.t_star))) * math.pi / (2 * (1 + self.s))
        return -torch.where(t < self.t_star, rate, torch.full_like(rate, 0.5 * self.beta_cap))

    def discrete_betas(self, n: int) -> Tensor:
        """beta_i = min(1 - alphabar(i/n) / alphabar((i-1)/n), max_beta), i = 1..n."""
        t = torch.arange(n + 1, dtype=torch.float64) / n
        ab = self.alphabar(t)
        return (1 - ab[1:] / ab[:-1]).clamp(max=self.max_beta)


class GeometricSchedule:
    family = "ve"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0):
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"geometric schedule needs 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)

    @property
    def log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * torch.exp(t * self.log_ratio)
