"""What every genflow Lightning module shares: data-unit normalisation stored in the checkpoint
and the checkpoint's ``genflow`` entry (module class and the resolved run config)."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor


class GenflowModule(L.LightningModule):
    def init_normalization(self, data_shape) -> None:
        self.register_buffer("data_shift", torch.zeros(tuple(data_shape)))
        self.register_buffer("data_scale", torch.ones(tuple(data_shape)))
        self.run_config: dict | None = None

    def set_normalization(self, shift: Tensor, scale: Tensor) -> None:
        self.data_shift.copy_(shift)
        self.data_scale.copy_(scale)

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.data_shift) / self.data_scale

    def denormalize(self, x: Tensor) -> Tensor:
        return x * self.data_scale + self.data_shift

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        cls = type(self)
        checkpoint["genflow"] = {"module": f"{cls.__module__}.{cls.__qualname__}", "config": self.run_config}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.run_config = checkpoint.get("genflow", {}).get("config")
