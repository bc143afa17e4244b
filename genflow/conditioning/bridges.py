"""Diffusion bridges: the generative process conditioned on where it ends, h(x, t) = p(x_0 in A | x_t = x).

A point, A = {b}: the conditioned process is the forward process's bridge, run from the prior to b. On a
Gaussian path it is exact and needs no model: x0~ = b, eps~ = (x - alpha b) / sigma (the ``Inpainting`` wrapper
with every coordinate known), so ancestral sampling draws x_s ~ q(x_s | x_t, x_0 = b) exactly and the paths have
the bridge's law: given x_1, x_t ~ N(alpha_t b + a sigma_t^2 / sigma_1^2 (x_1 - alpha_1 b), sigma_t^2 (1 - a^2
sigma_t^2 / sigma_1^2)), a = alpha_1 / alpha_t.
A Gaussian ball of radius rho around c (land near c, p(x_0 | end) proportional to p(x_0) N(c; x_0, rho^2 I)): the
observation y = c = x_0 + N(0, rho^2 I), whose h is the ``GaussianObservation`` of
genflow.conditioning.htransform: exact for a Gaussian-mixture oracle (``GaussianMixture.given``,
``log_observation_likelihood``), a Gaussian approximation of p(x_0 | x_t) for a trained model.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genflow.conditioning.htransform import GaussianObservation, HTransform
from genflow.conditioning.inpainting import Inpainting
from genflow.prediction import ModelFunction, Prediction


def bridge(model: ModelFunction, target: Tensor, mask: Tensor, radius: Tensor | float, scale: float = 1.0,
           data_var: float = 1.0, snr_min: float = 0.0) -> ModelFunction:
    """``model`` conditioned to end at ``target`` on the coordinates where ``mask`` is 1: pinned (radius 0, exact)
    or within a Gaussian ball of std ``radius`` (per coordinate)."""
    radius = torch.as_tensor(radius, dtype=target.dtype)
    if bool((radius == 0).all()):
        return Inpainting(model, mask, target, scale, data_var, snr_min)
    return HTransform(model, GaussianObservation(mask, target, radius, data_var), scale, snr_min)


class TrajectoryRecorder(ModelFunction):
    """Passes evaluations through and keeps (t, x) of the first ``n`` samples at each: the paths a sampler
    walks, seen from the model function (a multi-stage solver adds its stage points)."""

    def __init__(self, model: ModelFunction, n: int):
        super().__init__()
        self.model, self.n = model, int(n)
        self.path, self.kind = model.path, model.kind
        self.times: list[float] = []
        self.states: list[Tensor] = []

    def predict(self, x: Tensor, t: Tensor) -> Prediction:
        self.times.append(float(t.reshape(-1)[0]))
        self.states.append(x[:self.n].detach().to("cpu", torch.float32).clone())
        return self.model.predict(x, t)

    def trajectories(self) -> tuple[Tensor, Tensor]:
        """(times (T,) decreasing, states (T, n, ...)): one state per distinct time, the latest evaluated."""
        latest = {t: i for i, t in enumerate(self.times)}
        order = sorted(latest, reverse=True)
        if not order:
            return torch.zeros(0), torch.zeros(0)
        return torch.tensor(order), torch.stack([self.states[latest[t]] for t in order])
