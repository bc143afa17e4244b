"""EDM's preconditioning (Karras et al. 2022, table 1) on any Gaussian path.

EDM writes its denoiser in y = x/alpha at the noise level sigma~ = sigma/alpha:
    D(y; sigma~) = c_skip y + c_out F(c_in y; c_noise),
    c_skip = sd^2/(sigma~^2 + sd^2),  c_out = sigma~ sd/sqrt(sigma~^2 + sd^2),  c_in = 1/sqrt(sigma~^2 + sd^2)
with sd = sigma_data, the data's standard deviation. In x (finite where alpha = 0, e.g. t = 1 of a flow path):
    x0_hat = sd^2 alpha x / (sigma^2 + alpha^2 sd^2) + sigma sd / sqrt(sigma^2 + alpha^2 sd^2) F(x / sqrt(sigma^2 + alpha^2 sd^2), t).
The network's input is unit-variance at every noise level, and its regression target
    F* = (x0 - c_skip y) / c_out = (sigma~ x0 / sd - sd eps) / sqrt(sigma~^2 + sd^2)
is unit-variance too when Var x0 = sd^2; with the EDM weighting 1/c_out^2 on the x0 error the loss is
||F - F*||^2. The network is conditioned on genflow's t instead of c_noise = ln(sigma~)/4 (infinite where
alpha = 0); on EDM's path (VE, sigma(t) = 0.002 * 40000^t) t is affine in ln sigma~, the same information.
With sd = 1 on a VP path, x0_hat = alpha x + sigma F: F* = -(alpha eps - sigma x0) is Salimans & Ho's -v.
"""

from __future__ import annotations

from torch import Tensor

from genflow.paths.base import GaussianPath


class EDMPreconditioning:
    def __init__(self, sigma_data: float = 0.5):
        self.sigma_data = float(sigma_data)

    def coefficients(self, path: GaussianPath, t: Tensor, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(c_skip, c_out, c_in) in x units, x0_hat = c_skip x + c_out F(c_in x), shaped to broadcast against
        ``like``."""
        c = path.coefficients(t).like(like)
        sd2 = self.sigma_data**2
        norm2 = c.sigma**2 + c.alpha**2 * sd2
        c_in = norm2.rsqrt()
        return sd2 * c.alpha / norm2, c.sigma * self.sigma_data * c_in, c_in

    def denoise(self, net, path: GaussianPath, x: Tensor, t: Tensor, net_t: Tensor, y: Tensor | None) -> Tensor:
        """x0_hat at (x, t) on ``path`` from ``net`` (called with the time ``net_t``, one per sample)."""
        c_skip, c_out, c_in = self.coefficients(path, t, x)
        return c_skip * x + c_out * net(c_in * x, net_t, y)

    def network_target(self, path: GaussianPath, x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """F* = (x0 - c_skip x_t) / c_out, what the network F regresses on."""
        c = path.coefficients(t).like(x0)
        sd = self.sigma_data
        return (c.sigma * x0 / sd - sd * c.alpha * eps) / (c.sigma**2 + c.alpha**2 * sd**2).sqrt()
