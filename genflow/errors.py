"""User-facing errors: printed as one line, exit code 2, never a traceback."""


class UserError(Exception):
    """A problem with what the user asked for (bad value, missing file, wrong combination)."""
