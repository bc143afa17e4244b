"""genflow's progress bar redraws at most refresh_per_second times a second, always shows a run's
last batch, counts the run in optimizer steps, and `progress_refresh_per_second=0` trains without one."""

from types import SimpleNamespace

from lightning.pytorch.callbacks import ProgressBar, RichProgressBar
from rich.console import Console

from genflow.app import progress
from genflow.app.compose import build_run, compose_config
from genflow.app.progress import RunProgressColumn, ThrottledProgressBar
from genflow.app.train import build_trainer


def drawn_batches(monkeypatch, times, num_batches, stop_after):
    """Feed batches 0..stop_after-1 at the given clock times; the batch indices the rich bar was updated for."""
    drawn = []
    monkeypatch.setattr(RichProgressBar, "on_train_batch_end", lambda self, *args: drawn.append(args[-1]))
    clock = iter(times)
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    bar = ThrottledProgressBar(refresh_per_second=10)
    bar._trainer = SimpleNamespace(num_training_batches=num_batches)
    for i in range(stop_after):
        bar.on_train_batch_end(None, None, None, None, i)
    bar.on_train_end(None, None)
    return drawn


def test_updates_are_throttled_and_an_epochs_last_batch_is_drawn(monkeypatch):
    # 0.1 s between redraws: batch 0 (t=0), 3 (t=0.11), 4 skipped, 5 is the epoch's last
    assert drawn_batches(monkeypatch, [0.0, 0.05, 0.09, 0.11, 0.12, 0.13], 6, 6) == [0, 3, 5]


def test_a_run_that_stops_between_redraws_shows_its_last_batch(monkeypatch):
    # max_steps ends the run after batch 4 of 100, 0.01 s after the redraw of batch 3
    assert drawn_batches(monkeypatch, [0.0, 0.05, 0.09, 0.11, 0.12], 100, 5) == [0, 3, 4]


def test_train_uses_the_throttled_bar_or_none(tmp_path):
    _, dm, _ = build_run()
    for refresh, expected in ((10, [ThrottledProgressBar]), (0, [])):
        cfg = compose_config([f"progress_refresh_per_second={refresh}"])
        trainer = build_trainer(cfg, tmp_path, None, dm)
        assert [type(c) for c in trainer.callbacks if isinstance(c, ProgressBar)] == expected


def rendered(bar) -> str:
    console = Console(width=120, color_system=None)
    with console.capture() as out:
        console.print(RunProgressColumn(bar, bar.theme).render(None))
    return out.get().strip()


def test_the_bar_shows_the_runs_steps_elapsed_time_left_and_rate(monkeypatch):
    clock = iter([100.0, 102.0])  # training (re)starts at t=100 s; rendered at t=102 s
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    bar = ThrottledProgressBar()
    trainer = SimpleNamespace(global_step=1000, max_steps=3000)
    bar._trainer = trainer
    monkeypatch.setattr(RichProgressBar, "on_train_start", lambda *args: None)
    bar.on_train_start(trainer, None)  # resumed at step 1000
    trainer.global_step = 1500  # 500 steps in 2 s: 250 steps/s, 1500 steps (6 s) left
    assert rendered(bar).endswith("1500/3000 0:00:02<0:00:06 250.0it/s")


def test_a_run_counted_in_epochs_keeps_lightnings_columns():
    bar = ThrottledProgressBar()
    by_steps = bar.configure_columns(SimpleNamespace(max_steps=3000))
    by_epochs = bar.configure_columns(SimpleNamespace(max_steps=-1))
    assert isinstance(by_steps[-1], RunProgressColumn) and len(by_steps) == 2
    assert not any(isinstance(c, RunProgressColumn) for c in by_epochs) and len(by_epochs) == 5
