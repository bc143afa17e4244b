"""Inpainting: sampling x0 given its known coordinates x0[K] = y (a 0/1 mask, 1 = known), as a model-function
wrapper, so every sampler and every model gets it.

Given x0[K] = y the noise on the known coordinates is independent of everything else, so the conditioned
path factorises, p_t(x | y) = N(x[K]; alpha y, sigma^2) p_t(x[U] | y), and the exact h-transformed
prediction on the known coordinates is
    x0~[K] = y,    eps~[K] = (x[K] - alpha y) / sigma          (exact, for every model).
The unknown coordinates need E[x0[U] | x_t, x0[K] = y], which a model trained without the mask does not give:
  replacement      x0~[U] = x0_hat(x)[U]: the model's estimate at the sampler's x, whose known coordinates
                   are a noisy copy alpha y + sigma z of y (Song et al. 2021, appendix I; the known part is
                   carried by the sampler itself, so the wrapper is deterministic and adaptive ODE solvers
                   keep their error control);
  reconstruction   also adds scale grad_{x[U]} log N(y; x0_hat(x)[K], r_t^2) (genflow.conditioning.htransform):
                   the h-transform with a Gaussian p(x0[K] | x_t) (Ho et al. 2022's reconstruction guidance),
                   which feeds the information in y to the unknown coordinates at high noise.
The Gaussian-mixture oracle has the exact conditional: ``GaussianMixture.given`` (its denoiser pins x0[K] = y
and conditions x0[U] exactly).
RePaint's resampling (Lugmayr et al. 2022) re-noises the sample x_s back to x_t and walks the interval again:
it changes the state the sampler carries and walks time backwards, which a model function cannot do, so
it is not offered here.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genflow.conditioning.htransform import GaussianObservation, evaluate_with_gradient, tilted
from genflow.prediction import ModelFunction, Prediction


class Inpainting(ModelFunction):
    """``model`` conditioned on x0 = ``values`` where ``mask`` is 1 (both broadcast against x: one observation
    for the batch, or one per sample). ``scale`` > 0 adds reconstruction guidance on the unknown coordinates,
    with the posterior variance of data of variance ``data_var``. With every coordinate known the model is not
    evaluated: the process is the forward process's bridge to ``values``. ``snr_min``: guidance only where
    alpha^2 / sigma^2 >= snr_min; ``log_h``: another h than the Gaussian one (e.g. a Gaussian-mixture oracle's
    exact ``log_observation_likelihood``)."""

    def __init__(self, model: ModelFunction, mask: Tensor, values: Tensor, scale: float = 0.0,
                 data_var: float = 1.0, snr_min: float = 0.0, log_h=None):
        super().__init__()
        self.model, self.scale, self.snr_min = model, float(scale), float(snr_min)
        self.mask, self.values = mask.bool(), values
        self.path, self.kind = model.path, model.kind
        self.log_h = log_h if log_h is not None else GaussianObservation(self.mask, values, 0.0, data_var)
        self.everything_known = bool(self.mask.all())

    def predict(self, x: Tensor, t: Tensor) -> Prediction:
        mask, y = self.mask.to(x.device), self.values.to(x)
        if self.everything_known:
            c = self.path.coefficients(t).like(x)
            return Prediction(x, t, self.path, x0=y.expand_as(x), eps=(x - c.alpha.to(x) * y) / c.sigma.to(x))
        if self.scale:
            pred, grad = evaluate_with_gradient(self.model, x, t, self.log_h, self.snr_min)
            pred = tilted(pred, self.scale * torch.where(mask, 0.0, grad))
        else:
            pred = self.model.predict(x, t)
        c = pred.coefficients
        x0 = torch.where(mask, y, pred.x0)
        eps = torch.where(mask, (x - c.alpha * y) / c.sigma, pred.eps)
        return Prediction(x, t, self.path, x0=x0, eps=eps)
