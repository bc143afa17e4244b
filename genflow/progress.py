"""The training progress bar: Lightning's rich bar, redrawn at most ``refresh_per_second`` times a second.

Lightning's default (RichProgressBar(refresh_rate=100)) redraws from a thread 100 times a second and
updates the bar and its metrics after every batch: on a 2-core CPU that took 4-13% of a toy model's
training time (benchmarks/README.md, section 2). Here the per-batch update is skipped unless
1 / refresh_per_second seconds have passed (or it is an epoch's last batch), and the thread redraws
at the same rate.
"""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import RichProgressBar


class ThrottledProgressBar(RichProgressBar):
    def __init__(self, refresh_per_second: float = 10.0):
        super().__init__(refresh_rate=max(1, round(refresh_per_second)))
        self.min_interval = 1.0 / refresh_per_second
        self._last_update = float("-inf")
        self._pending = None  # the arguments of the last skipped update

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        now = time.monotonic()
        if now - self._last_update < self.min_interval and batch_idx + 1 < self.trainer.num_training_batches:
            self._pending = (trainer, pl_module, outputs, batch, batch_idx)
            return
        self._last_update, self._pending = now, None
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def _get_train_description(self, current_epoch: int) -> str:
        """"Epoch 3" without Lightning's "/-2" for max_epochs=-1 (genflow runs are counted in steps)."""
        if self.trainer.max_epochs is not None and self.trainer.max_epochs < 0:
            return f"Epoch {current_epoch}"
        return super()._get_train_description(current_epoch)

    def on_train_end(self, trainer, pl_module):
        """Show the last batch (max_steps can end a run mid-epoch, between two redraws)."""
        if self._pending is not None:
            super().on_train_batch_end(*self._pending)
            self._pending = None
        super().on_train_end(trainer, pl_module)
