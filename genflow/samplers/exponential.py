"""What the exponential-integrator samplers (DPM-Solver++, UniPC) share: the grid read in log-SNR.

On any Gaussian path x_t = alpha_t x0 + sigma_t eps, with lambda = log(alpha/sigma), the probability-flow ODE
has the exact solution from t to s < t (Lu et al. 2022b, data prediction)
    x_s = (sigma_s/sigma_t) x_t + alpha_s int_{lambda_t}^{lambda_s} e^{-(lambda_s - l)} x0_hat(l) dl,
so a step depends on the path only through lambda and alpha_s. Every coefficient a step needs is computed
here once per grid, in float64 on the host, from

    rho = sigma_s / sigma_t,   h = lambda_s - lambda_t,   phi1 = 1 - e^{-h} = -expm1(-h),
    psi2 = 1 - phi1/h  (= h phi_2(-h)),   psi3 = psi2/h - 1/2  (= -h phi_3(-h)),

written so that a step out of alpha_t = 0 (t = 1 on a flow path: lambda_t = -inf, h = inf) stays finite
(e^{-h} = 0, phi1 = 1, psi2 = 1, psi3 = -1/2) and nothing divides by alpha. A history value whose lambda is
-inf never enters a finite difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from genflow.paths.base import GaussianPath
from genflow.samplers.base import Sampler

#: below this |z| the phi functions are summed as their Taylor series (the recursion cancels there)
SERIES_BELOW = 1.0
SERIES_TERMS = 30


@dataclass(frozen=True)
class LogSNRStep:
    """One step t -> s < t of a grid, in float64: alpha_s, sigma_s, rho = sigma_s/sigma_t, lambda_t, lambda_s."""

    alpha_s: float
    sigma_s: float
    rho: float
    lambda_t: float
    lambda_s: float

    @property
    def h(self) -> float:
        """lambda_s - lambda_t (> 0); inf out of alpha_t = 0 or into sigma_s = 0."""
        return self.lambda_s - self.lambda_t

    @property
    def finite(self) -> bool:
        return math.isfinite(self.h)


def log_snr_table(path: GaussianPath, times: Tensor) -> tuple[list[float], list[float], list[float]]:
    """alpha, sigma and lambda = log(alpha/sigma) at every time of the grid (float64 Python floats;
    lambda = -inf where alpha = 0 and +inf where sigma = 0)."""
    c = path.coefficients(times.double().cpu())
    alpha, sigma = c.alpha.double(), c.sigma.double()
    lam = alpha.log() - sigma.log()
    return alpha.tolist(), sigma.tolist(), lam.tolist()


def log_snr_steps(path: GaussianPath, times: Tensor) -> tuple[list[LogSNRStep], list[float]]:
    """The steps of the grid and lambda at each of its times."""
    alpha, sigma, lam = log_snr_table(path, times)
    steps = [LogSNRStep(alpha[i + 1], sigma[i + 1], sigma[i + 1] / sigma[i], lam[i], lam[i + 1])
             for i in range(len(lam) - 1)]
    return steps, lam


def phi(k: int, z: float) -> float:
    """phi_k(z) = sum_j z^j / (j + k)!  (phi_0 = e^z, phi_{k+1}(z) = (phi_k(z) - 1/k!) / z), for z <= 0;
    phi_k(-inf) = 0."""
    if z == -math.inf:
        return 0.0
    if abs(z) < SERIES_BELOW:
        return sum(z**j / math.factorial(j + k) for j in range(SERIES_TERMS))
    value = math.exp(z)
    for j in range(k):
        value = (value - 1 / math.factorial(j)) / z
    return value


def one_minus_exp(h: float) -> float:
    """1 - e^{-h} = -expm1(-h); 1 at h = inf."""
    return -math.expm1(-h)


def psi2(h: float) -> float:
    """h phi_2(-h) = 1 - (1 - e^{-h})/h: ~ h/2 for small h, 1 at h = inf."""
    return 1.0 if h == math.inf else h * phi(2, -h)


def psi3(h: float) -> float:
    """-h phi_3(-h) = psi2/h - 1/2: ~ -h/6 for small h, -1/2 at h = inf."""
    return -0.5 if h == math.inf else -h * phi(3, -h)


def finite_history(lambdas: list[float], i: int) -> int:
    """How many of the evaluations at t_0..t_i have a finite lambda (the ones a finite difference may use)."""
    return sum(1 for lam in lambdas[: i + 1] if math.isfinite(lam))


class MultistepSampler(Sampler):
    """Base of the multistep solvers in log-SNR (DPM-Solver++, UniPC): their plan of orders depends on
    whether the grid ends with the jump to x0_hat (``self.denoise``, recorded by ``Sampler.sample``). On a
    model's own discrete steps they leave out t_1 (``drop_t1=auto``): their last step into it would extrapolate
    across the grid's largest log-SNR gap."""

    drops_t1 = True

    def orders(self, path, times, denoise: bool, lower_final: bool) -> list[tuple[LogSNRStep, list[float]]]:
        """Each step of the grid with the log-SNRs of the k - 1 earlier points it extrapolates from:
        k = min(order, points of finite log-SNR so far), 1 on a step from infinite noise, and, when
        ``lower_final``, at most n - i on step i of n (the final jump counted when ``denoise``)."""
        steps, lam = log_snr_steps(path, times)
        n = len(steps) + int(denoise)
        planned = []
        for i, step in enumerate(steps):
            k = min(self.order, finite_history(lam, i)) if step.finite else 1
            if lower_final:
                k = min(k, n - i)
            planned.append((step, lam[i - 1::-1][: k - 1] if i else []))
        return planned
