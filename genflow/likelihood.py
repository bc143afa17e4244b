"""Log-likelihood through the instantaneous change of variables (Chen et al. 2018; Grathwohl et al. 2019).

Along dx/dt = v(x, t) the density obeys d log p(x_t)/dt = -div v, so integrating data -> prior,
    log p_{t0}(x) = log p_1(x_1) + int_{t0}^{1} div v(x_t, t) dt.
The augmented state [x, int div v, (regularisers)] is solved with torchdiffeq (optionally by the
adjoint method). div v is the exact trace of the Jacobian (D backward passes) or Hutchinson's
unbiased estimate e^T (dv/dx) e with e Rademacher or Gaussian, fixed along the trajectory.
Shared by FFJORD training and the PF-ODE likelihood of diffusion / flow-matching models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchdiffeq import odeint, odeint_adjoint

from genflow.errors import check_choice
from genflow.noise import standard_normal
from genflow.samplers.base import TimeReport
from genflow.samplers.pf_ode import solver_options, torchdiffeq_method

TRACES = ("exact", "hutchinson")
NOISES = ("rademacher", "gaussian")


def divergence(v: Tensor, x: Tensor, trace: str, noise: Tensor | None, create_graph: bool) -> Tensor:
    """div_x v per sample (x must require grad and v be computed from it)."""
    if trace == "exact":
        flat_v = v.flatten(1)
        div = torch.zeros(x.shape[0], dtype=v.dtype, device=v.device)
        for i in range(flat_v.shape[1]):
            g = torch.autograd.grad(flat_v[:, i].sum(), x, create_graph=create_graph, retain_graph=True)[0]
            div = div + g.flatten(1)[:, i]
        return div
    e_jac = torch.autograd.grad(v, x, noise, create_graph=create_graph, retain_graph=True)[0]
    return (e_jac * noise).flatten(1).sum(1)


def make_noise(x: Tensor, kind: str, generator: torch.Generator | None = None) -> Tensor:
    check_choice("noise", kind, NOISES)
    e = standard_normal(x.shape, generator, x.device, x.dtype)
    return e.sign() if kind == "rademacher" else e


class AugmentedDynamics(nn.Module):
    """d/dt [x, a, k, j] = [v, div v, ||v||^2, ||e^T dv/dx||^2] for a velocity module ``field(x, t)``."""

    def __init__(self, field: nn.Module, trace: str = "exact", noise: Tensor | None = None,
                 regularize: bool = False, create_graph: bool = False, report: TimeReport | None = None):
        super().__init__()
        check_choice("trace", trace, TRACES)
        self.field, self.trace, self.noise = field, trace, noise
        self.regularize, self.create_graph = regularize, create_graph
        self.report = report
        self.nfe = 0

    def forward(self, t: Tensor, state):
        x = state[0]
        self.nfe += 1
        if self.report is not None:
            self.report(t)
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.requires_grad_(True)
            v = self.field(x, t.expand(x.shape[0]))
            div = divergence(v, x, self.trace, self.noise, self.create_graph or self.regularize)
            out = [v, div]
            if self.regularize:
                out.append((v.flatten(1) ** 2).sum(1))
                e = self.noise if self.noise is not None else torch.randn_like(x)
                e_jac = torch.autograd.grad(v, x, e, create_graph=True, retain_graph=True)[0]
                out.append((e_jac.flatten(1) ** 2).sum(1))
        if not (self.create_graph or self.regularize or torch.is_grad_enabled()):
            out = [o.detach() for o in out]
        return tuple(out)


@dataclass
class LikelihoodResult:
    logp: Tensor           # log p_{t0}(x), nats per sample
    latent: Tensor         # x_1
    nfe: int
    kinetic: Tensor | None = None
    jacobian: Tensor | None = None


def log_likelihood(field: nn.Module, x: Tensor, prior_logp, t0: float = 0.0, t1: float = 1.0,
                   trace: str = "exact", noise: str = "rademacher", method: str = "dopri5",
                   num_steps: int = 20, rtol: float = 1e-5, atol: float = 1e-5, adjoint: bool = False,
                   regularize: bool = False, create_graph: bool = False,
                   generator: torch.Generator | None = None, progress=None) -> LikelihoodResult:
    """Integrate the augmented ODE from t0 (data) to t1 (prior) and return log p_{t0}(x); ``progress(t)``
    sees the time as it advances (throttled)."""
    e = make_noise(x, noise, generator) if trace == "hutchinson" else None
    report = TimeReport(progress, t0, t1) if progress is not None else None
    dyn = AugmentedDynamics(field, trace, e, regularize, create_graph, report)
    zeros = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    state = (x, zeros) + ((zeros, zeros) if regularize else ())
    times = torch.tensor([t0, t1], dtype=x.dtype, device=x.device)
    options = solver_options(method, torch.linspace(t0, t1, num_steps + 1, dtype=torch.float64))
    solve = odeint_adjoint if adjoint else odeint
    kwargs = {"adjoint_params": tuple(field.parameters())} if adjoint else {}
    out = solve(dyn, state, times, method=torchdiffeq_method(method), rtol=rtol, atol=atol, options=options,
                **kwargs)
    final = [o[-1] for o in out]
    if report is not None:
        report(t1, force=True)
    logp = prior_logp(final[0]) + final[1]
    return LikelihoodResult(logp, final[0], dyn.nfe, *(final[2:] if regularize else ()))


class VelocityField(nn.Module):
    """Wrap a genflow model function as the velocity module the likelihood ODE integrates."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.model(x, t).velocity
