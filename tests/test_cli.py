"""The genflow command as a user runs it: train -> checkpoint -> sample, help, errors."""

import json

import numpy as np
import pytest
import torch

from conftest import find_run, run_cli

TINY = ["trainer.max_steps=30", "num_samples=200", "plot_every_n_steps=20", "checkpoint_every_n_steps=20",
        "path.num_steps=50", "data.num_samples=2000", "trainer.log_every_n_steps=10"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    proc = run_cli("train", *TINY, cwd=root)
    (root / "train_output.txt").write_text(proc.stdout + proc.stderr)
    return root, find_run(root)


def test_train_leaves_checkpoint_picture_metrics_and_config(trained_run):
    _, run = trained_run
    for name in ("checkpoints/last.ckpt", "samples.png", "metrics.json", "metrics.csv", "config.yaml",
                 "samples/step_0000020.png"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["step"] == 30 and metrics["nfe"] == 50
    assert np.isfinite(metrics["sliced_wasserstein"])
    ckpt = torch.load(run / "checkpoints/last.ckpt", weights_only=False)
    assert ckpt["genflow"]["config"]["data"]["name"] == "moons" and "ema.module.net.body.0.weight" in ckpt["state_dict"]
    assert "train/loss" in (run / "metrics.csv").read_text()


def test_train_shows_a_progress_bar_and_no_lightning_advert(trained_run):
    output = (trained_run[0] / "train_output.txt").read_text()
    assert "Epoch " in output and "train/loss" in output, output[-2000:]
    assert "Tip" not in output, output[-2000:]


def test_sample_writes_samples_and_picture(trained_run):
    root, run = trained_run
    run_cli("sample", f"ckpt={run}/checkpoints/last.ckpt", "num_samples=300", "sampler.num_steps=10",
            "sampler=ancestral", cwd=root)
    out = find_run(root, "*_sample")
    data = np.load(out / "samples.npz")
    assert data["x"].shape == (300, 2) and np.isfinite(data["x"]).all() and int(data["nfe"]) == 10
    assert (out / "samples.png").stat().st_size > 1000


def test_sample_accepts_a_run_directory_and_the_trained_sampler(trained_run):
    root, run = trained_run
    run_cli("sample", f"ckpt={run}", "num_samples=50", cwd=root)
    assert np.load(find_run(root, "*_sample") / "samples.npz")["x"].shape == (50, 2)


def test_sample_and_eval_run_on_the_chosen_device(trained_run):
    root, run = trained_run
    run_cli("sample", f"ckpt={run}", "num_samples=20", "device=cpu", cwd=root)
    assert json.loads((find_run(root, "*_sample") / "metrics.json").read_text())["device"] == "cpu"
    bad = [("device=tpu", "choose one of auto, cpu, cuda, cuda:N, mps")]
    if not torch.cuda.is_available():
        bad.append(("device=cuda", "no CUDA GPU is visible to PyTorch; use device=cpu or device=auto"))
    for command in ("sample", "eval"):
        for arg, needle in bad:
            proc = run_cli(command, f"ckpt={run}", arg, cwd=root, check=False)
            err = proc.stderr.strip()
            assert proc.returncode == 2 and needle in err and len(err.splitlines()) == 1, err


def test_user_file_data_round_trips_units(tmp_path):
    pts = np.random.default_rng(0).normal(size=(3000, 2)) * [10.0, 0.5] + [100.0, -7.0]
    np.save(tmp_path / "points.npy", pts)
    run_cli("train", "data=file", f"data.path={tmp_path / 'points.npy'}", *TINY[:4], "path.num_steps=50",
            "trainer.max_steps=300", cwd=tmp_path)
    run = find_run(tmp_path)
    run_cli("sample", f"ckpt={run}", "num_samples=2000", cwd=tmp_path)
    x = np.load(find_run(tmp_path, "*_sample") / "samples.npz")["x"]
    assert abs(x[:, 0].mean() - 100) < 3 and abs(x[:, 1].mean() + 7) < 0.3
    assert 5 < x[:, 0].std() < 15 and 0.25 < x[:, 1].std() < 0.75


def test_help_and_cfg(tmp_path):
    top = run_cli("--help", cwd=tmp_path).stdout
    assert "train" in top and "sample" in top and "eval" in top
    hydra_help = run_cli("train", "--help", cwd=tmp_path).stdout
    for group in ("model", "net", "data", "schedule", "sampler", "guidance", "trainer", "logger"):
        assert f"{group}:" in hydra_help
    job = run_cli("train", "--cfg", "job", "model=ddpm", "path/schedule=cosine", cwd=tmp_path).stdout
    assert "CosineSchedule" in job and "DiffusionModule" in job


@pytest.mark.parametrize("args,needle", [
    (["train", "model=nope"], "valid choices for model: ddpm"),
    (["train", "data=nope"], "valid choices for data:"),
    (["train", "trainer.max_steps=abc"], "trainer.max_steps='abc': expected an integer"),
    (["train", "no_such_key=1"], "Could not override 'no_such_key'"),
    (["sample", "ckpt=/nonexistent/last.ckpt"], "/nonexistent/last.ckpt"),
    (["sample"], "ckpt"),
    (["frobnicate"], "valid commands: train, sample, eval"),
    (["train", "model=ncsn", "path/schedule=linear"], "needs path/schedule=geometric"),
    (["train", "path.num_steps=4"], "path.num_steps=4 is too few for this schedule"),
    (["train", "model=ffjord", "sampler=annealed_langevin"], "does not apply to a continuous normalizing flow"),
])
def test_bad_input_is_one_line_without_traceback(tmp_path, args, needle):
    proc = run_cli(*args, cwd=tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert needle in err and "Traceback" not in err
    assert len(err.splitlines()) == 1, err


def test_corrupted_checkpoint_is_one_line(tmp_path):
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    proc = run_cli("sample", f"ckpt={tmp_path / 'bad.ckpt'}", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "not a readable checkpoint" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_flow_matching_eval_nll_and_reflow(tmp_path):
    run_cli("train", "model=flow_matching", *TINY[:4], "trainer.log_every_n_steps=10", "data.num_samples=2000",
            "sampler.method=euler", "sampler.num_steps=10", "trainer.max_steps=100", cwd=tmp_path)
    teacher = find_run(tmp_path, "*flow_matching*")
    run_cli("eval", f"ckpt={teacher}", "metric=nll", "num_points=200", cwd=tmp_path)
    metrics = json.loads((find_run(tmp_path, "*_eval_nll") / "metrics.json").read_text())
    assert metrics["nll_nats"] < metrics["prior_nll_nats"] and metrics["nfe"] > 0
    run_cli("train", "model=rectified_flow", f"teacher={teacher}", "reflow.num_pairs=512", "reflow.method=euler",
            "reflow.num_steps=10", *TINY[:4], "sampler.method=euler", "sampler.num_steps=5", cwd=tmp_path)
    student = find_run(tmp_path, "*rectified_flow*")
    assert (student / "checkpoints/last.ckpt").is_file()
    assert json.loads((student / "metrics.json").read_text())["nfe"] == 5


def test_sampler_that_does_not_apply_is_one_line(tmp_path):
    run_cli("train", "model=ffjord", "trainer.max_steps=2", "num_samples=20", "model.objective.num_steps=2",
            "plot_every_n_steps=0", cwd=tmp_path)
    proc = run_cli("sample", f"ckpt={find_run(tmp_path)}", "sampler=euler_maruyama", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "use sampler=pf_ode" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_guidance_from_the_cli(tmp_path, trained_run):
    _, unconditional = trained_run
    run_cli("train", "data=eight_gaussians", "conditional=true", *TINY, cwd=tmp_path)
    conditional = find_run(tmp_path, "*ddpm_eight_gaussians")
    run_cli("sample", f"ckpt={conditional}", "guidance=cfg", "guidance.scale=3", "guidance.label=[0,3]",
            "num_samples=50", "sampler=ancestral", "sampler.num_steps=5", cwd=tmp_path)
    data = np.load(find_run(tmp_path, "*_sample") / "samples.npz")
    assert data["x"].shape == (100, 2) and sorted(set(data["labels"].tolist())) == [0, 3]
    run_cli("train", "model=noisy_classifier", "data=eight_gaussians", *TINY, cwd=tmp_path)
    classifier = find_run(tmp_path, "*noisy_classifier*")
    assert json.loads((classifier / "metrics.json").read_text())["accuracy_t0.01"] > 0.3
    run_cli("sample", f"ckpt={conditional}", "guidance=classifier", f"guidance.classifier_ckpt={classifier}",
            "guidance.label=2", "num_samples=40", "sampler=ancestral", "sampler.num_steps=5", cwd=tmp_path)
    assert np.load(find_run(tmp_path, "*_sample") / "samples.npz")["x"].shape == (40, 2)
    for args, needle in (([f"ckpt={unconditional}", "guidance=cfg"], "needs a conditional model"),
                         ([f"ckpt={conditional}", "guidance=cfg", "guidance.label=8"], "outside the data set's classes")):
        proc = run_cli("sample", *args, cwd=tmp_path, check=False)
        assert proc.returncode == 2 and needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_multirun_sweep_writes_one_run_per_job(tmp_path):
    run_cli("train", "-m", "model=ddpm,flow_matching", "data=moons", "trainer.max_steps=10", "num_samples=50",
            "plot_every_n_steps=0", "sampler.num_steps=5", cwd=tmp_path)
    jobs = sorted(p.name for p in (tmp_path / "outputs" / "multirun").glob("*/*/*") if p.is_dir())
    assert [j.split("_", 1)[1] for j in jobs] == ["ddpm_moons", "flow_matching_moons"], jobs
    for ckpt in (tmp_path / "outputs" / "multirun").glob("*/*/*/checkpoints/last.ckpt"):
        assert torch.load(ckpt, weights_only=False)["global_step"] == 10
    assert len(list((tmp_path / "outputs" / "multirun").glob("*/*/*/checkpoints/last.ckpt"))) == 2


def test_edm_trains_on_moons_from_the_cli(tmp_path):
    """genflow train model=edm: the preconditioned x0 network on EDM's path, its PF-ODE on the Karras grid; the
    checkpoint restores the preconditioning and samples with another of the existing samplers."""
    from genflow.modules.loading import load_module
    from genflow.samplers.ddim import DDIMSampler

    run_cli("train", "model=edm", "data=moons", "trainer.max_steps=20", "net.hidden=16", "num_samples=200",
            "plot_every_n_steps=0", "data.num_samples=2000", cwd=tmp_path)
    run = find_run(tmp_path, "*edm_moons")
    config = (run / "config.yaml").read_text()
    assert "preconditioning: edm" in config and "KarrasGrid" in config and "weighting: edm" in config
    assert np.isfinite(json.loads((run / "metrics.json").read_text())["energy_distance"])
    module = load_module(run)
    assert module.denoiser.preconditioning is not None and module.denoiser.sigma_data == 1.0
    x, nfe = module.generate(DDIMSampler(num_steps=10, progress=False), 50)
    assert nfe == 10 and torch.isfinite(x).all()
