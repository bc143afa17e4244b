"""``genflow.load(run_or_ckpt)``: a trained model in Python, sampled by the code of ``genflow sample``.

    model = genflow.load("outputs/2026-11-28/10-00-00_ddpm_moons")
    x = model.sample(1000, sampler="ddim", num_steps=50, seed=0)         # data units, on the CPU
    x = model.sample(64, guidance="cfg", scale=3, label=2)               # a conditional model

The checkpoint is read as ``genflow sample`` reads it (``torch.load(weights_only=True)``, the weights'
checksum, the allow-list of targets, ``trust_targets``), and each ``sample`` call composes the
``genflow sample`` config from genflow's config groups with Hydra (``sampler=ddim sampler.num_steps=50
guidance=cfg ...``), so a sampler, grid or option is named and checked exactly as on the command line.
"""

from __future__ import annotations

import os

import torch
from omegaconf import DictConfig, open_dict

from genflow.app.devices import resolve_device
from genflow.errors import UserError
from genflow.guidance import named_label
from genflow.modules.loading import load_module


def _value(v) -> str:
    """A Python value as a Hydra override value."""
    if isinstance(v, bool):
        return str(v).lower()
    if v is None:
        return "null"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(u) for u in v) + "]"
    return str(v)


def sample_config(overrides: list[str]) -> DictConfig:
    """The config ``genflow sample <overrides>`` composes; Hydra's errors as one-line UserErrors."""
    from genflow.app.compose import compose_config
    from genflow.app.hydra_errors import describe

    try:
        return compose_config(["ckpt=unused", *overrides], name="sample")
    except Exception as e:
        message = describe(e)
        if message is None:
            raise
        raise UserError(message) from None


class Model:
    """A trained genflow model (``genflow.load``). ``module`` is the Lightning module."""

    def __init__(self, module, ckpt: str, trust_targets=()):
        self.module, self.ckpt, self.trust_targets = module, str(ckpt), list(trust_targets)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return tuple(self.module.hparams.data_shape)

    @property
    def device(self) -> torch.device:
        return self.module.device

    @property
    def class_names(self) -> list[str] | None:
        """The class of each label 0..K-1 where the data named them (``data=image_folder``: its folders)."""
        return getattr(self.module, "class_names", None)

    def label(self, label):
        """A label as ``guidance.label`` takes it: a class name becomes its index."""
        if isinstance(label, (list, tuple)):
            return [self.label(v) for v in label]
        return named_label(label, self.class_names)

    def sample(self, n: int, sampler: str | None = None, num_steps: int | None = None, guidance: str | None = None,
               scale: float = 1.0, label=0, classifier_ckpt=None, seed: int = 0, device=None, grid: str | None = None,
               batch_size: int = 10_000, use_ema: bool = True, progress: bool = True,
               **sampler_options) -> torch.Tensor:
        """``n`` samples in data units (denormalised; images in [0, 1]) on the CPU, as ``genflow sample``
        draws them: ``sampler`` / ``grid`` name an option of genflow's config groups (None: the one the
        model was trained with), ``num_steps`` and ``sampler_options`` set ``sampler.<key>``;
        ``guidance="cfg"`` or ``"classifier"`` (with ``classifier_ckpt``) with ``scale`` and ``label`` (a list
        draws n for each label in turn; a class name is accepted where the data named its classes); ``seed``
        seeds the noise (a CPU generator: the same samples on every device up to rounding); ``device`` moves
        the model; ``progress=False`` hides the progress bar."""
        if device is not None:
            self.module.to(resolve_device(device))
        overrides = [f"num_samples={_value(n)}", f"batch_size={_value(batch_size)}", f"seed={_value(seed)}",
                     f"use_ema={_value(use_ema)}", f"trust_targets={_value(self.trust_targets)}"]
        if sampler is not None:
            overrides.append(f"sampler={sampler}")
        if grid is not None:
            overrides.append(f"grid={grid}")
        options = {**({"num_steps": num_steps} if num_steps is not None else {}), **sampler_options,
                   **({"progress": False} if not progress else {})}
        if guidance not in (None, "none"):
            overrides += [f"guidance={guidance}", f"guidance.scale={_value(scale)}",
                          f"guidance.label={_value(self.label(label))}"]
        if sampler is not None:
            overrides += [f"sampler.{k}={_value(v)}" for k, v in options.items()]
        cfg = sample_config(overrides)
        with open_dict(cfg):
            cfg.ckpt = self.ckpt
            if classifier_ckpt is not None and cfg.get("guidance") and "classifier_ckpt" in cfg.guidance.keys():
                cfg.guidance.classifier_ckpt = str(classifier_ckpt)
            if sampler is None and options:  # the trained sampler with these options
                trained = dict((self.module.run_config or {}).get("sampler") or {})
                if not trained:
                    raise UserError("the checkpoint names no sampler; pass sampler=<name>")
                cfg.sampler = {**trained, **options}
        from genflow.app.runtime import job_error
        from genflow.app.sample import draw_samples, sampling_setup

        try:
            module, sampler_, grid_, guidance_ = sampling_setup(cfg, self.module)
        except UserError:
            raise
        except Exception as e:  # a missing value, a config that cannot be instantiated: the CLI's one line
            error = job_error(e)
            if error is None:
                raise
            raise UserError(error.message) from None
        x, _, _ = draw_samples(module, sampler_, grid_, guidance_, cfg.num_samples, cfg.batch_size, cfg.seed,
                               cfg.use_ema)
        return x

    def __repr__(self) -> str:
        return f"genflow.Model({type(self.module).__name__}, data_shape={self.data_shape}, ckpt={self.ckpt!r})"


def load(run_or_ckpt: str | os.PathLike, device="auto", trust_targets=()) -> Model:
    """The model of a run directory (its checkpoints/last.ckpt) or a checkpoint file, loaded as data
    (weights_only, checksum, allow-list; ``trust_targets`` as on the command line) onto ``device``
    (``auto``: the GPU when one is visible)."""
    module = load_module(run_or_ckpt, device=resolve_device(device), trusted=list(trust_targets))
    return Model(module, run_or_ckpt, trust_targets)
