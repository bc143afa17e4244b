"""Variance-preserving paths: VP SDE, sub-VP SDE, and DDPM's discrete chain.

VP:      alpha = exp(log_alpha(t)), sigma = sqrt(1 - alpha^2).
sub-VP:  same alpha,                sigma = 1 - alpha^2.
DDPM:    alpha_i = sqrt(alphabar_i), alphabar_i = prod_{j<=i} (1 - beta_j), at t_i = i / N;
         log alphabar is linearly interpolated between grid points so continuous-time
         samplers can drive a DDPM-trained network (d log alpha/dt = N/2 log(1 - beta_i)).

With a zero-terminal-SNR schedule (``schedule.zero_terminal_snr=true``) alpha(1) = 0 and sigma(1) = 1:
the prior N(0, I) is exact. DDPM's last beta is then 1 and alpha is interpolated linearly, not in log,
on the last interval (alpha = a_{N-1} (1 - t)/(1 - t_{N-1}), as on the flow-matching path). The drift
f = alpha'/alpha is -infinite at t = 1; it is capped at -MAX_LOG_RATE so SDE samplers can start there.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genflow.errors import UserError
from genflow.paths.base import GaussianPath, PathCoefficients, as_time
from genflow.paths.schedules import MAX_LOG_RATE


def _require_vp(schedule, name: str):
    if getattr(schedule, "family", None) != "vp":
        raise UserError(
            f"path={name} needs a variance-preserving schedule (path/schedule=linear or path/schedule=cosine), "
            f"got {type(schedule).__name__}"
        )
    return schedule


class VPPath(GaussianPath):
    def __init__(self, schedule):
        self.schedule = _require_vp(schedule, "vp")

    @property
    def zero_terminal_snr(self) -> bool:
        return self.schedule.zero_terminal_snr

    def _alpha(self, t: Tensor) -> Tensor:
        return self.schedule.alpha(t)

    def _d_alpha(self, t: Tensor) -> Tensor:
        return self.schedule.d_alpha(t)

    def _f(self, t: Tensor) -> Tensor:
        return self.schedule.d_log_alpha(t)

    def _sigma(self, t: Tensor) -> Tensor:
        return self._sigma_of(self._alpha(t))

    def _d_sigma(self, t: Tensor) -> Tensor:
        return self._coefficients(t).d_sigma

    def _g2(self, t: Tensor) -> Tensor:
        """beta(t) = -2 d log alpha / dt."""
        return -2 * self.schedule.d_log_alpha(t)

    def _alpha_and_derivative(self, t: Tensor) -> tuple[Tensor, Tensor]:
        return self.schedule.alpha_and_derivative(t)

    def _coefficients(self, t: Tensor) -> PathCoefficients:
        """alpha and alpha' computed once; sigma' = -alpha alpha' / sigma."""
        t = as_time(t)
        a, da = self._alpha_and_derivative(t)
        s = self._sigma_of(a)
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
        below_one = self.betas[:-1] if schedule.zero_terminal_snr else self.betas  # zero terminal SNR: beta_N = 1
        if not (below_one < 1).all():
            raise UserError(f"path.num_steps={self.num_steps} is too few for this schedule: beta_t reaches "
                            f"{below_one.max().item():.3g} >= 1; use more steps (DDPM: 1000)")
        self.alphabar = torch.cumprod(1 - self.betas, 0)
        log_ab = torch.cat([torch.zeros(1, dtype=torch.float64), self.alphabar.log()])  # t = 0..1
        if self.zero_terminal_snr:  # log alphabar_N = -inf: the last interval is interpolated in alpha
            self._last_alpha = float(self.alphabar[-2].sqrt()) if self.num_steps > 1 else 1.0
            log_ab[-1] = log_ab[-2]
        self._log_ab = log_ab
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

    def _on_last_interval(self, t: Tensor):
        """(mask of times in the last interval (t_{N-1}, 1], 1 - its fraction done) for zero terminal SNR."""
        idx, frac = self._locate(t)
        return idx == self.num_steps - 1, (1 - frac).to(t.dtype)

    def _alpha(self, t: Tensor) -> Tensor:
        a = torch.exp(0.5 * self._log_alphabar(t))
        if not self.zero_terminal_snr:
            return a
        last, rest = self._on_last_interval(t)
        return torch.where(last, self._last_alpha * rest, a)

    def _log_rate(self, t: Tensor) -> Tensor:
        """d log alpha / dt of the log-linear interpolation: N/2 log(1 - beta_i) on step i."""
        idx, _ = self._locate(t)
        grid = self.on_device("_log_ab", t.device)
        return (0.5 * self.num_steps * (grid[idx + 1] - grid[idx])).to(t.dtype)

    def _f(self, t: Tensor) -> Tensor:
        f = self._log_rate(t)
        if not self.zero_terminal_snr:
            return f
        last, rest = self._on_last_interval(t)  # alpha'/alpha = -N/(1 - frac) on the last interval
        return torch.where(last, (-self.num_steps / rest).clamp_min(-MAX_LOG_RATE), f)

    def _d_alpha(self, t: Tensor) -> Tensor:
        return self._alpha_and_derivative(t)[1]

    def _alpha_and_derivative(self, t: Tensor) -> tuple[Tensor, Tensor]:
        a = self._alpha(t)
        da = a * self._log_rate(t)
        if self.zero_terminal_snr:
            last, _ = self._on_last_interval(t)
            da = torch.where(last, torch.full_like(da, -self._last_alpha * self.num_steps), da)
        return a, da

    def _g2(self, t: Tensor) -> Tensor:
        return -2 * self._f(t)
