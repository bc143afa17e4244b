"""Flow-matching paths.

CondOT / linear (Lipman et al. 2023, in genflow's time direction):
    x_t = (1 - t) x_0 + (sigma_min + (1 - sigma_min) t) eps,
so alpha = 1 - t, sigma = sigma_min + (1 - sigma_min) t and the conditional velocity is
d/dt x_t = -x_0 + (1 - sigma_min) eps. With sigma_min = 0 this is rectified flow's straight line.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genflow.paths.base import GaussianPath


class CondOTPath(GaussianPath):
    def __init__(self, sigma_min: float = 0.0):
        self.sigma_min = float(sigma_min)

    def _alpha(self, t: Tensor) -> Tensor:
        return 1 - t

    def _d_alpha(self, t: Tensor) -> Tensor:
        return -torch.ones_like(t)

    def _sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min + (1 - self.sigma_min) * t

    def _d_sigma(self, t: Tensor) -> Tensor:
        return torch.full_like(t, 1 - self.sigma_min)

    def time_at_noise_ratio(self, ratio: Tensor, iterations: int = 80) -> Tensor:
        """t = (ratio - sigma_min) / (ratio + 1 - sigma_min), clamped to [0, 1]; 1 for an infinite ratio (float64)."""
        ratio = torch.as_tensor(ratio, dtype=torch.float64)
        t = ((ratio - self.sigma_min) / (ratio + 1 - self.sigma_min)).clamp(0.0, 1.0)
        return torch.where(torch.isinf(ratio), torch.ones_like(t), t)

    def _f(self, t: Tensor) -> Tensor:
        # alpha'/alpha = -1/(1-t) diverges at t = 1; clamp so SDE samplers can start there.
        return -1 / (1 - t).clamp_min(1e-3)
