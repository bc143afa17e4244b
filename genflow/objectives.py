"""Training objectives: functions of (denoiser, path, batch) returning a scalar loss.

``DenoisingObjective`` is the one regression that DDPM, denoising score matching, conditional flow
matching and EDM share: draw t and eps, form x_t = alpha x0 + sigma eps and regress the network's
prediction on its conditional target,
    L = E_t,x0,eps [ w_k(t) || D(x_t, t) - target_k(x0, eps) ||^2 ],
with t from a time sampler (genflow.time_sampling: uniform, EDM's lognormal, or log-SNR-uniform importance
sampling) and w_k the weighting for the network's kind k (genflow.weighting: uniform, sigma2, likelihood,
min_snr, edm; every one but uniform is the same objective whatever the network predicts).
  * DDPM L_simple (Ho et al. 2020): kind = eps, uniform, t on the discrete grid.
  * DSM (Song & Ermon 2019; Song et al. 2021): kind = score, target = -eps/sigma = -(x_t - alpha x0)/sigma^2,
    weighting sigma2 (sigma^2 on the score error) or likelihood (g^2 on the score error).
  * CFM (Lipman et al. 2023): kind = velocity, target = alpha' x0 + sigma' eps, uniform;
    OT-CFM pairs noise and data by minibatch optimal transport (``coupling="ot"``).
  * EDM (Karras et al. 2022): the preconditioned x0 network, weighting edm, time_sampling lognormal.
The squared error is averaged over data dimensions, in float32 at least (under mixed precision too).
"""

from __future__ import annotations

import torch
from torch import Tensor

from genflow.couplings import COUPLINGS, couple
from genflow.errors import UserError, check_choice, flag
from genflow.prediction import regression_target
from genflow.time_sampling import EDM_P_STD, TIME_SAMPLINGS, make_time_sampler
from genflow.weighting import WEIGHTINGS, loss_weight


class DenoisingObjective:
    deterministic_only = False  # any sampler applies

    def __init__(self, weighting: str = "uniform", t_eps: float = 1e-3, p_uncond: float = 0.1,
                 coupling: str = "independent", min_snr_gamma: float = 5.0, time_sampling: str = "uniform",
                 p_mean: float | None = None, p_std: float = EDM_P_STD):
        check_choice("model.objective.weighting", weighting, WEIGHTINGS)
        check_choice("model.objective.coupling", coupling, COUPLINGS)
        check_choice("model.objective.time_sampling", time_sampling, TIME_SAMPLINGS)
        if not float(min_snr_gamma) > 0:
            raise UserError(f"model.objective.min_snr_gamma={min_snr_gamma} must be positive (Hang et al. 2023: 5)")
        self.weighting, self.t_eps, self.p_uncond = weighting, float(t_eps), float(p_uncond)
        self.coupling, self.min_snr_gamma, self.time_sampling = coupling, float(min_snr_gamma), time_sampling
        self.times = make_time_sampler(time_sampling, self.t_eps, p_mean, p_std)

    def check(self, path) -> None:
        """Raise UserError, before training, where this objective cannot train on ``path``."""
        self.times.check(path)

    def weight(self, denoiser, t: Tensor) -> Tensor:
        """w_k(t) for the denoiser's kind (genflow.weighting)."""
        return loss_weight(self.weighting, denoiser.path, t, denoiser.kind, self.min_snr_gamma,
                           getattr(denoiser, "sigma_data", 1.0))

    def drop_labels(self, y: Tensor | None) -> Tensor | None:
        """Replace labels by the null label (-1) with probability p_uncond (classifier-free training)."""
        if y is None or self.p_uncond <= 0:
            return y
        drop = torch.rand(y.shape, device=y.device) < self.p_uncond
        return torch.where(drop, torch.full_like(y, -1), y)

    def per_sample_loss(self, denoiser, x0: Tensor, eps: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        """w_k(t) ||D(x_t, t) - target_k||^2 (mean over dimensions) for given (x0, eps, t), one value per sample."""
        path = denoiser.path
        xt, eps = path.sample_marginal(x0, t, eps)
        target = regression_target(x0, eps, denoiser.kind, xt, t, path)
        pred = denoiser(xt, t, y)
        dtype = torch.promote_types(pred.dtype, torch.float32)
        err = ((pred.to(dtype) - target.to(dtype)) ** 2).flatten(1).mean(1)
        return self.weight(denoiser, t).to(err) * err

    def __call__(self, denoiser, x0: Tensor, y: Tensor | None = None, eps: Tensor | None = None) -> Tensor:
        """``eps`` given: fixed (noise, data) pairs (rectified-flow reflow); else fresh noise, coupled."""
        if eps is None:
            eps = couple(x0, torch.randn_like(x0), self.coupling)
        t, factor = self.times(denoiser.path, x0.shape[0], x0.device, getattr(denoiser, "sigma_data", 1.0))
        loss = self.per_sample_loss(denoiser, x0, eps, t.to(x0), self.drop_labels(y))
        return (loss if factor is None else loss * factor.to(loss)).mean()


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
        self.rtol, self.atol, self.adjoint = float(rtol), float(atol), flag("model.objective.adjoint", adjoint)
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
