"""Conversions between what a network predicts: eps, score, x0 or velocity.

Given x_t = alpha x_0 + sigma eps, every prediction is an affine function of the pair (x0, eps):
    eps                             score = -eps / sigma
    x0 = (x - sigma eps) / alpha    velocity = alpha' x0 + sigma' eps   (= f x - 1/2 g^2 score)
and the pair is recovered from any one of them (for velocity: solve the 2x2 system
[x, v] = [[alpha, sigma], [alpha', sigma']] [x0, eps], determinant alpha sigma' - sigma alpha').
Because each conversion is affine in the prediction, mixing predictions (guidance, ensembles)
commutes with conversion.
"""

from __future__ import annotations

from torch import Tensor

from genflow.paths.base import GaussianPath, broadcast_like, collapse_uniform

KINDS = ("eps", "score", "x0", "velocity")


def _coeffs(path: GaussianPath, t: Tensor, x: Tensor):
    return tuple(broadcast_like(c, x) for c in (path.alpha(t), path.sigma(t), path.d_alpha(t), path.d_sigma(t)))


def to_x0_eps(pred: Tensor, kind: str, x: Tensor, t: Tensor, path: GaussianPath) -> tuple[Tensor, Tensor]:
    """Recover (x0, eps) from a prediction of ``kind`` at (x, t)."""
    t = collapse_uniform(t)
    if kind == "velocity":
        a, s, da, ds = _coeffs(path, t, x)
        det = a * ds - s * da
        return (ds * x - s * pred) / det, (a * pred - da * x) / det
    a, s = broadcast_like(path.alpha(t), x), broadcast_like(path.sigma(t), x)
    if kind == "eps":
        return (x - s * pred) / a.clamp_min(1e-8), pred
    if kind == "score":
        eps = -s * pred
        return (x - s * eps) / a.clamp_min(1e-8), eps
    if kind == "x0":
        return pred, (x - a * pred) / s.clamp_min(1e-12)
    raise ValueError(f"unknown parameterization {kind!r}; valid: {', '.join(KINDS)}")


def from_x0_eps(x0: Tensor, eps: Tensor, kind: str, x: Tensor, t: Tensor, path: GaussianPath) -> Tensor:
    """Express the pair (x0, eps) as a prediction of ``kind`` (computing only the coefficients it needs)."""
    t = collapse_uniform(t)
    if kind == "eps":
        return eps
    if kind == "score":
        return -eps / broadcast_like(path.sigma(t), x).clamp_min(1e-12)
    if kind == "x0":
        return x0
    if kind == "velocity":
        return broadcast_like(path.d_alpha(t), x) * x0 + broadcast_like(path.d_sigma(t), x) * eps
    raise ValueError(f"unknown parameterization {kind!r}; valid: {', '.join(KINDS)}")


def convert(pred: Tensor, src: str, dst: str, x: Tensor, t: Tensor, path: GaussianPath) -> Tensor:
    """Convert a prediction from parameterization ``src`` to ``dst`` at (x, t)."""
    if src == dst:
        return pred
    t = collapse_uniform(t)
    # Direct forms that avoid dividing by alpha (which vanishes at t = 1 on flow paths).
    if src == "eps" and dst == "score":
        return -pred / broadcast_like(path.sigma(t), x).clamp_min(1e-12)
    if src == "score" and dst == "eps":
        return -broadcast_like(path.sigma(t), x) * pred
    return from_x0_eps(*to_x0_eps(pred, src, x, t, path), dst, x, t, path)


def regression_target(x0: Tensor, eps: Tensor, kind: str, x: Tensor, t: Tensor, path: GaussianPath) -> Tensor:
    """The conditional target a network of ``kind`` regresses onto for the pair (x0, eps)."""
    return from_x0_eps(x0, eps, kind, x, t, path)
