"""``genflow train``: compose a run with Hydra, fit it with Lightning, leave a checkpoint,
a picture of samples and a metrics file in the run directory."""

from __future__ import annotations

import json
import logging

import hydra
import lightning as L
import torch
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from genflow.app.callbacks import SamplePlotCallback, log_picture, user_callbacks
from genflow.app.checkpoints import AtomicCheckpointIO
from genflow.app.divergence import LossDivergence, sample_warnings
from genflow.app.failures import write_failures
from genflow.app.loss_curve import plot_loss_curve
from genflow.app.interrupts import InterruptCheckpoint, ctrl_c_exits, exit_on_interrupt
from genflow.app.resume import prepare_resume
from genflow.app.values import check_train_values
from genflow.modules.diffusion import DiffusionModule
from genflow.modules.loading import load_module, trusted_targets
from genflow.errors import UserError
from genflow.app.lightning_notices import silence_lightning_notices
from genflow.metrics.sample_distance import sample_distances
from genflow.app.acceleration import apply_compile, apply_tf32
from genflow.modules.base import OPTIMIZATION_KEYS, check_optimization
from genflow.app.plotting import plot_samples
from genflow.app.progress import StepProgress, ThrottledProgressBar
from genflow.app.rundir import keep_earlier_config, register_resolvers
from genflow.app.trackers import publish_final_metrics, register_tracker_resolvers, tracked_run
from genflow.app.runtime import is_rank_zero, report_user_errors, restore_launch_argv, run_dir, save_resolved_config

log = logging.getLogger("genflow.app.train")
register_resolvers()  # ${genflow.new_dir:...}: the run directories in the configs
register_tracker_resolvers()  # ${genflow.run_name:}, ${genflow.sweep_group:}: W&B's run name and group


def build_data(cfg: DictConfig):
    """The configured data, or reflow pairs from a teacher (``teacher=<ckpt>``), loaded here."""
    if not cfg.get("teacher"):
        return instantiate(cfg.data)
    from genflow.data.reflow import ReflowDataModule

    teacher = load_module(cfg.teacher, key="teacher", trusted=trusted_targets(cfg))
    stored_data = (teacher.run_config or {}).get("data")
    source = instantiate(stored_data) if stored_data else None
    with StepProgress(f"reflow pairs ({cfg.reflow.num_pairs} teacher ODE solves, {cfg.reflow.method})",
                      enabled=is_rank_zero()) as bar:
        dm = ReflowDataModule(teacher, source, num_pairs=cfg.reflow.num_pairs, batch_size=cfg.data.get("batch_size", 256),
                              seed=cfg.seed, method=cfg.reflow.method, num_steps=cfg.reflow.num_steps,
                              progress=bar.hook())
        dm.setup()
    return dm


def build_module(cfg: DictConfig, dm):
    """Instantiate the Lightning module from the model/net/path groups and the data's shape."""
    if cfg.conditional and dm.num_classes == 0:
        raise UserError(f"conditional=true needs labelled data; data={cfg.data.get('name', 'file')} has no labels")
    container = lambda node: OmegaConf.to_container(node, resolve=True)  # noqa: E731
    labelled = cfg.conditional or get_class(cfg.model._target_).needs_labels
    module = instantiate(
        cfg.model, net=container(cfg.net), path=container(cfg.path), data_shape=list(dm.data_shape),
        num_classes=dm.num_classes if labelled else 0, _recursive_=False, _convert_="all",
    )
    module.set_normalization(*dm.normalization())
    optimization = check_optimization(**{k: cfg.trainer[k] for k in OPTIMIZATION_KEYS if k in cfg.trainer})
    if cfg.get("fast_step"):
        module.use_fast_step(**optimization)
    apply_compile(module, cfg)
    # the run as a checkpoint stores it; a user's callbacks are not part of the model (nor code a checkpoint may name)
    module.run_config = {k: v for k, v in container(cfg).items() if k != "callbacks"}
    module.label_values = getattr(dm, "label_values", None)  # a data file's own labels, when not 0..K-1
    module.class_names = getattr(dm, "class_names", None)  # an image folder's class names
    return module


