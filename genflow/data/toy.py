"""Seeded 2D toy distributions with labels, rescaled to zero mean and unit overall std.

Definitions follow FFJORD's ``toy_data`` (Grathwohl et al. 2019) and scikit-learn's generators.
Labels: mixture component (eight_gaussians), moon, ring, spiral / pinwheel arm, checkerboard
square, swiss-roll segment.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from sklearn import datasets as skd

from genflow.data.vector import VectorDataModule
from genflow.errors import UserError


def _moons(n, rng):
    x, y = skd.make_moons(n, noise=0.05, random_state=rng.integers(2**31))
    return x, y, 2


def _eight_gaussians(n, rng):
    angles = np.arange(8) * np.pi / 4
    centers = 4 * np.stack([np.cos(angles), np.sin(angles)], 1)
    y = rng.integers(0, 8, n)
    return centers[y] + 0.5 * rng.standard_normal((n, 2)), y, 8


def _checkerboard(n, rng):
    x1 = rng.random(n) * 4 - 2
    x2_ = rng.random(n) - rng.integers(0, 2, n) * 2
    x2 = x2_ + (np.floor(x1) % 2)
    x = np.stack([x1, x2], 1) * 2
    col, row = np.floor(x1).astype(int) + 2, np.floor(x2).astype(int) + 2
    return x, (row * 4 + col) // 2, 8


def _swissroll(n, rng):
    x, t = skd.make_swiss_roll(n, noise=1.0, random_state=rng.integers(2**31))
    y = np.digitize(t, np.quantile(t, [0.25, 0.5, 0.75]))
    return x[:, [0, 2]] / 5.0, y, 4


def _circles(n, rng):
    x, y = skd.make_circles(n, factor=0.5, noise=0.08, random_state=rng.integers(2**31))
    return x * 3, y, 2


def _two_spirals(n, rng):
    m = n // 2
    r = np.sqrt(rng.random(m)) * 540 * (2 * np.pi) / 360
    d = np.stack([-np.cos(r) * r + rng.random(m) * 0.5, np.sin(r) * r + rng.random(m) * 0.5], 1)
    x = np.concatenate([d, -d]) / 3 + 0.1 * rng.standard_normal((2 * m, 2))
    y = np.concatenate([np.zeros(m, int), np.ones(m, int)])
    if 2 * m < n:  # odd n: one more point on the first arm
        x, y = np.concatenate([x, x[:1]]), np.concatenate([y, y[:1]])
    return x, y, 2


def _pinwheel(n, rng, k=5):
    radial_std, tangential_std, rate = 0.3, 0.1, 0.25
    y = rng.integers(0, k, n)
    feats = rng.standard_normal((n, 2)) * np.array([radial_std, tangential_std]) + np.array([1.0, 0.0])
    angles = 2 * np.pi * y / k + rate * np.exp(feats[:, 0])
    rot = np.stack([np.cos(angles), -np.sin(angles), np.sin(angles), np.cos(angles)], 1).reshape(-1, 2, 2)
    return 2 * np.einsum("ti,tij->tj", feats, rot), y, k


TOY_SETS = {
    "moons": _moons, "eight_gaussians": _eight_gaussians, "checkerboard": _checkerboard,
    "swissroll": _swissroll, "circles": _circles, "two_spirals": _two_spirals, "pinwheel": _pinwheel,
}


@lru_cache(maxsize=None)
def _standardisation(name: str) -> tuple[np.ndarray, float]:
    x, _, _ = TOY_SETS[name](100_000, np.random.default_rng(12345))
    return x.mean(0), float(x.std())


def make_toy(name: str, n: int, seed: int = 0):
    """Return (x float32 (n, 2), labels int64 (n,), num_classes), standardised per data set."""
    if name not in TOY_SETS:
        raise UserError(f"unknown toy data set {name!r}; valid: {', '.join(TOY_SETS)}")
    x, y, k = TOY_SETS[name](int(n), np.random.default_rng(seed))
    mean, std = _standardisation(name)
    x = (x - mean) / std
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long), k


class ToyDataModule(VectorDataModule):
    def __init__(self, name: str = "moons", num_samples: int = 20_000, batch_size: int = 256, seed: int = 0):
        super().__init__(batch_size, seed)
        self.name, self.num_samples = name, int(num_samples)

    def load(self):
        return make_toy(self.name, self.num_samples, self.seed)

    def reference(self, n: int, seed: int = 1):
        """Fresh samples, independent of the training set."""
        return make_toy(self.name, n, seed=10_000 + seed)[0]

    def reference_labelled(self, n: int, seed: int = 1):
        x, y, _ = make_toy(self.name, n, seed=10_000 + seed)
        return x, y
