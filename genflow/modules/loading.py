"""Restoring a trained genflow module from a checkpoint file or a run directory, safely and with
one-line errors.

Every file is hostile until checked:
1. ``torch.load(weights_only=True)``: tensors, numbers, strings and containers only; a pickled
   object that would run code is refused, naming what it tried (e.g. ``GLOBAL posix.system``).
2. The weights' SHA-256 checksum (``genflow.modules.integrity``) must match; older checkpoints
   without one load as "unverified".
3. Every ``_target_`` in the stored configs must be genflow's own class or trusted
   (``genflow.modules.trust``); the module class too.
4. The module is rebuilt from its stored hyperparameters and the weights are loaded strictly
   (no ``LightningModule.load_from_checkpoint``, which unpickles with ``weights_only=False``
   when asked and instantiates whatever the hyperparameters name).
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import torch

from genflow.errors import UserError
from genflow.modules.integrity import verify_weights
from genflow.modules.trust import check_config, module_class


def resolve_checkpoint(path: str | os.PathLike, key: str = "ckpt") -> Path:
    """Accept a checkpoint file or a run directory (uses its checkpoints/last.ckpt)."""
    p = Path(str(path)).expanduser()
    if p.is_dir():
        p = p / "checkpoints" / "last.ckpt"
    if not p.is_file():
        raise UserError(f"{key}={str(path)!r}: no such checkpoint file (expected a .ckpt file or a run directory "
                        "with checkpoints/last.ckpt)")
    return p


def trusted_targets(cfg) -> list[str]:
    """The run's ``trust_targets``: targets outside genflow that the user lets a checkpoint build."""
    value = cfg.get("trust_targets") if hasattr(cfg, "get") else None
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


def _unpickler_reason(e: Exception) -> str:
    """The line of PyTorch's weights-only message that says what went wrong."""
    boiler = ("Weights only load failed", "Please file an issue", "Check the documentation")
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.strip().startswith(boiler)]
    return lines[0] if lines else "not a checkpoint"


def torch_load_data(path: str | os.PathLike, source: str) -> dict:
    """``torch.load(path, weights_only=True)`` as a dict, or a one-line UserError saying why not."""
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error below says what matters
            warnings.simplefilter("ignore")
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        tried = re.search(r"GLOBAL (\S+)", str(e))
        if tried:
            raise UserError(f"{source} holds Python objects that would run code when loaded ({tried.group(0)}): "
                            "refused; genflow loads checkpoints as data only") from None
        raise UserError(f"{source} is not a readable checkpoint (UnpicklingError: {_unpickler_reason(e)})") from None
    except MemoryError:
        raise UserError(f"{source} is not a readable checkpoint (it asks for more memory than there is)") from None
    except Exception as e:  # truncated, not a torch file, ...
        kind = "" if zipfile.is_zipfile(path) else "not a PyTorch checkpoint archive; "
        raise UserError(f"{source} is not a readable checkpoint ({kind}{type(e).__name__}: {_first_line(e)})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{source} is not a readable checkpoint (it holds a {type(raw).__name__}, not a dict)")
    return raw


def read_checkpoint(path: str | os.PathLike, key: str = "ckpt", trusted=()) -> dict:
    """The contents of a genflow checkpoint (a file or a run directory), loaded as data, its weights'
    checksum verified and every stored ``_target_`` checked."""
    p = resolve_checkpoint(path, key)
    source = f"{key}={str(p)!r}"
    raw = torch_load_data(p, source)
    info = raw.get("genflow")
    if not isinstance(info, dict) or "module" not in info:
        raise UserError(f"{source} is not a genflow checkpoint (no 'genflow' entry)")
    verify_weights(raw, source)
    check_config(raw.get("hyper_parameters") or {}, "hyper_parameters", source, trusted)
    check_config(info.get("config") or {}, "genflow.config", source, trusted)
    return raw


def load_module(path: str | os.PathLike, key: str = "ckpt", device: torch.device | str = "cpu", trusted=()):
    """Load a genflow Lightning module from a checkpoint onto ``device``, in eval mode.
    ``trusted``: the user's ``trust_targets`` (targets outside genflow this checkpoint may build)."""
    from genflow.modules.base import GenflowModule

    p = resolve_checkpoint(path, key)
    source = f"{key}={str(p)!r}"
    raw = read_checkpoint(p, key, trusted)
    cls = module_class(raw["genflow"]["module"], source, GenflowModule, trusted)
    hparams = raw.get("hyper_parameters")
    if not isinstance(hparams, dict):
        raise UserError(f"{source} is not a genflow checkpoint (no hyper_parameters)")
    try:
        module = cls(**hparams)
        module.on_load_checkpoint(raw)
        module.load_state_dict(raw["state_dict"], strict=True)
    except UserError:
        raise
    except Exception as e:  # unexpected hyperparameters, a state_dict of another shape, ...
        raise UserError(f"{source} is incompatible with this genflow ({type(e).__name__}: {_first_line(e)})") from None
    return module.to(device).eval()
