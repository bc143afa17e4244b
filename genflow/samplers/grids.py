"""Time grids for samplers, built in one place (the ``grid`` config group) and handed to the sampler,
as in k-diffusion's ``sample_euler(model, x, sigmas)``.

A grid is the descending list of times t_0 = 1 > t_1 > ... > t_m the sampler walks, from the prior
towards the data, plus ``denoise``: whether a last step jumps from t_m to the data itself, x <- x0_hat
(Tweedie's E[x0 | x_t], one more evaluation). ``num_steps`` (a sampler option) is the number of steps
either way: m = num_steps without the jump, m = num_steps - 1 with it, so a first-order sampler costs
num_steps network evaluations (NFE).

``uniform``    t_i = 1 - (1 - t_eps) i / m
``time_power`` t_i = t_eps + (1 - t_eps) (1 - i/m)^rho: rho > 1 takes finer steps near the data
``karras``     EDM's sigma_i = (sigma_max^(1/rho) + i/(m-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho in
               the noise-to-signal ratio sigma/alpha (Karras et al. 2022), mapped to t through the path
``log_snr``    uniform in lambda = log(alpha/sigma), i.e. geometric in sigma/alpha (DPM-Solver's grid; NCSN's
               noise levels)
``discrete``   a subsequence of a discrete model's own steps t_1 < ... < t_N (DDPM, NCSN), strided by
               ``spacing`` (Lin et al. 2024, Table 2): linspace keeps t_N and t_1, trailing starts at t_N
               with equal strides, leading is diffusers' default; continuous paths use t_i = i / 1000
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from genflow.errors import UserError, check_choice, flag
from genflow.paths.base import GaussianPath

SPACINGS = ("linspace", "trailing", "leading")
CONTINUOUS_STEPS = 1000  # the discrete grid of a continuous path: t_i = i / 1000


@dataclass(frozen=True)
class TimeGrid:
    """Descending times (float64) from t = 1, and whether a final jump to the data follows the last."""

    times: Tensor
    denoise: bool

    @property
    def num_steps(self) -> int:
        return len(self.times) - 1 + int(self.denoise)


def check_num_steps(num_steps, key: str = "sampler.num_steps") -> int:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise UserError(f"{key}={num_steps!r} must be a positive integer")
    return num_steps


class Grid:
    """Base: ``times(m, path)`` gives m + 1 descending times from 1 to the grid's end."""

    def __init__(self, t_eps: float = 1e-3, denoise: bool = True):
        if not 0 <= float(t_eps) < 1:
            raise UserError(f"grid.t_eps={t_eps} must be in [0, 1)")
        self.t_eps, self.denoise = float(t_eps), flag("grid.denoise", denoise)

    def __call__(self, path: GaussianPath, num_steps: int | None, sampler=None) -> TimeGrid:
        """The grid of ``num_steps`` steps on ``path`` (null: 1000, as many as DDPM's) for ``sampler`` (a grid
        may adapt to it: the discrete grid's ``drop_t1=auto``)."""
        num_steps = CONTINUOUS_STEPS if num_steps is None else check_num_steps(num_steps)
        m = num_steps - int(self.denoise)
        if m == 0:
            return TimeGrid(torch.ones(1, dtype=torch.float64), True)
        return self.checked(self.times(m, path, sampler).double())

    def checked(self, times: Tensor) -> TimeGrid:
        if not (times.diff() < 0).all():
            raise UserError(f"{type(self).__name__} gave times that do not decrease: {times.tolist()}; "
                            "use fewer steps or another grid")
        return TimeGrid(times, self.denoise)

    def times(self, m: int, path: GaussianPath, sampler=None) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in vars(self).items())})"


class UniformGrid(Grid):
    def times(self, m, path, sampler=None):
        return torch.linspace(1.0, self.t_eps, m + 1, dtype=torch.float64)


class PowerGrid(Grid):
    def __init__(self, rho: float = 1.5, t_eps: float = 1e-3, denoise: bool = True):
        super().__init__(t_eps, denoise)
        if not float(rho) > 0:
            raise UserError(f"grid.rho={rho} must be positive (1: uniform steps)")
        self.rho = float(rho)

    def times(self, m, path, sampler=None):
        return power_times(1.0, self.t_eps, m, self.rho)


