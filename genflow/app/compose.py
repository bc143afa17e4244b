"""genflow runs built in Python from the same Hydra configs as the command line, for notebooks,
scripts, tests and benchmarks:

    cfg, dm, module = build_run(["model=flow_matching", "data=moons"])
    quiet_trainer(2000, cfg=cfg).fit(module, datamodule=dm)
    x, nfe = module.generate(instantiate(cfg.sampler), 1000)
"""

from __future__ import annotations

import lightning as L
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from genflow.app.lightning_notices import silence_lightning_notices
from genflow.app.train import build_data, build_module, trainer_settings
from genflow.modules.base import OPTIMIZATION_KEYS


def compose_config(overrides=(), name: str = "train") -> DictConfig:
    """The config ``genflow <name> <overrides>`` composes; for train, without a logger unless one is asked
    for (the file loggers write under Hydra's run directory, which exists only in a command-line run)."""
    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        quiet = name == "train" and not any(str(o).startswith("logger=") for o in overrides)
        return compose(name, overrides=(["logger=none"] if quiet else []) + list(overrides))


def build_run(overrides=(), seed: int = 0):
    """(config, set-up data module, module) as ``genflow train`` builds them, seeded with ``seed``."""
    L.seed_everything(seed, verbose=False)
    cfg = compose_config([f"seed={seed}", *overrides])
    dm = build_data(cfg)
    dm.setup("fit")
    return cfg, dm, build_module(cfg, dm)


def quiet_trainer(max_steps: int, callbacks=(), cfg: DictConfig | None = None, **settings) -> L.Trainer:
    """A CPU Trainer without logger, checkpoints, progress bar, model summary, validation or Lightning's
    adverts. With ``cfg`` (from ``build_run``) it clips and accumulates as ``cfg.trainer`` says (with
    ``fast_step=true`` the module does, as ``genflow train`` sets it up); ``settings`` override."""
    silence_lightning_notices()
    quiet = dict(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                 enable_model_summary=False, limit_val_batches=0)
    if cfg is not None:
        quiet.update({k: v for k, v in trainer_settings(cfg).items() if k in OPTIMIZATION_KEYS})
    return L.Trainer(max_steps=max_steps, callbacks=list(callbacks), **{**quiet, **settings})
