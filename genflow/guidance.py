"""Guidance: wrappers that turn a model function into a guided one; samplers never know.

Classifier-free (Ho & Salimans 2022), in whatever parameterization the model predicts:
    pred~ = gamma pred(x, y) + (1 - gamma) pred(x, null),
both evaluations in one batched forward pass. Every conversion between eps / score / x0 /
velocity is affine in the prediction, so this is the same guidance in all of them.
Classifier guidance (Dhariwal & Nichol 2021; Song et al. 2021):
    score~(x, t) = score(x, t) + gamma grad_x log p(y | x_t, t).
"""

from __future__ import annotations

import torch
from torch import Tensor

from genflow.errors import UserError
from genflow.prediction import ModelFunction


def batch_labels(labels: Tensor, x: Tensor) -> Tensor:
    """One label per sample of x: a scalar label is broadcast over the batch."""
    labels = labels.to(x.device)
    return labels.expand(x.shape[0]) if labels.dim() == 0 else labels


class ClassifierFreeGuidance(ModelFunction):
    def __init__(self, model: ModelFunction, labels: Tensor, scale: float):
        super().__init__()
        self.model, self.labels, self.scale = model, labels, float(scale)
        self.path, self.kind = model.path, model.kind

    def raw(self, x: Tensor, t: Tensor) -> Tensor:
        y = batch_labels(self.labels, x)
        both = self.model.raw_labelled(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, -1)]))
        cond, uncond = both.chunk(2)
        return self.scale * cond + (1 - self.scale) * uncond


class ClassifierGuidance(ModelFunction):
    """``log_probs(x, t)`` returns log p(y | x_t, t) for every class, shape (B, K)."""

    kind = "score"

    def __init__(self, model: ModelFunction, log_probs, labels: Tensor, scale: float):
        super().__init__()
        self.model, self.log_probs, self.labels, self.scale = model, log_probs, labels, float(scale)
        self.path = model.path

    def raw(self, x: Tensor, t: Tensor) -> Tensor:
        score = self.model(x, t, "score")  # the sampler reads this wrapper's own NFE count
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            logp = self.log_probs(xg, t)
            picked = logp.gather(1, batch_labels(self.labels, x)[:, None]).sum()
            grad = torch.autograd.grad(picked, xg)[0]
        return score + self.scale * grad


def check_label(label: int, num_classes: int, key: str = "guidance.label") -> None:
    if not 0 <= int(label) < num_classes:
        raise UserError(f"{key}={label} is outside the data set's classes 0..{num_classes - 1}")
