"""``genflow train resume=<run>``: check the checkpoint against the run before Lightning restores it.

The checkpoint is read as data (``weights_only=True``, checksum verified), then its stored run
config is compared with the run's:

- another model, network, path or data set (``STRUCTURE``), or another data shape, is a
  one-line refusal listing the differing keys: those weights cannot continue this run;
- every other change (``model.lr``, ``model.weight_decay``, ``model.warmup_steps``,
  ``model.ema_decay``, ``trainer.max_steps``, batch size, ...) is applied and logged. Lightning
  restores the optimizer's param groups with their saved ``lr`` and ``weight_decay``, so
  ``ApplyOptimizerSettings`` puts the configured ones back once the state is restored; the
  warm-up and EMA decay are read from the configured module, the rest from the Trainer and data.
"""

from __future__ import annotations

import logging

import lightning as L

from genflow.errors import UserError
from genflow.modules.integrity import verify_weights
from genflow.modules.loading import resolve_checkpoint, torch_load_data

log = logging.getLogger("genflow.app.train")

# Keys (and key prefixes) whose change makes the checkpoint another run.
STRUCTURE = ("model._target_", "model.parameterization", "model.objective", "net", "path", "conditional",
             "data._target_", "data.name", "data.path", "data.label_column", "data.normalize", "teacher")
# Keys that describe this invocation, not the run.
IGNORED = ("resume", "trust_targets", "progress_refresh_per_second", "schedule", "logger.save_dir", "logger.name",
           "logger.group", "callbacks")


def flatten(node, prefix: str = "") -> dict:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out if out or not prefix else {prefix: {}}
    return {prefix: node}


def _under(key: str, prefixes) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def config_changes(stored: dict, current: dict) -> list[tuple[str, object, object]]:
    """(key, stored value, current value) for every leaf that differs, ignored keys left out."""
    old, new = flatten(stored), flatten(current)
    keys = sorted(k for k in set(old) | set(new) if not _under(k, IGNORED))
    missing = object()
    return [(k, old.get(k, "<none>"), new.get(k, "<none>")) for k in keys
            if old.get(k, missing) != new.get(k, missing)]


def _show(changes) -> str:
    return ", ".join(f"{k} {old!r} -> {new!r}" for k, old, new in changes)


class ApplyOptimizerSettings(L.Callback):
    """After Lightning restored the optimizer from the checkpoint, set each param group's learning
    rate and weight decay to the configured ones: the scheduler's base rates and the current rates
    are scaled by new_lr / old_lr (the warm-up factor is kept)."""

    def __init__(self, old_lr: float, new_lr: float, weight_decay: float | None):
        self.ratio, self.weight_decay = float(new_lr) / float(old_lr), weight_decay

    def on_train_start(self, trainer, pl_module) -> None:
        for opt in trainer.optimizers:
            for group in opt.param_groups:
                group["lr"] *= self.ratio
                if "initial_lr" in group:
                    group["initial_lr"] *= self.ratio
                if self.weight_decay is not None:
                    group["weight_decay"] = float(self.weight_decay)
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            scheduler.base_lrs = [b * self.ratio for b in scheduler.base_lrs]


def prepare_resume(resume, current: dict, data_shape) -> tuple[str, list[L.Callback]]:
    """The checkpoint file to resume from and the callbacks that apply changed settings; raises a
    one-line UserError when the checkpoint cannot continue this run."""
    path = resolve_checkpoint(resume, "resume")
    source = f"resume={str(path)!r}"
    raw = torch_load_data(path, source)
    info = raw.get("genflow")
    if not isinstance(info, dict):
        raise UserError(f"{source} is not a genflow checkpoint (no 'genflow' entry)")
    verify_weights(raw, source)
    hparams = raw.get("hyper_parameters") or {}
    stored_shape = hparams.get("data_shape")
    if stored_shape is not None and tuple(stored_shape) != tuple(data_shape):
        raise UserError(f"{source} was trained on data of shape {tuple(stored_shape)}; this run's data has shape "
                        f"{tuple(data_shape)}: refused (resume with the same data, or start a new run)")
    stored = info.get("config") or {}
    if not stored:
        log.warning("%s records no run config: its settings cannot be compared with this run's", source)
        return str(path), []
    changes = config_changes(stored, current)
    structural = sorted((c for c in changes if _under(c[0], STRUCTURE)),
                        key=lambda c: next(i for i, p in enumerate(STRUCTURE) if _under(c[0], (p,))))
    if structural:
        raise UserError(f"{source} is another run: {_show(structural)}: refused (resume with the same model, net, "
                        "path and data, or start a new run)")
    callbacks: list[L.Callback] = []
    if changes:
        log.info("resume: settings changed since the checkpoint, applied: %s", _show(changes))
        lr = {k: (old, new) for k, old, new in changes if k in ("model.lr", "model.weight_decay")}
        if lr:
            old_lr = hparams.get("lr", current.get("model", {}).get("lr"))
            new_lr = current.get("model", {}).get("lr", old_lr)
            wd = current.get("model", {}).get("weight_decay") if "model.weight_decay" in lr else None
            callbacks.append(ApplyOptimizerSettings(old_lr, new_lr, wd))
    return str(path), callbacks
