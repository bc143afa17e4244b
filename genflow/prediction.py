"""What a network predicts (eps | score | x0 | velocity), how to convert between them, and the model
functions that samplers, guidance and likelihoods call.

Given x_t = alpha x_0 + sigma eps, every prediction is an affine function of the pair (x0, eps):
    eps                             score = -eps / sigma
    x0 = (x - sigma eps) / alpha    velocity = alpha' x0 + sigma' eps   (= f x - 1/2 g^2 score)
and the pair is recovered from any one of them (for velocity: solve the 2x2 system
[x, v] = [[alpha, sigma], [alpha', sigma']] [x0, eps], determinant alpha sigma' - sigma alpha').
Because each conversion is affine in the prediction, mixing predictions (guidance, ensembles)
commutes with conversion.

A model function maps (x, t) to a :class:`Prediction`: one network evaluation, readable in every
parameterization (``pred.eps``, ``pred.x0``, ``pred.score``, ``pred.velocity``), converted on demand
through the path. Networks, the Gaussian-mixture oracle and guided models all present this interface,
so every sampler drives every model, and the model function counts its evaluations (NFE).
Time t is a number, a 0-d tensor (one time for the batch) or a (B,) tensor.
"""

from __future__ import annotations

from functools import cached_property

import torch
from torch import Tensor, nn

from genflow.errors import UserError, check_choice
from genflow.paths.base import GaussianPath, PathCoefficients, as_time, broadcast_like
from genflow.preconditioning import EDMPreconditioning

KINDS = ("eps", "score", "x0", "velocity")
PRECONDITIONINGS = ("none", "edm")


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown parameterization {kind!r}; valid: {', '.join(KINDS)}")


def to_x0_eps(pred: Tensor, kind: str, x: Tensor, c: PathCoefficients) -> tuple[Tensor, Tensor]:
    """Recover (x0, eps) from a prediction of ``kind`` at x, with coefficients ``c`` shaped like x.
    x0 from eps or score divides by alpha: undefined where alpha = 0 (t = 1 on a flow path)."""
    check_kind(kind)
    if kind == "velocity":
        det = c.det
        return (c.d_sigma * x - c.sigma * pred) / det, (c.alpha * pred - c.d_alpha * x) / det
    if kind == "x0":
        return pred, (x - c.alpha * pred) / c.sigma
    eps = pred if kind == "eps" else -c.sigma * pred
    return (x - c.sigma * eps) / c.alpha, eps


def from_x0_eps(x0: Tensor, eps: Tensor, kind: str, x: Tensor, t, path: GaussianPath) -> Tensor:
    """Express the pair (x0, eps) as a prediction of ``kind`` at (x, t)."""
    return Prediction(x, as_time(t, x), path, x0=x0, eps=eps).as_kind(kind)


def convert(pred: Tensor, src: str, dst: str, x: Tensor, t, path: GaussianPath) -> Tensor:
    """Convert a prediction from parameterization ``src`` to ``dst`` at (x, t)."""
    check_kind(dst)
    return Prediction(x, as_time(t, x), path, src, pred).as_kind(dst)


def regression_target(x0: Tensor, eps: Tensor, kind: str, x: Tensor, t, path: GaussianPath) -> Tensor:
    """The conditional target a network of ``kind`` regresses onto for the pair (x0, eps)."""
    return from_x0_eps(x0, eps, kind, x, t, path)


class Prediction:
    """A prediction at (x, t) readable as eps, score, x0 or velocity; conversions are computed once, on
    first use, and need no more path coefficients than they use (eps <-> score: sigma only).

    Built from one raw output of a ``kind`` or from an exact pair (x0, eps)."""

    def __init__(self, x: Tensor, t: Tensor, path: GaussianPath, kind: str | None = None, raw: Tensor | None = None,
                 x0: Tensor | None = None, eps: Tensor | None = None):
        self.x, self.t, self.path, self.kind, self.raw = x, t, path, kind, raw
        if kind is None:
            if x0 is None or eps is None:
                raise ValueError("a Prediction needs a kind and its raw output, or the pair (x0, eps)")
            self.__dict__["pair"] = (x0, eps)
        else:
            check_kind(kind)

    @cached_property
    def coefficients(self) -> PathCoefficients:
        return self.path.coefficients(self.t).like(self.x)

    @cached_property
    def sigma_t(self) -> Tensor:
        return broadcast_like(self.path.sigma(self.t), self.x)

    @cached_property
    def pair(self) -> tuple[Tensor, Tensor]:
        return to_x0_eps(self.raw, self.kind, self.x, self.coefficients)

    @cached_property
    def eps(self) -> Tensor:
        if self.kind == "eps":
            return self.raw
        if self.kind == "score":
            return -self.sigma_t * self.raw
        return self.pair[1]

    @cached_property
    def score(self) -> Tensor:
        if self.kind == "score":
            return self.raw
        return -self.eps / self.sigma_t

    @cached_property
    def x0(self) -> Tensor:
        return self.raw if self.kind == "x0" else self.pair[0]

    @cached_property
    def velocity(self) -> Tensor:
        if self.kind == "velocity":
            return self.raw
        c = self.coefficients
        return c.d_alpha * self.x0 + c.d_sigma * self.eps

    def as_kind(self, kind: str) -> Tensor:
        check_kind(kind)
        return getattr(self, kind)


