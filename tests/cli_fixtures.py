"""Fixtures that run the genflow command in this process (no interpreter start, no torch import per call) and
one tiny trained run shared by the tests that only need "a checkpoint". Import the fixtures a test file uses:
``from cli_fixtures import genflow_main, tiny_run  # noqa: F401``."""

import os
import sys
from pathlib import Path

import pytest

# A run that trains in seconds: 5 steps of a 16-unit MLP on 500 points, no pictures, no progress bar.
TINY_TRAIN = ["trainer.max_steps=5", "net.hidden=16", "data.num_samples=500", "plot_every_n_steps=0",
              "num_samples=50", "progress_refresh_per_second=0"]
IN_PROCESS_ENV = (("HYDRA_FULL_ERROR", "0"), ("GENFLOW_ONE_LINE_ERRORS", "1"), ("GENFLOW_HOST_TUNING", "0"))


def call_main(*args) -> int:
    """``genflow <args>`` through genflow's entry point in this process; returns the exit code. A process runs
    one job, so genflow remembers the run directory it made; forget it, so that this call makes its own."""
    from genflow.app import rundir
    from genflow.app.cli import main

    rundir._CREATED.clear()

    try:
        code = main(list(args))
    except SystemExit as e:
        code = e.code
    return 0 if code is None else code


@pytest.fixture
def genflow_main(monkeypatch, capsys, tmp_path):
    """``genflow <args>`` in this process, run in ``tmp_path``: returns (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["genflow"])
    for name, value in IN_PROCESS_ENV:
        monkeypatch.setenv(name, value)

    def run(*args):
        capsys.readouterr()
        code = call_main(*args)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def train_once(root: Path, *args) -> Path:
    """``genflow train <args> hydra.run.dir=run`` in this process, in ``root``, for a module- or session-scoped
    fixture (no monkeypatch there); returns the run directory."""
    cwd, argv, env = os.getcwd(), sys.argv, {name: os.environ.get(name) for name, _ in IN_PROCESS_ENV}
    os.environ.update(dict(IN_PROCESS_ENV))
    sys.argv = ["genflow"]
    try:
        os.chdir(root)
        code = call_main("train", *args, "hydra.run.dir=run")
    finally:
        os.chdir(cwd)
        sys.argv = argv
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert code == 0, f"genflow train {' '.join(args)} failed ({code})"
    return root / "run"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The directory of a 5-step DDPM run (50 noise levels) on moons made by ``genflow train`` (in this process),
    once per session."""
    return train_once(tmp_path_factory.mktemp("tiny_run"), *TINY_TRAIN, "path.num_steps=50")


def trained_anything(root: Path) -> bool:
    """Whether any run under ``root`` got as far as writing a checkpoint (refusals must come before training)."""
    return any(root.rglob("*.ckpt"))
