"""User-facing errors: printed as one line, exit code 2, never a traceback."""


class UserError(Exception):
    """A problem with what the user asked for (bad value, missing file, wrong combination)."""


def check_choice(key: str, value, choices) -> None:
    """Raise a one-line UserError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise UserError(f"{key}={value!r} is not valid; choose one of {', '.join(map(str, choices))}")


def flag(key: str, value) -> bool:
    """``value`` as a bool; a one-line UserError for anything but true / false (bool("maybe") would be True)."""
    if value not in (True, False):
        raise UserError(f"{key}={value!r} is not valid; choose one of true, false")
    return bool(value)


class RunError(RuntimeError):
    """A run that cannot finish for a reason other than its input (a non-finite loss or sample, a full
    disk, a read-only directory): printed as one line, exit code ``exit_code`` (1), never a traceback."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class NonFiniteSampleError(RunError):
    """A sampler produced NaN or infinite values."""
