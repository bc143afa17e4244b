"""Variance-preserving paths: VP SDE, sub-VP SDE, and DDPM's discrete chain.

VP:      alpha = exp(log_alpha(t)), sigma = sqrt(1 - alpha^2).
sub-VP:  same alpha,                sigma = 1 - alpha^2.
DDPM:    alpha_i = sqrt(alphabar_i), alphabar_i = prod_{j<=i} (1 - beta_j), at t_i = i / N;
         log alphabar is linearly interpolated between grid points so continuous-time
         samplers can drive a DDPM-trained network (d log alpha/dt = N/2 log(1 - beta_i)).
"""

from __future__ import annotations

import torch
from torch import Tensor

from genflow.errors import UserError
from genflow.paths.base import GaussianPath, PathCoefficients, as_time


def _require_vp(schedule, name: str):
    if getattr(schedule, "family", None) != "vp":
        raise UserError(
            f"path={name} needs a variance-preserving schedule (schedule=linear or schedule=cosine), "
            f"got {type(schedule).__name__}"
        )
    return schedule


class VPPath(GaussianPath):
    def __init__(self, schedule):
        self.schedule = _require_vp(schedule, "vp")

    def _alpha(self, t: Tensor) -> Tensor:
        return torch.exp(self.schedule.log_alpha(t))

    def _d_alpha(self, t: Tensor) -> Tensor:
        return self._alpha(t) * self.schedule.d_log_alpha(t)

    def _f(self, t: Tensor) -> Tensor:
        return self.schedule.d_log_alpha(t)

    def _sigma(self, t: Tensor) -> Tensor:
        return self._sigma_of(self._alpha(t))

    def _d_sigma(self, t: Tensor) -> Tensor:
        return self._coefficients(t).d_sigma

    def _g2(self, t: Tensor) -> Tensor:
        """beta(t) = -2 d log alpha / dt."""
        return -2 * self.schedule.d_log_alpha(t)

    def _coefficients(self, t: Tensor) -> PathCoefficients:
        """alpha and f = alpha'/alpha computed once: alpha' = alpha f, sigma' = -alpha alpha' / sigma."""
        t = as_time(t)
        a, f = self._alpha(t), self._f(t)
        s, da = self._sigma_of(a), a * f
        return PathCoefficients(a, s, da, self._d_sigma_of(a, s, da))

    @staticmethod
    def _sigma_of(a: Tensor) -> Tensor:
        return (1 - a**2).clamp_min(1e-20).sqrt()

    @staticmethod
    def _d_sigma_of(a: Tensor, s: Tensor, da: Tensor) -> Tensor:
        return -a * da / s


class SubVPPath(VPPath):
    def __init__(self, schedule):
        self.schedule = _require_vp(schedule, "subvp")

    @staticmethod
    def _sigma_of(a: Tensor) -> Tensor:
        return (1 - a**2).clamp_min(1e-20)

    @staticmethod
    def _d_sigma_of(a: Tensor, s: Tensor, da: Tensor) -> Tensor:
        return -2 * a * da

    def _g2(self, t: Tensor) -> Tensor:
        """beta(t) (1 - alpha^4) = beta(t) (1 - exp(-2 int beta))."""
        return -2 * self.schedule.d_log_alpha(t) * (1 - self._alpha(t) ** 4)


class DiscreteVPPath(VPPath):
    """DDPM (Ho et al. 2020) with N steps; ``betas`` and ``alphabar`` are the paper's tensors."""

    def __init__(self, schedule, num_steps: int = 1000):
        self.schedule = _require_vp(schedule, "ddpm")
        self.num_steps = int(num_steps)
        self.betas = schedule.discrete_betas(self.num_steps)  # float64, shape (N,)
        if not (self.betas < 1).all():
            raise UserError(f"path.num_steps={self.num_steps} is too few for this schedule: beta_t reaches "
                            f"{self.betas.max().item():.3g} >= 1; use more steps (DDPM: 1000)")
        self.alphabar = torch.cumprod(1 - self.betas, 0)
        self._log_ab = torch.cat([torch.zeros(1, dtype=torch.float64), self.alphabar.log()])  # t = 0..1
        self.discrete_times = torch.arange(1, self.num_steps + 1, dtype=torch.float32) / self.num_steps

    def _locate(self, t: Tensor):
        n = self.num_steps
        pos = (t.double() * n).clamp(0, n)
        idx = pos.floor().clamp(max=n - 1).long()
        return idx, pos - idx

    def _log_alphabar(self, t: Tensor) -> Tensor:
        idx, frac = self._locate(t)
        grid = self.on_device("_log_ab", t.device)
        return (grid[idx] + frac * (grid[idx + 1] - grid[idx])).to(t.dtype)

    def _alpha(self, t: Tensor) -> Tensor:
        return torch.exp(0.5 * self._log_alphabar(t))

    def _f(self, t: Tensor) -> Tensor:
        idx, _ = self._locate(t)
        grid = self.on_device("_log_ab", t.device)
        return (0.5 * self.num_steps * (grid[idx + 1] - grid[idx])).to(t.dtype)

    def _d_alpha(self, t: Tensor) -> Tensor:
        return self._alpha(t) * self._f(t)

    def _g2(self, t: Tensor) -> Tensor:
        return -2 * self._f(t)
