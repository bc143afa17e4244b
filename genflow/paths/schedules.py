"""Noise schedules for the variance-preserving family, as log alpha(t) on t in [0, 1].

``linear``: beta(t) = beta_min + t (beta_max - beta_min),
    log alpha(t) = -1/4 t^2 (beta_max - beta_min) - 1/2 t beta_min            (Song et al. 2021).
    Discretised to N steps it is DDPM's betas = linspace(beta_min/N, beta_max/N, N)
    (1e-4 .. 0.02 for N = 1000, Ho et al. 2020).
``cosine``: alphabar(t) = cos^2((t + s)/(1 + s) pi/2) / cos^2(s/(1 + s) pi/2)  (Nichol & Dhariwal 2021),
    discretised with betas clipped at ``max_beta``.
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

    def __init__(self, s: float = 0.008, max_beta: float = 0.999):
        self.s, self.max_beta = float(s), float(max_beta)

    def _u(self, t: Tensor) -> Tensor:
        return (t + self.s) / (1 + self.s) * math.pi / 2

    def alphabar(self, t: Tensor) -> Tensor:
        return torch.cos(self._u(t)) ** 2 / math.cos(self.s / (1 + self.s) * math.pi / 2) ** 2

    def log_alpha(self, t: Tensor) -> Tensor:
        return 0.5 * torch.log(self.alphabar(t).clamp_min(1e-20))

    def d_log_alpha(self, t: Tensor) -> Tensor:
        # d/dt 1/2 log cos^2(u) = -tan(u) du/dt; capped where beta(t) would exceed what a
        # discretised schedule allows (u -> pi/2 at t = 1).
        rate = torch.tan(self._u(t)) * math.pi / (2 * (1 + self.s))
        return -rate.clamp(max=1e3)

    def discrete_betas(self, n: int) -> Tensor:
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
