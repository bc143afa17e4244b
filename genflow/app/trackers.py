"""What the experiment trackers get from a run besides its losses: the final ``metrics.json`` values
(TensorBoard's hparams table, the W&B run summary) and W&B's run name, group and tags.

``logger=wandb`` names its run after the run directory (``<time>_<model>_<data>``, or
``<job>_<model>_<data>`` in a sweep), groups the jobs of one sweep under the sweep directory's name
(``<date>/<time>``) and tags the run with the chosen model, data and sampler
(``genflow/conf/logger/wandb.yaml``), through the resolvers registered here.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

from omegaconf import OmegaConf


def final_numbers(metrics: dict) -> dict[str, float]:
    """The finite numbers of ``metrics.json`` (step, NFE, distances, accuracies), under ``final/``."""
    return {f"final/{k}": float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def publish_final_metrics(logger, config: dict, metrics: dict) -> dict[str, float]:
    """Send the final metrics to the experiment logger: TensorBoard gets the run's hyperparameters
    (the resolved config, flattened) with these metrics, the HPARAMS tab's row for this run; W&B gets
    them in the run summary. Other loggers (CSV) keep ``metrics.json`` only. Returns what was sent."""
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

    numbers = final_numbers(metrics)
    if not numbers:
        return {}
    if isinstance(logger, TensorBoardLogger):
        logger.log_hyperparams(config, metrics=numbers)
        logger.finalize("success")  # the writer was closed when fit ended: flush the reopened one
    elif isinstance(logger, WandbLogger):
        logger.experiment.summary.update(numbers)
    else:
        return {}
    return numbers


@contextmanager
def tracked_run(logger):
    """Around a job's training and summary: its W&B run ends with the job (exit code 1 if it raised),
    so the next job of a sweep run in the same process (Hydra's basic launcher) starts a run of its own
    instead of logging into this one (``WandbLogger`` reuses a run in progress)."""
    from lightning.pytorch.loggers import WandbLogger

    if not isinstance(logger, WandbLogger):
        yield
        return
    try:
        yield
    except BaseException:
        logger.experiment.finish(exit_code=1)
        raise
    logger.experiment.finish()


def run_name() -> str:
    """The run directory's name: ``<time>_<model>_<data>``, or ``<job>_<model>_<data>`` in a sweep."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir).name


def sweep_group() -> str | None:
    """In a sweep, the sweep directory's last two parts (``<date>/<time>``); None for a single run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    sweep_dir = Path(hydra_cfg.runtime.output_dir).parent
    return "/".join(sweep_dir.parts[-2:])


def register_tracker_resolvers() -> None:
    """``${genflow.run_name:}`` and ``${genflow.sweep_group:}`` (not cached: one process runs a sweep's jobs)."""
    for name, fn in (("genflow.run_name", run_name), ("genflow.sweep_group", sweep_group)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
