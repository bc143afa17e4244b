"""Training objectives: functions of (denoiser, path, batch) returning a scalar loss.

``DenoisingObjective`` is the one regression that DDPM, denoising score matching and conditional
flow matching share: draw t and eps, form x_t = alpha x0 + sigma eps and regress the network's
prediction on its conditional target,
    L = E_t,x0,eps [ lambda(t) || D(x_t, t) - target(x0, eps) ||^2 ].
  * DDPM L_simple (Ho et al. 2020): kind = eps, lambda = 1, t on the discrete grid.
  * DSM (Song & Ermon 2019; Song et al. 2021): kind = score, target = -eps/sigma = -(x_t - alpha x0)/sigma^2,
    lambda = sigma^2 ("sigma2") or the likelihood weighting g^2 ("likelihood").
  * CFM (Lipman et al. 2023): kind = velocity, target = alpha' x0 + sigma' eps, lambda = 1;
    OT-CFM pairs noise and data by minibatch optimal transport (``coupling="ot"``).
The squared error is averaged over data dimensions.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genflow.couplings import COUPLINGS, couple
from genflow.errors import check_choice
from genflow.prediction import regression_target
from genflow.paths.base import broadcast_like

WEIGHTINGS = ("uniform", "sigma2", "likelihood")


class DenoisingObjective:
    deterministic_only = False  # any sampler applies

    def __init__(self, weighting: str = "uniform", t_eps: float = 1e-3, p_uncond: float = 0.1,
                 coupling: str = "independent"):
        check_choice("model.objective.weighting", weighting, WEIGHTINGS)
        check_choice("model.objective.coupling", coupling, COUPLINGS)
        self.weighting, self.t_eps, self.p_uncond = weighting, float(t_eps), float(p_uncond)
        self.coupling = coupling

    def weight(self, path, t: Tensor) -> Tensor:
        if self.weighting == "sigma2":
            return path.sigma(t) ** 2
        if self.weighting == "likelihood":
            return path.g2(t)
        return torch.ones_like(t)

    def drop_labels(self, y: Tensor | None) -> Tensor | None:
        """Replace labels by the null label (-1) with probability p_uncond (classifier-free training)."""
        if y is None or self.p_uncond <= 0:
            return y
        drop = torch.rand(y.shape, device=y.device) < self.p_uncond
        return torch.where(drop, torch.full_like(y, -1), y)

    def __call__(self, denoiser, x0: Tensor, y: Tensor | None = None, eps: Tensor | None = None) -> Tensor:
        """``eps`` given: fixed (noise, data) pairs (rectified-flow reflow); else fresh noise, coupled."""
        path = denoiser.path
        if eps is None:
            eps = couple(x0, torch.randn_like(x0), self.coupling)
        t = path.sample_time(x0.shape[0], self.t_eps, x0.device)
        xt, eps = path.sample_marginal(x0, t, eps)
        target = regression_target(x0, eps, denoiser.kind, xt, t, path)
        pred = denoiser(xt, t, self.drop_labels(y))
        err = ((pred - target) ** 2).flatten(1).mean(1)
        return (self.weight(path, t) * err).mean()


class MaximumLikelihoodObjective:
    """FFJORD (Grathwohl et al. 2019): L = -E log p(x), log p from the augmented ODE of the
    denoiser's velocity field integrated from t = 0 (data) to 1 (prior), plus optional RNODE
    regularisers (Finlay et al. 2020): kinetic energy int ||v||^2 and Jacobian norm int ||e^T J||^2."""

    deterministic_only = True  # a velocity field without a Gaussian path: only the ODE applies

    def __init__(self, trace: str = "exact", noise: str = "rademacher", method: str = "dopri5",
                 num_steps: int = 10, rtol: float = 1e-5, atol: float = 1e-5, adjoint: bool = False,
                 kinetic_energy: float = 0.0, jacobian_norm: float = 0.0):
        from genflow.likelihood import NOISES, TRACES

        check_choice("model.objective.trace", trace, TRACES)
        check_choice("model.objective.noise", noise, NOISES)
        self.trace, self.noise, self.method, self.num_steps = trace, noise, method, int(num_steps)
        self.rtol, self.atol, self.adjoint = float(rtol), float(atol), bool(adjoint)
        self.kinetic_energy, self.jacobian_norm = float(kinetic_energy), float(jacobian_norm)

    def __call__(self, denoiser, x0: Tensor, y: Tensor | None = None, eps: Tensor | None = None) -> Tensor:
        from genflow.likelihood import log_likelihood

        field = _LabelledField(denoiser, y)
        regularize = self.kinetic_energy > 0 or self.jacobian_norm > 0
        res = log_likelihood(field, x0, denoiser.path.prior_logp, 0.0, 1.0, self.trace, self.noise, self.method,
                             self.num_steps, self.rtol, self.atol, self.adjoint, regularize, create_graph=True)
        loss = -res.logp.mean()
        if regularize:
            loss = loss + self.kinetic_energy * res.kinetic.mean() + self.jacobian_norm * res.jacobian.mean()
        return loss


class _LabelledField(torch.nn.Module):
    def __init__(self, denoiser, y):
        super().__init__()
        self.denoiser, self.y = denoiser, y

    def forward(self, x, t):
        return self.denoiser(x, t, self.y)
