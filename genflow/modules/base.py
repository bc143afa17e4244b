"""What every genflow Lightning module shares: data-unit normalisation stored in the checkpoint
and the checkpoint's ``genflow`` entry (module class, the resolved run config, the RNG state).

Lightning restores weights, optimizer, scheduler, step and the data position; the RNG state
(noise levels, noise, dropout) is restored here when training restarts, so a resumed
single-process run repeats the uninterrupted one. Under DDP every rank other than 0 draws from
its own stream, seeded by (seed, step, rank).

The optimisation step is written out here (Lightning's manual optimisation): subclasses give
``loss(batch)`` and, optionally, ``after_optimizer_step()``. On a CPU, Lightning's loop costs about
1 ms of Python per step with automatic optimisation and 0.5 ms with manual on a trivial model
(benchmarks/README.md, section 2): 10-20% of a toy model's step. Gradient clipping and accumulation come from ``trainer.gradient_clip_val``,
``trainer.gradient_clip_algorithm`` and ``trainer.accumulate_grad_batches`` (see ``OPTIMIZATION_KEYS``),
which ``genflow train`` hands to the module instead of the Trainer.
"""

from __future__ import annotations

import math

import lightning as L
import torch
from lightning.pytorch.plugins.precision import MixedPrecision
from torch import Tensor

from genflow.errors import UserError, check_choice
from genflow.modules.integrity import weights_digest


OPTIMIZATION_KEYS = ("gradient_clip_val", "gradient_clip_algorithm", "accumulate_grad_batches")


class GenflowModule(L.LightningModule):
    #: trains on labels whatever ``conditional`` says (a classifier)
    needs_labels = False
    automatic_optimization = False
    gradient_clip_val: float | None = None
    gradient_clip_algorithm: str | None = None  # "norm" (Lightning's default) or "value"
    accumulate_grad_batches: int = 1

    def configure_optimization(self, gradient_clip_val=None, gradient_clip_algorithm=None,
                               accumulate_grad_batches=1) -> None:
        """The Trainer's clipping and accumulation settings, applied by ``training_step``."""
        if gradient_clip_algorithm is not None:
            check_choice("trainer.gradient_clip_algorithm", gradient_clip_algorithm, ("norm", "value"))
        if int(accumulate_grad_batches) < 1:
            raise UserError(f"trainer.accumulate_grad_batches={accumulate_grad_batches}: must be >= 1")
        self.gradient_clip_val = float(gradient_clip_val) if gradient_clip_val else None
        self.gradient_clip_algorithm = gradient_clip_algorithm
        self.accumulate_grad_batches = int(accumulate_grad_batches)

    def loss(self, batch) -> Tensor:
        raise NotImplementedError

    def after_optimizer_step(self) -> None:
        """Called after every optimizer step (before any callback can checkpoint it): e.g. the EMA update."""

    def training_step(self, batch, batch_idx):
        """loss / k, backward; every k-th batch (k = accumulate_grad_batches) and at the end of an
        epoch: clip, optimizer step, zero the gradients, scheduler step, ``after_optimizer_step``."""
        loss = self.loss(batch)
        if not math.isfinite(loss.item()):  # one host sync, as bool(torch.isfinite(loss)), 7 us cheaper
            raise FloatingPointError(f"loss is {loss.item()} at step {self.global_step}")
        self.log_train_loss(loss)
        k = self.accumulate_grad_batches
        self.manual_backward(loss / k if k > 1 else loss)
        if (batch_idx + 1) % k == 0 or self.trainer.is_last_batch:
            opt = self.optimizers()
            if self.gradient_clip_val:
                self.clip_gradients(opt, self.gradient_clip_val, self.gradient_clip_algorithm)
            opt.step()
            opt.zero_grad(set_to_none=True)
            scheduler = self.lr_schedulers()
            if scheduler is not None:
                scheduler.step()
            self.after_optimizer_step()
        return loss.detach()

    def init_normalization(self, data_shape) -> None:
        self.register_buffer("data_shift", torch.zeros(tuple(data_shape)))
        self.register_buffer("data_scale", torch.ones(tuple(data_shape)))
        self.run_config: dict | None = None

    def set_normalization(self, shift: Tensor, scale: Tensor) -> None:
        self.data_shift.copy_(shift)
        self.data_scale.copy_(scale)

    def log_train_loss(self, loss: Tensor) -> None:
        """Log the loss on the steps Lightning writes (every trainer.log_every_n_steps): self.log costs
        about as much as a small network's forward, so calling it every step slows toy runs by ~10%."""
        if (self.global_step + 1) % max(self.trainer.log_every_n_steps, 1) == 0:
            self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False)

    def adamw(self, params, lr: float, weight_decay: float) -> torch.optim.AdamW:
        """AdamW, fused (one kernel for all tensors: 4x faster steps on CPU for small nets) where supported.
        Not under mixed precision (``16-mixed``, ``bf16-mixed``): Lightning refuses to clip the gradients of
        an optimizer that unscales them itself, as a fused one does."""
        params = list(params)
        mixed = isinstance(getattr(self._trainer, "precision_plugin", None), MixedPrecision)
        fused = not mixed and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.data_shift) / self.data_scale

    def denormalize(self, x: Tensor) -> Tensor:
        return x * self.data_scale + self.data_shift

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        cls = type(self)
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            rng["cuda"] = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        checkpoint["genflow"] = {"module": f"{cls.__module__}.{cls.__qualname__}", "config": self.run_config,
                                 "rng": rng, "weights_sha256": weights_digest(checkpoint["state_dict"]),
                                 "label_values": getattr(self, "label_values", None),
                                 "class_names": getattr(self, "class_names", None)}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """The stored run config and label values fill a module rebuilt from the checkpoint; a run
        that resumes keeps its own (it was configured from the current config and data)."""
        info = checkpoint.get("genflow", {})
        if getattr(self, "run_config", None) is None:
            self.run_config = info.get("config")
        if getattr(self, "label_values", None) is None:
            self.label_values = info.get("label_values")
        if getattr(self, "class_names", None) is None:
            self.class_names = info.get("class_names")
        self._rng_to_restore = info.get("rng")

    def on_train_start(self) -> None:
        rng = getattr(self, "_rng_to_restore", None)
        if self.global_rank > 0:
            seed = hash((torch.initial_seed(), self.global_step, self.global_rank)) % 2**63
            torch.manual_seed(seed)
        elif rng is not None:
            torch.set_rng_state(rng["torch"])
            if rng.get("cuda") is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"], self.device)
        self._rng_to_restore = None
