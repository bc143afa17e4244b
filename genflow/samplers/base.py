"""Shared pieces of the samplers: results, time grids and progress bars."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from genflow.prediction import ModelFunction
from genflow.noise import standard_normal


@dataclass
class SampleResult:
    x: Tensor
    nfe: int


class Sampler:
    """Base class: ``sample(model, shape)`` integrates from the prior at t = 1 towards t = 0.

    ``model`` is a :class:`~genflow.prediction.ModelFunction`; its path defines the process.
    """

    #: the parameterizations a sampler needs from the model; every model can supply any of them.
    needs = ("score",)

    def __init__(self, num_steps: int | None = 100, t_eps: float = 1e-3, progress: bool = True):
        self.num_steps = None if num_steps is None else int(num_steps)
        self.t_eps = float(t_eps)
        self.progress = bool(progress)

    def sample(self, model: ModelFunction, shape, generator: torch.Generator | None = None,
               x_init: Tensor | None = None, device=None) -> SampleResult:
        x = model.path.prior_sample(shape, generator, device) if x_init is None else x_init
        start = model.nfe
        with torch.no_grad():
            x = self.run(model, x, generator)
        return SampleResult(x=x, nfe=model.nfe - start)

    def run(self, model: ModelFunction, x: Tensor, generator) -> Tensor:
        raise NotImplementedError

    def steps(self, pairs, desc: str):
        return tqdm(pairs, desc=desc, disable=not self.progress, leave=False, dynamic_ncols=True)

    def continuous_grid(self, n: int) -> Tensor:
        """n + 1 times from 1 down to t_eps."""
        return torch.linspace(1.0, self.t_eps, n + 1)

    @staticmethod
    def noise_like(x: Tensor, generator) -> Tensor:
        return standard_normal(x.shape, generator, x.device, x.dtype)


SPACINGS = ("linspace", "trailing", "leading")


def strided_discrete_grid(times: Tensor, num_steps: int | None, spacing: str = "linspace") -> Tensor:
    """A descending subsequence of a discrete grid t_1 < ... < t_N with ``num_steps`` points
    (indices i = 0..N-1; the names of Lin et al. 2024, Table 2):
    linspace  round(linspace(N-1, 0, k)): keeps t_N and t_1 (DDIM / improved DDPM respacing);
    trailing  round(N - j N/k) - 1, j = 0..k-1: starts at t_N, equal strides, stops short of t_1;
    leading   j (N // k), j = k-1..0: starts below t_N, ends at t_1 (diffusers' default)."""
    n = len(times)
    if num_steps is None or num_steps >= n:
        return times.flip(0)
    k = num_steps
    if spacing == "linspace":
        idx = torch.linspace(n - 1, 0, k).round().long()
    elif spacing == "trailing":
        idx = (n - torch.arange(k, dtype=torch.float64) * n / k).round().long() - 1
    else:
        idx = (torch.arange(k) * (n // k)).flip(0)
    return times[idx.unique_consecutive()]


def tweedie(model: ModelFunction, x: Tensor, t: Tensor) -> Tensor:
    """Tweedie's denoising step E[x0 | x_t] = (x + sigma^2 score) / alpha at time t."""
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(1).expand(x.shape[0])
    return model(x, t, "x0")
