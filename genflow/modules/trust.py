"""Which ``_target_`` a checkpoint may name: a checkpoint is data, not code.

A genflow checkpoint stores the configs its module was built from (``hyper_parameters``: net,
path, objective) and the whole run config (``genflow.config``: data, sampler, ...), and
``genflow sample`` / ``eval`` / ``train teacher=`` rebuild objects from them with Hydra's
``instantiate``. A hostile file could name any importable callable there (and chain allowed ones),
so before anything read from a checkpoint is instantiated, every ``_target_`` in it must be

- a class defined in genflow's core (a module ``genflow.<...>`` outside ``genflow.app``), or
- a target named by a config shipped in ``genflow/conf``, or one of the Lightning classes that
  genflow's configs name or named (``LIGHTNING_TARGETS``: the Trainer and the loggers), or
- trusted by the user: ``trust_targets=[my_pkg.MyNet]`` (exact names, or ``my_pkg.*``).

Hydra's own instantiate keys other than ``_target_`` (``_args_``, ``_partial_``, ``_convert_``,
``_recursive_``) never appear in genflow's configs and are refused, as are OmegaConf
interpolations (``${...}``): the stored config was resolved when it was saved.

Hydra-core 1.3.8 refuses a block-list of dangerous callables (``os.system``, ``pickle.loads``,
...) inside ``instantiate``; it has no allow-list (Hydra 1.4's ``execution_whitelist`` is not
released), so this allow-list is genflow's own and runs before ``instantiate`` is called.
"""

from __future__ import annotations

import importlib
import re
from functools import lru_cache
from importlib import resources

import yaml

from genflow.errors import UserError

HYDRA_KEYS = ("_args_", "_partial_", "_convert_", "_recursive_")
LIGHTNING_TARGETS = frozenset({
    "lightning.pytorch.Trainer", "lightning.pytorch.loggers.CSVLogger", "lightning.pytorch.loggers.TensorBoardLogger",
    "lightning.pytorch.loggers.WandbLogger",
})
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


@lru_cache(maxsize=None)
def shipped_targets() -> frozenset[str]:
    """Every ``_target_`` named in the configs shipped with genflow (``genflow/conf/**.yaml``)."""
    found: set[str] = set()

    def collect(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("_target_"), str):
                found.add(node["_target_"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    def walk(folder) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry)
            elif entry.name.endswith(".yaml"):
                collect(yaml.safe_load(entry.read_text()))

    walk(resources.files("genflow.conf"))
    return frozenset(found)


def genflow_class(target: str) -> type | None:
    """The class ``target`` names when it is defined in genflow's core, else None (imports only
    public ``genflow.*`` modules: no ``genflow.app``, no ``_private`` or ``__dunder__`` part)."""
    if not _DOTTED.match(target) or not target.startswith("genflow.") or target.startswith("genflow.app."):
        return None
    parts = target.split(".")
    if any(part.startswith("_") for part in parts):
        return None
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name, None)
        ok = isinstance(obj, type) and obj.__module__.startswith("genflow.") and not obj.__module__.startswith("genflow.app")
        return obj if ok else None
    return None


def is_trusted(target: str, trusted=()) -> bool:
    """``target`` is trusted by the user: an exact name in ``trusted`` or under a ``pkg.*`` entry."""
    for entry in trusted or ():
        entry = str(entry)
        if target == entry or (entry.endswith(".*") and target.startswith(entry[:-1])):
            return True
    return False


def allowed_target(target: str, trusted=()) -> bool:
    return (target in LIGHTNING_TARGETS or target in shipped_targets() or genflow_class(target) is not None
            or is_trusted(target, trusted))


def check_config(node, where: str, source: str, trusted=()) -> None:
    """Raise a one-line UserError unless every ``_target_`` in ``node`` (nested) is allowed and no
    Hydra instantiate key or interpolation is present. ``where`` names the node (e.g.
    ``genflow.config.sampler``); ``source`` the file (e.g. ``ckpt='x.ckpt'``)."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}"
            if key == "_target_":
                if not isinstance(value, str) or not allowed_target(value, trusted):
                    raise UserError(
                        f"{source} asks to build {value!r} ({here}), which is not one of genflow's classes: refused "
                        f"(if you trust this file's code, pass trust_targets=[{value}])")
            elif key in HYDRA_KEYS:
                raise UserError(f"{source} holds the instantiate key {here}={value!r}, which genflow's configs never "
                                "use: refused")
            else:
                check_config(value, here, source, trusted)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            check_config(value, f"{where}[{i}]", source, trusted)
    elif isinstance(node, str) and "${" in node:
        raise UserError(f"{source} holds an interpolation at {where} ({node[:60]!r}); a saved config is resolved: "
                        "refused")


def module_class(name, source: str, base: type, trusted=()) -> type:
    """The Lightning module class a checkpoint names: a subclass of ``base`` defined in genflow (or
    trusted by the user)."""
    cls = genflow_class(name) if isinstance(name, str) else None
    if cls is None and isinstance(name, str) and is_trusted(name, trusted) and _DOTTED.match(name):
        from hydra.utils import get_class  # the user trusts this name

        cls = get_class(name)
    if cls is None or not issubclass(cls, base):
        raise UserError(f"{source} names the module class {name!r}, which is not a genflow module: refused "
                        f"(if you trust this file's code, pass trust_targets=[{name}])")
    return cls
