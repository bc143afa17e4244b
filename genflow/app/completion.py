"""Shell completion for ``genflow <command> <overrides>``, answered by Hydra's completion plugins.

Hydra's own install script completes a single app: it registers its function for the words of
``sys.argv[0]`` (``genflow train`` would also complete a command named ``train``) and queries
``<first word> -sc query=<shell>``, which for genflow lacks the command. genflow installs one function
for ``genflow`` that completes the command itself, then asks ``genflow <command> -sc query=<shell>``;
``query_line`` turns the shell's line into the one Hydra expects (the app's name, then overrides), so
the answer is Hydra's: the groups, options and keys on the command's search path, less the groups
genflow ships for other commands (``genflow sample`` is not offered ``model=``).

    eval "$(genflow --shell-completion install=bash)"      # bash; zsh after: autoload -U bashcompinit && bashcompinit
    genflow --shell-completion install=fish | source       # fish
"""

from __future__ import annotations

import re

BASH = r"""_genflow_completion()
{
    local words=($COMP_LINE)
    local word="${words[$COMP_CWORD]}"
    if (( COMP_CWORD <= 1 )); then
        COMPREPLY=($(compgen -W "%(commands)s" -- "$word"))
        return
    fi
    case "${words[1]}" in
        %(pattern)s) ;;
        *) return ;;
    esac
    local choices
    choices=$(COMP_POINT=$COMP_POINT COMP_LINE="$COMP_LINE" ${words[0]} ${words[1]} -sc query=bash 2>/dev/null)
    COMPREPLY=($(compgen -o nospace -o default -W "$choices" -- "$word"))
}
COMP_WORDBREAKS=${COMP_WORDBREAKS//=}
complete -o nospace -o default -F _genflow_completion genflow
"""

BASH_UNINSTALL = "complete -r genflow 2> /dev/null\nunset -f _genflow_completion\n"

FISH = r"""function _genflow_completion
    set -l parts (commandline -cpo)
    if test (count $parts) -lt 2
        printf '%%s\n' %(commands)s
        return
    end
    if contains -- $parts[2] %(commands)s
        COMP_LINE=(commandline -cp) $parts[1] $parts[2] -sc query=fish 2>/dev/null
    end
end
complete -c genflow -f -a '(_genflow_completion)'
"""

FISH_UNINSTALL = "complete -c genflow -e\nfunctions -e _genflow_completion\n"


def script(action: str, shell: str, commands) -> str | None:
    """The install / uninstall script for ``shell``; None for a shell genflow does not complete."""
    names = " ".join(commands)
    scripts = {("install", "bash"): BASH % {"commands": names, "pattern": "|".join(commands)},
               ("uninstall", "bash"): BASH_UNINSTALL,
               ("install", "zsh"): "autoload -U +X bashcompinit && bashcompinit\n"
               + BASH % {"commands": names, "pattern": "|".join(commands)},
               ("uninstall", "zsh"): BASH_UNINSTALL,
               ("install", "fish"): FISH % {"commands": names},
               ("uninstall", "fish"): FISH_UNINSTALL}
    return scripts.get((action, shell))


def query_line(line: str, command: str) -> str:
    """``genflow train model=dd`` -> ``genflow model=dd``: Hydra strips the first word (the app's name)
    and completes the overrides after it; the command is not one of them."""
    match = re.match(rf"\s*\S+\s+{re.escape(command)}(?=\s|$)", line)
    return "genflow" + line[match.end():] if match else line


def other_commands_groups(config_name: str) -> set[str]:
    """The groups genflow ships that the command's config does not use (sample and eval use no model=)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        shipped = set(GlobalHydra.instance().config_loader().list_groups("")) - {"hydra"}
        used = {group.split("/")[0] for group in compose(config_name, return_hydra_config=True).hydra.runtime.choices}
    GlobalHydra.instance().clear()
    return shipped - used


def drop_other_commands_groups(answer: str, config_name: str) -> str:
    """Hydra's completion candidates (space- or line-separated) without other commands' groups."""
    unused = other_commands_groups(config_name)
    separator = "\n" if "\n" in answer.strip() else " "
    words = [w for w in answer.split() if re.split(r"[=/.]", w.lstrip("+~"), maxsplit=1)[0] not in unused]
    return separator.join(word for w in words for word in nested_group_choices(w))


def nested_group_choices(word: str) -> list[str]:
    """Hydra answers a group that holds subgroups (``model`` with ``model/base``, ``path`` with
    ``path/schedule``) with its bare name; offer its two completions, the option and the subgroup."""
    return [f"{word}=", f"{word}/"] if re.fullmatch(r"[+~]?[\w-]+", word) else [word]
