"""SIGINT (Ctrl-C) and SIGTERM (a scheduler's stop) during training: save the current step, then
exit 130 / 143 (128 + the signal's number) with one line; an interrupted run never reports success.

Lightning owns the signals: on SIGTERM it finishes the running batch and raises
``SIGTERMException`` (a ``SystemExit`` whose code is 0); on Ctrl-C it catches the
``KeyboardInterrupt`` and calls ``sys.exit(1)``. Both first call the callbacks' ``on_exception``
hook, where ``InterruptCheckpoint`` saves ``step_<N>.ckpt`` and ``last.ckpt`` (atomically, through the
Trainer's checkpoint IO); ``exit_on_interrupt`` then turns the exit into 130 / 143.
"""

from __future__ import annotations

import functools
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException


class InterruptCheckpoint(L.Callback):
    """Saves the step training stopped at when a signal interrupts ``fit``."""

    def __init__(self, dirpath):
        self.dirpath = Path(dirpath)
        self.signal: signal.Signals | None = None

    def on_exception(self, trainer, pl_module, exception) -> None:
        if isinstance(exception, KeyboardInterrupt):
            self.signal = signal.SIGINT
            if trainer.world_size > 1:
                return  # every rank got Ctrl-C at a different point: no collective save; Lightning stops them
        elif isinstance(exception, SIGTERMException) or trainer.received_sigterm:
            self.signal = signal.SIGTERM  # all ranks stop after the same batch (Lightning broadcasts it)
        else:
            return
        if trainer.global_step == 0:
            return
        step_file = self.dirpath / f"step_{trainer.global_step:07d}.ckpt"
        if not step_file.exists():
            trainer.save_checkpoint(step_file, weights_only=False)
        trainer.save_checkpoint(self.dirpath / "last.ckpt", weights_only=False)


def stop(signum: int, step: int | None = None, last: Path | None = None) -> None:
    """One line on stderr naming the signal, the step and the checkpoint to resume from; exit 128 + signum."""
    name = signal.Signals(signum).name
    where = f" at step {step}" if step is not None else ""
    kept = ("" if last is None else f"; last checkpoint: {last} (continue with genflow train "
            f"resume={last.parent.parent})" if last.is_file() else "; no checkpoint was written")
    print(f"genflow: error: interrupted by {name}{where}{kept}", file=sys.stderr)
    raise SystemExit(128 + int(signum))


def ctrl_c_exits(fn):
    """A command stopped by Ctrl-C outside training: one line and exit 130, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            stop(signal.SIGINT)

    return wrapper


@contextmanager
def exit_on_interrupt(trainer: L.Trainer, callback: InterruptCheckpoint):
    """Around ``trainer.fit``: an interrupted fit exits 130 (SIGINT) or 143 (SIGTERM)."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit) as e:
        signum = callback.signal or (signal.SIGINT if isinstance(e, KeyboardInterrupt) else None)
        if signum is None:
            raise
        stop(signum, trainer.global_step, callback.dirpath / "last.ckpt")
    if callback.signal is not None or trainer.received_sigterm:  # the signal came as the last step finished
        stop(callback.signal or signal.SIGTERM, trainer.global_step, callback.dirpath / "last.ckpt")
