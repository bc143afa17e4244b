"""Lightning callbacks: periodic sample pictures during training (rank 0 only), also sent to the
experiment logger (TensorBoard image, W&B image)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from genflow.app.plotting import plot_samples


class SamplePlotCallback(L.Callback):
    """Every ``every_n_steps`` optimizer steps draw samples with the EMA weights and save a picture (once
    per step: under gradient accumulation a step spans several batches)."""

    def __init__(self, sampler, grid, out_dir, reference=None, every_n_steps: int = 1000, num_samples: int = 1000):
        self.sampler, self.grid, self.out_dir, self.reference = sampler, grid, Path(out_dir), reference
        self.every_n_steps, self.num_samples = int(every_n_steps), int(num_samples)
        self.last_step = None

    def on_train_start(self, trainer, pl_module):
        self.last_step = trainer.global_step  # a resumed run's step is already drawn

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if step == self.last_step:  # no optimizer step in this batch
            return
        self.last_step = step
        if self.every_n_steps <= 0 or step % self.every_n_steps or not trainer.is_global_zero:
            return
        x, _ = pl_module.generate(self.sampler, self.num_samples, generator=torch.Generator().manual_seed(0),
                                  grid=self.grid)
        picture = plot_samples(x, self.out_dir / f"step_{step:07d}.png", self.reference, title=f"samples, step {step}")
        log_picture(trainer.logger, picture, step)


def log_picture(logger, picture: Path, step: int, key: str = "samples") -> None:
    """Send a PNG to TensorBoard or W&B; other loggers keep only the file."""
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

    if isinstance(logger, TensorBoardLogger):
        import matplotlib.image

        logger.experiment.add_image(key, matplotlib.image.imread(picture)[..., :3], step, dataformats="HWC")
    elif isinstance(logger, WandbLogger):
        logger.log_image(key=key, images=[str(picture)], step=step)


#: Lightning callbacks that fail in Trainer.fit without a logger
NEEDS_LOGGER = (L.pytorch.callbacks.DeviceStatsMonitor, L.pytorch.callbacks.LearningRateMonitor)


def user_callbacks(cfg) -> list[L.Callback]:
    """The ``callbacks`` group: every entry ``<name>: {_target_: ..., ...}`` built with Hydra's
    ``instantiate``, to run after genflow's own callbacks (``callbacks=early_stopping``,
    ``+callbacks.mine._target_=my_pkg.MyCallback``; ``callbacks.<name>=null`` leaves one out)."""
    from hydra.utils import instantiate

    from genflow.errors import UserError

    built = []
    for name, node in (cfg.get("callbacks") or {}).items():
        if node is None:
            continue
        if not hasattr(node, "get") or not node.get("_target_"):
            raise UserError(f"callbacks.{name} has no _target_: give the class, e.g. "
                            f"+callbacks.{name}._target_=lightning.pytorch.callbacks.EarlyStopping")
        callback = instantiate(node, _convert_="all")  # plain dicts and lists, as Lightning expects
        if not isinstance(callback, L.Callback):
            raise UserError(f"callbacks.{name}._target_={node._target_} is not a Lightning callback "
                            "(a subclass of lightning.pytorch.Callback)")
        if isinstance(callback, NEEDS_LOGGER) and not (cfg.get("logger") or {}):
            raise UserError(f"callbacks.{name} ({type(callback).__name__}) logs to the experiment logger and "
                            "logger=none has none; choose logger=csv, tensorboard or wandb")
        built.append(callback)
    return built
