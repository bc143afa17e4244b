"""Failures of the machine, not of the input: a read-only or full disk. One line naming the cause,
exit code 1; the checkpoints already written stay as they were (checkpoint writes are atomic)."""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path

from genflow.errors import RunError

WRITE_ERRORS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EIO, errno.EFBIG}


def describe(e: OSError) -> str:
    name = errno.errorcode.get(e.errno, str(e.errno)) if e.errno is not None else "error"
    where = f" ({e.filename})" if e.filename else ""
    return f"{e.strerror or e} [{name}]{where}"


@contextmanager
def write_failures(out: Path):
    """Turn a failed write under the run directory into a one-line RunError."""
    try:
        yield
    except OSError as e:
        if e.errno not in WRITE_ERRORS:
            raise
        last = Path(out) / "checkpoints" / "last.ckpt"
        kept = f"; the last good checkpoint is kept: {last}" if last.is_file() else ""
        raise RunError(f"could not write the run's files: {describe(e)}{kept}") from None


def check_writable(directory: Path) -> str | None:
    """None when a file can be created in ``directory`` (made if missing), else the reason."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".genflow-write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        return describe(e)
    return None
