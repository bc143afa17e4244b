"""Variance-exploding paths: the VE SDE and NCSN's discrete noise levels.

VE:   alpha = 1, sigma(t) = sigma_min (sigma_max/sigma_min)^t, so f = 0 and
      g(t)^2 = 2 sigma sigma' = 2 sigma(t)^2 log(sigma_max/sigma_min)     (Song et al. 2021).
NCSN: the same sigma(t) observed at L levels t_i = i/(L-1), i = 0..L-1, i.e. the geometric
      sequence sigma_min = sigma_1 < ... < sigma_L = sigma_max             (Song & Ermon 2019).
"""

from __future__ import annotations

import torch
from torch import Tensor

from genflow.errors import UserError
from genflow.paths.base import GaussianPath


class VEPath(GaussianPath):
    def __init__(self, schedule, num_levels: int | None = None):
        if getattr(schedule, "family", None) != "ve":
            raise UserError(
                f"a variance-exploding path needs path/schedule=geometric (sigma_min, sigma_max) or edm, "
                f"got {type(schedule).__name__}"
            )
        self.schedule = schedule
        self.num_levels = None if num_levels is None else int(num_levels)
        if self.num_levels is not None:
            if self.num_levels < 2:
                raise UserError(f"path.num_levels must be >= 2, got {self.num_levels}")
            self.discrete_times = torch.linspace(0, 1, self.num_levels)

    def _alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def _d_alpha(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t)

    def _f(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t)

    def _sigma(self, t: Tensor) -> Tensor:
        return self.schedule.sigma(t)

    def _d_sigma(self, t: Tensor) -> Tensor:
        return self.schedule.sigma(t) * self.schedule.log_ratio

    def _g2(self, t: Tensor) -> Tensor:
        return 2 * self.schedule.sigma(t) ** 2 * self.schedule.log_ratio

    def time_at_noise_ratio(self, ratio: Tensor, iterations: int = 80) -> Tensor:
        """t = log(ratio / sigma_min) / log(sigma_max / sigma_min), clamped to [0, 1] (float64)."""
        ratio = torch.as_tensor(ratio, dtype=torch.float64)
        return (torch.log(ratio / self.schedule.sigma_min) / self.schedule.log_ratio).clamp(0.0, 1.0)
