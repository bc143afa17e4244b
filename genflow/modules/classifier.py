"""A time-conditioned classifier p(y | x_t, t) trained on noisy samples of a Gaussian path, for
classifier guidance (Dhariwal & Nichol 2021): cross-entropy on x_t = alpha x0 + sigma eps.

It takes the optimisation keys the data presets set for every model: AdamW with a linear warm-up
over ``warmup_steps`` and, when ``ema_decay > 0``, an exponential moving average of the weights
(genflow.modules.ema), which is what guidance and the reported accuracies use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from genflow.errors import UserError
from genflow.modules.base import GenflowModule
from genflow.modules.ema import make_ema
from genflow.modules.lr_schedules import check_lr_schedule


class NoisyClassifierModule(GenflowModule):
    needs_labels = True

    def __init__(self, net: dict, path: dict, data_shape=(2,), num_classes: int = 2, lr: float = 2e-3,
                 weight_decay: float = 0.0, t_eps: float = 1e-3, warmup_steps: int = 0, ema_decay: float = 0.0,
                 lr_schedule: str = "constant"):
        check_lr_schedule(lr_schedule)
        if num_classes < 2:
            raise UserError("model=noisy_classifier needs labelled data with at least two classes")
        if not 0.0 <= float(ema_decay) < 1.0:
            raise UserError(f"model.ema_decay={ema_decay} must be in [0, 1) (0: no moving average)")
        super().__init__()
        self.save_hyperparameters()
        self.path = instantiate(path)
        self.net = instantiate(net, data_shape=tuple(data_shape), num_classes=0, out_shape=[num_classes])
        self.ema = make_ema(self.net, ema_decay) if ema_decay > 0 else None
        self.init_normalization(data_shape)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Logits of p(y | x_t) at time t (x_t in model units), from the trained weights."""
        return self.net(x, t)

    def classify(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Logits from the averaged weights when there are any (what guidance uses), else ``forward``."""
        return self.ema.module(x, t) if self.ema is not None else self.net(x, t)

    def loss(self, batch) -> torch.Tensor:
        x, y, *_ = batch
        x0 = self.normalize(x)
        t = self.path.sample_time(x0.shape[0], self.hparams.t_eps, x0.device)
        xt, _ = self.path.sample_marginal(x0, t)
        return F.cross_entropy(self(xt, t), y)

    def after_optimizer_step(self) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.net)

    def configure_optimizers(self):
        hp = self.hparams
        return self.adamw_with_warmup(self.net.parameters(), hp.lr, hp.weight_decay, hp.warmup_steps,
                                      hp.get("lr_schedule", "constant"))

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, t: float) -> float:
        x0 = self.normalize(x)
        tt = torch.full((len(x0),), float(t), device=x0.device)
        xt, _ = self.path.sample_marginal(x0, tt)
        return (self.classify(xt, tt).argmax(1) == y.to(x0.device)).float().mean().item()
