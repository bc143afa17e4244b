"""``genflow eval ckpt=... metric=nll|bpd|sample_distance|fid|fd_digits``: numbers for a trained
model on fresh data (the test split where the data has one).

nll: -log p(x) in nats per example through the PF-ODE / CNF likelihood of ``genflow.likelihood``,
in the data's own units (log p_data(x) = log p_model((x - shift)/scale) - sum log scale), with its
standard error, bits per dimension, and the N(0, I)-prior's NLL for comparison.
bpd: for 8-bit images, the same on uniformly dequantised pixels u = (x + U) / 256 in [0, 1]:
bits/dim = nll / (D ln 2) + 8, an upper bound on the discrete data's code length.
fid / fd_digits: Frechet distance of the features of num_points samples and num_points data images
(Inception-v3 from fid.weights, or fid.extractor; the digits classifier for fd_digits).
"""

from __future__ import annotations

import json
import logging
import math

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from genflow.app.acceleration import apply_compile
from genflow.modules.loading import load_module, trusted_targets
from genflow.app.devices import resolve_device
from genflow.errors import UserError, check_choice
from genflow.likelihood import VelocityField, log_likelihood
from genflow.metrics.sample_distance import sample_distances
from genflow.app.interrupts import ctrl_c_exits
from genflow.app.rundir import register_resolvers
from genflow.app.values import check_eval_values
from genflow.app.runtime import report_user_errors, run_dir, save_resolved_config
from genflow.app.sample import trained_or_given

log = logging.getLogger("genflow.eval")
register_resolvers()  # ${genflow.new_dir:...}: the run directories in the configs
METRICS = ("nll", "bpd", "sample_distance", "fid", "fd_digits")


def test_data(module, cfg: DictConfig, dequantize: bool = False):
    """num_points examples in data units from the checkpoint's data (its ``cfg.split`` split when it
    has splits); 8-bit images uniformly dequantised if asked."""
    config = dict((module.run_config or {}).get("data") or {})
    if not config:
        raise UserError("the checkpoint records no data configuration to evaluate on")
    if "split" in config:
        config["split"] = cfg.split
    dm = instantiate(config)
    if not dequantize:
        return dm.reference(cfg.num_points, seed=1000 + cfg.seed)
    from genflow.data.images import to_unit

    dm.setup()
    idx = torch.randperm(len(dm.x), generator=torch.Generator().manual_seed(1000 + cfg.seed))[:cfg.num_points]
    return to_unit(dm.x[idx], dequantize=True, generator=torch.Generator().manual_seed(cfg.seed))


def model_samples(module, cfg: DictConfig) -> tuple[torch.Tensor, int]:
    """num_points samples in batches of batch_size with the given sampler (default: the trained one)."""
    sampler = trained_or_given(cfg, module, "sampler")
    if sampler is None:
        raise UserError("the checkpoint names no sampler; pass sampler=<name>")
    grid = trained_or_given(cfg, module, "grid")
    g = torch.Generator().manual_seed(cfg.seed)
    chunks, nfe = [], 0
    for start in range(0, cfg.num_points, cfg.batch_size):
        x, nfe = module.generate(sampler, min(cfg.batch_size, cfg.num_points - start), use_ema=cfg.use_ema,
                                 generator=g, grid=grid)
        chunks.append(x.cpu())
    return torch.cat(chunks), nfe


def frechet(module, cfg: DictConfig) -> dict:
    from genflow.metrics.frechet import digits_features, frechet_distance, inception_fid

    if len(module.hparams.data_shape) != 3:
        raise UserError(f"metric={cfg.metric} applies to image models; this one models vectors of shape "
                        f"{tuple(module.hparams.data_shape)} (use metric=sample_distance)")
    if cfg.metric == "fd_digits":
        features = digits_features()
    elif cfg.fid.get("extractor"):
        features = instantiate(cfg.fid.extractor)
    else:
        features = inception_fid(cfg.fid.weights)
    real = test_data(module, cfg)
    fake, nfe = model_samples(module, cfg)
    return {cfg.metric: frechet_distance(real, fake, features, device=module.device), "nfe": nfe, "num_points": len(fake)}


@torch.no_grad()  # the dynamics take their own gradients; no graph through the whole solve (its memory grows with NFE)
def negative_log_likelihood(module, x: torch.Tensor, cfg: DictConfig) -> dict:
    trace = cfg.trace or ("exact" if x[0].numel() <= 64 else "hutchinson")
    t0 = cfg.t_eps if cfg.t_eps is not None else (0.0 if module.denoiser.kind == "velocity" else 1e-3)
    field = VelocityField(module.model_function(use_ema=cfg.use_ema))
    g = torch.Generator().manual_seed(cfg.seed)
    logps, priors, nfe = [], [], 0
    for chunk in x.split(cfg.batch_size):
        z = module.normalize(chunk.to(module.device))
        res = log_likelihood(field, z, module.path.prior_logp, t0, 1.0, trace, cfg.noise, cfg.method,
                             cfg.num_steps, cfg.rtol, cfg.atol, generator=g)
        logps.append(res.logp.cpu())
        priors.append(module.path.prior_logp(z.double()).cpu())
        nfe += res.nfe
    log_det = torch.log(module.data_scale.double()).sum().cpu()
    logp = torch.cat(logps) - log_det
    prior = torch.cat(priors) - log_det
    d = x[0].numel()
    nll = -logp.mean().item()
    return {"nll_nats": nll, "nll_stderr": (logp.std() / math.sqrt(len(logp))).item(),
            "bits_per_dim": nll / (d * math.log(2)), "prior_nll_nats": -prior.mean().item(),
            "t_eps": t0, "trace": trace, "nfe": nfe, "num_points": len(logp)}


@ctrl_c_exits
@report_user_errors
def evaluate(cfg: DictConfig) -> dict:
    check_choice("metric", cfg.metric, METRICS)
    check_eval_values(cfg)
    module = load_module(cfg.ckpt, device=resolve_device(cfg.device), trusted=trusted_targets(cfg))
    apply_compile(module, cfg)
    images = len(module.hparams.data_shape) == 3
    if cfg.metric in ("fid", "fd_digits"):
        metrics = frechet(module, cfg)
    elif cfg.metric == "bpd":
        if not images:
            raise UserError("metric=bpd applies to 8-bit image data; use metric=nll for vectors")
        metrics = negative_log_likelihood(module, test_data(module, cfg, dequantize=True), cfg)
        metrics["bits_per_dim"] += 8.0  # -log2 P(x) = -log2 p(u) + D log2 256 for bins of width 1/256
    elif cfg.metric == "nll":
        metrics = negative_log_likelihood(module, test_data(module, cfg), cfg)
    else:
        samples, nfe = model_samples(module, cfg)
        metrics = {"nfe": nfe, **sample_distances(samples.flatten(1), test_data(module, cfg).flatten(1))}
    out = run_dir()
    save_resolved_config(cfg, out / "config.yaml")
    metrics = {"metric": cfg.metric, "ckpt": str(cfg.ckpt), "device": str(module.device), **metrics}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.info("%s", json.dumps(metrics))
    print(json.dumps(metrics, indent=2))
    return metrics


@hydra.main(version_base=None, config_path="pkg://genflow.conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)
