"""Distances between two samples: energy distance and sliced Wasserstein-2.

Energy distance (Szekely & Rizzo): E = 2 E|X - Y| - E|X - X'| - E|Y - Y'|, >= 0, zero iff equal laws.
Sliced W2 (POT, Bonneel et al. 2015): sqrt of the mean over random directions of W2^2 of projections.
"""

from __future__ import annotations

import ot
import torch
from torch import Tensor


def _distance_sum(x: Tensor, y: Tensor, chunk: int = 2048) -> Tensor:
    """sum_ij |x_i - y_j|, in row chunks so that 10k x 10k pairs fit in memory."""
    return sum(torch.cdist(x[i:i + chunk], y).sum() for i in range(0, len(x), chunk))


def energy_distance(x: Tensor, y: Tensor) -> float:
    x, y = x.flatten(1).double(), y.flatten(1).double()
    xy = _distance_sum(x, y) / (len(x) * len(y))
    xx = _distance_sum(x, x) / (len(x) * (len(x) - 1))
    yy = _distance_sum(y, y) / (len(y) * (len(y) - 1))
    return float(2 * xy - xx - yy)


def sliced_wasserstein(x: Tensor, y: Tensor, n_projections: int = 256, seed: int = 0) -> float:
    x, y = x.flatten(1).double().numpy(), y.flatten(1).double().numpy()
    return float(ot.sliced_wasserstein_distance(x, y, n_projections=n_projections, seed=seed))


def sample_distances(samples: Tensor, reference: Tensor) -> dict[str, float]:
    s, r = samples.cpu(), reference.cpu()
    return {"energy_distance": energy_distance(s, r), "sliced_wasserstein": sliced_wasserstein(s, r)}
