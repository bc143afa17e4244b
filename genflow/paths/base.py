"""Gaussian paths x_t = alpha(t) x_0 + sigma(t) eps, with t = 0 data and t = 1 noise.

Every process in genflow is one of these. From alpha, sigma and their time derivatives follow
the SDE drift coefficient f(t) = alpha'/alpha, the squared diffusion
g(t)^2 = 2 sigma sigma' - 2 f sigma^2, the reverse SDE and the probability-flow ODE.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genflow.noise import standard_normal


def broadcast_like(coeff: Tensor, x: Tensor) -> Tensor:
    """Reshape a per-sample coefficient of shape (B,) to broadcast against x of shape (B, ...)."""
    return coeff.reshape(coeff.shape + (1,) * (x.dim() - coeff.dim()))


def collapse_uniform(t: Tensor) -> Tensor:
    """One time repeated over the batch (a scalar expanded to (B,), stride 0) as shape (1,), so path
    coefficients are computed on one element and broadcast: elementwise ops on expanded tensors take
    a slow path (about 10x a contiguous op), which made coefficients cost ~20% of a sampler step."""
    if t.dim() == 1 and t.numel() > 1 and t.stride(0) == 0:
        return t[:1]
    return t


class GaussianPath:
    """Base class. Subclasses implement alpha, sigma, d_alpha, d_sigma for t of shape (B,).

    Discrete-time models (DDPM, NCSN) set ``discrete_times``: the increasing grid of times
    t_1 < ... < t_N their network is trained at; ``None`` means continuous time.
    """

    discrete_times: Tensor | None = None

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

    # --- coefficients -------------------------------------------------------------------
    def alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def sigma(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def d_alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def d_sigma(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def coefficients(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(alpha, sigma, alpha', sigma') at t; paths whose four share work override this."""
        return self.alpha(t), self.sigma(t), self.d_alpha(t), self.d_sigma(t)

    def f(self, t: Tensor) -> Tensor:
        """Drift coefficient of the forward SDE dx = f(t) x dt + g(t) dw: f = alpha'/alpha."""
        return self.d_alpha(t) / self.alpha(t).clamp_min(1e-12)

    def g2(self, t: Tensor) -> Tensor:
        """Squared diffusion g(t)^2 = 2 sigma sigma' - 2 f sigma^2 (>= 0 for a valid path)."""
        s = self.sigma(t)
        return (2 * s * self.d_sigma(t) - 2 * self.f(t) * s**2).clamp_min(0.0)

    # --- forward process ----------------------------------------------------------------
    def sample_marginal(self, x0: Tensor, t: Tensor, eps: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Draw x_t ~ N(alpha(t) x0, sigma(t)^2 I); returns (x_t, eps)."""
        eps = torch.randn_like(x0) if eps is None else eps
        xt = broadcast_like(self.alpha(t), x0) * x0 + broadcast_like(self.sigma(t), x0) * eps
        return xt, eps

    def drift(self, x: Tensor, t: Tensor) -> Tensor:
        """Forward-SDE drift f(t) x."""
        return broadcast_like(self.f(t), x) * x

    def diffusion(self, t: Tensor) -> Tensor:
        """Forward-SDE diffusion g(t)."""
        return self.g2(t).sqrt()

    # --- prior at t = 1 -----------------------------------------------------------------
    @property
    def prior_std(self) -> float:
        """Std of x_1 for unit-variance data: sqrt(alpha(1)^2 + sigma(1)^2)."""
        one = torch.ones(1, dtype=torch.float64)
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
