"""Validate command-line overrides before Hydra runs, so bad input is one clear line.

Checks: the override grammar, that every config-group option exists (listing the valid ones),
that keys exist, and that a value has the type of the default it replaces.
"""

from __future__ import annotations

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from genflow.errors import UserError

# Hydra's own flags; those in the first set take a value.
_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
                     "--config-dir", "-cd", "--experimental-rerun", "--info", "-i"}


def split_overrides(args: list[str]) -> tuple[list[str], bool]:
    """Return (overrides, is_multirun) from a Hydra command line."""
    overrides, multirun, skip = [], False, False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-m", "--multirun"):
            multirun = True
        elif a in _FLAGS_WITH_VALUE:
            skip = a not in ("--info", "-i")
        elif not a.startswith("-"):
            overrides.append(a)
    return overrides, multirun


def _choices(loader, group: str) -> list[str]:
    return sorted(loader.get_group_options(group))


def _type_name(v) -> str:
    return {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string"}.get(type(v), type(v).__name__)


def _check_type(key: str, new, old) -> None:
    if old is None or new is None or isinstance(old, (dict, list)) or OmegaConf.is_config(old):
        return
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          str: lambda v: True}.get(type(old), lambda v: True)
    if isinstance(new, list) and new and all(ok(v) for v in new):
        return  # a list of values of the default's type (e.g. several guidance labels)
    if not ok(new):
        raise UserError(f"{key}={new!r}: expected {_type_name(old)} (default {old!r})")


def validate(config_name: str, args: list[str]) -> None:
    """Raise UserError describing the first problem in ``args``; return quietly when fine."""
    overrides, multirun = split_overrides(args)
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(overrides)
    except HydraException as e:
        raise UserError(str(e).splitlines()[0]) from None
    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        loader = GlobalHydra.instance().config_loader()
        groups = set(loader.list_groups(""))
        first_values, value_overrides = [], []
        for o in parsed:
            key = o.key_or_group
            values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.value()]
            if o.is_sweep_override() and not multirun:
                raise UserError(f"{o.input_line}: several values need multirun: genflow ... -m {o.input_line}")
            if key in groups and not o.is_delete():
                valid = _choices(loader, key)
                for v in values:
                    if str(v) not in valid and v is not None:
                        raise UserError(f"{key}={v} is not an option; valid choices for {key}: {', '.join(valid)}")
            first = values[0] if values else None
            line = o.input_line if not o.is_sweep_override() else f"{o.get_key_element()}={first}"
            first_values.append(line)
            if key not in groups and not o.is_add() and not o.is_delete():
                value_overrides.append((key, first))
        group_lines = [ln for ln, o in zip(first_values, parsed) if o.key_or_group in groups]
        base = None
        try:
            base = compose(config_name, overrides=group_lines)
            compose(config_name, overrides=first_values)
        except HydraException as e:
            msg = str(e).splitlines()[0]
            group = msg.split("'")[1].split(".")[0] if msg.count("'") >= 2 else ""
            if "Could not override" in msg and group in groups:
                chosen = base is not None and base.get(group) is not None
                need = (f"is not an option of the chosen {group}; pass" if chosen
                        else f"needs a {group} chosen first: pass")
                msg = (f"{msg.split(chr(39))[1]} {need} {group}=<option> "
                       f"(valid: {', '.join(_choices(loader, group))})")
            elif "Could not override" in msg or "Key '" in msg:
                msg += " (add a new key with +key=value)"
            raise UserError(msg) from None
        except OmegaConfBaseException as e:
            raise UserError(str(e).splitlines()[0]) from None
    GlobalHydra.instance().clear()
    for key, value in value_overrides:
        if key.startswith("hydra."):
            continue
        old = OmegaConf.select(base, key, throw_on_resolution_failure=False)
        if isinstance(value, str) and old is not None and not isinstance(old, str):
            try:  # Hydra parses 1e-3 as a string in some contexts; accept numeric strings for numbers
                value = type(old)(value) if isinstance(old, float) else value
            except ValueError:
                pass
        _check_type(key, value, old)
