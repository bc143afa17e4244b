"""Distances between two samples: energy distance and sliced Wasserstein-2.

Energy distance (Szekely & Rizzo): E = 2 E|X - Y| - E|X - X'| - E|Y - Y'|, >= 0, zero iff equal laws.
Sliced W2 (POT, Bonneel et al. 2015): sqrt of the mean over random directions of W2^2 of projections.
"""

from __future__ import annotations

import ot
import torch
from torch import Tensor


def energy_distance(x: Tensor, y: Tensor) -> float:
    x, y = x.flatten(1).double(), y.flatten(1).double()
    xy = torch.cdist(x, y).mean()
    xx = torch.cdist(x, x).sum() / (len(x) * (len(x) - 1))
    yy = torch.cdist(y, y).sum() / (len(y) * (len(y) - 1))
    return float(2 * xy - xx - yy)


def sliced_wasserstein(x: Tensor, y: Tensor, n_projections: int = 256, seed: int = 0) -> float:
    x, y = x.flatten(1).double().numpy(), y.flatten(1).double().numpy()
    return float(ot.sliced_wasserstein_distance(x, y, n_projections=n_projections, seed=seed))


def sample_distances(samples: Tensor, reference: Tensor) -> dict[str, float]:
    n = min(len(samples), len(reference), 5000)
    s, r = samples[:n].cpu(), reference[:n].cpu()
    return {"energy_distance": energy_distance(s, r), "sliced_wasserstein": sliced_wasserstein(s, r)}
