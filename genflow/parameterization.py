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
