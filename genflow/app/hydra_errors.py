"""Hydra's own composition errors as one line naming the bad key or value and the valid choices.

Hydra validates the command line while it composes (override grammar, group options, keys, and the
types of ``genflow/conf/schema.py``); its exceptions carry what a one-line message needs: the missing
option and the group's options (``MissingConfigException.options``), the key and the node it is not in
(the OmegaConf error chained to ``ConfigCompositionException``), the value and the expected type.
"""

from __future__ import annotations

import difflib
import re
import traceback

from hydra.errors import (ConfigCompositionException, HydraException, MissingConfigException,
                          OverrideParseException)
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

_TYPE_NAMES = {"Integer": "an integer", "Float": "a number", "Boolean": "a boolean (true/false)",
               "String": "a string"}


def _first_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


def _group_options(group: str) -> list[str]:
    """The options genflow ships for ``group`` (a user's --config-dir may add more)."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_module("genflow.conf", version_base=None):
            return sorted(GlobalHydra.instance().config_loader().get_group_options(group))
    except HydraException:
        return []
    finally:
        GlobalHydra.instance().clear()


def missing_option(e: MissingConfigException) -> str:
    found = re.search(r"Could not find '([^']+)'", str(e))
    if found and e.options:
        group, _, option = found.group(1).rpartition("/")
        return f"{group}={option} is not an option; valid choices for {group}: {', '.join(e.options)}"
    return _first_line(e)


def closest(name: str, valid: list[str]) -> list[str]:
    """The valid keys nearest to a misspelt one: the best difflib match and any within 0.1 of it."""
    ratio = {k: difflib.SequenceMatcher(None, name, k).ratio() for k in valid}
    best = max(ratio.values(), default=0.0)
    return sorted((k for k in valid if ratio[k] >= max(0.6, best - 0.1)), key=lambda k: -ratio[k])[:3]


def unknown_key(e: ConfigCompositionException, cause: OmegaConfBaseException) -> str:
    key = cause.full_key or str(cause.key)
    parent, _, name = key.rpartition(".")
    add = re.search(r"use (\+\S+)", str(e))
    add_hint = f"add a new key with {add.group(1) if add else '+' + key + '=...'}"
    node = cause.parent_node
    valid = [str(k) for k in node.keys() if k != "hydra"] if node is not None and hasattr(node, "keys") else []
    where = parent or "the config"
    close = closest(name, valid)
    if close:
        names = " or ".join(f"{parent}.{c}" if parent else c for c in close)
        return f"{key}: no such key in {where}; did you mean {names}? ({add_hint})"
    if valid:
        return f"{key}: no such key in {where}; valid keys: {', '.join(valid)} ({add_hint})"
    group = key.split(".")[0]
    options = _group_options(group)
    if options:
        return (f"{key}: the {group} chosen now has no keys; choose one with {group}=<option> "
                f"(valid choices for {group}: {', '.join(options)}), or {add_hint}")
    return f"{key}: no such key in {where} ({add_hint})"


def bad_value(e: ConfigCompositionException, cause: ValidationError) -> str:
    message = _first_line(cause)
    key = cause.full_key
    found = (re.search(r"Value '(.*)' of type '\w+' could not be converted to (\w+)", message)
             or re.search(r"Value '(.*)' is not a valid (bool)", message))
    if found and key:
        expected = _TYPE_NAMES.get(found.group(2), "a boolean (true/false)" if found.group(2) == "bool" else found.group(2))
        return f"{key}={found.group(1)!r}: expected {expected}"
    override = re.search(r"override (\S+)", str(e))
    return f"{override.group(1) if override else key}: {message}"


def describe(e: BaseException) -> str | None:
    """One line for an error Hydra raised before any job ran, or None if ``e`` is not one."""
    if isinstance(e, MissingConfigException):
        return missing_option(e)
    if isinstance(e, OverrideParseException):
        return f"cannot parse {e.override!r}: {_first_line(e)}"
    if isinstance(e, ConfigCompositionException):
        cause = e.__cause__
        if isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
            return unknown_key(e, cause)
        if isinstance(cause, ValidationError):
            return bad_value(e, cause)
        several = re.match(r"Ambiguous value for argument '([^']+)'", str(e))
        if several:
            return (f"{several.group(1)}: several values; sweep over them with -m, or give a list as "
                    f"key=[a,b] or a string as key='a,b'")
        again = re.match(r"Multiple values for (\S+)\.", str(e))
        if again:
            return f"+{again.group(1)}: {again.group(1)} already has an option; change it with {again.group(1)}=<option>"
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        if cause is not None:
            lines.append(_first_line(cause))
        return " ".join(lines)
    if isinstance(e, (HydraException, OmegaConfBaseException)):
        return " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    if isinstance(e, ValueError) and _raised_by_hydra(e):  # e.g. "Only one of --run, --multirun, --cfg ..."
        return _first_line(e)
    return None


def _raised_by_hydra(e: BaseException) -> bool:
    frames = traceback.extract_tb(e.__traceback__)
    return bool(frames) and "/hydra/" in frames[-1].filename.replace("\\", "/")
