import os
import subprocess
import sys
from pathlib import Path

# One intra-op thread per test process (and its subprocesses): the suite runs two processes at a time
# (pytest -n 2), and on a busy machine two threads per process spin-wait on each other (a small U-Net's
# forward took 1.2 s with two threads against 0.18 s with one under a load of 8 on 2 cores).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

os.environ.setdefault("WANDB_MODE", "disabled")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def run_cli(*args, cwd, timeout=300, check=True):
    """Run ``genflow <args>`` as a user would, in ``cwd``; returns the CompletedProcess."""
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "genflow", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"genflow {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def find_run(root: Path, pattern: str = "*") -> Path:
    """The newest run directory under root/outputs (by last write: runs started in the same second are
    <time>_... and <time>-2_..., which do not sort by name in the order they were made)."""
    runs = sorted((p for p in (root / "outputs").glob(f"*/{pattern}") if p.is_dir()), key=lambda p: p.stat().st_mtime_ns)
    assert runs, f"no run directory under {root / 'outputs'}"
    return runs[-1]


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    """A 2-step DDPM checkpoint on moons (16 hidden units), written as genflow train writes it
    (through genflow's checkpoint IO, with the umask 022)."""
    from genflow.app.checkpoints import AtomicCheckpointIO
    from genflow.app.compose import build_run, quiet_trainer

    _, dm, module = build_run(["net.hidden=16", "net.depth=1", "path.num_steps=50", "data.num_samples=256",
                               "data.batch_size=64"])
    trainer = quiet_trainer(2, plugins=[AtomicCheckpointIO()])
    trainer.fit(module, datamodule=dm)
    path = tmp_path_factory.mktemp("tiny_ckpt") / "tiny.ckpt"
    old = os.umask(0o022)
    try:
        trainer.save_checkpoint(path, weights_only=False)
    finally:
        os.umask(old)
    return path
