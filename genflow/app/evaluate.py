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
from omegaconf import DictConfig, OmegaConf

from genflow.app.acceleration import apply_compile
from genflow.modules.loading import load_module, trusted_targets
from genflow.app.devices import resolve_device
from genflow.errors import UserError, check_choice
from genflow.likelihood import VelocityField, log_likelihood
from genflow.metrics.sample_distance import sample_distances
from genflow.app.interrupts import ctrl_c_exits
from genflow.app.progress import StepProgress
from genflow.app.rundir import register_resolvers
from genflow.app.values import check_eval_values
from genflow.app.runtime import report_user_errors, run_dir, save_resolved_config
from genflow.app.sample import trained_or_given

log = logging.getLogger("genflow.eval")
register_resolvers()  # ${genflow.new_dir:...}: the run directories in the configs
METRICS = ("nll", "bpd", "sample_distance", "fid", "fd_digits")


def data_config(module, cfg: DictConfig) -> dict:
    """The data to evaluate on: the ``data`` group given on the command line (``data=file data.path=...``),
    else the checkpoint's own; its ``split`` set to ``cfg.split`` where it has one."""
    given = cfg.get("data")
    if given:
        config = OmegaConf.to_container(given, resolve=True)
    else:
        config = dict((module.run_config or {}).get("data") or {})
        if not config:
            raise UserError("the checkpoint records no data configuration to evaluate on; pass data=file "
                            "data.path=<points.npy> or another data=")
    if "split" in config:
        config["split"] = cfg.split
    return config


def test_data(module, cfg: DictConfig, dequantize: bool = False):
    """num_points examples in data units (all of them when there are fewer), drawn without replacement
    from the evaluation data (``data_config``); 8-bit images uniformly dequantised if asked. The model
    normalises them with the checkpoint's stored statistics, never with statistics of this data."""
    config = data_config(module, cfg)
    dm = instantiate(config)
    shape, expected = tuple(dm.data_shape), tuple(module.hparams.data_shape)
    name = (f"data.path={config['path']!r}" if config.get("path") is not None
            else f"data={config.get('name') or config.get('_target_', '?').rsplit('.', 1)[-1]}")
    if shape != expected:
        hint = (f"pass data.image_size={expected[-1]} data.channels={expected[0]}" if "image_size" in config
                and len(expected) == 3 and expected[1] == expected[2] else "evaluate on data of the model's shape")
        raise UserError(f"{name} holds examples of shape {shape}, but the checkpoint's model takes shape {expected}; "
                        f"{hint}")
    if not dequantize:
        return dm.reference(cfg.num_points, seed=1000 + cfg.seed)
    from genflow.data.images import ImageDataModule, to_unit

    if not isinstance(dm, ImageDataModule):
        raise UserError(f"metric=bpd needs 8-bit images; {name} holds floats (use metric=nll)")
    dm.setup()
    idx = torch.randperm(len(dm.x), generator=torch.Generator().manual_seed(1000 + cfg.seed))[:cfg.num_points]
    return to_unit(dm.x[idx], dequantize=True, generator=torch.Generator().manual_seed(cfg.seed))


def model_samples(module, cfg: DictConfig) -> tuple[torch.Tensor, int]:
    """num_points samples in batches of batch_size with the given sampler (default: the trained one)."""
    from genflow.app.sample import draw_samples

    sampler = trained_or_given(cfg, module, "sampler")
    if sampler is None:
        raise UserError("the checkpoint names no sampler; pass sampler=<name>")
    grid = trained_or_given(cfg, module, "grid")
    module.time_grid(sampler, grid)  # refuses a sampler or grid that does not apply, before any work
    x, _, nfe = draw_samples(module, sampler, grid, None, cfg.num_points, cfg.batch_size, cfg.seed, cfg.use_ema)
    return x, nfe


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
    with StepProgress(f"{cfg.metric} features", total=len(real) + len(fake)) as bar:
        distance = frechet_distance(real, fake, features, device=module.device, progress=bar.advance)
    return {cfg.metric: distance, "nfe": nfe, "num_points": len(fake)}


@torch.no_grad()  # the dynamics take their own gradients; no graph through the whole solve (its memory grows with NFE)
def negative_log_likelihood(module, x: torch.Tensor, cfg: DictConfig) -> dict:
    trace = cfg.trace or ("exact" if x[0].numel() <= 64 else "hutchinson")
    t0 = cfg.t_eps if cfg.t_eps is not None else (0.0 if module.denoiser.kind == "velocity" else 1e-3)
    field = VelocityField(module.model_function(use_ema=cfg.use_ema))
    g = torch.Generator().manual_seed(cfg.seed)
    logps, priors, nfe = [], [], 0
    chunks = x.split(cfg.batch_size)
    with StepProgress(f"likelihood ODE ({cfg.method}, {trace} trace)", total=len(chunks)) as bar:
        for i, chunk in enumerate(chunks):
            z = module.normalize(chunk.to(module.device))
            res = log_likelihood(field, z, module.path.prior_logp, t0, 1.0, trace, cfg.noise, cfg.method,
                                 cfg.num_steps, cfg.rtol, cfg.atol, generator=g, progress=bar.hook(i, t0, 1.0))
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


def compute_metrics(cfg: DictConfig, module=None) -> dict:
    """The numbers ``genflow eval`` reports for ``cfg`` (its metric, data and settings); ``module``: one
    already loaded from cfg.ckpt."""
    check_choice("metric", cfg.metric, METRICS)
    check_eval_values(cfg)
    if module is None:
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
        reference = test_data(module, cfg)
        samples, nfe = model_samples(module, cfg)
        metrics = {"nfe": nfe, **sample_distances(samples.flatten(1), reference.flatten(1))}
    return {"metric": cfg.metric, "ckpt": str(cfg.ckpt), "device": str(module.device), **metrics}


@ctrl_c_exits
@report_user_errors
def evaluate(cfg: DictConfig) -> dict:
    metrics = compute_metrics(cfg)
    out = run_dir()
    save_resolved_config(cfg, out / "config.yaml")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.info("%s", json.dumps(metrics))
    print(json.dumps(metrics, indent=2))
    return metrics


@hydra.main(version_base=None, config_path="pkg://genflow.conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)