def trainer_settings(cfg: DictConfig) -> dict:
    """``cfg.trainer`` as Trainer arguments; with ``fast_step=true`` the clipping and accumulation keys are
    the module's (build_module), since Lightning refuses them for a manually optimised module."""
    settings = OmegaConf.to_container(cfg.trainer, resolve=True)
    return {k: v for k, v in settings.items() if not (cfg.get("fast_step") and k in OPTIMIZATION_KEYS)}


def build_trainer(cfg: DictConfig, out, sampling, dm, extra_callbacks=(), users=()) -> L.Trainer:
    """The configured Trainer with genflow's checkpoints, sample pictures, progress bar and logger.
    Callbacks: genflow's own (checkpoints, pictures, ``extra_callbacks``), then the user's (``users``: the
    ``callbacks`` group, ``user_callbacks``)."""
    silence_lightning_notices()
    ckpt = ModelCheckpoint(dirpath=out / "checkpoints", filename="step_{step:07d}", auto_insert_metric_name=False,
                           save_last=True, every_n_train_steps=cfg.checkpoint_every_n_steps, save_top_k=-1
                           if cfg.keep_all_checkpoints else 1)
    images = len(dm.data_shape) == 3
    callbacks = [ckpt]
    if sampling is not None:
        callbacks.append(SamplePlotCallback(*sampling, out / "samples", None if images else dm.reference(cfg.num_samples),
                                            every_n_steps=cfg.plot_every_n_steps,
                                            num_samples=min(cfg.num_samples, 64 if images else 500)))
    logger = instantiate(cfg.logger) if cfg.logger else False
    callbacks += [*extra_callbacks] + ([LearningRateMonitor(logging_interval="step")] if logger else [])
    settings = trainer_settings(cfg)
    refresh = cfg.get("progress_refresh_per_second", 10)
    # trainer.enable_progress_bar: null is Lightning's default (a bar)
    settings["enable_progress_bar"] = settings.get("enable_progress_bar") is not False and refresh > 0
    if settings["enable_progress_bar"]:
        callbacks.append(ThrottledProgressBar(refresh))
    callbacks += [*users]
    trainer = instantiate(settings, logger=logger, callbacks=callbacks, plugins=[AtomicCheckpointIO()],
                          default_root_dir=str(out))
    if trainer.logger is not None:
        trainer.logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))  # the resolved config
    return trainer


def sample_quality(x, reference, dm) -> dict:
    """Sliced W2 / energy distance for vectors; the digits-classifier Frechet distance for digits."""
    if x.dim() == 2:
        return sample_distances(x, reference)
    if getattr(dm, "name", None) != "digits":
        return {}
    from genflow.metrics.frechet import digits_features, frechet_distance

    return {"fd_digits": frechet_distance(reference, x.clamp(0, 1), digits_features())}


def summarize(cfg: DictConfig, module, sampler, grid, dm, out, trainer=None, warnings=()) -> dict:
    """Final samples with the EMA weights: picture, sample distance to fresh data, metrics.json."""
    g = torch.Generator().manual_seed(cfg.seed)
    with StepProgress(f"final samples ({sampler.name})", enabled=sampler.progress) as bar:
        x, nfe = module.generate(sampler, cfg.num_samples, generator=g, grid=grid, progress=bar.hook())
    x = x.cpu()
    reference = dm.reference(cfg.num_samples)
    picture = plot_samples(x, out / "samples.png", reference, title=f"samples ({nfe} NFE)")
    if trainer is not None:
        log_picture(trainer.logger, picture, module.global_step, key="samples_final")
    prior = module.denormalize(module.path.prior_sample(reference.shape, g, module.device)).cpu()
    metrics = {"step": module.global_step, "nfe": nfe, **sample_quality(x, reference, dm)}
    metrics.update({f"prior_{k}": v for k, v in sample_quality(prior, reference, dm).items()})
    if "fd_digits" in metrics:  # the floor: two disjoint sets of real digits of the same size
        metrics["data_fd_digits"] = sample_quality(dm.reference(2 * len(x))[len(x):], reference, dm)["fd_digits"]
    metrics["warnings"] = [*warnings, *sample_warnings(metrics)]
    for warning in metrics["warnings"]:
        log.warning("%s", warning)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.info("samples: %s", picture)
    log.info("metrics: %s", json.dumps(metrics))
    return metrics


