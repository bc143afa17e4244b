"""Gaussian paths x_t = alpha(t) x_0 + sigma(t) eps, with t = 0 data and t = 1 noise.

Every process in genflow is one of these. From alpha, sigma and their time derivatives follow
the SDE drift coefficient f(t) = alpha'/alpha, the squared diffusion
g(t)^2 = 2 sigma sigma' - 2 f sigma^2, the reverse SDE and the probability-flow ODE.

Time contract: every method takes t as a Python number, a 0-d tensor (one time for the whole batch)
or a batch of times of shape (B,), and returns coefficients of the same shape. ``broadcast_like``
shapes a coefficient against a batch of data; a 0-d coefficient broadcasts as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from genflow.noise import standard_normal


def as_time(t, like: Tensor | None = None) -> Tensor:
    """t as a tensor (a number becomes a 0-d tensor), in ``like``'s dtype and device when given."""
    if like is None:
        return torch.as_tensor(t, dtype=torch.get_default_dtype() if isinstance(t, (int, float)) else None)
    return torch.as_tensor(t, dtype=like.dtype, device=like.device)


def broadcast_like(coeff: Tensor, x: Tensor) -> Tensor:
    """A coefficient of shape () or (B,) shaped to broadcast against x of shape (B, ...)."""
    if coeff.dim() == 0:
        return coeff
    return coeff.reshape(coeff.shape + (1,) * (x.dim() - coeff.dim()))


@dataclass(frozen=True)
class PathCoefficients:
    """alpha(t), sigma(t) and their time derivatives, each of the shape of t."""

    alpha: Tensor
    sigma: Tensor
    d_alpha: Tensor
    d_sigma: Tensor

    @property
    def det(self) -> Tensor:
        """alpha sigma' - sigma alpha' = -alpha sigma lambda'(t) with lambda = log(alpha/sigma): positive on a
        valid path, finite where alpha = 0; the determinant of (x, velocity) as linear maps of (x0, eps)."""
        return self.alpha * self.d_sigma - self.sigma * self.d_alpha

    def like(self, x: Tensor) -> "PathCoefficients":
        """The four coefficients shaped to broadcast against x."""
        return PathCoefficients(*(broadcast_like(c, x) for c in (self.alpha, self.sigma, self.d_alpha, self.d_sigma)))


