"""Noise schedules, as alpha(t) on t in [0, 1] for the variance-preserving family.

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

``zero_terminal_snr=true`` (Lin et al. 2024, Algorithm 1) rescales a variance-preserving schedule so that
alpha(1) = 0 and the signal-to-noise ratio at t = 1 is exactly zero (the prior N(0, I) is then the true
marginal): alpha~ = (alpha - alpha_end) alpha_start / (alpha_start - alpha_end). Continuous time:
alpha_start = alpha(0), alpha_end = alpha(1). Discretised: a_i = sqrt(alphabar_i) rescaled with
a_start = a_1, a_end = a_N (a_1 unchanged, a_N = 0) and the betas re-derived, so beta_N = 1 (diffusers'
``rescale_zero_terminal_snr``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genflow.errors import UserError, flag

#: |d log alpha / dt| is capped here where it would be infinite (alpha = 0 at t = 1 of a zero-terminal-SNR
#: schedule), so the SDE's drift f = alpha'/alpha and g^2 = -2 f stay finite; alpha, sigma and their
#: derivatives are exact.
MAX_LOG_RATE = 1e3


class VPSchedule:
    """Base of the variance-preserving schedules. Subclasses give the plain schedule: ``_log_alpha``,
    ``_d_log_alpha`` (as used by the VP paths), ``_alpha``, ``_d_alpha`` (finite at alpha = 0) and
    ``_discrete_betas``; this class applies the zero-terminal-SNR rescaling when asked."""

    family = "vp"

    def __init__(self, zero_terminal_snr: bool = False):
        self.zero_terminal_snr = flag("path.schedule.zero_terminal_snr", zero_terminal_snr)
        if self.zero_terminal_snr:
            ends = self._alpha(torch.tensor([0.0, 1.0], dtype=torch.float64)).tolist()
            self._alpha_end, self._rescale = ends[1], ends[0] / (ends[0] - ends[1])

    # --- the plain schedule (subclasses) -----------------------------------------------
    def _log_alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _d_log_alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _alpha(self, t: Tensor) -> Tensor:
        return torch.exp(self._log_alpha(t))

    def _d_alpha(self, t: Tensor) -> Tensor:
        return self._alpha(t) * self._d_log_alpha(t)

    def _discrete_betas(self, n: int) -> Tensor:
        raise NotImplementedError

    # --- the schedule a path uses --------------------------------------------------------
    def alpha(self, t: Tensor) -> Tensor:
        if not self.zero_terminal_snr:
            return torch.exp(self._log_alpha(t))
        rescaled = (self._alpha(t) - self._alpha_end).clamp_min(0) * self._rescale
        return torch.where(t >= 1, torch.zeros_like(rescaled), rescaled)

    def d_alpha(self, t: Tensor) -> Tensor:
        if not self.zero_terminal_snr:
            return self.alpha(t) * self._d_log_alpha(t)
        return self._d_alpha(t) * self._rescale

    def alpha_and_derivative(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """(alpha(t), alpha'(t)), sharing the work."""
        if not self.zero_terminal_snr:
            a = torch.exp(self._log_alpha(t))
            return a, a * self._d_log_alpha(t)
        return self.alpha(t), self.d_alpha(t)

    def log_alpha(self, t: Tensor) -> Tensor:
        return self._log_alpha(t) if not self.zero_terminal_snr else torch.log(self.alpha(t))

    def d_log_alpha(self, t: Tensor) -> Tensor:
        """f(t) = alpha'/alpha (-beta(t)/2 for the linear schedule); capped at -MAX_LOG_RATE where alpha = 0."""
        if not self.zero_terminal_snr:
            return self._d_log_alpha(t)
        a, da = self.alpha_and_derivative(t)
        return (da / a).clamp_min(-MAX_LOG_RATE)

    def discrete_betas(self, n: int) -> Tensor:
        """The N betas of the discretised schedule (float64); zero terminal SNR: Lin et al.'s Algorithm 1."""
        betas = self._discrete_betas(n)
        if not self.zero_terminal_snr:
            return betas
        a = torch.cumprod(1 - betas, 0).sqrt()
        a = (a - a[-1]) * a[0] / (a[0] - a[-1])
        alphabar = a**2
        return 1 - torch.cat([alphabar[:1], alphabar[1:] / alphabar[:-1]])


class LinearSchedule(VPSchedule):
    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, zero_terminal_snr: bool = False):
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)
        super().__init__(zero_terminal_snr)

    def _log_alpha(self, t: Tensor) -> Tensor:
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def _d_log_alpha(self, t: Tensor) -> Tensor:
        return -0.5 * (self.beta_min + t * (self.beta_max - self.beta_min))

    def _discrete_betas(self, n: int) -> Tensor:
        return torch.linspace(self.beta_min / n, self.beta_max / n, n, dtype=torch.float64)


