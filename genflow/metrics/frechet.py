"""Fréchet distances between feature Gaussians (Heusel et al. 2017):

    FD = |mu_r - mu_g|^2 + tr(S_r + S_g - 2 (S_r S_g)^{1/2}),

computed by torchmetrics' ``FrechetInceptionDistance`` in float64. FID uses torch-fidelity's
Inception-v3 from a local weights file (nothing is downloaded); any other ``nn.Module`` that maps
[0, 1] images to feature vectors can stand in, e.g. ``DigitsFeatures``, a classifier trained on the
spot on scikit-learn's digits, for a Fréchet distance that needs no download at all.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance

from genflow.errors import UserError

INCEPTION_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                 "weights-inception-2015-12-05-6726825d.pth")


def inception_fid(weights: str | None) -> FrechetInceptionDistance:
    """FID with the 2048-d pool features of the TF-ported Inception-v3 read from ``weights``."""
    if not weights:
        raise UserError(f"metric=fid needs the Inception weights file: pass fid.weights=<path> (download "
                        f"{INCEPTION_URL} once on a machine that is online)")
    if not Path(weights).expanduser().is_file():
        raise UserError(f"fid.weights={weights} is not a file (expected {INCEPTION_URL.rsplit('/', 1)[1]})")
    try:
        return FrechetInceptionDistance(feature=2048, normalize=True,
                                        feature_extractor_weights_path=str(Path(weights).expanduser()))
    except Exception as err:  # a corrupt or foreign file
        raise UserError(f"fid.weights={weights} could not be loaded as Inception weights: {err}") from err


class GrayToRGB(nn.Module):
    """Inception expects three channels: repeat a grey channel."""

    def forward(self, x: Tensor) -> Tensor:
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def frechet_distance(real: Tensor, fake: Tensor, metric: FrechetInceptionDistance | nn.Module,
                     batch_size: int = 256, device: torch.device | str = "cpu", progress=None) -> float:
    """FD between the features of two sets of [0, 1] images (N, C, H, W); ``metric`` is a
    torchmetrics FID or a feature network (which must accept these images); features on ``device``;
    ``progress(n)`` is called after each batch of n images."""
    if isinstance(metric, nn.Module) and not isinstance(metric, FrechetInceptionDistance):
        if torch.device(device).type != "cpu":  # a copy: a cached feature network stays on the CPU
            metric = copy.deepcopy(metric)
        metric = FrechetInceptionDistance(feature=metric, normalize=True, input_img_size=tuple(real.shape[1:]))
    metric = metric.set_dtype(torch.float64).to(device)
    rgb = GrayToRGB() if not metric.used_custom_model else nn.Identity()
    with torch.no_grad():
        for images, is_real in ((real, True), (fake, False)):
            for chunk in images.clamp(0, 1).split(batch_size):
                metric.update(rgb(chunk.float().to(device)), real=is_real)
                if progress is not None:
                    progress(len(chunk))
    return float(metric.compute())


class DigitsFeatures(nn.Module):
    """Penultimate layer (64-d) of an MLP classifier fitted, with a fixed seed, to scikit-learn's
    8x8 digits in [0, 1] (400 full-batch Adam steps, ~2 s)."""

    num_features = 64

    def __init__(self, steps: int = 400, seed: int = 0):
        super().__init__()
        from genflow.data.images import DigitsDataModule, to_unit

        dm = DigitsDataModule()
        dm.setup()
        x, y = to_unit(dm.x).flatten(1), dm.y
        g = torch.Generator().manual_seed(seed)
        self.features = nn.Sequential(nn.Linear(64, 128), nn.SiLU(), nn.Linear(128, 64), nn.SiLU())
        self.classify = nn.Linear(64, 10)
        for p in self.parameters():  # seeded init, independent of the global RNG
            nn.init.normal_(p, std=(1.0 / p.shape[-1]) ** 0.5 if p.dim() > 1 else 0.01, generator=g)
        opt = torch.optim.Adam(self.parameters(), lr=3e-3)
        with torch.enable_grad():
            for _ in range(steps):
                opt.zero_grad()
                nn.functional.cross_entropy(self.classify(self.features(x)), y).backward()
                opt.step()
        self.accuracy = (self.classify(self.features(x)).argmax(1) == y).float().mean().item()
        self.requires_grad_(False).eval()

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != (1, 8, 8):
            raise UserError(f"metric=fd_digits needs 1x8x8 digit images; these are {tuple(x.shape[1:])}")
        return self.features(x.flatten(1).to(self.classify.weight.dtype))


@lru_cache(maxsize=1)
def digits_features() -> DigitsFeatures:
    return DigitsFeatures()