class GaussianPath:
    """Base class. Subclasses implement alpha, sigma, d_alpha, d_sigma on tensors of times.

    Discrete-time models (DDPM, NCSN) set ``discrete_times``: the increasing grid of times
    t_1 < ... < t_N their network is trained at; ``None`` means continuous time.
    """

    discrete_times: Tensor | None = None
    #: alpha(1) = 0 by construction of a variance-preserving schedule (Lin et al. 2024): x0 is not
    #: recoverable from an eps or score prediction at t = 1
    zero_terminal_snr: bool = False

    def on_device(self, name: str, device) -> Tensor:
        """The path's tensor attribute ``name`` on ``device``, copied there once and kept: copying a grid
        at every call is a blocking host-to-device transfer, i.e. a host sync per training step on a GPU."""
        tensor = getattr(self, name)
        device = torch.device(device) if device is not None else tensor.device
        if device == tensor.device:
            return tensor
        copies = self.__dict__.setdefault("_device_copies", {})
        if (name, device) not in copies:
            copies[name, device] = tensor.to(device)
        return copies[name, device]

    # --- coefficients (subclasses implement the underscored methods on tensors) -------------
    def _alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _sigma(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _d_alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _d_sigma(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _coefficients(self, t: Tensor) -> PathCoefficients:
        return PathCoefficients(self._alpha(t), self._sigma(t), self._d_alpha(t), self._d_sigma(t))

    def _f(self, t: Tensor) -> Tensor:
        return self._d_alpha(t) / self._alpha(t).clamp_min(1e-12)

    def _g2(self, t: Tensor) -> Tensor:
        s = self._sigma(t)
        return (2 * s * self._d_sigma(t) - 2 * self._f(t) * s**2).clamp_min(0.0)

    def alpha(self, t) -> Tensor:
        return self._alpha(as_time(t))

    def sigma(self, t) -> Tensor:
        return self._sigma(as_time(t))

    def d_alpha(self, t) -> Tensor:
        return self._d_alpha(as_time(t))

    def d_sigma(self, t) -> Tensor:
        return self._d_sigma(as_time(t))

    def coefficients(self, t) -> PathCoefficients:
        """(alpha, sigma, alpha', sigma') at t, computed together (paths whose four share work override
        ``_coefficients``)."""
        return self._coefficients(as_time(t))

    def f(self, t) -> Tensor:
        """Drift coefficient of the forward SDE dx = f(t) x dt + g(t) dw: f = alpha'/alpha."""
        return self._f(as_time(t))

    def g2(self, t) -> Tensor:
        """Squared diffusion g(t)^2 = 2 sigma sigma' - 2 f sigma^2 (>= 0 for a valid path)."""
        return self._g2(as_time(t))

    # --- noise level --------------------------------------------------------------------
    def noise_ratio(self, t) -> Tensor:
        """sigma(t) / alpha(t), EDM's sigma (infinite where alpha = 0); increasing in t."""
        t = as_time(t)
        return self._sigma(t) / self._alpha(t)

    def time_at_noise_ratio(self, ratio: Tensor, iterations: int = 80) -> Tensor:
        """The time t in [0, 1] with sigma(t)/alpha(t) = ratio (clamped to the path's range), by bisection
        in float64; the path's own closed form is not needed."""
        ratio = torch.as_tensor(ratio, dtype=torch.float64)
        lo, hi = torch.zeros_like(ratio), torch.ones_like(ratio)
        for _ in range(iterations):
            mid = (lo + hi) / 2
            below = self.noise_ratio(mid) < ratio
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        return (lo + hi) / 2

    # --- forward process ----------------------------------------------------------------
    def sample_marginal(self, x0: Tensor, t, eps: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Draw x_t ~ N(alpha(t) x0, sigma(t)^2 I); returns (x_t, eps)."""
        eps = torch.randn_like(x0) if eps is None else eps
        t = as_time(t, x0)
        xt = broadcast_like(self.alpha(t), x0) * x0 + broadcast_like(self.sigma(t), x0) * eps
        return xt, eps

    def drift(self, x: Tensor, t) -> Tensor:
        """Forward-SDE drift f(t) x."""
        return broadcast_like(self.f(as_time(t, x)), x) * x

    def diffusion(self, t) -> Tensor:
        """Forward-SDE diffusion g(t)."""
        return self.g2(as_time(t)).sqrt()

    # --- prior at t = 1 -----------------------------------------------------------------
    @property
    def prior_std(self) -> float:
        """Std of x_1 for unit-variance data: sqrt(alpha(1)^2 + sigma(1)^2)."""
        one = torch.ones((), dtype=torch.float64)
        return float((self.alpha(one) ** 2 + self.sigma(one) ** 2).sqrt())

    def prior_sample(self, shape, generator: torch.Generator | None = None, device=None) -> Tensor:
        return self.prior_std * standard_normal(shape, generator, device)

    def prior_logp(self, x: Tensor) -> Tensor:
        """log N(x; 0, prior_std^2 I), summed over all but the batch dimension."""
        s2 = self.prior_std**2
        d = x[0].numel()
        return -0.5 * (x.flatten(1) ** 2).sum(1) / s2 - 0.5 * d * math.log(2 * math.pi * s2)

    # --- discrete grids -----------------------------------------------------------------
    @property
    def is_discrete(self) -> bool:
        return self.discrete_times is not None

    def sample_time(self, n: int, t_eps: float = 1e-3, device=None) -> Tensor:
        """Training times: uniform over the discrete grid, else U(t_eps, 1)."""
        if self.discrete_times is not None:
            idx = torch.randint(0, len(self.discrete_times), (n,), device=device)
            return self.on_device("discrete_times", device)[idx]
        return t_eps + (1 - t_eps) * torch.rand(n, device=device)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in vars(self).items()
                           if not isinstance(v, Tensor) and not k.startswith("_"))
        return f"{type(self).__name__}({fields})"
