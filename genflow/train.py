"""``genflow train``: compose a run with Hydra, fit it with Lightning, leave a checkpoint,
a picture of samples and a metrics file in the run directory."""

from __future__ import annotations

import json
import logging

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from genflow.callbacks import SamplePlotCallback
from genflow.checkpointing import AtomicCheckpointIO, resolve_checkpoint
from genflow.errors import UserError
from genflow.metrics.sample_distance import sample_distances
from genflow.plotting import scatter_samples
from genflow.runtime import report_user_errors, run_dir, save_resolved_config

log = logging.getLogger("genflow.train")


def build_data(cfg: DictConfig):
    """The configured data, or reflow pairs from a teacher (``teacher=<ckpt>``)."""
    if not cfg.get("teacher"):
        return instantiate(cfg.data)
    from genflow.data.reflow import ReflowDataModule

    return ReflowDataModule(cfg.teacher, num_pairs=cfg.reflow.num_pairs, batch_size=cfg.data.get("batch_size", 256),
                            seed=cfg.seed, method=cfg.reflow.method, num_steps=cfg.reflow.num_steps)


def build_module(cfg: DictConfig, dm):
    """Instantiate the Lightning module from the model/net/path groups and the data's shape."""
    if cfg.conditional and dm.num_classes == 0:
        raise UserError(f"conditional=true needs labelled data; data={cfg.data.get('name', 'file')} has no labels")
    container = lambda node: OmegaConf.to_container(node, resolve=True)  # noqa: E731
    is_classifier = cfg.model._target_.endswith("NoisyClassifierModule")
    if is_classifier and dm.num_classes < 2:
        raise UserError("model=noisy_classifier needs labelled data with at least two classes")
    module = instantiate(
        cfg.model, net=container(cfg.net), path=container(cfg.path), data_shape=list(dm.data_shape),
        num_classes=dm.num_classes if (cfg.conditional or is_classifier) else 0, _recursive_=False, _convert_="all",
    )
    module.set_normalization(*dm.normalization())
    module.run_config = container(cfg)
    return module


def build_trainer(cfg: DictConfig, out, sampler, dm) -> L.Trainer:
    ckpt = ModelCheckpoint(dirpath=out / "checkpoints", filename="step_{step:07d}", auto_insert_metric_name=False,
                           save_last=True, every_n_train_steps=cfg.checkpoint_every_n_steps, save_top_k=-1
                           if cfg.keep_all_checkpoints else 1)
    plots = SamplePlotCallback(sampler, out / "samples", dm.reference(cfg.num_samples) if len(dm.data_shape) == 1
                               else None, every_n_steps=cfg.plot_every_n_steps, num_samples=min(cfg.num_samples, 500))
    logger = instantiate(cfg.logger) if cfg.logger else False
    return instantiate(cfg.trainer, logger=logger, callbacks=[ckpt, plots], plugins=[AtomicCheckpointIO()],
                       default_root_dir=str(out))


def summarize(cfg: DictConfig, module, sampler, dm, out) -> dict:
    """Final samples with the EMA weights: picture, sample distance to fresh data, metrics.json."""
    g = torch.Generator().manual_seed(cfg.seed)
    x, nfe = module.generate(sampler, cfg.num_samples, generator=g)
    reference = dm.reference(cfg.num_samples)
    picture = scatter_samples(x, out / "samples.png", reference, title=f"samples ({nfe} NFE)")
    metrics = {"step": module.global_step, "nfe": nfe, **sample_distances(x, reference)}
    prior = module.path.prior_sample(reference.shape, g) * module.data_scale + module.data_shift
    metrics.update({f"prior_{k}": v for k, v in sample_distances(prior, reference).items()})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.info("samples: %s", picture)
    log.info("metrics: %s", json.dumps(metrics))
    return metrics


def summarize_classifier(cfg: DictConfig, module, dm, out) -> dict:
    x, y = dm.reference_labelled(cfg.num_samples) if hasattr(dm, "reference_labelled") else (dm.x, dm.y)
    metrics = {"step": module.global_step, **{f"accuracy_t{t}": module.accuracy(x, y, t) for t in (0.01, 0.3, 0.6, 0.9)}}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.info("metrics: %s", json.dumps(metrics))
    return metrics


@report_user_errors
def train(cfg: DictConfig) -> dict:
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    out = run_dir()
    save_resolved_config(cfg, out / "config.yaml")
    dm = build_data(cfg)
    dm.setup("fit")
    module = build_module(cfg, dm)
    if cfg.get("teacher"):
        module.denoiser.load_state_dict(dm.teacher.ema.module.state_dict(), strict=False)
        module.ema.module.load_state_dict(dm.teacher.ema.module.state_dict(), strict=False)
    sampler = instantiate(cfg.sampler)
    trainer = build_trainer(cfg, out, sampler, dm)
    resume = str(resolve_checkpoint(cfg.resume, "resume")) if cfg.resume else None
    trainer.fit(module, datamodule=dm, ckpt_path=resume)
    if not trainer.is_global_zero:
        return {}
    log.info("checkpoint: %s", out / "checkpoints" / "last.ckpt")
    if not hasattr(module, "generate"):
        return summarize_classifier(cfg, module, dm, out)
    return summarize(cfg, module, sampler, dm, out)


@hydra.main(version_base=None, config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    train(cfg)
