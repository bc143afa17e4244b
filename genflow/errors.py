"""User-facing errors: printed as one line, exit code 2, never a traceback."""


class UserError(Exception):
    """A problem with what the user asked for (bad value, missing file, wrong combination)."""


def check_choice(key: str, value, choices) -> None:
    """Raise a one-line UserError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise UserError(f"{key}={value!r} is not valid; choose one of {', '.join(map(str, choices))}")


class RunError(RuntimeError):
    """A run that cannot finish for a reason other than its input (a non-finite loss or sample): one
    line, exit code 1."""


class NonFiniteSampleError(RunError):
    """A sampler produced NaN or infinite values."""
