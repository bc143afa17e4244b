"""Shared plumbing of the Hydra apps: run directories, errors raised from jobs as one-line JobErrors."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from genflow.errors import RunError, UserError


SHOW_TRACEBACKS = False  # set by the console script when the user asks for them (HYDRA_FULL_ERROR=1)


def print_error(message: str) -> None:
    """The one line genflow prints for a refused input or a failed run."""
    print(f"genflow: error: {' '.join(str(message).split())}", file=sys.stderr)


class JobError(Exception):
    """A job's failure as one line and an exit code (2: bad input, 1: the run failed). A plain, picklable
    exception, so that it reaches Hydra (which records the job as failed and a sweep goes on) and crosses
    a launcher's process boundary (joblib, submitit) intact."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(" ".join(str(message).split()), code)

    @property
    def message(self) -> str:
        return self.args[0]

    @property
    def code(self) -> int:
        return self.args[1]

    def __str__(self) -> str:
        return self.message


def job_error(e: BaseException) -> JobError | None:
    """The one-line form of an error raised inside a job; None for an unexpected one (a bug, whose
    traceback is worth seeing)."""
    if isinstance(e, JobError):
        return e
    if isinstance(e, UserError):
        return JobError(str(e))
    if isinstance(e, InstantiationException):
        cause = e.__cause__
        while cause is not None and not isinstance(cause, UserError) and cause.__cause__ is not None:
            cause = cause.__cause__
        return JobError(str(cause) if isinstance(cause, UserError) else instantiation_error_message(e))
    if isinstance(e, MissingMandatoryValue):
        return JobError(f"missing required value {e.full_key}: pass {e.full_key}=...")
    if isinstance(e, OmegaConfBaseException):
        return JobError(str(e).splitlines()[0])
    if isinstance(e, FloatingPointError):
        return JobError(f"training stopped: {e}; the last good checkpoint is kept", code=1)
    if isinstance(e, RunError):
        return JobError(str(e), code=e.exit_code)
    return None


def report_user_errors(fn):
    """Raise the errors of a Hydra task that a user can act on as JobError: Hydra records the job as
    failed, genflow's JobReport callback prints its one line, and a sweep goes on to its next job."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            error = job_error(e)
            if error is None or error is e:
                raise
            raise error from e

    return wrapper


def instantiation_error_message(e: InstantiationException) -> str:
    """Hydra's message names the target, then the error, then ``full_key: <config key>``: one line with
    the key and the error (not just the key, which is the message's last line)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    keys = [line.split(":", 1)[1].strip() for line in lines if line.startswith("full_key:")]
    body = [line for line in lines if not line.startswith("full_key:")]
    return f"could not build {keys[0] if keys else 'the configured object'}: {body[-1] if body else repr(e)}"


LAUNCH_ARGV: list[str] | None = None  # the command line as typed, set by genflow.app.cli


def restore_launch_argv() -> None:
    """Hydra parsed its overrides from ``sys.argv`` without the subcommand; put the full command back
    so that Lightning's DDP launcher starts the other ranks with ``genflow train ...`` too."""
    if LAUNCH_ARGV:
        sys.argv = list(LAUNCH_ARGV)


def is_rank_zero() -> bool:
    """True in the launching process (Lightning sets RANK / LOCAL_RANK in the processes it starts)."""
    from lightning.pytorch.utilities import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def run_dir() -> Path:
    return Path(HydraConfig.get().runtime.output_dir)


def save_resolved_config(cfg: DictConfig, path: Path) -> None:
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
