"""The types of the keys of ``train.yaml``, ``sample.yaml``, ``eval.yaml`` and of Lightning's Trainer,
as OmegaConf structured configs, so that Hydra refuses ``trainer.max_steps=abc`` while composing.

The yaml files hold the values and their comments; a field here without a default (``MISSING``) takes
its value from the yaml. The root of each schema is open (``struct`` off while Hydra merges the
defaults list), so a config group, an experiment or a user's ``--config-dir`` may add top-level keys;
Hydra closes the root once composed, so a misspelt key on the command line is still refused.
``TrainerConfig`` lists every argument of ``lightning.pytorch.Trainer`` with Lightning's own default,
except those genflow builds itself (logger, callbacks, plugins, default_root_dir);
``tests/test_configs.py`` checks it against Lightning's signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf


@dataclass
class TrainerConfig:
    """``lightning.pytorch.Trainer``'s arguments. ``Any`` where Lightning takes a union that a YAML
    value cannot be narrowed to without changing its meaning (``limit_val_batches: 1`` is one batch,
    ``1.0`` all of them)."""

    _target_: str = "lightning.pytorch.Trainer"
    accelerator: Any = "auto"
    strategy: Any = "auto"
    devices: Any = "auto"
    num_nodes: int = 1
    precision: Any = None
    fast_dev_run: Any = False
    max_epochs: Optional[int] = None
    min_epochs: Optional[int] = None
    max_steps: int = -1
    min_steps: Optional[int] = None
    max_time: Any = None
    limit_train_batches: Any = None
    limit_val_batches: Any = None
    limit_test_batches: Any = None
    limit_predict_batches: Any = None
    overfit_batches: Any = 0.0
    val_check_interval: Any = None
    check_val_every_n_epoch: Optional[int] = 1
    num_sanity_val_steps: Optional[int] = None
    log_every_n_steps: Optional[int] = None
    enable_checkpointing: Optional[bool] = None
    enable_progress_bar: Optional[bool] = None
    enable_model_summary: Optional[bool] = None
    accumulate_grad_batches: int = 1
    gradient_clip_val: Optional[float] = None  # Lightning: int | float; the same threshold either way
    gradient_clip_algorithm: Optional[str] = None
    deterministic: Any = None
    benchmark: Optional[bool] = None
    inference_mode: bool = True
    use_distributed_sampler: bool = True
    profiler: Any = None
    detect_anomaly: bool = False
    barebones: bool = False
    sync_batchnorm: bool = False
    reload_dataloaders_every_n_epochs: int = 0
    enable_autolog_hparams: bool = True
    model_registry: Optional[str] = None


@dataclass
class ReflowConfig:
    num_pairs: int = MISSING
    method: str = MISSING
    num_steps: int = MISSING


@dataclass
class TrainConfig:
    seed: int = MISSING
    conditional: bool = MISSING
    resume: Optional[str] = MISSING
    teacher: Optional[str] = MISSING
    trust_targets: Any = None
    reflow: ReflowConfig = field(default_factory=ReflowConfig)
    num_samples: int = MISSING
    plot_every_n_steps: int = MISSING
    checkpoint_every_n_steps: int = MISSING
    progress_refresh_per_second: float = MISSING
    keep_all_checkpoints: bool = MISSING
    optimize_metric: Optional[str] = MISSING
    fast_step: bool = False
    compile: bool = False
    compile_mode: str = "default"
    tf32: bool = True
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    # config groups: their options are plain yaml, checked when instantiated
    path: Any = None
    grid: Any = None
    sampler: Any = None
    net: Any = None
    guidance: Any = None
    logger: Any = None
    callbacks: Dict[str, Any] = field(default_factory=dict)  # name -> a Lightning callback's config
    model: Any = None
    data: Any = None


@dataclass
class CheckpointRunConfig:
    """What ``genflow sample`` and ``genflow eval`` share: a trained checkpoint and how to run it."""
    ckpt: str = MISSING
    batch_size: int = MISSING
    seed: int = MISSING
    use_ema: bool = MISSING
    device: str = MISSING
    trust_targets: Any = None
    compile: bool = False
    compile_mode: str = "default"
    sampler: Any = None
    grid: Any = None


@dataclass
class SampleConfig(CheckpointRunConfig):
    num_samples: int = MISSING
    precision: str = "32-true"
    guidance: Any = None


@dataclass
class FidConfig:
    weights: Optional[str] = MISSING
    extractor: Any = None


@dataclass
class EvalConfig(CheckpointRunConfig):
    metric: str = MISSING
    num_points: int = MISSING
    split: str = MISSING
    fid: FidConfig = field(default_factory=FidConfig)
    trace: Optional[str] = MISSING
    noise: str = MISSING
    method: str = MISSING
    num_steps: int = MISSING
    rtol: float = MISSING
    atol: float = MISSING
    t_eps: Optional[float] = MISSING
    data: Any = None  # the data to evaluate on (null: the checkpoint's)


SCHEMAS = {"train_schema": TrainConfig, "sample_schema": SampleConfig, "eval_schema": EvalConfig}


def register() -> None:
    """Put the schemas in Hydra's ConfigStore, where ``defaults: [<name>_schema, ...]`` finds them."""
    store = ConfigStore.instance()
    for name, schema in SCHEMAS.items():
        node = OmegaConf.structured(schema)
        OmegaConf.set_struct(node, False)  # open root: groups and experiments may add top-level keys
        store.store(name=name, node=node)
