"""Conditioning embeddings: sinusoidal time features (Vaswani et al. 2017 / Ho et al. 2020)
and a learned label embedding with an extra "null" label for classifier-free guidance."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SinusoidalEmbedding(nn.Module):
    """emb(t)_i = [sin(s t w_i), cos(s t w_i)], w_i = 10000^{-i/(d/2-1)}, s = ``scale`` (t in [0, 1])."""

    def __init__(self, dim: int, scale: float = 1000.0):
        super().__init__()
        half = dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half) / max(half - 1, 1))
        self.register_buffer("freqs", freqs, persistent=False)
        self.scale = scale

    def forward(self, t: Tensor) -> Tensor:
        arg = self.scale * t.float()[:, None] * self.freqs[None]
        return torch.cat([arg.sin(), arg.cos()], dim=-1)


class LabelEmbedding(nn.Module):
    """Embedding of labels 0..K-1 plus the null label K (used when y is None or y == -1)."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes + 1, dim)

    def forward(self, y: Tensor | None, batch: int, device) -> Tensor:
        if y is None:
            y = torch.full((batch,), self.num_classes, device=device, dtype=torch.long)
        y = torch.where(y < 0, torch.full_like(y, self.num_classes), y)
        return self.embed(y)
