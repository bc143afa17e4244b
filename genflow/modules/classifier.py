"""A time-conditioned classifier p(y | x_t, t) trained on noisy samples of a Gaussian path, for
classifier guidance (Dhariwal & Nichol 2021): cross-entropy on x_t = alpha x0 + sigma eps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from genflow.errors import UserError
from genflow.modules.base import GenflowModule


class NoisyClassifierModule(GenflowModule):
    needs_labels = True

    def __init__(self, net: dict, path: dict, data_shape=(2,), num_classes: int = 2, lr: float = 2e-3,
                 weight_decay: float = 0.0, t_eps: float = 1e-3):
        if num_classes < 2:
            raise UserError("model=noisy_classifier needs labelled data with at least two classes")
        super().__init__()
        self.save_hyperparameters()
        self.path = instantiate(path)
        self.net = instantiate(net, data_shape=tuple(data_shape), num_classes=0, out_shape=[num_classes])
        self.init_normalization(data_shape)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Logits of p(y | x_t) at time t (x_t in model units)."""
        return self.net(x, t)

    def loss(self, batch) -> torch.Tensor:
        x, y, *_ = batch
        x0 = self.normalize(x)
        t = self.path.sample_time(x0.shape[0], self.hparams.t_eps, x0.device)
        xt, _ = self.path.sample_marginal(x0, t)
        return F.cross_entropy(self(xt, t), y)

    def configure_optimizers(self):
        return self.adamw(self.parameters(), self.hparams.lr, self.hparams.weight_decay)

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, t: float) -> float:
        x0 = self.normalize(x)
        tt = torch.full((len(x0),), float(t))
        xt, _ = self.path.sample_marginal(x0, tt)
        return (self(xt, tt).argmax(1) == y).float().mean().item()
