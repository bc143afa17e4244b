"""What every genflow Lightning module shares: data-unit normalisation stored in the checkpoint, the
checkpoint's ``genflow`` entry (module class, the resolved run config, the RNG state), the
optimisation step, a watch on non-finite losses, and the networks' speed options.

Optimisation is Lightning's (automatic optimisation): ``Trainer(gradient_clip_val=...,
gradient_clip_algorithm=..., accumulate_grad_batches=...)`` mean what Lightning says, on the command
line (``trainer.*``) and in Python. Subclasses give ``loss(batch)`` and, optionally,
``after_optimizer_step()`` (e.g. the EMA update), which runs once per optimizer step, after the step,
also under gradient accumulation. AdamW is fused (one kernel for all tensors) except under a gradient
scaler (``16-mixed``); under ``bf16-mixed`` there is nothing to unscale and ``configure_gradient_clipping``
clips a fused AdamW's gradients itself (Lightning's mixed-precision plugin refuses any optimizer that
could unscale its own gradients).

``use_fast_step(...)`` (``genflow train fast_step=true``) is an opt-in for small models on a CPU:
the module writes the step itself (Lightning's manual optimisation), with the same clipping and
accumulation semantics, which halves Lightning's per-step cost on a toy model (benchmarks/README.md,
section 2). Lightning refuses ``gradient_clip_val`` / ``accumulate_grad_batches`` on the Trainer of
a manually optimised module, so ``genflow train`` hands those keys to the module instead.

A non-finite loss stops training with ``FloatingPointError("loss is nan at step 7")``. On a CPU each
loss is checked as it comes (reading it costs nothing there); on an accelerator the first bad step is
recorded on the device, without a host sync, and read on logging steps, before any checkpoint is
written and at the end of training, so a non-finite model is never saved.
"""

from __future__ import annotations

import functools
import math

import lightning as L
import torch
from torch import Tensor, nn

from genflow.errors import UserError, check_choice
from genflow.modules.integrity import weights_digest
from genflow.modules.lr_schedules import lr_multiplier


OPTIMIZATION_KEYS = ("gradient_clip_val", "gradient_clip_algorithm", "accumulate_grad_batches")


def check_optimization(gradient_clip_val=None, gradient_clip_algorithm=None, accumulate_grad_batches=1) -> dict:
    """The Trainer's clipping and accumulation settings, validated (one-line UserError), as a dict."""
    if gradient_clip_algorithm is not None:
        check_choice("trainer.gradient_clip_algorithm", gradient_clip_algorithm, ("norm", "value"))
    if int(accumulate_grad_batches) < 1:
        raise UserError(f"trainer.accumulate_grad_batches={accumulate_grad_batches}: must be >= 1")
    if gradient_clip_val is not None and float(gradient_clip_val) < 0:
        raise UserError(f"trainer.gradient_clip_val={gradient_clip_val}: must be >= 0 (or null: no clipping)")
    return {"gradient_clip_val": float(gradient_clip_val) if gradient_clip_val else None,
            "gradient_clip_algorithm": gradient_clip_algorithm or "norm",
            "accumulate_grad_batches": int(accumulate_grad_batches)}


def _autocast_forward(forward, dtype: torch.dtype):
    @functools.wraps(forward)
    def run(x, *args, **kwargs):
        with torch.autocast(x.device.type, dtype=dtype):
            out = forward(x, *args, **kwargs)
        return out.to(x.dtype)

    return run


def _copied_output(forward):
    @functools.wraps(forward)
    def run(*args, **kwargs):
        return forward(*args, **kwargs).clone()

    return run


