"""Time- (and label-) conditioned MLP for vector data: the workhorse of the 2D experiments."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genflow.nets.embeddings import LabelEmbedding, SinusoidalEmbedding


class MLP(nn.Module):
    """h = SiLU(W [x, emb(t) (+ emb(y))]) ... -> output of the data's shape."""

    def __init__(self, data_shape, hidden: int = 256, depth: int = 3, time_dim: int = 64,
                 num_classes: int = 0, out_shape=None, time_scale: float = 1000.0):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.out_shape = tuple(out_shape) if out_shape is not None else self.data_shape
        d_in, d_out = math.prod(self.data_shape), math.prod(self.out_shape)
        self.time = nn.Sequential(SinusoidalEmbedding(time_dim, time_scale), nn.Linear(time_dim, time_dim), nn.SiLU())
        self.labels = LabelEmbedding(num_classes, time_dim) if num_classes > 0 else None
        layers, width = [], d_in + time_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, d_out))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        cond = self.time(t)
        if self.labels is not None:
            cond = cond + self.labels(y, x.shape[0], x.device)
        out = self.body(torch.cat([x.flatten(1), cond], dim=1))
        return out.view(x.shape[0], *self.out_shape)