class Denoiser(nn.Module):
    """A network with its Gaussian path and parameterization: ``Denoiser(x_t, t, y)`` returns the raw
    prediction of kind ``eps | score | x0 | velocity``. For ``score`` the network output is divided by
    sigma(t) (Song & Ermon 2020, technique 3), so the network itself predicts the unit-scale -eps and
    training stays well conditioned. ``preconditioning="edm"`` wraps the network in EDM's
    preconditioning (genflow.preconditioning; kind x0). ``sigma_data`` is the data's standard deviation
    (EDM's preconditioning and weighting). The network always receives one time per sample.

    On a zero-terminal-SNR path (alpha(1) = 0) eps and score are refused: x0 = (x - sigma eps)/alpha is
    undefined at t = 1, where eps = x itself is a trivial target (Lin et al. 2024 train v-prediction)."""

    def __init__(self, net: nn.Module, path: GaussianPath, kind: str, preconditioning: str = "none",
                 sigma_data: float = 1.0):
        super().__init__()
        check_choice("model.parameterization", kind, KINDS)
        check_choice("model.preconditioning", preconditioning, PRECONDITIONINGS)
        if preconditioning == "edm" and kind != "x0":
            raise UserError(f"model.preconditioning=edm makes the network an x0 denoiser (EDM's D(x; sigma)); "
                            f"set model.parameterization=x0, not {kind}")
        if kind in ("eps", "score") and path.zero_terminal_snr:
            raise UserError(f"model.parameterization={kind} is ill-posed on a zero-terminal-SNR schedule "
                            "(alpha(1) = 0: x0 = (x - sigma eps)/alpha is undefined at t = 1); "
                            "use model.parameterization=velocity or x0")
        if not float(sigma_data) > 0:
            raise UserError(f"model.sigma_data={sigma_data} must be positive (0.5 for images in [-1, 1], 1 for "
                            "standardised data, or auto)")
        self.net, self.path, self.kind = net, path, kind
        self.sigma_data = float(sigma_data)
        self.preconditioning = EDMPreconditioning(self.sigma_data) if preconditioning == "edm" else None

    def forward(self, x: Tensor, t, y: Tensor | None = None) -> Tensor:
        t = as_time(t, x)
        net_t = t.expand(x.shape[0]) if t.dim() == 0 else t
        if self.preconditioning is not None:
            return self.preconditioning.denoise(self.net, self.path, x, t, net_t, y)
        out = self.net(x, net_t, y)
        if self.kind == "score":
            out = out / broadcast_like(self.path.sigma(t), out)
        return out


class ModelFunction:
    """Base: subclasses set ``path`` and ``kind`` and implement ``raw(x, t)``, or override ``predict``."""

    path: GaussianPath
    kind: str

    def __init__(self):
        self.nfe = 0

    def raw(self, x: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def raw_labelled(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        """Prediction given per-sample labels y (-1: the null label); conditional models only."""
        raise UserError(f"{type(self).__name__} is not a conditional model")

    def predict(self, x: Tensor, t: Tensor) -> Prediction:
        return Prediction(x, t, self.path, self.kind, self.raw(x, t))

    def __call__(self, x: Tensor, t) -> Prediction:
        """The prediction at (x, t); one function evaluation."""
        self.nfe += 1
        return self.predict(x, as_time(t, x))


class NetworkModel(ModelFunction):
    """A trained denoiser network, optionally conditioned on fixed labels ``y``."""

    def __init__(self, denoiser: Denoiser, labels: Tensor | None = None):
        super().__init__()
        self.denoiser, self.labels = denoiser, labels
        self.path, self.kind = denoiser.path, denoiser.kind

    def raw(self, x: Tensor, t: Tensor) -> Tensor:
        return self.denoiser(x, t, self.labels)

    def raw_labelled(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        if getattr(self.denoiser.net, "labels", None) is None:
            raise UserError("classifier-free guidance needs a conditional model (train with conditional=true)")
        return self.denoiser(x, t, y)


class ThresholdedModel(ModelFunction):
    """x0 clipping (Ho et al. 2020's clip_denoised) and dynamic thresholding (Saharia et al. 2022) around
    a model function: x0_hat is clipped to [-c, c] ("static"), or per sample scaled by
    s = max(quantile(|x0_hat|, p), c) and clipped to [-s, s] then divided by s / c ("dynamic"); eps is
    then re-derived, eps = (x - alpha x0) / sigma, so every parameterization agrees with the clipped x0."""

    def __init__(self, model: ModelFunction, mode: str, value: float = 1.0, percentile: float = 0.995):
        super().__init__()
        self.model, self.mode, self.value, self.percentile = model, mode, float(value), float(percentile)
        self.path, self.kind = model.path, model.kind

    def predict(self, x: Tensor, t: Tensor) -> Prediction:
        pred = self.model.predict(x, t)
        x0 = pred.x0
        if self.mode == "dynamic":
            s = torch.quantile(x0.detach().flatten(1).abs().float(), self.percentile, dim=1).to(x0.dtype)
            s = broadcast_like(s.clamp_min(self.value), x0)
            x0 = x0.clamp(-s, s) * (self.value / s)
        else:
            x0 = x0.clamp(-self.value, self.value)
        eps = (x - pred.coefficients.alpha * x0) / pred.coefficients.sigma
        return Prediction(x, t, self.path, x0=x0, eps=eps)
