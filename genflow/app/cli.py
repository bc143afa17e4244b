"""The ``genflow`` console script: ``genflow train|sample|eval [hydra overrides]``.

Each command is a Hydra app, and Hydra does the work: it parses the command line, composes the config
on its search path (``--config-dir``, ``hydra.searchpath``, plugins), validates it (group options, keys,
the types in ``genflow/conf/schema.py``), runs the job or the sweep, and completes shells. This script
only runs the app with ``HYDRA_FULL_ERROR=1``, so that Hydra raises its errors instead of printing a
traceback and exiting 1, and prints each as one line with exit code 2 (``hydra_errors``). Errors inside a
job reach Hydra as exceptions and are reported by the ``JobReport`` callback (``job_report``), so a
sweep goes on past a failing job and ends with a summary and exit code 1.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import os
import sys

from genflow.app.runtime import print_error

COMMANDS = {
    "train": ("genflow.app.train", "train", "train a model (Hydra app: genflow train --help)"),
    "sample": ("genflow.app.sample", "sample", "draw samples from a checkpoint: genflow sample ckpt=<run>/checkpoints/last.ckpt"),
    "eval": ("genflow.app.evaluate", "eval", "evaluate a checkpoint: genflow eval ckpt=... metric=nll"),
}

USAGE = """usage: genflow <command> [hydra overrides] [--help] [--cfg job] [-m] [--config-dir DIR]

Train and sample diffusion, score-based, flow-matching and CNF models.

commands:
{commands}

examples:
  genflow train                                   # DDPM on 2D moons, about a minute on CPU
  genflow train model=ddpm data=checkerboard trainer.max_steps=5000
  genflow train -m model=ddpm,flow_matching       # a sweep: one run per job, a summary at the end
  genflow sample ckpt=outputs/<run>/checkpoints/last.ckpt num_samples=2000
  genflow train --cfg job                         # print the composed config
  genflow train --config-dir my_conf net=wide     # my_conf/net/wide.yaml beside genflow's own configs
  eval "$(genflow --shell-completion install=bash)"   # tab completion of commands, groups and keys
"""

COMPLETION_FLAGS = {"--shell-completion", "-sc"}


def usage() -> str:
    cmds = "\n".join(f"  {name:<8}{desc}" for name, (_, _, desc) in COMMANDS.items())
    return USAGE.format(commands=cmds)


def _error(message: str) -> int:
    print_error(message)
    return 2


def completion(command: str | None, args: list[str]) -> int | None:
    """``--shell-completion install|uninstall=<shell>``: print genflow's script and return 0.
    ``query=<shell>`` (the script's question): point COMP_LINE at the overrides and return None, so that
    the command's Hydra app answers it."""
    from genflow.app.completion import query_line, script

    requests = [a.split("=", 1) for a in args if a.split("=", 1)[0] in ("install", "uninstall", "query")]
    if len(requests) != 1 or len(requests[0]) != 2:
        return _error("--shell-completion needs one of install=<shell>, uninstall=<shell>; valid shells: "
                      "bash, zsh, fish")
    action, shell = requests[0]
    if action == "query" and command is not None:
        os.environ["COMP_LINE"] = query_line(os.environ.get("COMP_LINE", ""), command)
        return None
    text = script(action, shell, list(COMMANDS))
    if text is None:
        return _error(f"--shell-completion {action}={shell}: valid shells: bash, zsh, fish")
    print(text, end="")
    return 0


def complete(command: str, args: list[str]) -> int:
    """Answer the completion script's query with Hydra's candidates for the command."""
    from genflow.app.completion import drop_other_commands_groups

    answer = io.StringIO()
    with contextlib.redirect_stdout(answer):
        code = run_hydra_app(hydra_app(command), command, args)
    print(drop_other_commands_groups(answer.getvalue(), COMMANDS[command][1]))
    return code


def run_job(module_name: str, cfg):
    """A job of the command: its module (torch, Lightning) is imported only now, once Hydra has composed
    and validated the config, so that bad input, --help, --cfg and completion answer at once. The
    module's ``@hydra.main`` function called with a config runs its task on it (Hydra's pass-through).
    A value left ``???`` (``genflow sample`` without ``ckpt=``) is refused first."""
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    from genflow.app.host import tune_host
    from genflow.app.runtime import JobError

    try:
        OmegaConf.to_container(cfg, throw_on_missing=True)
    except MissingMandatoryValue as e:
        raise JobError(f"missing required value {e.full_key}: pass {e.full_key}=...") from e

    tune_host()  # malloc keeps freed activations; no failing NVML probe per optimizer step
    return importlib.import_module(module_name).main(cfg)


def hydra_app(command: str):
    """The command's Hydra app: genflow's configs (``pkg://genflow.conf``) and the command's job."""
    import hydra

    module_name, config_name, _ = COMMANDS[command]
    return hydra.main(version_base=None, config_path="pkg://genflow.conf", config_name=config_name)(
        functools.partial(run_job, module_name))


def run_hydra_app(app, command: str, args: list[str]) -> int:
    """Run a Hydra app as ``genflow <command> <args>``; Hydra's errors become one line and exit code 2,
    a sweep with a failed job exits 1."""
    from genflow.app import hydra_errors, job_report, runtime
    from genflow.app.help import register_help_resolver
    from genflow.app.rundir import register_resolvers

    register_help_resolver()
    register_resolvers()  # ${genflow.new_dir:...} in hydra.run.dir, resolved before the job starts
    # the user's HYDRA_FULL_ERROR=1 keeps the tracebacks; the one set here (inherited by DDP ranks) does not
    runtime.SHOW_TRACEBACKS = os.environ.get("HYDRA_FULL_ERROR") == "1" and "GENFLOW_ONE_LINE_ERRORS" not in os.environ
    if not runtime.SHOW_TRACEBACKS:
        os.environ["GENFLOW_ONE_LINE_ERRORS"] = "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra's documented switch: raise, rather than print and exit 1
    sys.argv = [f"genflow {command}", *args]
    try:
        app()
    except Exception as e:  # noqa: BLE001 - Hydra's errors and the jobs' are formatted, others re-raised
        code = job_report.finish_sweep()
        if code:
            return code  # each failed job was reported in one line, then the sweep's summary
        message = None if runtime.SHOW_TRACEBACKS else hydra_errors.describe(e)
        if message is None:
            raise
        return _error(message)
    return job_report.finish_sweep() or 0


def main(argv: list[str] | None = None) -> int:
    try:
        return dispatch(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:  # genflow train --help | head: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from genflow import __version__

        print(f"genflow {__version__}")
        return 0
    if argv[0] in COMPLETION_FLAGS:
        return completion(None, argv[1:]) or 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        return _error(f"unknown command {command!r}; valid commands: {', '.join(COMMANDS)}")
    if any(a in COMPLETION_FLAGS for a in rest):
        done = completion(command, rest)
        return done if done is not None else complete(command, rest)
    from genflow.app import runtime

    runtime.LAUNCH_ARGV = list(sys.argv)  # what Lightning's DDP launcher must re-run for the other ranks
    return run_hydra_app(hydra_app(command), command, rest)


if __name__ == "__main__":
    sys.exit(main())
