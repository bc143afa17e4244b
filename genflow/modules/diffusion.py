"""Lightning module for every denoising model: DDPM, NCSN, score SDEs and flow matching.

It holds the denoiser (network + path + parameterization) and its EMA, calls the objective in
``training_step`` and a sampler in ``generate``; the mathematics lives in the core modules.
"""

from __future__ import annotations

import torch
from hydra.utils import instantiate
from torch import Tensor

from genflow.errors import UserError
from genflow.prediction import Denoiser, NetworkModel
from genflow.modules.base import GenflowModule
from genflow.modules.ema import make_ema
from genflow.modules.lr_schedules import check_lr_schedule
from genflow.samplers.base import Sampler
from genflow.samplers.grids import Grid, TimeGrid, default_grid


def resolve_sigma_data(sigma_data: float | str, data_shape) -> float:
    """The data's standard deviation in model units: ``auto`` is 0.5 for images (in [-1, 1], EDM's value)
    and 1 for vectors (standardised)."""
    if sigma_data == "auto":
        return 0.5 if len(tuple(data_shape)) == 3 else 1.0
    if isinstance(sigma_data, str):
        raise UserError(f"model.sigma_data={sigma_data!r} must be a positive number or auto")
    return float(sigma_data)


class DiffusionModule(GenflowModule):
    def __init__(self, net: dict, path: dict, objective: dict, parameterization: str = "eps",
                 data_shape=(2,), num_classes: int = 0, lr: float = 1e-3, weight_decay: float = 0.0,
                 warmup_steps: int = 0, ema_decay: float = 0.999, preconditioning: str = "none",
                 sigma_data: float | str = "auto", lr_schedule: str = "constant"):
        super().__init__()
        check_lr_schedule(lr_schedule)
        self.save_hyperparameters()
        self.path = instantiate(path)
        network = instantiate(net, data_shape=tuple(data_shape), num_classes=num_classes)
        self.denoiser = Denoiser(network, self.path, parameterization, preconditioning,
                                 resolve_sigma_data(sigma_data, data_shape))
        self.objective = instantiate(objective)
        getattr(self.objective, "check", lambda path: None)(self.path)
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
        hp = self.hparams
        return self.adamw_with_warmup(self.denoiser.parameters(), hp.lr, hp.weight_decay, hp.warmup_steps,
                                      hp.get("lr_schedule", "constant"))

    # --- sampling -----------------------------------------------------------------------
    def model_function(self, labels: Tensor | None = None, use_ema: bool = True) -> NetworkModel:
        return NetworkModel(self.ema.module if use_ema else self.denoiser, labels)

    @property
    def data_range(self) -> float | None:
        """c such that the data lies in [-c, c] in model units: images (stored in [0, 1], normalised to
        [-1, 1]) have 1; vectors have no known range."""
        return 1.0 if len(self.hparams.data_shape) == 3 else None

    def check_sampler(self, sampler: Sampler, grid: Grid | None = None) -> None:
        """A continuous normalizing flow has a velocity but no Gaussian path: only the ODE applies, and no
        Tweedie denoising step."""
        from genflow.samplers.pf_ode import ProbabilityFlowSampler

        if not self.objective.deterministic_only:
            return
        if not isinstance(sampler, ProbabilityFlowSampler):
            raise UserError(f"sampler {type(sampler).__name__} does not apply to a continuous normalizing flow "
                            "(model=ffjord); use sampler=pf_ode")
        if grid is not None and grid.denoise:
            raise UserError("grid.denoise=true does not apply to a continuous normalizing flow (model=ffjord): it "
                            "has no Gaussian path to denoise; use grid.denoise=false")

    def time_grid(self, sampler: Sampler, grid: Grid | None = None) -> TimeGrid:
        """The times ``sampler`` walks on this model's path: ``grid`` with the sampler's number of steps, or the
        path's default grid (with the grid settings an older checkpoint stored on its sampler)."""
        grid = grid if grid is not None else default_grid(self.path, sampler.legacy_grid)
        self.check_sampler(sampler, grid)
        return grid(self.path, sampler.num_steps, sampler)

    @torch.no_grad()
    def generate(self, sampler: Sampler, n: int, labels: Tensor | None = None, use_ema: bool = True,
                 generator: torch.Generator | None = None, model=None, grid: Grid | None = None, progress=None):
        """Draw n samples in data units; returns (x, nfe). ``model`` overrides the model function (e.g. a
        guided one); ``grid`` the time grid (genflow.samplers.grids); ``progress(t)`` sees the time."""
        times = self.time_grid(sampler, grid)
        model = model if model is not None else self.model_function(labels, use_ema)
        x = self.path.prior_sample((n, *self.hparams.data_shape), generator, self.device)
        was_training = self.training
        self.eval()
        try:
            result = sampler.sample(model, x, times, generator, progress, self.data_range)
        finally:
            self.train(was_training)
        return self.denormalize(result.x), result.nfe
