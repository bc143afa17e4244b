"""Model functions: what samplers, guidance and likelihoods call.

A model function maps (x, t) to a prediction in any parameterization, converting from the one
it natively produces through its Gaussian path, and counts its function evaluations (NFE).
Networks, the Gaussian-mixture oracle and guided models all present this interface, so every
sampler drives every model.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genflow.errors import UserError
from genflow.parameterization import convert
from genflow.paths.base import GaussianPath


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
