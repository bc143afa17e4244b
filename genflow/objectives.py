"""Training objectives: functions of (denoiser, path, batch) returning a scalar loss.

``DenoisingObjective`` is the one regression that DDPM, denoising score matching and conditional
flow matching share: draw t and eps, form x_t = alpha x0 + sigma eps and regress the network's
prediction on its conditional target,
    L = E_t,x0,eps [ lambda(t) || D(x_t, t) - target(x0, eps) ||^2 ].
  * DDPM L_simple (Ho et al. 2020): kind = eps, lambda = 1, t on the discrete grid.
  * DSM (Song & Ermon 2019; Song et al. 2021): kind = score, target = -eps/sigma = -(x_t - alpha x0)/sigma^2,
    lambda = sigma^2 ("sigma2") or the likelihood weighting g^2 ("likelihood").
  * CFM (Lipman et al. 2023): kind = velocity, target = alpha' x0 + sigma' eps, lambda = 1.
The squared error is averaged over data dimensions.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genflow.errors import UserError
from genflow.parameterization import regression_target
from genflow.paths.base import broadcast_like

WEIGHTINGS = ("uniform", "sigma2", "likelihood")


class DenoisingObjective:
    def __init__(self, weighting: str = "uniform", t_eps: float = 1e-3, p_uncond: float = 0.1):
        if weighting not in WEIGHTINGS:
            raise UserError(f"model.objective.weighting={weighting!r} is not valid; choose one of {', '.join(WEIGHTINGS)}")
        self.weighting, self.t_eps, self.p_uncond = weighting, float(t_eps), float(p_uncond)

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

    def pairs(self, x0: Tensor) -> tuple[Tensor, Tensor]:
        """(x0, eps) pairs for the regression; couplings (OT-CFM) override this."""
        return x0, torch.randn_like(x0)

    def __call__(self, denoiser, x0: Tensor, y: Tensor | None = None) -> Tensor:
        path = denoiser.path
        x0, eps = self.pairs(x0)
        t = path.sample_time(x0.shape[0], self.t_eps, x0.device)
        xt, eps = path.sample_marginal(x0, t, eps)
        target = regression_target(x0, eps, denoiser.kind, xt, t, path)
        pred = denoiser(xt, t, self.drop_labels(y))
        err = ((pred - target) ** 2).flatten(1).mean(1)
        return (self.weight(path, t) * err).mean()