class CosineSchedule(VPSchedule):
    #: DDPM's number of steps: the continuous rate is capped at N max_beta
    RATE_STEPS = 1000

    def __init__(self, s: float = 0.008, max_beta: float = 0.999, zero_terminal_snr: bool = False):
        self.s, self.max_beta = float(s), float(max_beta)
        if not 0 < self.max_beta < 1:
            raise ValueError(f"cosine schedule needs 0 < max_beta < 1, got {max_beta}")
        self.beta_cap = self.RATE_STEPS * self.max_beta
        # beta(t*) = beta_cap: tan(u*) = beta_cap (1 + s) / pi
        u_star = math.atan(self.beta_cap * (1 + self.s) / math.pi)
        self.t_star = u_star * 2 * (1 + self.s) / math.pi - self.s
        super().__init__(zero_terminal_snr)

    def _u(self, t: Tensor) -> Tensor:
        return (t + self.s) / (1 + self.s) * math.pi / 2

    def alphabar(self, t: Tensor) -> Tensor:
        """The closed form of Nichol & Dhariwal (0 at t = 1); the discrete betas are taken from it."""
        return torch.cos(self._u(t)) ** 2 / math.cos(self.s / (1 + self.s) * math.pi / 2) ** 2

    def _log_alpha(self, t: Tensor) -> Tensor:
        """1/2 log alphabar(min(t, t*)) - beta_cap/2 max(t - t*, 0): -1/2 the integral of the clipped beta."""
        t = torch.as_tensor(t)
        head = 0.5 * torch.log(self.alphabar(t.clamp(max=self.t_star)))
        return head - 0.5 * self.beta_cap * (t - self.t_star).clamp_min(0)

    def _d_log_alpha(self, t: Tensor) -> Tensor:
        """-beta(t)/2 with beta(t) = min(pi/(1 + s) tan(u), beta_cap) (d/dt 1/2 log cos^2(u) = -tan(u) du/dt)."""
        t = torch.as_tensor(t)
        rate = torch.tan(self._u(t.clamp(max=self.t_star))) * math.pi / (2 * (1 + self.s))
        return -torch.where(t < self.t_star, rate, torch.full_like(rate, 0.5 * self.beta_cap))

    def _discrete_betas(self, n: int) -> Tensor:
        """beta_i = min(1 - alphabar(i/n) / alphabar((i-1)/n), max_beta), i = 1..n."""
        t = torch.arange(n + 1, dtype=torch.float64) / n
        ab = self.alphabar(t)
        return (1 - ab[1:] / ab[:-1]).clamp(max=self.max_beta)


class GeometricSchedule:
    family = "ve"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, zero_terminal_snr: bool = False):
        if zero_terminal_snr:
            raise UserError("path.schedule.zero_terminal_snr=true rescales a variance-preserving schedule (path=vp, "
                            "subvp or ddpm with path/schedule=linear or cosine); a variance-exploding path keeps "
                            "alpha = 1 and its SNR(1) = 1/sigma_max^2 > 0: raise path.schedule.sigma_max instead")
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"geometric schedule needs 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)

    @property
    def log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * torch.exp(t * self.log_ratio)
