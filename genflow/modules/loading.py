"""Restoring a trained genflow module from a checkpoint file or a run directory, with one-line errors."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import torch

from genflow.errors import UserError


def resolve_checkpoint(path: str | os.PathLike, key: str = "ckpt") -> Path:
    """Accept a checkpoint file or a run directory (uses its checkpoints/last.ckpt)."""
    p = Path(str(path)).expanduser()
    if p.is_dir():
        p = p / "checkpoints" / "last.ckpt"
    if not p.is_file():
        raise UserError(f"{key}={str(path)!r}: no such checkpoint file (expected a .ckpt file or a run directory "
                        "with checkpoints/last.ckpt)")
    return p


def load_module(path: str | os.PathLike, key: str = "ckpt", device: torch.device | str = "cpu"):
    """Load a genflow Lightning module from a checkpoint onto ``device``, in eval mode."""
    p = resolve_checkpoint(path, key)
    try:
        raw = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated, not a torch file, ...
        raise UserError(f"{key}={str(p)!r} is not a readable checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    info = raw.get("genflow") if isinstance(raw, dict) else None
    if not info or "module" not in info:
        raise UserError(f"{key}={str(p)!r} is not a genflow checkpoint (no 'genflow' entry)")
    mod_name, _, cls_name = info["module"].rpartition(".")
    try:
        cls = getattr(importlib.import_module(mod_name), cls_name)
        module = cls.load_from_checkpoint(p, map_location="cpu", weights_only=False)
    except (RuntimeError, KeyError, TypeError, AttributeError, ImportError) as e:
        raise UserError(f"{key}={str(p)!r} is incompatible with this genflow ({type(e).__name__}: "
                        f"{str(e).splitlines()[0]})") from None
    return module.to(device).eval()