def power_times(t0: float, t1: float, m: int, rho: float = 1.0) -> Tensor:
    """m + 1 times from t0 to t1 (float64): t = lo + (hi - lo) (1 - s)^rho, s uniform on [0, 1] from the
    noise end hi; rho = 1 is uniform, rho > 1 finer near the data (lo). Either direction."""
    lo, hi = min(t0, t1), max(t0, t1)
    s = torch.linspace(0.0, 1.0, m + 1, dtype=torch.float64)
    grid = lo + (hi - lo) * (1.0 - s) ** rho
    grid[0], grid[-1] = hi, lo
    return grid if t0 > t1 else grid.flip(0)


class RatioGrid(Grid):
    """A grid placed in the noise-to-signal ratio sigma/alpha between ``sigma_min`` and ``sigma_max``: null takes
    the path's ratio at t_eps and at t = 1, or 80 (EDM's sigma_max) where the ratio at t = 1 is infinite
    (alpha(1) = 0, a flow path). A grid whose sigma_max is below the path's ratio at t = 1 starts at t = 1 (the
    prior) and continues from sigma_max."""

    def __init__(self, sigma_min: float | None = None, sigma_max: float | None = None, t_eps: float = 1e-3,
                 denoise: bool = True):
        super().__init__(t_eps, denoise)
        self.sigma_min = None if sigma_min is None else float(sigma_min)
        self.sigma_max = None if sigma_max is None else float(sigma_max)
        if self.sigma_min is not None and self.sigma_max is not None and not 0 < self.sigma_min < self.sigma_max:
            raise UserError(f"grid.sigma_min={sigma_min} and grid.sigma_max={sigma_max}: need 0 < sigma_min < sigma_max")

    def ratios(self, n: int, lo: float, hi: float) -> Tensor:
        """n decreasing noise-to-signal ratios from hi to lo."""
        raise NotImplementedError

    def times(self, m, path, sampler=None):
        ratio = lambda t: float(path.noise_ratio(torch.tensor(t, dtype=torch.float64)))  # noqa: E731
        lo = self.sigma_min if self.sigma_min is not None else ratio(self.t_eps)
        top = ratio(1.0)
        hi = self.sigma_max if self.sigma_max is not None else (top if top < float("inf") else 80.0)
        starts_at_prior = hi < top * (1 - 1e-9)
        n = m if starts_at_prior else m + 1  # points of the ratio grid; t = 1 goes in front when hi < ratio(1)
        ratios = self.ratios(n, lo, min(hi, top)) if n > 1 else torch.tensor([lo], dtype=torch.float64)
        times = path.time_at_noise_ratio(ratios)
        if starts_at_prior:
            times = torch.cat([torch.ones(1, dtype=torch.float64), times])
        times[0] = 1.0
        if self.sigma_min is None:
            times[-1] = self.t_eps  # the bisection's answer, exactly
        return times


class KarrasGrid(RatioGrid):
    """sigma_i = (sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho (Karras et al. 2022)."""

    def __init__(self, rho: float = 7.0, sigma_min: float | None = None, sigma_max: float | None = None,
                 t_eps: float = 1e-3, denoise: bool = True):
        super().__init__(sigma_min, sigma_max, t_eps, denoise)
        if not float(rho) > 0:
            raise UserError(f"grid.rho={rho} must be positive (EDM: 7)")
        self.rho = float(rho)

    def ratios(self, n, lo, hi):
        i = torch.arange(n, dtype=torch.float64) / max(n - 1, 1)
        return (hi ** (1 / self.rho) + i * (lo ** (1 / self.rho) - hi ** (1 / self.rho))) ** self.rho


class LogSNRGrid(RatioGrid):
    """Uniform in lambda = log(alpha/sigma), i.e. geometric in sigma/alpha (DPM-Solver's grid; NCSN's geometric
    noise levels on a variance-exploding path)."""

    def ratios(self, n, lo, hi):
        if not lo > 0:
            raise UserError(f"grid=log_snr needs a positive noise level at its end, and sigma/alpha = {lo:g} there "
                            "(sigma(t_eps) = 0): raise grid.t_eps or set grid.sigma_min")
        return torch.exp(torch.linspace(math.log(hi), math.log(lo), n, dtype=torch.float64))


