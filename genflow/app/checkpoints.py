"""Checkpoint I/O for Lightning's Trainer: writes that never leave a truncated file, reads that
never run code.

``AtomicCheckpointIO`` writes to a temporary file in the same folder (created with the usual
permissions, 0666 less the umask), fsyncs it and renames it over the target (``os.replace`` is
atomic on POSIX), so a killed write keeps the previous ``last.ckpt`` intact. It reads (resume:
``trainer.fit(ckpt_path=...)``) with ``weights_only=True`` and verifies the weights' checksum, so
resuming from a hostile or damaged file is a one-line refusal too. SIGINT and SIGTERM are held while a file
is written and delivered when it is whole: a Ctrl-C inside ``torch.save`` would otherwise surface as the
zip writer's "unexpected pos" RuntimeError (a crash, exit 1) instead of an interrupt (exit 130).
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from genflow.modules.integrity import verify_weights
from genflow.modules.loading import torch_load_data


@contextmanager
def signals_held(signals=(signal.SIGINT, signal.SIGTERM)):
    """Hold ``signals`` for the duration: one that arrives meanwhile (to whichever thread the kernel hands it,
    an OpenMP worker's included; Python runs handlers in the main thread) is recorded, and raised again with
    the previous handler in place when the block ends. Outside the main thread, where handlers cannot be
    set, nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived = []
    previous = {sig: signal.signal(sig, lambda signum, frame: arrived.append(signum)) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(arrived):
            signal.raise_signal(sig)


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        with signals_held():
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for any file
            try:
                with os.fdopen(fd, "wb") as f:
                    torch.save(checkpoint, f)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        source = f"resume={str(path)!r}"
        checkpoint = torch_load_data(path, source)
        verify_weights(checkpoint, source)
        return checkpoint
