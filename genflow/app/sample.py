"""``genflow sample ckpt=...``: draw samples from a trained model into the run directory."""

from __future__ import annotations

import json
import logging

import hydra
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from genflow.app.acceleration import apply_compile, apply_sampling_precision
from genflow.app.devices import resolve_device
from genflow.app.plotting import plot_figures, plot_samples
from genflow.app.progress import StepProgress
from genflow.app.interrupts import ctrl_c_exits
from genflow.app.rundir import register_resolvers
from genflow.app.values import check_sample_values
from genflow.app.runtime import report_user_errors, run_dir, save_resolved_config
from genflow.errors import UserError
from genflow.modules.classifier import NoisyClassifierModule
from genflow.modules.loading import load_module, trusted_targets

log = logging.getLogger("genflow.app.sample")
register_resolvers()  # ${genflow.new_dir:...}: the run directories in the configs


def trained_or_given(cfg: DictConfig, module, group: str):
    """The object of ``group`` (sampler, grid) given on the command line, else the one the model was trained
    with; None when neither names one."""
    node = cfg.get(group) or (module.run_config or {}).get(group)
    return instantiate(node) if node else None


def draw_samples(module, sampler, grid, guidance, num_samples: int, batch_size: int, seed: int,
                 use_ema: bool = True) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(samples in data units on the CPU, their labels (-1: none), NFE per sample): ``num_samples`` per
    guidance label in batches of ``batch_size``, the noise from a CPU generator seeded with ``seed``, with
    a progress bar unless the sampler's ``progress`` is off. ``genflow sample`` and ``genflow.load``."""
    g = torch.Generator().manual_seed(seed)
    labels = guidance.groups() if guidance is not None else [None]
    batches = [(label, start, min(batch_size, num_samples - start)) for label in labels
               for start in range(0, num_samples, batch_size)]
    chunks, label_chunks, nfe = [], [], 0
    with StepProgress(f"sampling {sampler.name}", total=len(batches), enabled=sampler.progress) as bar:
        for i, (label, _, n) in enumerate(batches):
            model = None if guidance is None else guidance.wrap(module.model_function(use_ema=use_ema), label)
            x, nfe = module.generate(sampler, n, use_ema=use_ema, generator=g, model=model, grid=grid,
                                     progress=bar.hook(i))
            chunks.append(x.cpu())
            label_chunks.append(torch.full((n,), -1 if label is None else label))
    return torch.cat(chunks), torch.cat(label_chunks), nfe


def sampling_setup(cfg: DictConfig, module=None):
    """(module, sampler, grid, guidance) that a ``genflow sample`` config names, every value checked;
    ``module``: one already loaded from cfg.ckpt."""
    check_sample_values(cfg)
    if module is None:
        module = load_module(cfg.ckpt, device=resolve_device(cfg.device), trusted=trusted_targets(cfg))
    if isinstance(module, NoisyClassifierModule):
        raise UserError("ckpt is a noisy classifier; sample from a generative model and pass the classifier "
                        "as guidance.classifier_ckpt")
    apply_sampling_precision(module, cfg.get("precision", "32-true"))
    apply_compile(module, cfg)
    sampler = trained_or_given(cfg, module, "sampler")
    if sampler is None:
        raise UserError("the checkpoint names no sampler; pass sampler=<name>")
    grid = trained_or_given(cfg, module, "grid")
    module.time_grid(sampler, grid)  # refuses a sampler or grid that does not apply, before any work
    guidance = instantiate(cfg.guidance) if cfg.get("guidance") else None
    if guidance is not None:
        guidance.bind(module)
    return module, sampler, grid, guidance


@ctrl_c_exits
@report_user_errors
def sample(cfg: DictConfig) -> dict:
    module, sampler, grid, guidance = sampling_setup(cfg)
    out = run_dir()
    save_resolved_config(cfg, out / "config.yaml")
    x, labels, nfe = draw_samples(module, sampler, grid, guidance, cfg.num_samples, cfg.batch_size, cfg.seed,
                                  cfg.use_ema)
    np.savez(out / "samples.npz", x=x.numpy(), labels=labels.numpy(), nfe=nfe)
    title = f"{sampler.name} ({nfe} NFE)" + (f", {guidance.describe()}" if guidance is not None else "")
    picture = plot_samples(x, out / "samples.png", labels=labels if (labels >= 0).any() else None, title=title)
    summary = {"num_samples": len(x), "nfe": nfe, "device": str(module.device), "samples": str(out / "samples.npz"),
               "picture": str(picture)}
    if guidance is not None:
        summary.update(plot_figures(guidance.figures(x, labels), out, title))
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    log.info("wrote %s", json.dumps(summary))
    return summary


@hydra.main(version_base=None, config_path="pkg://genflow.conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    sample(cfg)
