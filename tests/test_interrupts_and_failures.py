"""Signals, full disks, read-only directories and diverging losses: an interrupted or failed run
says so in one line with a non-zero exit code, keeps its last good checkpoint and never reports
success; a run that diverged to finite garbage warns."""

import errno
import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cli_fixtures import genflow_main  # noqa: F401
from genflow.app import rundir
from genflow.app.divergence import LossDivergence, sample_warnings
from genflow.modules.loading import load_module

SMALL = ["data.num_samples=500", "data.batch_size=64", "path.num_steps=50", "num_samples=50", "net.hidden=16",
         "plot_every_n_steps=0", "progress_refresh_per_second=0", "checkpoint_every_n_steps=5"]
ENV = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"}


def wait_for(pattern: str, proc: subprocess.Popen, timeout: float = 240) -> None:
    start = time.monotonic()
    while not glob.glob(pattern):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() - start < timeout, f"{pattern} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_the_current_step_and_exits_non_zero(tmp_path, sig, code):
    # SIG_DFL: a suite started in the background of a non-interactive shell ignores SIGINT, and so would the child
    proc = subprocess.Popen([sys.executable, "-m", "genflow", "train", *SMALL, "trainer.max_steps=1000000"],
                            cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # any periodic checkpoint: each replaces the one before, so step 5's may live for a few milliseconds only
    wait_for(str(tmp_path / "outputs/*/*/checkpoints/step_*.ckpt"), proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    last_line = err.strip().splitlines()[-1]
    assert proc.returncode == code, err[-2000:]
    assert last_line.startswith(f"genflow: error: interrupted by {sig.name} at step ") and "Traceback" not in err
    run = Path(glob.glob(str(tmp_path / "outputs/*/*"))[0])
    step = int(last_line.split(" at step ")[1].split(";")[0])
    assert not (run / "metrics.json").exists()  # never reported as a success
    assert torch.load(run / "checkpoints/last.ckpt", weights_only=True)["global_step"] == step >= 5
    assert (run / f"checkpoints/step_{step:07d}.ckpt").is_file()
    load_module(run)  # the interrupt checkpoint is whole (checksum verified)


def test_a_full_disk_is_one_line_and_keeps_the_last_good_checkpoint(tmp_path, genflow_main, monkeypatch):
    save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("global_step", 0) > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    code, _, stderr = genflow_main("train", *SMALL, "trainer.max_steps=12")
    err = stderr.strip().splitlines()
    assert code == 1 and "Traceback" not in stderr, stderr[-2000:]
    assert "No space left on device [ENOSPC]" in err[-1] and "the last good checkpoint is kept" in err[-1]
    run = Path(glob.glob(str(tmp_path / "outputs/*/*"))[0])
    assert torch.load(run / "checkpoints/last.ckpt", weights_only=True)["global_step"] == 5
    assert not (run / "metrics.json").exists() and not list(run.glob("checkpoints/.*.tmp"))


def test_a_read_only_output_directory_is_one_line(tmp_path, monkeypatch, capsys):
    def read_only(self, data):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "write_bytes", read_only)
    config = {"hydra": {"run": {"dir": str(tmp_path / "run")}}}
    from omegaconf import OmegaConf

    with pytest.raises(SystemExit) as e:
        rundir.RunDirectoryGuard().on_run_start(OmegaConf.create(config))
    err = capsys.readouterr().err.strip()
    assert e.value.code == 1 and len(err.splitlines()) == 1
    assert "cannot write into hydra.run.dir=" in err and "Read-only file system [EROFS]" in err


def losses_through(monitor: LossDivergence, values) -> LossDivergence:
    class T:
        global_step = 0

    for i, v in enumerate(values):
        T.global_step = i + 1
        monitor.on_train_batch_end(T, None, {"loss": torch.tensor(float(v))}, None, i)
    return monitor


def test_a_loss_that_diverges_to_finite_garbage_warns():
    calm = losses_through(LossDivergence(), [1.0] * 50 + [0.5] * 200)
    assert calm.warnings() == []
    noisy_nll = losses_through(LossDivergence(), [-1.0, -1.5, -1.2, -1.6] * 60)  # a likelihood loss below zero
    assert noisy_nll.warnings() == []
    exploded = losses_through(LossDivergence(), [1.0] * 50 + [0.5] * 50 + [1e6] * 200)
    assert "the training loss diverged" in exploded.warnings()[0]
    assert sample_warnings({"sliced_wasserstein": 5.0, "prior_sliced_wasserstein": 0.3})
    assert sample_warnings({"sliced_wasserstein": 0.1, "prior_sliced_wasserstein": 0.3}) == []


def test_a_signal_during_a_checkpoint_write_waits_for_the_file_to_be_whole(tmp_path):
    """SIGINT sent while torch.save writes is held until the file is complete, then raised as the interrupt
    (inside the write it broke the zip writer: a RuntimeError and a crash instead of exit 130)."""
    import os

    from genflow.app.checkpoints import AtomicCheckpointIO

    state = {"w": torch.zeros(1000, 1000)}
    sent = []
    real_save = torch.save

    def save_and_signal(obj, f, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the write
        sent.append(1)
        return real_save(obj, f, *args, **kwargs)

    torch.save = save_and_signal
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)  # also where the runner ignores SIGINT
    try:
        with pytest.raises(KeyboardInterrupt):
            AtomicCheckpointIO().save_checkpoint(state, tmp_path / "last.ckpt")
    finally:
        torch.save = real_save
        signal.signal(signal.SIGINT, handler)
    assert sent and torch.load(tmp_path / "last.ckpt", weights_only=True)["w"].shape == (1000, 1000)
    assert not list(tmp_path.glob(".*.tmp"))
