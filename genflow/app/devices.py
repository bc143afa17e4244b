"""The device ``genflow sample`` / ``genflow eval`` run on: ``device=auto`` takes the GPU when one is
visible (CUDA, else Apple's MPS), else the CPU. Noise is still drawn from the seeded CPU generator and
moved, so a seed gives the same samples on every device up to floating-point rounding."""

from __future__ import annotations

import torch

from genflow.errors import UserError

CHOICES = "auto, cpu, cuda, cuda:N, mps"


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name) -> torch.device:
    """``auto`` -> cuda / mps / cpu, whichever is there first; anything else must name a usable device."""
    name = str(name).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"device={name!r} is not valid; choose one of {CHOICES}")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"device={name}: no CUDA GPU is visible to PyTorch; use device=cpu or device=auto")
        if device.index is not None and device.index >= count:
            raise UserError(f"device={name}: there are {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    if device.type == "mps" and not _mps_available():
        raise UserError(f"device={name}: Apple's MPS backend is not available; use device=cpu or device=auto")
    return device
