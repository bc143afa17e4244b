"""``genflow sample ckpt=...``: draw samples from a trained model into the run directory."""

from __future__ import annotations

import json
import logging

import hydra
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from genflow.app.acceleration import apply_compile, apply_sampling_precision
from genflow.modules.loading import load_module
from genflow.app.devices import resolve_device
from genflow.errors import UserError
from genflow.guidance import ClassifierFreeGuidance, ClassifierGuidance, check_label
from genflow.modules.classifier import NoisyClassifierModule
from genflow.app.plotting import plot_samples
from genflow.app.runtime import report_user_errors, run_dir, save_resolved_config

log = logging.getLogger("genflow.app.sample")


def guided_models(module, cfg: DictConfig):
    """Yield (label, factory of the model function) for each requested label (one, unguided, if none)."""
    guidance = cfg.guidance if cfg.get("guidance") else None
    if not guidance:
        yield None, lambda: None
        return
    labels = guidance.label if OmegaConf.is_list(guidance.label) else [guidance.label]
    if guidance.name == "cfg":
        if not module.conditional:
            raise UserError("guidance=cfg needs a conditional model; this checkpoint was trained with "
                            "conditional=false (train with conditional=true)")
        for label in labels:
            check_label(label, module.hparams.num_classes)
            yield int(label), (lambda y=int(label): ClassifierFreeGuidance(
                module.model_function(use_ema=cfg.use_ema), torch.tensor(y), guidance.scale))
    elif guidance.name == "classifier":
        classifier = load_module(guidance.classifier_ckpt, key="guidance.classifier_ckpt", device=module.device)
        if not isinstance(classifier, NoisyClassifierModule):
            raise UserError("guidance.classifier_ckpt must be a model=noisy_classifier checkpoint")
        if not (torch.allclose(classifier.data_shift, module.data_shift)
                and torch.allclose(classifier.data_scale, module.data_scale)):
            raise UserError("the classifier was trained on data with another normalisation than the model")
        log_probs = lambda x, t: torch.log_softmax(classifier(x, t), dim=1)  # noqa: E731
        for label in labels:
            check_label(label, classifier.hparams.num_classes)
            yield int(label), (lambda y=int(label): ClassifierGuidance(
                module.model_function(use_ema=cfg.use_ema), log_probs, torch.tensor(y), guidance.scale))
    else:
        raise UserError(f"guidance.name={guidance.name!r} is not valid; choose cfg or classifier")


@report_user_errors
def sample(cfg: DictConfig) -> dict:
    if cfg.num_samples <= 0:
        raise UserError(f"num_samples={cfg.num_samples} must be a positive integer")
    module = load_module(cfg.ckpt, device=resolve_device(cfg.device))
    apply_sampling_precision(module, cfg.get("precision", "32-true"))
    apply_compile(module, cfg)
    if isinstance(module, NoisyClassifierModule):
        raise UserError("ckpt is a noisy classifier; sample from a generative model and pass the classifier "
                        "as guidance.classifier_ckpt")
    trained = module.run_config or {}
    sampler_cfg = cfg.sampler if cfg.get("sampler") else trained.get("sampler")
    if not sampler_cfg:
        raise UserError("the checkpoint names no sampler; pass sampler=<name>")
    sampler = instantiate(sampler_cfg)
    out = run_dir()
    save_resolved_config(cfg, out / "config.yaml")
    g = torch.Generator().manual_seed(cfg.seed)
    chunks, label_chunks, nfe = [], [], 0
    for label, make_model in guided_models(module, cfg):
        for start in range(0, cfg.num_samples, cfg.batch_size):
            n = min(cfg.batch_size, cfg.num_samples - start)
            x, nfe = module.generate(sampler, n, use_ema=cfg.use_ema, generator=g, model=make_model())
            chunks.append(x.cpu())
            label_chunks.append(torch.full((n,), -1 if label is None else label))
    x, labels = torch.cat(chunks), torch.cat(label_chunks)
    np.savez(out / "samples.npz", x=x.numpy(), labels=labels.numpy(), nfe=nfe)
    title = f"{type(sampler).__name__} ({nfe} NFE)" + (f", {cfg.guidance.name} x{cfg.guidance.scale}" if
                                                        cfg.guidance else "")
    picture = plot_samples(x, out / "samples.png", labels=labels if (labels >= 0).any() else None, title=title)
    summary = {"num_samples": len(x), "nfe": nfe, "device": str(module.device), "samples": str(out / "samples.npz"),
               "picture": str(picture)}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    log.info("wrote %s", json.dumps(summary))
    return summary


@hydra.main(version_base=None, config_path="pkg://genflow.conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    sample(cfg)
