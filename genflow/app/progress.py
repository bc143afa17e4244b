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


class StepProgress:
    """The progress of a long step outside training (sampling, an ODE likelihood, reflow pairs, feature
    extraction). On a terminal a rich bar on stderr, redrawn at most ``refresh_per_second`` times a second:

        sampling ddim ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 45% batch 1/2 t=0.551 0:00:03 0:00:04

    elsewhere (a file, a pipe, a scheduler's log) plain lines: one when the step starts, one at most every
    ``interval`` seconds and one when it ends, so a redirected run writes a few hundred bytes whatever its
    length; these go to stdout, so that stderr holds nothing but a failure's one line. ``total`` counts the step's units (e.g. batches); ``hook(i)`` turns a sampler's or solver's
    ``progress(t)`` into the position of unit i; ``enabled=False`` shows nothing.

        with StepProgress("sampling ddim", total=2) as bar:
            for i in range(2):
                module.generate(sampler, n, progress=bar.hook(i))
    """

    def __init__(self, description: str, total: float = 1.0, enabled: bool = True, console=None,
                 interval: float = 10.0, refresh_per_second: float = 4.0):
        from rich.console import Console

        self.description, self.total, self.enabled, self.interval = description, float(total), enabled, interval
        self.console = console if console is not None else Console(stderr=True)
        self.lines = console if console is not None else Console(stderr=False)
        self.refresh_per_second = refresh_per_second
        self.completed, self.status, self.bar, self.task = 0.0, "", None, None
        self._start = self._last_line = 0.0

    @property
    def live(self) -> bool:
        """A redrawn bar (an interactive terminal), rather than lines."""
        return self.console.is_terminal and not self.console.is_dumb_terminal

    def __enter__(self) -> "StepProgress":
        if not self.enabled:
            return self
        self._start = self._last_line = time.monotonic()
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                console=self.console, refresh_per_second=self.refresh_per_second)
            self.task = self.bar.add_task(self.description, total=self.total, status="")
            self.bar.start()
        else:
            self.line("started")
        return self

    def __exit__(self, kind, error, trace) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.stop()
        elif kind is None:
            self.line(f"done in {self.elapsed()}")  # a failure says why in its own one line

    def elapsed(self) -> str:
        return str(timedelta(seconds=int(time.monotonic() - self._start)))

    def percent(self) -> str:
        return f"{100 * self.completed / self.total:.0f}%" if self.total > 0 else ""

    def line(self, text: str) -> None:
        self.lines.print(f"{self.description}: {text}", markup=False, highlight=False, soft_wrap=True)

    def update(self, completed: float, status: str = "") -> None:
        """Move to ``completed`` of ``total`` units; ``status`` is shown beside the bar (e.g. t=0.42)."""
        if not self.enabled:
            return
        self.completed, self.status = min(float(completed), self.total), status
        if self.bar is not None:
            self.bar.update(self.task, completed=self.completed, status=status)
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self.line(f"{self.percent()} {status} {self.elapsed()}".replace("  ", " "))

    def advance(self, units: float = 1.0, status: str = "") -> None:
        self.update(self.completed + units, status)

    def hook(self, index: int = 0, start: float = 1.0, end: float = 0.0, unit: str = "batch"):
        """``progress(t)`` for unit ``index`` of a solve from time ``start`` to ``end``: the position
        index + (t - start) / (end - start), shown with t (and the unit, when there are several)."""
        units = f"{unit} {index + 1}/{self.total:.0f} " if self.total > 1 else ""

        def progress(t: float) -> None:
            self.update(index + (t - start) / (end - start), f"{units}t={t:.3f}")
        return progress