class DiscreteGrid(Grid):
    """``drop_t1``: stride num_steps + 1 points and drop the last when it is t_1 (the least noisy step), so the
    final jump starts from the point before it instead of following a step into t_1. These are the timesteps
    of diffusers' multistep schedulers (DPMSolverMultistep, UniPCMultistep) with linspace or leading spacing;
    ``auto`` (the default) does so for the samplers that drop t_1 (``Sampler.drops_t1``: the multistep solvers)
    and keeps t_1 for the others, as diffusers' DDIMScheduler and DDPMScheduler keep timestep 0.
    A multistep solver's last step into t_1 extrapolates across the grid's largest log-SNR gap (on DDPM's
    linear betas, lambda 1.2 -> 4.6 after steps of 0.7 at 10 steps) and the jump from t_1 is then worth nothing
    (x0_hat there is x to 1%); benchmarks/README.md section 3 measures both."""

    def __init__(self, spacing: str = "linspace", t_eps: float = 1e-3, denoise: bool = True,
                 drop_t1: bool | str = "auto"):
        super().__init__(t_eps, denoise)
        check_choice("grid.spacing", spacing, SPACINGS)
        if drop_t1 != "auto":
            if drop_t1 not in (True, False):
                raise UserError(f"grid.drop_t1={drop_t1!r} is not valid; choose one of auto, true, false")
            drop_t1 = bool(drop_t1)
            if drop_t1 and not self.denoise:
                raise UserError("grid.drop_t1=true needs grid.denoise=true: the final jump takes t_1's place")
        self.spacing, self.drop_t1 = spacing, drop_t1

    def __call__(self, path, num_steps, sampler=None):
        """``num_steps`` null: every step of the discrete model (N evaluations with the final jump)."""
        if num_steps is None:
            return self.checked(self.discrete_times(path).flip(0))
        return super().__call__(path, num_steps, sampler)

    def drops(self, sampler) -> bool:
        """Whether the grid leaves out t_1 for ``sampler`` (``auto``: where it ends with the jump and the
        sampler drops t_1)."""
        if self.drop_t1 == "auto":
            return self.denoise and bool(getattr(sampler, "drops_t1", False))
        return self.drop_t1

    @staticmethod
    def discrete_times(path: GaussianPath) -> Tensor:
        if path.is_discrete:
            return path.discrete_times.double()
        return torch.arange(1, CONTINUOUS_STEPS + 1, dtype=torch.float64) / CONTINUOUS_STEPS

    def times(self, m, path, sampler=None):
        """m + 1 of the discrete times (all N when m + 1 >= N); with ``drop_t1``, m + 2 of them less t_1 where
        that stride ends at t_1."""
        steps = self.discrete_times(path)
        if self.drops(sampler):
            longer = strided(steps, m + 2, self.spacing)
            if longer[-1] == steps[0]:
                return longer[:-1]
        return strided(steps, m + 1, self.spacing)


def strided(times: Tensor, k: int, spacing: str = "linspace") -> Tensor:
    """A descending subsequence of k points of an increasing grid t_1 < ... < t_N (indices i = 0..N-1):
    linspace  round(linspace(N-1, 0, k)): keeps t_N and t_1 (DDIM / improved DDPM respacing);
    trailing  round(N - j N/k) - 1, j = 0..k-1: starts at t_N, equal strides, stops short of t_1;
    leading   j (N // k), j = k-1..0: starts below t_N, ends at t_1 (diffusers' default)."""
    n = len(times)
    if k >= n:
        return times.flip(0)
    if spacing == "linspace":
        idx = torch.linspace(n - 1, 0, k).round().long()
    elif spacing == "trailing":
        idx = (n - torch.arange(k, dtype=torch.float64) * n / k).round().long() - 1
    else:
        idx = (torch.arange(k) * (n // k)).flip(0)
    return times[idx.unique_consecutive()]


def default_grid(path: GaussianPath, legacy: dict | None = None) -> Grid:
    """The grid of a run that names none: the discrete model's own steps, else uniform. ``legacy``: the
    grid settings that samplers stored in checkpoints written before grids were a config group."""
    legacy = legacy or {}
    t_eps, denoise = float(legacy.get("t_eps", 1e-3)), bool(legacy.get("denoise", True))
    if path.is_discrete:
        return DiscreteGrid(legacy.get("spacing", "linspace"), t_eps, denoise)
    if float(legacy.get("time_power", 1.0)) != 1.0:
        return PowerGrid(float(legacy["time_power"]), t_eps, denoise)
    return UniformGrid(t_eps, denoise)
