"""Speed options of ``genflow train | sample | eval``, applied by the app layer to a built module (never
on import):

- ``compile=true``: ``torch.compile`` of the networks, in place (training and sampling; checkpoints
  are unchanged), with ``compile_mode``: ``default`` | ``reduce-overhead`` (CUDA graphs: for small
  networks whose step is bound by kernel launches) | ``max-autotune`` | ``max-autotune-no-cudagraphs``.
- ``tf32`` (train, on CUDA only): float32 matrix products and convolutions on TF32 tensor cores
  (``torch.set_float32_matmul_precision("high")``, ``torch.backends.cudnn.allow_tf32``); ``false``
  keeps strict float32.
- ``precision`` (sample): ``32-true`` | ``bf16-mixed``, the network's forward under bfloat16 autocast
  (on a CPU too); the sampler's own arithmetic stays in float32.
"""

from __future__ import annotations

import torch

from genflow.errors import check_choice

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
SAMPLING_PRECISIONS = {"32-true": None, "32": None, "bf16-mixed": torch.bfloat16}


def compile_options(enabled, mode: str = "default") -> dict | None:
    """torch.compile's keyword arguments for ``compile`` / ``compile_mode``, or None when off."""
    check_choice("compile_mode", mode, COMPILE_MODES)
    if not enabled:
        return None
    return {} if mode == "default" else {"mode": mode}


def apply_compile(module, cfg) -> None:
    """Compile ``module``'s networks as the run's ``compile`` / ``compile_mode`` keys say."""
    options = compile_options(cfg.get("compile", False), cfg.get("compile_mode", "default"))
    if options is not None:
        module.compile_networks(**options)


def apply_sampling_precision(module, precision) -> None:
    precision = str(precision)
    check_choice("precision", precision, tuple(SAMPLING_PRECISIONS))
    if SAMPLING_PRECISIONS[precision] is not None:
        module.autocast_networks(SAMPLING_PRECISIONS[precision])


def apply_tf32(device: torch.device, enabled: bool) -> None:
    """TF32 tensor cores for float32 work when ``device`` is a CUDA device and ``enabled``; else nothing."""
    if enabled and torch.device(device).type == "cuda":
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.allow_tf32 = True
