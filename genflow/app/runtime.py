"""Shared plumbing of the Hydra apps: run directories, user-error reporting, seeding."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from genflow.errors import RunFailure, UserError


def fail(message: str, code: int = 2):
    """Print a one-line error and exit (no traceback)."""
    print(f"genflow: error: {' '.join(str(message).split())}", file=sys.stderr)
    sys.exit(code)


def report_user_errors(fn):
    """Turn UserError and configuration errors raised inside a Hydra task into one-line errors."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            fail(str(e))
        except InstantiationException as e:
            cause = e.__cause__
            while cause is not None and not isinstance(cause, UserError) and cause.__cause__ is not None:
                cause = cause.__cause__
            if isinstance(cause, UserError):
                fail(str(cause))
            fail(instantiation_error_message(e))
        except MissingMandatoryValue as e:
            fail(f"missing required value {e.full_key}: pass {e.full_key}=...")
        except OmegaConfBaseException as e:
            fail(str(e).splitlines()[0])
        except FloatingPointError as e:
            fail(f"training stopped: {e}; the last good checkpoint is kept", code=1)
        except RunFailure as e:
            fail(str(e), code=e.exit_code)

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
