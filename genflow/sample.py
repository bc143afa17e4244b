"""``genflow sample ckpt=...``: draw samples from a trained model into the run directory."""

from __future__ import annotations

import json
import logging

import hydra
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from genflow.checkpointing import load_module
from genflow.errors import UserError
from genflow.plotting import scatter_samples
from genflow.runtime import report_user_errors, run_dir, save_resolved_config

log = logging.getLogger("genflow.sample")


@report_user_errors
def sample(cfg: DictConfig) -> dict:
    if cfg.num_samples <= 0:
        raise UserError(f"num_samples={cfg.num_samples} must be a positive integer")
    module = load_module(cfg.ckpt)
    trained = module.run_config or {}
    sampler_cfg = cfg.sampler if cfg.get("sampler") else trained.get("sampler")
    if not sampler_cfg:
        raise UserError("the checkpoint names no sampler; pass sampler=<name>")
    sampler = instantiate(sampler_cfg)
    out = run_dir()
    save_resolved_config(cfg, out / "config.yaml")
    g = torch.Generator().manual_seed(cfg.seed)
    chunks, nfe = [], 0
    for start in range(0, cfg.num_samples, cfg.batch_size):
        n = min(cfg.batch_size, cfg.num_samples - start)
        x, nfe = module.generate(sampler, n, use_ema=cfg.use_ema, generator=g)
        chunks.append(x)
    x = torch.cat(chunks)
    np.savez(out / "samples.npz", x=x.numpy(), nfe=nfe)
    picture = scatter_samples(x, out / "samples.png", title=f"{type(sampler).__name__} ({nfe} NFE)")
    summary = {"num_samples": int(cfg.num_samples), "nfe": nfe, "samples": str(out / "samples.npz"),
               "picture": str(picture)}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    log.info("wrote %s", json.dumps(summary))
    return summary


@hydra.main(version_base=None, config_path="conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    sample(cfg)
