"""Lightning module for every denoising model: DDPM, NCSN, score SDEs and flow matching.

It holds the denoiser (network + path + parameterization) and its EMA, calls the objective in
``training_step`` and a sampler in ``generate``; the mathematics lives in the core modules.
"""

from __future__ import annotations

import math

import torch
from hydra.utils import instantiate
from torch import Tensor

from genflow.prediction import Denoiser
from genflow.errors import UserError
from genflow.prediction import NetworkModel
from genflow.modules.base import GenflowModule
from genflow.modules.ema import make_ema
from genflow.modules.lr_schedules import check_lr_schedule, lr_multiplier
from genflow.samplers.base import Sampler


class DiffusionModule(GenflowModule):
    def __init__(self, net: dict, path: dict, objective: dict, parameterization: str = "eps",
                 data_shape=(2,), num_classes: int = 0, lr: float = 1e-3, weight_decay: float = 0.0,
                 warmup_steps: int = 0, ema_decay: float = 0.999, lr_schedule: str = "constant"):
        super().__init__()
        check_lr_schedule(lr_schedule)
        self.save_hyperparameters()
        self.path = instantiate(path)
        network = instantiate(net, data_shape=tuple(data_shape), num_classes=num_classes)
        self.denoiser = Denoiser(network, self.path, parameterization)
        self.objective = instantiate(objective)
        self.ema = make_ema(self.denoiser, ema_decay)
        self.init_normalization(data_shape)

    @property
    def conditional(self) -> bool:
        return self.hparams.num_classes > 0

    # --- training -----------------------------------------------------------------------
    def loss(self, batch) -> Tensor:
        x, y, *noise = batch
        return self.objective(self.denoiser, self.normalize(x), y if self.conditional else None, *noise)

    def after_optimizer_step(self) -> None:
        self.ema.update_parameters(self.denoiser)

    def configure_optimizers(self):
        """AdamW; linear warm-up, then constant or decayed to zero at the run's last step (lr_schedules)."""
        hp = self.hparams
        opt = self.adamw(self.denoiser.parameters(), hp.lr, hp.weight_decay)
        schedule = hp.get("lr_schedule", "constant")
        total = self.trainer.estimated_stepping_batches if schedule != "constant" else math.inf
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_multiplier(schedule, hp.warmup_steps, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # --- sampling -----------------------------------------------------------------------
    def model_function(self, labels: Tensor | None = None, use_ema: bool = True) -> NetworkModel:
        return NetworkModel(self.ema.module if use_ema else self.denoiser, labels)

    def check_sampler(self, sampler: Sampler) -> None:
        """A continuous normalizing flow has a velocity but no Gaussian path: only the ODE applies."""
        from genflow.samplers.pf_ode import ProbabilityFlowSampler

        if getattr(self.objective, "deterministic_only", False) and not isinstance(sampler, ProbabilityFlowSampler):
            raise UserError(f"sampler {type(sampler).__name__} does not apply to a continuous normalizing flow "
                            "(model=ffjord); use sampler=pf_ode")

    @torch.no_grad()
    def generate(self, sampler: Sampler, n: int, labels: Tensor | None = None, use_ema: bool = True,
                 generator: torch.Generator | None = None, model=None):
        """Draw n samples in data units; returns (x, nfe). ``model`` overrides the model function
        (e.g. a guided one)."""
        self.check_sampler(sampler)
        model = model if model is not None else self.model_function(labels, use_ema)
        shape = (n, *self.hparams.data_shape)
        was_training = self.training
        self.eval()
        result = sampler.sample(model, shape, generator=generator, device=self.device)
        self.train(was_training)
        return self.denormalize(result.x), result.nfe
