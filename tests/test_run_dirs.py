"""Runs never share files: default run directories are unique even within one second, an explicit
directory that holds a run is refused unless the run resumes into it, and a run resumed into its
own directory appends to metrics.csv and keeps the earlier config."""

import csv
import os
import subprocess
import sys

import numpy as np
import yaml

from cli_fixtures import genflow_main  # noqa: F401
from genflow.app import rundir
from genflow.app.loggers import CSVLogger


def test_two_runs_in_the_same_second_get_two_directories(tmp_path):
    stem = str(tmp_path / "outputs" / "2026-01-01" / "12-00-00")
    first = rundir.new_dir(stem, "_ddpm_moons")
    assert rundir.new_dir(stem, "_ddpm_moons") == first  # one process asks again: the same directory
    rundir._CREATED.clear()  # another process, the same second
    second = rundir.new_dir(stem, "_ddpm_moons")
    assert first.endswith("12-00-00_ddpm_moons") and second.endswith("12-00-00-2_ddpm_moons")
    assert os.path.isdir(first) and os.path.isdir(second)
    rundir._CREATED.clear()


def test_concurrent_sample_runs_keep_both_outputs(tiny_ckpt, tmp_path):
    """Both runs ask for the same default directory name at once (as two runs started in the same second)."""
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
    same_name = "hydra.run.dir=${genflow.new_dir:outputs/same,_sample}"
    procs = [subprocess.Popen([sys.executable, "-m", "genflow", "sample", f"ckpt={tiny_ckpt}", "num_samples=20",
                               f"seed={seed}", same_name], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    runs = sorted(tmp_path.glob("outputs/same*_sample"))
    assert [r.name for r in runs] == ["same-2_sample", "same_sample"]
    a, b = (np.load(r / "samples.npz")["x"] for r in runs)
    assert a.shape == b.shape == (20, 2) and not np.allclose(a, b)  # two seeds, two files


def test_an_explicit_directory_holding_a_run_is_refused_untouched(tiny_ckpt, tmp_path, genflow_main):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("earlier: run\n")
    (run / "samples.npz").write_bytes(b"earlier samples")
    code, _, err = genflow_main("sample", f"ckpt={tiny_ckpt}", f"hydra.run.dir={run}")
    err = err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "already holds a run (.hydra, samples.npz)" in err
    assert (run / ".hydra" / "config.yaml").read_text() == "earlier: run\n"
    assert (run / "samples.npz").read_bytes() == b"earlier samples"
    assert sorted(p.name for p in run.iterdir()) == [".hydra", "samples.npz"]


def test_the_csv_logger_keeps_the_rows_already_there(tmp_path):
    with open(tmp_path / "metrics.csv", "w", newline="") as f:
        f.write("step,train/loss\n0,1.5\n1,1.25\n")
    logger = CSVLogger(save_dir=str(tmp_path), name="", version="")
    logger.log_metrics({"train/loss": 1.0, "lr": 0.1}, step=2)
    logger.save()
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["step"], r["train/loss"]) for r in rows] == [("0", "1.5"), ("1", "1.25"), ("2", "1.0")]
    assert rows[2]["lr"] == "0.1" and rows[0]["lr"] == ""


def test_keep_earlier_config(tmp_path):
    config = tmp_path / "config.yaml"
    assert rundir.keep_earlier_config(config) is None
    config.write_text("a: 1\n")
    assert rundir.keep_earlier_config(config).name == "config.1.yaml"
    config.write_text("a: 2\n")
    assert rundir.keep_earlier_config(config).name == "config.2.yaml"
    assert not config.exists() and (tmp_path / "config.1.yaml").read_text() == "a: 1\n"


def test_resuming_into_its_own_directory_appends_and_applies_the_new_learning_rate(tmp_path, genflow_main):
    """...and a resume that is refused (another network) leaves the run's files as they were."""
    small = ["data.num_samples=500", "data.batch_size=64", "path.num_steps=50", "num_samples=50", "net.hidden=16",
             "plot_every_n_steps=0", "trainer.log_every_n_steps=1", "progress_refresh_per_second=0",
             "model.lr_schedule=constant"]  # the warm-up alone: lr * (step + 1) / 100
    run = tmp_path / "run"
    assert genflow_main("train", *small, "trainer.max_steps=6", "model.lr=2e-3", f"hydra.run.dir={run}")[0] == 0
    code, out, err = genflow_main("train", *small, "trainer.max_steps=12", f"hydra.run.dir={run}", f"resume={run}",
                                  "model.lr=1e-3")
    assert code == 0 and "applied: model.lr 0.002 -> 0.001, trainer.max_steps 6 -> 12" in out + err, err[-2000:]
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    losses = {int(r["step"]) for r in rows if r.get("train/loss")}
    assert losses == set(range(12))
    lr = {int(r["step"]): float(r["lr-AdamW"]) for r in rows if r.get("lr-AdamW")}
    assert np.isclose(lr[5], 2e-3 * 6 / 100) and np.isclose(lr[6], 1e-3 * 7 / 100)  # warm-up of 100 steps
    assert yaml.safe_load((run / "config.1.yaml").read_text())["model"]["lr"] == 0.002
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["lr"] == 0.001
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.suffix in (".yaml", ".csv", ".json")}
    code, _, err = genflow_main("train", *small, "net.hidden=32", f"hydra.run.dir={run}", f"resume={run}")
    assert code == 2 and "is another run: net.hidden 16 -> 32" in err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.suffix in (".yaml", ".csv", ".json")} \
        == before  # a refused resume leaves the run as it was
