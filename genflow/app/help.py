"""What ``genflow train|sample|eval --help`` lists: the config groups of that command only.

Hydra's ``$APP_CONFIG_GROUPS`` lists every group under ``genflow/conf``, so ``genflow sample --help``
would offer ``model=`` and ``data=``, which sample ignores. The help templates in train.yaml, sample.yaml
and eval.yaml call the resolver ``${genflow.groups:${hydra.runtime.choices}}`` instead: the groups in the
command's own defaults list (and any a user adds), each with the options Hydra finds on its search path
(``--config-dir`` and ``hydra.searchpath`` included) and the one chosen now.
"""

from __future__ import annotations

from omegaconf import OmegaConf

RESOLVER = "genflow.groups"


def format_groups(choices) -> str:
    """One line per non-Hydra group of the composed config: ``group: option, option (chosen: option)``."""
    from hydra.core.global_hydra import GlobalHydra

    loader = GlobalHydra.instance().config_loader()
    lines = []
    for group, chosen in sorted(dict(choices).items()):
        if group == "hydra" or group.startswith("hydra/"):
            continue
        options = ", ".join(sorted(loader.get_group_options(group)))
        lines.append(f"{group}: {options}" + (f"  (chosen: {chosen})" if chosen is not None else ""))
    return "\n".join(lines)


def register_help_resolver() -> None:
    OmegaConf.register_new_resolver(RESOLVER, format_groups, replace=True)
