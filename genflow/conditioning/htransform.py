"""Doob's h-transform of a model function: conditioning the generative process on an event about x_0.

If h(x, t) = p(event | x_t = x), the conditioned marginals are p_t(x | event) = p_t(x) h(x, t) / p(event), so
    score~(x, t) = score(x, t) + grad_x log h(x, t),
and, written in the pair (x0, eps) of a Gaussian path (Tweedie: alpha x0_hat = x + sigma^2 score),
    x0~ = x0_hat + (sigma^2 / alpha) grad_x log h,     eps~ = eps_hat - sigma grad_x log h.
Every sampler reads its prediction from this pair, so every sampler simulates the conditioned process.

Where h is not tractable, ``GaussianObservation`` uses Tweedie's estimate x0_hat(x_t) and a Gaussian
p(x0 | x_t) ~ N(x0_hat, r_t^2 I) with the posterior variance of data of variance v,
    r_t^2 = v sigma^2 / (alpha^2 v + sigma^2),
(exact when the data is N(m, v I)) to observe y = x0[I] + N(0, tau^2 I):
    log h(x_t, t) ~ log N(y; x0_hat(x_t)[I], (r_t^2 + tau^2) I),
differentiated through the network (reconstruction guidance: Ho et al. 2022; Song et al. 2023 (PiGDM);
Chung et al. 2023 (DPS) use the same gradient with another step size).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from genflow.paths.base import broadcast_like
from genflow.prediction import ModelFunction, Prediction

#: log h of a prediction at (x, t): a (B,) tensor, differentiable in ``pred.x``
LogH = Callable[[Prediction], Tensor]


def tilted(pred: Prediction, grad: Tensor) -> Prediction:
    """The prediction of score + grad: x0 + (sigma^2 / alpha) grad and eps - sigma grad (x0 unchanged where
    alpha = 0, the prior end of a flow path, where x0 carries no weight)."""
    c = pred.coefficients
    shift = torch.where(c.alpha > 0, c.sigma**2 / c.alpha.clamp_min(1e-30), torch.zeros_like(c.alpha))
    return Prediction(pred.x, pred.t, pred.path, x0=pred.x0 + shift * grad, eps=pred.eps - c.sigma * grad)


def guided_times(path, t: Tensor, snr_min: float) -> Tensor:
    """Where grad log h is taken: alpha^2 / sigma^2 >= ``snr_min`` (a 0-d or (B,) bool tensor)."""
    c = path.coefficients(t)
    return c.alpha**2 >= snr_min * c.sigma**2


def evaluate_with_gradient(model: ModelFunction, x: Tensor, t: Tensor, log_h: LogH,
                           snr_min: float = 0.0) -> tuple[Prediction, Tensor]:
    """One evaluation of ``model`` at (x, t) and grad_x log h through it (autograd), zero where the signal-to-noise
    ratio alpha^2 / sigma^2 is below ``snr_min`` (there the model is evaluated without autograd); both detached."""
    active = guided_times(model.path, t, snr_min)
    if not bool(active.any()):
        pred = model.predict(x, t)
        return pred, torch.zeros_like(x)
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        pred = model.predict(xg, t)
        grad = torch.autograd.grad(log_h(pred).sum(), xg)[0]
    grad = torch.where(broadcast_like(active, x), grad, 0.0) if active.dim() else grad
    return Prediction(x, t, model.path, x0=pred.x0.detach(), eps=pred.eps.detach()), grad.to(x.dtype)


class HTransform(ModelFunction):
    """``model`` conditioned by h: score + scale grad_x log h (scale 1 is the h-transform; other scales tilt
    the conditional, as guidance does), taken where alpha^2 / sigma^2 >= ``snr_min``."""

    def __init__(self, model: ModelFunction, log_h: LogH, scale: float = 1.0, snr_min: float = 0.0):
        super().__init__()
        self.model, self.log_h, self.scale, self.snr_min = model, log_h, float(scale), float(snr_min)
        self.path, self.kind = model.path, model.kind

    def predict(self, x: Tensor, t: Tensor) -> Prediction:
        pred, grad = evaluate_with_gradient(self.model, x, t, self.log_h, self.snr_min)
        return tilted(pred, self.scale * grad)


def posterior_variance(pred: Prediction, data_var: float) -> Tensor:
    """r_t^2 = v sigma^2 / (alpha^2 v + sigma^2): Var[x0 | x_t] for data N(m, v I), shaped like x."""
    c = pred.coefficients
    return data_var * c.sigma**2 / (c.alpha**2 * data_var + c.sigma**2)


class GaussianObservation:
    """log h ~ log N(y; x0_hat[mask], r_t^2 + tau^2) for y observed where ``mask`` is 1 (per coordinate, tau =
    ``noise_std``); ``values`` and ``mask`` broadcast against x (one observation, or one per sample)."""

    def __init__(self, mask: Tensor, values: Tensor, noise_std=0.0, data_var: float = 1.0):
        self.mask, self.values = mask, values
        self.noise_var = torch.as_tensor(noise_std, dtype=values.dtype) ** 2
        self.data_var = float(data_var)

    def __call__(self, pred: Prediction) -> Tensor:
        x0 = pred.x0
        var = posterior_variance(pred, self.data_var) + self.noise_var.to(x0)
        mask, y = self.mask.to(x0), self.values.to(x0)
        log_n = -0.5 * (y - x0) ** 2 / var - 0.5 * torch.log(2 * math.pi * var)
        return (mask * log_n).flatten(1).sum(1)
