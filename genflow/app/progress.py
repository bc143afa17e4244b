"""The training progress bar: Lightning's rich bar, redrawn at most ``refresh_per_second`` times a second.

Lightning's default (RichProgressBar(refresh_rate=100)) redraws from a thread 100 times a second and
updates the bar and its metrics after every batch: on a 2-core CPU that took 4-13% of a toy model's
training time (benchmarks/README.md, section 2). Here the per-batch update is skipped unless
1 / refresh_per_second seconds have passed (or it is an epoch's last batch), and the thread redraws
at the same rate. The bar shows the run's progress in optimizer steps rather than Lightning's
per-epoch batches (genflow runs are counted in ``trainer.max_steps``, and a toy run's epoch is
shorter than one redraw, so Lightning's per-epoch speed read 0.00it/s):

    Epoch 12 ━━━━━━━━━━━━━━━━ 468/3000 0:00:02<0:00:11 233.4it/s train/loss: 0.201
"""

from __future__ import annotations

import time
from datetime import timedelta

from lightning.pytorch.callbacks import RichProgressBar
from rich.progress import ProgressColumn
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text


class RunProgressColumn(ProgressColumn):
    """The whole run in optimizer steps, from ``bar.run_progress()``: a bar, then
    "468/3000 0:00:02<0:00:11 233.4it/s" (elapsed<left)."""

    def __init__(self, bar: "ThrottledProgressBar", theme, width: int = 16):
        self.bar, self.theme, self.width = bar, theme, width
        super().__init__()

    def render(self, task):
        done, max_steps, seconds, rate = self.bar.run_progress()
        left = f"<{timedelta(seconds=int((max_steps - done) / rate))}" if rate > 0 else ""
        grid = Table.grid(padding=(0, 1))
        grid.add_row(ProgressBar(total=max_steps, completed=done, width=self.width, complete_style=self.theme.progress_bar,
                                 finished_style=self.theme.progress_bar_finished),
                     Text(f"{done}/{max_steps} {timedelta(seconds=int(seconds))}{left} {rate:.1f}it/s",
                          style=self.theme.time))
        return grid


class ThrottledProgressBar(RichProgressBar):
    def __init__(self, refresh_per_second: float = 10.0):
        super().__init__(refresh_rate=max(1, round(refresh_per_second)))
        self.min_interval = 1.0 / refresh_per_second
        self._last_update = float("-inf")
        self._pending = None  # the arguments of the last skipped update
        self.first_step, self._start = 0, None  # global step and clock when training started (or resumed)

    def on_train_start(self, trainer, pl_module):
        self.first_step, self._start = trainer.global_step, time.monotonic()
        super().on_train_start(trainer, pl_module)

    def run_progress(self) -> tuple[int, int, float, float]:
        """(trainer.global_step, trainer.max_steps, seconds since training started or resumed, steps per
        second since then)."""
        step, max_steps = self.trainer.global_step, self.trainer.max_steps
        if self._start is None:
            return step, max_steps, 0.0, 0.0
        seconds = time.monotonic() - self._start
        return step, max_steps, seconds, (step - self.first_step) / seconds if seconds > 0 else 0.0

    def configure_columns(self, trainer) -> list:
        """"Epoch 12" and the run's progress in steps; Lightning's per-epoch columns for a run counted
        in epochs (trainer.max_steps=-1)."""
        columns = super().configure_columns(trainer)
        if trainer.max_steps <= 0:
            return columns
        return [columns[0], RunProgressColumn(self, self.theme)]

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
