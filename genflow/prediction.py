"""What a network predicts (eps | score | x0 | velocity), how to convert between them, and the model
functions that samplers, guidance and likelihoods call.

Given x_t = alpha x_0 + sigma eps, every prediction is an affine function of the pair (x0, eps):
    eps                             score = -eps / sigma
    x0 = (x - sigma eps) / alpha    velocity = alpha' x0 + sigma' eps   (= f x - 1/2 g^2 score)
and the pair is recovered from any one of them (for velocity: solve the 2x2 system
[x, v] = [[alpha, sigma], [alpha', sigma']] [x0, eps], determinant alpha sigma' - sigma alpha').
Because each conversion is affine in the prediction, mixing predictions (guidance, ensembles)
commutes with conversion.

``Denoiser(x_t, t, y)`` is a network with its path and parameterization; for ``score`` the network
output is divided by sigma(t) (Song & Ermon 2020, technique 3), so the network itself predicts the
unit-scale quantity -eps. A model function maps (x, t) to a prediction in any parameterization and
counts its function evaluations (NFE); networks, the Gaussian-mixture oracle and guided models all
present this interface, so every sampler drives every model.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genflow.errors import UserError, check_choice
from genflow.paths.base import GaussianPath, broadcast_like, collapse_uniform

KINDS = ("eps", "score", "x0", "velocity")


def _coeffs(path: GaussianPath, t: Tensor, x: Tensor):
    """(alpha, sigma, alpha', sigma') at t, shaped to broadcast against x; one time for the whole
    batch (stride 0) is computed on one element."""
    return tuple(broadcast_like(c, x) for c in path.coefficients(collapse_uniform(t)))


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown parameterization {kind!r}; valid: {', '.join(KINDS)}")


def to_x0_eps(pred: Tensor, kind: str, x: Tensor, t: Tensor, path: GaussianPath,
              coeffs=None) -> tuple[Tensor, Tensor]:
    """Recover (x0, eps) from a prediction of ``kind`` at (x, t)."""
    _check_kind(kind)
    a, s, da, ds = coeffs or _coeffs(path, t, x)
    if kind == "velocity":
        det = a * ds - s * da
        return (ds * x - s * pred) / det, (a * pred - da * x) / det
    if kind == "eps":
        return (x - s * pred) / a.clamp_min(1e-8), pred
    if kind == "score":
        eps = -s * pred
        return (x - s * eps) / a.clamp_min(1e-8), eps
    return pred, (x - a * pred) / s.clamp_min(1e-12)


def from_x0_eps(x0: Tensor, eps: Tensor, kind: str, x: Tensor, t: Tensor, path: GaussianPath,
                coeffs=None) -> Tensor:
    """Express the pair (x0, eps) as a prediction of ``kind`` (no path coefficients for eps and x0)."""
    if kind == "eps":
        return eps
    if kind == "x0":
        return x0
    _check_kind(kind)
    _, s, da, ds = coeffs or _coeffs(path, t, x)
    if kind == "score":
        return -eps / s.clamp_min(1e-12)
    return da * x0 + ds * eps


def convert(pred: Tensor, src: str, dst: str, x: Tensor, t: Tensor, path: GaussianPath) -> Tensor:
    """Convert a prediction from parameterization ``src`` to ``dst`` at (x, t); the path's
    coefficients are computed once (only sigma between eps and score)."""
    if src == dst:
        return pred
    # Direct forms that avoid dividing by alpha (which vanishes at t = 1 on flow paths).
    if {src, dst} == {"eps", "score"}:
        s = broadcast_like(path.sigma(collapse_uniform(t)), x)
        return -pred / s.clamp_min(1e-12) if dst == "score" else -s * pred
    coeffs = _coeffs(path, t, x)
    return from_x0_eps(*to_x0_eps(pred, src, x, t, path, coeffs), dst, x, t, path, coeffs)


def regression_target(x0: Tensor, eps: Tensor, kind: str, x: Tensor, t: Tensor, path: GaussianPath) -> Tensor:
    """The conditional target a network of ``kind`` regresses onto for the pair (x0, eps)."""
    return from_x0_eps(x0, eps, kind, x, t, path)


class Denoiser(nn.Module):
    def __init__(self, net: nn.Module, path: GaussianPath, kind: str):
        super().__init__()
        check_choice("model.parameterization", kind, KINDS)
        self.net, self.path, self.kind = net, path, kind

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        out = self.net(x, t, y)
        if self.kind == "score":
            out = out / broadcast_like(self.path.sigma(collapse_uniform(t)), out)
        return out


class ModelFunction:
    """Base: subclasses set ``path`` and ``kind`` and implement ``raw(x, t)``."""

    path: GaussianPath
    kind: str

    def __init__(self):
        self.nfe = 0

    def raw(self, x: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def raw_labelled(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        """Prediction given per-sample labels y (-1: the null label); conditional models only."""
        raise UserError(f"{type(self).__name__} is not a conditional model")

    def __call__(self, x: Tensor, t: Tensor, kind: str) -> Tensor:
        """Prediction of ``kind`` at (x, t); t is a scalar or a (B,) tensor."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        self.nfe += 1
        return convert(self.raw(x, t), self.kind, kind, x, t, self.path)


class NetworkModel(ModelFunction):
    """A trained denoiser network, optionally conditioned on fixed labels ``y``."""

    def __init__(self, denoiser, labels: Tensor | None = None):
        super().__init__()
        self.denoiser, self.labels = denoiser, labels
        self.path, self.kind = denoiser.path, denoiser.kind

    def raw(self, x: Tensor, t: Tensor) -> Tensor:
        return self.denoiser(x, t, self.labels)

    def raw_labelled(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        if getattr(self.denoiser.net, "labels", None) is None:
            raise UserError("classifier-free guidance needs a conditional model (train with conditional=true)")
        return self.denoiser(x, t, y)
