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


@ctrl_c_exits
@report_user_errors
def sample(cfg: DictConfig) -> dict:
    check_sample_values(cfg)
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
    guidance = instantiate(cfg.guidance) if cfg.get("guidance") else None
    if guidance is not None:
        guidance.bind(module)
    out = run_dir()
    save_resolved_config(cfg, out / "config.yaml")
    g = torch.Generator().manual_seed(cfg.seed)
    chunks, label_chunks, nfe = [], [], 0
    for label in guidance.groups() if guidance is not None else [None]:
        for start in range(0, cfg.num_samples, cfg.batch_size):
            n = min(cfg.batch_size, cfg.num_samples - start)
            model = None if guidance is None else guidance.wrap(module.model_function(use_ema=cfg.use_ema), label)
            x, nfe = module.generate(sampler, n, use_ema=cfg.use_ema, generator=g, model=model, grid=grid)
            chunks.append(x.cpu())
            label_chunks.append(torch.full((n,), -1 if label is None else label))
    x, labels = torch.cat(chunks), torch.cat(label_chunks)
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
