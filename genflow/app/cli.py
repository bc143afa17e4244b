"""The ``genflow`` console script: ``genflow train|sample|eval [hydra overrides]``."""

from __future__ import annotations

import importlib
import sys

from genflow.errors import UserError

COMMANDS = {
    "train": ("genflow.app.train", "train", "train a model (Hydra app: genflow train --help)"),
    "sample": ("genflow.app.sample", "sample", "draw samples from a checkpoint: genflow sample ckpt=<run>/checkpoints/last.ckpt"),
    "eval": ("genflow.app.evaluate", "eval", "evaluate a checkpoint: genflow eval ckpt=... metric=nll"),
}

USAGE = """usage: genflow <command> [hydra overrides] [--help] [--cfg job] [-m]

Train and sample diffusion, score-based, flow-matching and CNF models.

commands:
{commands}

examples:
  genflow train                                   # DDPM on 2D moons, about a minute on CPU
  genflow train model=ddpm data=checkerboard trainer.max_steps=5000
  genflow sample ckpt=outputs/<run>/checkpoints/last.ckpt num_samples=2000
  genflow train --cfg job                         # print the composed config
"""


def usage() -> str:
    cmds = "\n".join(f"  {name:<8}{desc}" for name, (_, _, desc) in COMMANDS.items())
    return USAGE.format(commands=cmds)


def _error(message: str) -> int:
    print(f"genflow: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from genflow import __version__

        print(f"genflow {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        return _error(f"unknown command {command!r}; valid commands: {', '.join(COMMANDS)}")
    module_name, config_name, _ = COMMANDS[command]
    if not any(a in ("--help", "-h", "--hydra-help", "--shell-completion", "-sc") for a in rest):
        from genflow.app.validation import validate

        try:
            validate(config_name, rest)
        except UserError as e:
            return _error(" ".join(str(e).split()))
    from genflow.app import runtime
    from genflow.app.host import tune_host

    tune_host()  # malloc keeps freed activations; no failing NVML probe per optimizer step
    runtime.LAUNCH_ARGV = list(sys.argv)  # what Lightning's DDP launcher must re-run for the other ranks
    sys.argv = [f"genflow {command}", *rest]
    importlib.import_module(module_name).main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