class GenflowModule(L.LightningModule):
    #: trains on labels whatever ``conditional`` says (a classifier)
    needs_labels = False
    fast_step: dict | None = None  # the fast path's clipping / accumulation settings, when it is on
    check_loss_at_once: bool | None = None  # None: at once on a CPU, deferred on an accelerator

    # --- optimisation -----------------------------------------------------------------------
    def use_fast_step(self, gradient_clip_val=None, gradient_clip_algorithm=None, accumulate_grad_batches=1) -> None:
        """Opt in to genflow's own optimisation step with these settings (the Trainer's keys, same meaning);
        the Trainer must then leave them unset (Lightning's rule for manual optimisation)."""
        self.fast_step = check_optimization(gradient_clip_val, gradient_clip_algorithm, accumulate_grad_batches)
        self.automatic_optimization = False

    def loss(self, batch) -> Tensor:
        raise NotImplementedError

    def after_optimizer_step(self) -> None:
        """Called after every optimizer step (before any callback can checkpoint it): e.g. the EMA update."""

    def training_step(self, batch, batch_idx):
        loss = self.loss(batch)
        self.watch_loss(loss)
        self.log_train_loss(loss)
        if self.automatic_optimization:
            return loss
        return self._fast_training_step(loss, batch_idx)

    def optimizer_step(self, *args, **kwargs) -> None:
        super().optimizer_step(*args, **kwargs)
        self.after_optimizer_step()

    def _fast_training_step(self, loss: Tensor, batch_idx: int) -> Tensor:
        """loss / k, backward; every k-th batch (k = accumulate_grad_batches) and at the end of an epoch:
        clip, optimizer step, zero the gradients, scheduler step, ``after_optimizer_step``: what Lightning's
        automatic optimisation does with the same Trainer keys."""
        k = self.fast_step["accumulate_grad_batches"]
        self.manual_backward(loss / k if k > 1 else loss)
        if (batch_idx + 1) % k == 0 or self.trainer.is_last_batch:
            opt = self.optimizers()
            self.configure_gradient_clipping(opt, self.fast_step["gradient_clip_val"],
                                             self.fast_step["gradient_clip_algorithm"])
            opt.step()
            opt.zero_grad(set_to_none=True)
            scheduler = self.lr_schedulers()
            if scheduler is not None:
                scheduler.step()
            self.after_optimizer_step()
        return loss.detach()

    def on_fit_start(self) -> None:
        if self.fast_step is not None and self._grad_scaler() is not None:
            raise UserError("fast_step=true does not support trainer.precision=16-mixed (a gradient scaler); "
                            "use bf16-mixed or fast_step=false")

    def _grad_scaler(self):
        """The precision plugin's gradient scaler (16-mixed), or None (no Trainer yet, 32-true, bf16-mixed)."""
        try:
            trainer = self.trainer
        except RuntimeError:  # not attached to a Trainer
            return None
        return getattr(getattr(trainer, "precision_plugin", None), "scaler", None)

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Lightning's clipping, except for an optimizer that unscales its own gradients (fused AdamW) when
        no gradient scaler is at work (32-true, bf16-mixed): its gradients are the true ones, so they are
        clipped here (Lightning's mixed-precision plugin refuses such an optimizer whatever the precision)."""
        if not gradient_clip_val:
            return
        if getattr(optimizer, "_step_supports_amp_scaling", False) and self._grad_scaler() is None:
            params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            if gradient_clip_algorithm == "value":
                torch.nn.utils.clip_grad_value_(params, gradient_clip_val)
            else:
                torch.nn.utils.clip_grad_norm_(params, gradient_clip_val)
            return
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def adamw(self, params, lr: float, weight_decay: float) -> torch.optim.AdamW:
        """AdamW, fused (one kernel for all tensors) where supported,
        except under a gradient scaler (16-mixed), whose unscaling must come before clipping."""
        params = list(params)
        fused = self._grad_scaler() is None and all(p.device.type in ("cpu", "cuda") and p.is_floating_point()
                                                    for p in params)
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)

    # --- non-finite losses --------------------------------------------------------------------
    def watch_loss(self, loss: Tensor) -> None:
        """Stop on a non-finite loss, naming its step: at once on a CPU, else at the next ``check_finite``."""
        at_once = self.check_loss_at_once if self.check_loss_at_once is not None else loss.device.type == "cpu"
        if at_once:
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"loss is {loss.item()} at step {self.global_step}")
            return
        first = getattr(self, "_first_bad", None)
        if first is None or first[0].device != loss.device:
            first = self._first_bad = (torch.full((), -1, dtype=torch.long, device=loss.device),
                                       torch.zeros((), device=loss.device))
        step, value = first
        new = torch.logical_and(step < 0, ~torch.isfinite(loss.detach()))
        step.copy_(torch.where(new, self.global_step, step))
        value.copy_(torch.where(new, loss.detach().float(), value))

    def check_finite(self) -> None:
        """Raise if a recorded loss was non-finite (one host sync; called on logging steps, before a
        checkpoint is written and at the end of training)."""
        first = getattr(self, "_first_bad", None)
        if first is not None and int(first[0]) >= 0:
            raise FloatingPointError(f"loss is {first[1].item()} at step {int(first[0])}")

    def on_train_end(self) -> None:
        self.check_finite()

    def log_train_loss(self, loss: Tensor) -> None:
        """Log the loss on the steps Lightning writes (every trainer.log_every_n_steps): self.log costs
        about as much as a small network's forward, so calling it every step slows toy runs by ~10%. The
        value is copied to the host here (one sync per logging step): Lightning's progress bar reads its
        metrics after every batch, which for a device tensor would be a host sync per step."""
        if (self.global_step + 1) % max(self.trainer.log_every_n_steps, 1) == 0:
            self.check_finite()
            self.log("train/loss", loss.detach().float().cpu(), prog_bar=True, on_step=True, on_epoch=False)

    # --- networks: compilation and precision ---------------------------------------------------
    def networks(self) -> list[nn.Module]:
        """The networks (submodules named ``net``: the denoiser's, its EMA copy's, a classifier's)."""
        return [m for name, m in self.named_modules() if name.rsplit(".", 1)[-1] == "net"]

    def compile_networks(self, **options) -> None:
        """``torch.compile`` each network in place (parameters, state-dict keys and checkpoints are
        unchanged); ``options`` go to torch.compile (mode, backend, dynamic, ...). Under CUDA graphs
        (``mode="reduce-overhead"``) a graph's output buffer is overwritten by its next call, so the
        output is copied out: multistep samplers keep earlier network outputs."""
        for net in self.networks():
            if options.get("mode") == "reduce-overhead":
                net.forward = _copied_output(torch.compile(net.forward, **options))
            else:
                net.compile(**options)

    def autocast_networks(self, dtype: torch.dtype = torch.bfloat16) -> None:
        """Run each network's forward under autocast to ``dtype`` on its input's device, returning the
        input's dtype (for sampling: the sampler's own arithmetic stays in float32)."""
        for net in self.networks():
            net.forward = _autocast_forward(net.forward, dtype)

    # --- normalisation and checkpoints ---------------------------------------------------------
    def init_normalization(self, data_shape) -> None:
        self.register_buffer("data_shift", torch.zeros(tuple(data_shape)))
        self.register_buffer("data_scale", torch.ones(tuple(data_shape)))
        self.run_config: dict | None = None

    def set_normalization(self, shift: Tensor, scale: Tensor) -> None:
        self.data_shift.copy_(shift)
        self.data_scale.copy_(scale)

    def adamw_with_warmup(self, params, lr: float, weight_decay: float, warmup_steps: int,
                          schedule: str = "constant") -> dict:
        """AdamW with a linear learning-rate warm-up, then constant or decayed to zero at the run's last
        optimizer step, stepped every optimizer step (``genflow.modules.lr_schedules``)."""
        opt = self.adamw(params, lr, weight_decay)
        total = self.trainer.estimated_stepping_batches if schedule != "constant" else math.inf
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_multiplier(schedule, warmup_steps, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.data_shift) / self.data_scale

    def denormalize(self, x: Tensor) -> Tensor:
        return x * self.data_scale + self.data_shift

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.check_finite()  # a checkpoint of a model trained through a non-finite loss is never written
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