def summarize_classifier(cfg: DictConfig, module, dm, out, warnings=()) -> dict:
    x, y = dm.reference_labelled(cfg.num_samples)
    metrics = {"step": module.global_step, **{f"accuracy_t{t}": module.accuracy(x, y, t) for t in (0.01, 0.3, 0.6, 0.9)}}
    metrics["warnings"] = list(warnings)
    for warning in metrics["warnings"]:
        log.warning("%s", warning)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.info("metrics: %s", json.dumps(metrics))
    return metrics


@ctrl_c_exits
@report_user_errors
def train(cfg: DictConfig) -> dict:
    check_train_values(cfg)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    restore_launch_argv()
    out = run_dir()
    with write_failures(out):
        return fit_and_summarize(cfg, out)


def fit_and_summarize(cfg: DictConfig, out) -> dict:
    dm = build_data(cfg)
    dm.setup("fit")
    module = build_module(cfg, dm)
    generative = isinstance(module, DiffusionModule)
    if cfg.get("teacher"):
        module.denoiser.load_state_dict(dm.teacher.ema.module.state_dict(), strict=False)
        module.ema.module.load_state_dict(dm.teacher.ema.module.state_dict(), strict=False)
    sampling = None
    if generative:
        sampling = instantiate(cfg.sampler), instantiate(cfg.grid) if cfg.get("grid") else None
        module.time_grid(*sampling)  # refuses a sampler or grid that does not apply, before training
    users = user_callbacks(cfg)  # built (and refused) before anything is written
    resume, applied = (prepare_resume(cfg.resume, module.run_config, dm.data_shape) if cfg.resume else (None, []))
    if is_rank_zero():  # once every input is checked: a refused run leaves the directory it resumes as it was
        keep_earlier_config(out / "config.yaml")  # a run resumed into its own directory
        save_resolved_config(cfg, out / "config.yaml")
    interrupt, divergence = InterruptCheckpoint(out / "checkpoints"), LossDivergence()
    trainer = build_trainer(cfg, out, sampling, dm, [interrupt, divergence, *applied], users)
    apply_tf32(trainer.strategy.root_device, cfg.get("tf32", True))
    with tracked_run(trainer.logger):  # a W&B run ends with its job
        with exit_on_interrupt(trainer, interrupt):
            trainer.fit(module, datamodule=dm, ckpt_path=resume)
        if not trainer.is_global_zero:
            return {}
        log.info("checkpoint: %s", out / "checkpoints" / "last.ckpt")
        curve = plot_loss_curve(out / "metrics.csv", out / "loss_curve.png")  # logger=csv's file
        if curve is not None:
            log.info("loss curve: %s", curve)
        if not generative:
            metrics = summarize_classifier(cfg, module, dm, out, divergence.warnings())
        else:
            module.to(trainer.strategy.root_device)  # Lightning hands the module back on the CPU
            metrics = summarize(cfg, module, *sampling, dm, out, trainer, divergence.warnings())
        publish_final_metrics(trainer.logger, OmegaConf.to_container(cfg, resolve=True), metrics)
        return metrics


@report_user_errors
def objective_value(cfg: DictConfig, metrics: dict) -> float | None:
    """The metric a Hydra sweeper optimises (``optimize_metric``), or None."""
    if cfg.optimize_metric is None or not metrics:
        return None
    if cfg.optimize_metric not in metrics:
        raise UserError(f"optimize_metric={cfg.optimize_metric} is not in metrics.json; choose one of: "
                        f"{', '.join(k for k, v in metrics.items() if isinstance(v, (int, float)))}")
    return float(metrics[cfg.optimize_metric])


@hydra.main(version_base=None, config_path="pkg://genflow.conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    return objective_value(cfg, train(cfg))
