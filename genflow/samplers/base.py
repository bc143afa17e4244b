"""What every sampler shares: ``sample(model, x, grid)`` walks x from the prior at t = 1 down the grid's
times (k-diffusion's ``sample_euler(model, x, sigmas)``), then, when the grid asks for it, jumps to the
data with Tweedie's x0_hat = E[x0 | x_t]; it counts the network evaluations (NFE), optionally clips or
thresholds x0_hat, reports progress, and refuses to return a non-finite sample.

A sampler implements ``walk(model, x, times, generator)``; ``model(x, t)`` returns a
:class:`~genflow.prediction.Prediction` read as eps, score, x0 or velocity, whatever the network predicts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from genflow.errors import NonFiniteSampleError, UserError, check_choice, flag
from genflow.noise import standard_normal
from genflow.prediction import ModelFunction, ThresholdedModel
from genflow.samplers.grids import TimeGrid, check_num_steps

X0_CLIPS = ("auto", "none", "static", "dynamic")
#: arguments of samplers stored in checkpoints written before grids were their own config group
LEGACY_GRID_KEYS = ("t_eps", "spacing", "time_power", "denoise", "num_levels")


@dataclass
class SampleResult:
    x: Tensor
    nfe: int


class Sampler:
    """Base class. ``num_steps``: the number of steps along the grid (null: a discrete model's own steps).
    ``x0_clip``: ``static`` clips x0_hat to [-clip_value, clip_value] at every evaluation, ``dynamic``
    thresholds it at the ``clip_percentile`` quantile of |x0_hat| (Saharia et al. 2022), ``auto`` clips
    statically where the data has a known range (images, [-1, 1] in model units), ``none`` never."""

    #: network evaluations per step (the last step may use fewer)
    evaluations_per_step = 1
    #: reproduces the weights of distant modes (plain Langevin does not: it is checked on one Gaussian)
    mixes_modes = True
    #: the grid of the current ``sample`` ends with the jump to x0_hat (set there, read by ``walk``)
    denoise = True
    #: on a discrete grid with ``drop_t1=auto``, leave out t_1 (as diffusers' multistep schedulers do)
    drops_t1 = False

    def __init__(self, num_steps: int | None = 100, x0_clip: str = "auto", clip_value: float = 1.0,
                 clip_percentile: float = 0.995, progress: bool = True, **legacy):
        self.num_steps = None if num_steps is None else check_num_steps(num_steps)
        check_choice("sampler.x0_clip", x0_clip, X0_CLIPS)
        if not float(clip_value) > 0 or not 0 < float(clip_percentile) <= 1:
            raise UserError(f"sampler.clip_value={clip_value} must be > 0 and sampler.clip_percentile="
                            f"{clip_percentile} in (0, 1]")
        unknown = set(legacy) - set(LEGACY_GRID_KEYS)
        if unknown:
            raise UserError(f"{type(self).__name__} has no option {', '.join(sorted(unknown))}")
        self.x0_clip, self.clip_value, self.clip_percentile = x0_clip, float(clip_value), float(clip_percentile)
        self.progress = flag("sampler.progress", progress)
        self.legacy_grid = legacy  # grid settings of an old checkpoint's sampler (genflow.samplers.grids.default_grid)
        self.start_tracking(None)

    #: the ``sampler=`` option that builds this sampler (progress lines, pictures, errors)
    option = "sampler"

    @property
    def name(self) -> str:
        """What the user chose, as typed on the command line: ``sampler=<option>``."""
        return self.option

    def check(self, model: ModelFunction) -> None:
        """Raise UserError for a (sampler, model) pair that cannot work, before any work is done."""

    def sample(self, model: ModelFunction, x: Tensor, grid: TimeGrid, generator: torch.Generator | None = None,
               progress: Callable[[float], None] | None = None, data_range: float | None = None) -> SampleResult:
        """Walk x (drawn from the prior at t = 1) down ``grid``; ``progress(t)`` is called with the current
        time at most every 0.1 s; ``data_range`` c: the data lies in [-c, c] in model units (x0_clip=auto)."""
        self.check(model)
        model = self.clipped(model, data_range)
        start = model.nfe
        self.denoise = grid.denoise  # whether the final jump follows the walk (its last step then is not the last)
        self.start_tracking(progress)
        with torch.no_grad():
            x = self.walk(model, x, grid.times, generator)
            if grid.denoise:
                x = model(x, grid.times[-1]).x0
                self.track(x, grid.times[-1], 0.0)
        self.report(0.0, force=True)
        self.raise_if_not_finite(x, model)
        return SampleResult(x=x, nfe=model.nfe - start)

    def walk(self, model: ModelFunction, x: Tensor, times: Tensor, generator) -> Tensor:
        raise NotImplementedError

    def clipped(self, model: ModelFunction, data_range: float | None) -> ModelFunction:
        mode = self.x0_clip
        if mode == "auto":
            mode = "static" if data_range is not None else "none"
        if mode == "none":
            return model
        value = data_range if (self.x0_clip == "auto" and data_range is not None) else self.clip_value
        return ThresholdedModel(model, mode, value, self.clip_percentile)

    # --- bookkeeping shared by the samplers -------------------------------------------------
    def steps(self, times: Tensor):
        """(i, t_i, t_{i+1}) along the grid, as Python floats, reporting progress and tracking finiteness
        of the sample the previous step produced (no host synchronisation)."""
        for i in range(len(times) - 1):
            yield i, float(times[i]), float(times[i + 1])
            self.report(float(times[i + 1]))

    def start_tracking(self, progress: Callable[[float], None] | None) -> None:
        self._report, self._finite = TimeReport(progress, start=1.0, end=0.0), []

    def track(self, x: Tensor, t, s) -> None:
        """Remember, on the device, whether the step t -> s left x finite (times: numbers or 0-d tensors,
        read only if a non-finite sample is reported)."""
        self._finite.append((torch.isfinite(x).all(), t, s))

    def report(self, t, force: bool = False) -> None:
        """``progress(t)``, throttled and with decreasing times (``TimeReport``)."""
        self._report(t, force)

    def raise_if_not_finite(self, x: Tensor, model: ModelFunction) -> None:
        if bool(torch.isfinite(x).all()):
            return
        flags = torch.stack([f for f, _, _ in self._finite]).cpu().tolist() if self._finite else []
        first = next((i for i, ok in enumerate(flags) if not ok), None)
        where = ""
        if first is not None:
            t, s = (float(u) for u in self._finite[first][1:])
            where = f" at evaluation {first + 1} of {len(flags)} (t = {t:.4g})" if t == s else \
                f" at step {first + 1} of {len(flags)} (t = {t:.4g} -> {s:.4g})"
            cause = likely_cause(model, t)
        else:
            cause = "the network's output is not finite"
        raise NonFiniteSampleError(f"sampler {self.name} produced non-finite samples{where}; likely cause: {cause}")

    @staticmethod
    def noise_like(x: Tensor, generator) -> Tensor:
        return standard_normal(x.shape, generator, x.device, x.dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_steps={self.num_steps}, x0_clip={self.x0_clip})"


def noise_on_step(i: int, times: Tensor, denoise: bool) -> bool:
    """Whether walk step i (of len(times) - 1) of a stochastic sampler adds noise: every step but the one into
    the data, so the last walk step too when the grid's jump to x0_hat follows it (``denoise``; DDPM's
    Algorithm 2 adds noise on every step but t = 1 -> 0, which is the jump)."""
    return denoise or i < len(times) - 2


class TimeReport:
    """Calls ``progress(t)`` as an integration from ``start`` to ``end`` advances: at most every
    ``interval`` seconds (t is read, and a GPU synchronised, only then) and only with times closer to
    ``end`` than any reported before and not beyond it (an adaptive solver evaluates again at times it
    has passed when it rejects a step, and beyond ``end`` when it tries its first step size)."""

    def __init__(self, progress: Callable[[float], None] | None, start: float, end: float, interval: float = 0.1):
        self.progress, self.interval = progress, interval
        self.sign = 1.0 if end >= start else -1.0
        self.last_call, self.reached, self.end = float("-inf"), float(start) * self.sign, float(end) * self.sign

    def __call__(self, t, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if not force and now - self.last_call < self.interval:
            return
        self.last_call = now
        t = float(t)
        if self.reached < t * self.sign <= self.end or (force and t * self.sign > self.reached):
            self.reached = t * self.sign
            self.progress(t)


def likely_cause(model: ModelFunction, t: float) -> str:
    c = model.path.coefficients(torch.tensor(t, dtype=torch.float64))
    alpha, sigma = float(c.alpha), float(c.sigma)
    if alpha < 1e-4:
        return (f"alpha(t) = {alpha:.3g} at t = {t:.4g}: x0 = (x - sigma eps) / alpha divides by ~0 for a "
                f"{model.kind}-prediction model; use sampler.x0_clip=static or dynamic, or a grid that starts below t = 1")
    if sigma < 1e-4:
        return f"sigma(t) = {sigma:.3g} at t = {t:.4g}: the score -eps / sigma divides by ~0; raise grid.t_eps"
    return "the network's output is not finite there (a diverged or corrupted checkpoint?), or the step is too large"


def draw(model: ModelFunction, sampler: Sampler, shape, grid=None, generator: torch.Generator | None = None,
         device=None, **kwargs) -> SampleResult:
    """Samples of ``shape`` from ``model``: the prior at t = 1, then ``sampler`` on ``grid`` (a
    genflow.samplers.grids.Grid; default: the path's own grid) with the sampler's number of steps."""
    from genflow.samplers.grids import default_grid

    grid = grid if grid is not None else default_grid(model.path, sampler.legacy_grid)
    x = model.path.prior_sample(shape, generator, device)
    return sampler.sample(model, x, grid(model.path, sampler.num_steps, sampler), generator, **kwargs)
