"""Training times of the denoising regression: the distribution of t in L = E_t [w(t) ||D - target||^2].

``uniform``          t ~ U(t_eps, 1), or uniform over a discrete model's N steps (DDPM, NCSN).
``lognormal``        EDM (Karras et al. 2022): ln sigma~ ~ N(p_mean, p_std^2) for the noise-to-signal ratio
                     sigma~ = sigma/alpha, mapped to t by the path (t = time_at_noise_ratio(sigma~), clamped
                     to [t_eps, 1]). Its density over t is N(ln sigma~(t); p_mean, p_std^2) d ln sigma~/dt.
                     p_mean null: EDM's -1.2 for sigma_data = 0.5, moved with the data's scale,
                     -1.2 + ln(sigma_data / 0.5) (EDM is scale-equivariant: data scaled by c, every sigma by c).
``log_snr_uniform``  importance sampling of the uniform objective (Song et al. 2021, section 5): lambda =
                     log(alpha/sigma) uniform on [lambda(t_hi), lambda(t_eps)], t its time, so t has the density
                     q(t) = |lambda'(t)| / Lambda, Lambda = lambda(t_eps) - lambda(t_hi). Each sample is
                     weighted by 1 / ((1 - t_eps) q(t)): the expected loss is the uniform-time objective for
                     every weighting, and with weighting=likelihood (w_eps = 2 |lambda'|) every sample's noise-
                     space weight is the constant 2 Lambda / (1 - t_eps): much lower variance. t_hi = 1, or
                     1 - t_eps where lambda(1) = -inf (alpha(1) = 0); both ends need a finite lambda.

A sampler returns (t, factor): the times and a per-sample factor on the loss (None: 1).
"""

from __future__ import annotations

import math

import torch

from genflow.errors import UserError
from genflow.paths.base import GaussianPath

TIME_SAMPLINGS = ("uniform", "lognormal", "log_snr_uniform")
EDM_P_MEAN, EDM_P_STD, EDM_SIGMA_DATA = -1.2, 1.2, 0.5


class UniformTimes:
    def __init__(self, t_eps: float = 1e-3):
        self.t_eps = float(t_eps)

    def check(self, path: GaussianPath) -> None:
        """Raise UserError where the sampler cannot serve ``path``."""

    def __call__(self, path: GaussianPath, n: int, device=None, sigma_data: float = 1.0):
        return path.sample_time(n, self.t_eps, device), None


class LogNormalTimes(UniformTimes):
    def __init__(self, t_eps: float = 0.0, p_mean: float | None = None, p_std: float = EDM_P_STD):
        super().__init__(t_eps)
        if not float(p_std) > 0:
            raise UserError(f"model.objective.p_std={p_std} must be positive (EDM: 1.2)")
        self.p_mean, self.p_std = None if p_mean is None else float(p_mean), float(p_std)

    def check(self, path):
        if path.is_discrete:
            raise UserError("model.objective.time_sampling=lognormal draws continuous noise levels; a discrete model "
                            "(DDPM, NCSN) trains on its own steps: use time_sampling=uniform (any weighting applies)")

    def mean(self, sigma_data: float = 1.0) -> float:
        """P_mean: the configured one, or EDM's moved to the data's scale."""
        return self.p_mean if self.p_mean is not None else EDM_P_MEAN + math.log(sigma_data / EDM_SIGMA_DATA)

    def __call__(self, path, n, device=None, sigma_data=1.0):
        log_ratio = self.mean(sigma_data) + self.p_std * torch.randn(n, device=device, dtype=torch.float64)
        t = path.time_at_noise_ratio(log_ratio.exp()).clamp(self.t_eps, 1.0)
        return t.to(torch.get_default_dtype()), None


class LogSNRUniformTimes(UniformTimes):
    def bounds(self, path: GaussianPath) -> tuple[float, float, float, float]:
        """(t_eps, t_hi, lambda(t_eps), lambda(t_hi))."""
        lam = lambda t: float(-path.noise_ratio(torch.tensor(t, dtype=torch.float64)).log())  # noqa: E731
        t_hi = 1.0 if math.isfinite(lam(1.0)) else 1.0 - self.t_eps
        lo, hi = lam(self.t_eps), lam(t_hi)
        return self.t_eps, t_hi, lo, hi

    def check(self, path):
        if path.is_discrete:
            raise UserError("model.objective.time_sampling=log_snr_uniform needs a continuous-time path; a discrete "
                            "model (DDPM, NCSN) trains on its own steps: use time_sampling=uniform")
        _, t_hi, lo, hi = self.bounds(path)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo > hi):
            raise UserError(f"model.objective.time_sampling=log_snr_uniform needs a finite log-SNR on "
                            f"[t_eps, {t_hi:g}]; "
                            f"model.objective.t_eps={self.t_eps:g} gives {lo:.3g} at t_eps: raise t_eps (e.g. 1e-3)")

    def __call__(self, path, n, device=None, sigma_data=1.0):
        t_lo, t_hi, lam_lo, lam_hi = self.bounds(path)
        lam = lam_hi + (lam_lo - lam_hi) * torch.rand(n, device=device, dtype=torch.float64)
        t = path.time_at_noise_ratio(torch.exp(-lam)).clamp(t_lo, t_hi)
        c = path.coefficients(t)
        rate = c.det / (c.alpha * c.sigma)  # |lambda'(t)|
        factor = (lam_lo - lam_hi) / ((1 - self.t_eps) * rate)
        dtype = torch.get_default_dtype()
        return t.to(dtype), factor.to(dtype)


def make_time_sampler(name: str, t_eps: float, p_mean: float | None = None, p_std: float = EDM_P_STD):
    if name == "lognormal":
        return LogNormalTimes(t_eps, p_mean, p_std)
    if name == "log_snr_uniform":
        return LogSNRUniformTimes(t_eps)
    return UniformTimes(t_eps)
