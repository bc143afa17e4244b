"""Standard normal noise for samplers, priors and trace estimators, drawn where the generator lives.

A CPU generator (what ``genflow sample`` / ``eval`` seed) draws on the CPU and the noise is copied to
the device, so one seed gives the same samples on CPU and GPU; a generator on the device, or none,
draws there directly, with no copy and no host synchronisation per step."""

from __future__ import annotations

import torch
from torch import Tensor


def standard_normal(shape, generator: torch.Generator | None = None, device=None, dtype=None) -> Tensor:
    """z ~ N(0, I) of ``shape`` on ``device``, from ``generator`` (on its own device) if one is given."""
    source = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, dtype=dtype, device=source).to(device)
