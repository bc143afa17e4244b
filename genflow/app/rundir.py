"""Run directories that are never shared: every run writes into a directory of its own.

- Default directories (``hydra.run.dir`` / ``hydra.sweep.dir`` in train / sample / eval.yaml) are
  made by the ``genflow.new_dir`` resolver: ``${genflow.new_dir:<stem>,<tail>}`` creates
  ``<stem><tail>`` with an atomic ``mkdir``, or ``<stem>-2<tail>``, ``<stem>-3<tail>``, ... when
  another run (another process, even on another machine sharing the disk) took it first. So two
  runs started in the same second get two directories. The name is remembered for the process
  (and by OmegaConf's resolver cache, which Hydra copies into every job of a sweep).
- ``RunDirectoryGuard`` (a Hydra callback, before Hydra writes anything into the directory) refuses
  an explicit ``hydra.run.dir`` / ``hydra.sweep.dir`` that already holds a run's files, unless the
  run resumes from a checkpoint in that very directory (``genflow train hydra.run.dir=<run>
  resume=<run>``). Processes that Lightning's DDP launcher starts for the other ranks reuse rank
  0's directory and are let through.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from genflow.app.failures import check_writable, describe

# What a genflow run writes into its directory (Hydra's own files included): an explicit directory
# holding any of these already holds a run.
RUN_FILES = ("checkpoints", "config.yaml", "metrics.json", "metrics.csv", "samples.npz", "samples.png", "samples",
             ".hydra", "train.log", "sample.log", "eval.log", "hparams.yaml", "tensorboard", "wandb", "multirun.yaml")

_CREATED: dict[tuple[str, str], str] = {}


def new_dir(stem: str, tail: str = "") -> str:
    """Create ``<stem><tail>`` (or ``<stem>-k<tail>`` for the first free k >= 2) atomically; return it.
    A process of another rank started by a cluster launcher (srun) shares rank 0's ``<stem><tail>``."""
    key = (str(stem), str(tail))
    if key not in _CREATED and is_launched_rank():
        _CREATED[key] = f"{stem}{tail}"
    if key not in _CREATED:
        Path(str(stem)).parent.mkdir(parents=True, exist_ok=True)
        k = 1
        while True:
            path = f"{stem}{'' if k == 1 else f'-{k}'}{tail}"
            try:
                os.mkdir(path)
                break
            except FileExistsError:
                k += 1
        _CREATED[key] = path
    return _CREATED[key]


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("genflow.new_dir"):
        OmegaConf.register_new_resolver("genflow.new_dir", new_dir, use_cache=True)


def is_launched_rank() -> bool:
    """True in a process of a rank other than 0: started by Lightning's DDP launcher (it passes rank
    0's run directory) or by a cluster launcher."""
    return any(os.environ.get(k, "0") not in ("0", "") for k in ("LOCAL_RANK", "NODE_RANK", "RANK", "SLURM_PROCID"))


def run_files(directory: Path) -> list[str]:
    """The names in ``directory`` that a run would write (empty when it holds no run)."""
    if not directory.is_dir():
        return []
    return sorted(name for name in RUN_FILES if (directory / name).exists())


def resumes_into(config, directory: Path) -> bool:
    resume = OmegaConf.select(config, "resume", default=None)
    if not resume:
        return False
    target = Path(str(resume)).expanduser().resolve()
    here = directory.resolve()
    return target == here or here in target.parents


def refuse(message: str, code: int = 2) -> None:
    """One line on stderr and exit (Hydra would print a traceback for an exception raised here)."""
    print(f"genflow: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def chosen_dir(config, key: str) -> Path:
    """``config.<key>`` resolved (for a default directory: created); a failure to create it is one line, exit 1."""
    try:
        directory = Path(str(OmegaConf.select(config, key)))
    except Exception as e:  # OmegaConf wraps the resolver's OSError
        cause = e.__cause__ if isinstance(e.__cause__, OSError) else e
        refuse(f"cannot create the run directory ({key}): {describe(cause) if isinstance(cause, OSError) else cause}",
               code=1)
    problem = check_writable(directory)
    if problem:
        refuse(f"cannot write into {key}={str(directory)!r}: {problem}", code=1)
    return directory


class RunDirectoryGuard(Callback):
    def on_run_start(self, config, **kwargs) -> None:
        if is_launched_rank():
            return
        value = OmegaConf.select(config, "hydra.run.dir", throw_on_resolution_failure=False)
        directory = Path(str(value))
        found = run_files(directory) if value else []
        if found and not resumes_into(config, directory):
            resume = (f", or continue that run: genflow train hydra.run.dir={directory} resume={directory}"
                      if "resume" in config else "")
            refuse(f"hydra.run.dir={str(directory)!r} already holds a run ({', '.join(found)}); choose a new "
                   f"directory{resume}")
        chosen_dir(config, "hydra.run.dir")

    def on_multirun_start(self, config, **kwargs) -> None:
        if is_launched_rank():
            return
        directory = chosen_dir(config, "hydra.sweep.dir")
        if any(directory.iterdir()):
            refuse(f"hydra.sweep.dir={str(directory)!r} already holds a sweep; choose a new directory")


def keep_earlier_config(path: Path) -> Path | None:
    """Before a resumed run writes ``config.yaml`` into the directory of the run it continues, keep
    the earlier one as ``config.<k>.yaml`` (k = 1, 2, ... in order). Returns where it went."""
    if not path.is_file():
        return None
    k = 1
    while (path.with_name(f"{path.stem}.{k}{path.suffix}")).exists():
        k += 1
    kept = path.with_name(f"{path.stem}.{k}{path.suffix}")
    path.rename(kept)
    return kept
