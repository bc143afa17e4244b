import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


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
    runs = sorted(p for p in (root / "outputs").glob(f"*/{pattern}") if p.is_dir())
    assert runs, f"no run directory under {root / 'outputs'}"
    return runs[-1]
