"""Checkpoint I/O that never leaves a truncated file, and loading with clear errors.

``AtomicCheckpointIO`` writes to a temporary file in the same folder, fsyncs it and renames it
over the target (``os.replace`` is atomic on POSIX), so a killed write keeps the previous
``last.ckpt`` intact.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from genflow.errors import UserError


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


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
