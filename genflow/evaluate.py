"""``genflow eval ckpt=... metric=nll|sample_distance``: numbers for a trained model on fresh data.

nll: -log p(x) in nats per example through the PF-ODE / CNF likelihood of ``genflow.likelihood``,
in the data's own units (log p_data(x) = log p_model((x - shift)/scale) - sum log scale), with its
standard error, bits per dimension, and the N(0, I)-prior's NLL for comparison.
"""

from __future__ import annotations

import json
import logging
import math

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from genflow.checkpointing import load_module
from genflow.errors import UserError, check_choice
from genflow.likelihood import VelocityField, log_likelihood
from genflow.metrics.sample_distance import sample_distances
from genflow.runtime import report_user_errors, run_dir, save_resolved_config

log = logging.getLogger("genflow.eval")
METRICS = ("nll", "sample_distance")


def test_data(module, n: int, seed: int):
    config = module.run_config or {}
    if not config.get("data"):
        raise UserError("the checkpoint records no data configuration to evaluate on")
    dm = instantiate(config["data"])
    return dm.reference(n, seed=1000 + seed)


def negative_log_likelihood(module, x: torch.Tensor, cfg: DictConfig) -> dict:
    t0 = cfg.t_eps if cfg.t_eps is not None else (0.0 if module.denoiser.kind == "velocity" else 1e-3)
    field = VelocityField(module.model_function(use_ema=cfg.use_ema))
    g = torch.Generator().manual_seed(cfg.seed)
    logps, nfe = [], 0
    for chunk in x.split(cfg.batch_size):
        res = log_likelihood(field, module.normalize(chunk), module.path.prior_logp, t0, 1.0, cfg.trace,
                             cfg.noise, cfg.method, cfg.num_steps, cfg.rtol, cfg.atol, generator=g)
        logps.append(res.logp.detach())
        nfe += res.nfe
    log_det = torch.log(module.data_scale.double()).sum()
    logp = torch.cat(logps) - log_det
    prior = module.path.prior_logp(module.normalize(x).double()) - log_det
    d = x[0].numel()
    nll = -logp.mean().item()
    return {"nll_nats": nll, "nll_stderr": (logp.std() / math.sqrt(len(logp))).item(),
            "bits_per_dim": nll / (d * math.log(2)), "prior_nll_nats": -prior.mean().item(),
            "t_eps": t0, "trace": cfg.trace, "nfe": nfe, "num_points": len(logp)}


@report_user_errors
def evaluate(cfg: DictConfig) -> dict:
    check_choice("metric", cfg.metric, METRICS)
    if cfg.num_points <= 0:
        raise UserError(f"num_points={cfg.num_points} must be a positive integer")
    module = load_module(cfg.ckpt)
    x = test_data(module, cfg.num_points, cfg.seed)
    if cfg.metric == "nll":
        metrics = negative_log_likelihood(module, x, cfg)
    else:
        sampler = instantiate(module.run_config["sampler"], progress=False)
        samples, nfe = module.generate(sampler, cfg.num_points, use_ema=cfg.use_ema,
                                       generator=torch.Generator().manual_seed(cfg.seed))
        metrics = {"nfe": nfe, **sample_distances(samples, x)}
    out = run_dir()
    save_resolved_config(cfg, out / "config.yaml")
    metrics = {"metric": cfg.metric, "ckpt": str(cfg.ckpt), **metrics}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.info("%s", json.dumps(metrics))
    print(json.dumps(metrics, indent=2))
    return metrics


@hydra.main(version_base=None, config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)
