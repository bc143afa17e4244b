"""The genflow command as a user runs it: train -> checkpoint -> sample, help, errors."""

import csv
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from cli_fixtures import TINY_TRAIN, genflow_main, tiny_run, trained_anything  # noqa: F401
from conftest import find_run, run_cli

TINY = ["trainer.max_steps=10", "num_samples=200", "plot_every_n_steps=5", "checkpoint_every_n_steps=5",
        "path.num_steps=50", "data.num_samples=500", "trainer.log_every_n_steps=5", "net.hidden=16"]


def run_ok(genflow_main, *args):
    """``genflow <args>`` in this process; fails the test with its stderr unless it exits 0."""
    code, out, err = genflow_main(*args)
    assert code == 0, f"genflow {' '.join(args)} failed ({code}):\n{err[-4000:]}"
    return out, err


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    proc = run_cli("train", *TINY, cwd=root)
    (root / "train_output.txt").write_text(proc.stdout + proc.stderr)
    return root, find_run(root)


def test_train_leaves_checkpoint_picture_metrics_and_config(trained_run):
    _, run = trained_run
    for name in ("checkpoints/last.ckpt", "samples.png", "metrics.json", "metrics.csv", "config.yaml",
                 "samples/step_0000005.png"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["step"] == 10 and metrics["nfe"] == 50
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


def test_sample_accepts_a_run_directory_and_the_trained_sampler(tiny_run, genflow_main, tmp_path):
    run_ok(genflow_main, "sample", f"ckpt={tiny_run}", "num_samples=50")
    data = np.load(find_run(tmp_path, "*_sample") / "samples.npz")
    assert data["x"].shape == (50, 2) and int(data["nfe"]) == 50  # the trained sampler: path.num_steps=50 ancestral


def test_sample_and_eval_run_on_the_chosen_device(tiny_run, genflow_main, tmp_path):
    run_ok(genflow_main, "sample", f"ckpt={tiny_run}", "num_samples=20", "device=cpu")
    assert json.loads((find_run(tmp_path, "*_sample") / "metrics.json").read_text())["device"] == "cpu"
    bad = [("device=tpu", "choose one of auto, cpu, cuda, cuda:N, mps")]
    if not torch.cuda.is_available():
        bad.append(("device=cuda", "no CUDA GPU is visible to PyTorch; use device=cpu or device=auto"))
    for command in ("sample", "eval"):
        for arg, needle in bad:
            code, _, err = genflow_main(command, f"ckpt={tiny_run}", arg)
            err = err.strip()
            assert code == 2 and needle in err and len(err.splitlines()) == 1, err


def test_a_redirected_sample_run_writes_a_small_log(trained_run):
    root, run = trained_run  # stdout and stderr are pipes, as in genflow sample ... > log 2>&1
    proc = run_cli("sample", f"ckpt={run}", "num_samples=500", "sampler=pf_ode", "sampler.rtol=1e-4",
                   "sampler.atol=1e-4", cwd=root)
    log = proc.stdout + proc.stderr
    assert len(log.encode()) < 3000, log
    assert "sampling pf_ode: started" in log and "sampling pf_ode: done in" in log
    assert "it/s]" not in log, log  # no tqdm bar


def test_python_api_draws_what_genflow_sample_draws(trained_run):
    import genflow

    root, run = trained_run
    run_cli("sample", f"ckpt={run}", "num_samples=64", "sampler=ddim", "sampler.num_steps=5", "seed=3", cwd=root)
    x_cli = np.load(find_run(root, "*_sample") / "samples.npz")["x"]
    x = genflow.load(run, device="cpu").sample(64, sampler="ddim", num_steps=5, seed=3, progress=False)
    np.testing.assert_array_equal(x.numpy(), x_cli)


def test_eval_refuses_a_data_file_of_another_shape_in_one_line(tiny_run, genflow_main, tmp_path):
    np.save(tmp_path / "points3d.npy", np.zeros((10, 3)))
    code, _, err = genflow_main("eval", f"ckpt={tiny_run}", "metric=nll", "data=file",
                                f"data.path={tmp_path / 'points3d.npy'}")
    err = err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "holds examples of shape (3,), but the checkpoint's model takes shape (2,)" in err


def test_user_file_data_round_trips_units(tmp_path, genflow_main):
    pts = np.random.default_rng(0).normal(size=(3000, 2)) * [10.0, 0.5] + [100.0, -7.0]
    np.save(tmp_path / "points.npy", pts)
    run_ok(genflow_main, "train", "data=file", f"data.path={tmp_path / 'points.npy'}", "num_samples=50",
           "plot_every_n_steps=0", "path.num_steps=50", "trainer.max_steps=200",
           "progress_refresh_per_second=0")
    run = find_run(tmp_path)
    run_ok(genflow_main, "sample", f"ckpt={run}", "num_samples=2000")
    x = np.load(find_run(tmp_path, "*_sample") / "samples.npz")["x"]
    assert abs(x[:, 0].mean() - 100) < 3 and abs(x[:, 1].mean() + 7) < 0.3
    assert 5 < x[:, 0].std() < 15 and 0.25 < x[:, 1].std() < 0.75


def test_help_lists_each_commands_own_groups_and_cfg_prints_the_config(genflow_main):
    code, top, _ = genflow_main("--help")
    assert code == 0 and "train" in top and "sample" in top and "eval" in top
    _, train_help, _ = genflow_main("train", "--help")
    for group in ("model", "net", "data", "path", "path/schedule", "grid", "sampler", "guidance", "trainer", "logger"):
        assert f"\n{group}: " in train_help, train_help
    assert "model: ddpm, edm, ffjord" in train_help and "(chosen: ddpm)" in train_help
    _, sample_help, _ = genflow_main("sample", "--help")
    assert "\nsampler: ancestral" in sample_help and "\nguidance: bridge, cfg, classifier, inpaint, none" in sample_help
    assert not any(f"\n{g}: " in sample_help for g in ("model", "data", "net", "trainer", "logger")), sample_help
    _, eval_help, _ = genflow_main("eval", "--help")
    assert "\nsampler: ancestral" in eval_help and "metric: nll" in eval_help and "\ndata: " in eval_help
    assert not any(f"\n{g}: " in eval_help for g in ("model", "guidance", "trainer")), eval_help
    code, job, _ = genflow_main("train", "--cfg", "job", "model=ddpm", "path/schedule=cosine")
    assert code == 0 and "CosineSchedule" in job and "DiffusionModule" in job


@pytest.mark.parametrize("args,needle", [
    (["train", "model=nope"], "model=nope is not an option; valid choices for model: ddpm, edm, ffjord"),
    (["train", "trainer.max_steps=abc"], "trainer.max_steps='abc': expected an integer"),
    (["sample", "ckpt=/nonexistent/last.ckpt"], "/nonexistent/last.ckpt"),
    (["sample"], "missing required value ckpt"),
    (["frobnicate"], "valid commands: train, sample, eval"),
    (["train", "model=ncsn", "path/schedule=linear"], "needs path/schedule=geometric"),
    (["train", "path.num_steps=4"], "path.num_steps=4 is too few for this schedule"),
    (["train", "model=ffjord", "sampler=annealed_langevin"], "does not apply to a continuous normalizing flow"),
])
def test_bad_input_is_one_line_without_traceback(tmp_path, genflow_main, args, needle):
    code, _, err = genflow_main(*args)
    assert code == 2, err
    err = err.strip()
    assert needle in err and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert not trained_anything(tmp_path), "refused only after training"


@pytest.mark.parametrize("args,needle", [
    (["train", "model=nope"], "model=nope is not an option; valid choices for model: ddpm, edm, ffjord"),
    (["train", "path.num_steps=4"], "path.num_steps=4 is too few for this schedule"),
])
def test_the_console_script_refuses_in_one_line_with_exit_code_2(tmp_path, args, needle):
    """The real ``python -m genflow``: a Hydra refusal and one of genflow's own, before training."""
    proc = run_cli(*args, cwd=tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert needle in err and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert not trained_anything(tmp_path)


@pytest.mark.parametrize("args,needle", [
    (["train", "data=nope"], "data=nope is not an option; valid choices for data: checkerboard, cifar10"),
    (["sample", "ckpt=x", "sampler=nope"], "valid choices for sampler: ancestral, annealed_langevin"),
    (["train", "hydra/launcher=nope"], "valid choices for hydra/launcher: basic, joblib, parallel"),
    (["train", "-m", "model=ddpm,nope"], "model=nope is not an option; valid choices for model:"),
    (["train", "no_such_key=1"], "no_such_key: no such key in the config; valid keys: seed,"),
    (["train", "no_such_key=1"], "add a new key with +no_such_key=1"),
    (["train", "trainer.max_step=5"], "did you mean trainer.max_steps"),
    (["train", "model.lrr=1e-3"], "model.lrr: no such key in model; did you mean model.lr?"),
    (["train", "guidance.scale=3"], "choose one with guidance=<option> (valid choices for guidance: bridge, cfg, classifier, inpaint, none)"),
    (["train", "seed=1.5"], "seed='1.5': expected an integer"),
    (["train", "trainer.enable_progress_bar=maybe"], "trainer.enable_progress_bar='maybe': expected a boolean"),
    (["eval", "ckpt=x", "num_points=many"], "num_points='many': expected an integer"),
    (["train", "model=ddpm,flow_matching"], "model=ddpm,flow_matching: several values; sweep over them with -m"),
    (["train", "+trainer=gpu"], "change it with trainer=<option>"),
    (["train", "model=[a"], "cannot parse 'model=[a'"),
    (["train", "--config-dir", "/nonexistent/conf"], "'/nonexistent/conf' not found"),
    (["train", "--shell-completion", "install=tcsh"], "valid shells: bash, zsh, fish"),
])
def test_hydra_refuses_bad_overrides_in_one_line(genflow_main, args, needle):
    """Hydra composes and validates (the schema's types, group options, keys); genflow prints one line."""
    code, out, err = genflow_main(*args)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not out


def test_corrupted_checkpoint_is_one_line(tmp_path, genflow_main):
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    code, _, err = genflow_main("sample", f"ckpt={tmp_path / 'bad.ckpt'}")
    assert code == 2 and "not a readable checkpoint" in err
    assert len(err.strip().splitlines()) == 1


def test_flow_matching_eval_nll_and_reflow(tmp_path, genflow_main):
    small = ["net.hidden=64", "data.num_samples=1000", "num_samples=50", "plot_every_n_steps=0",
             "progress_refresh_per_second=0"]
    run_ok(genflow_main, "train", "model=flow_matching", *small, "sampler.method=euler", "sampler.num_steps=10",
           "trainer.max_steps=200")
    teacher = find_run(tmp_path, "*flow_matching*")
    run_ok(genflow_main, "eval", f"ckpt={teacher}", "metric=nll", "num_points=100", "method=rk4", "num_steps=8")
    metrics = json.loads((find_run(tmp_path, "*_eval_nll") / "metrics.json").read_text())
    assert metrics["nll_nats"] < metrics["prior_nll_nats"] and metrics["nfe"] > 0
    run_ok(genflow_main, "train", "model=rectified_flow", f"teacher={teacher}", "reflow.num_pairs=128",
           "reflow.method=euler", "reflow.num_steps=4", *small, "trainer.max_steps=5", "sampler.method=euler",
           "sampler.num_steps=5")
    student = find_run(tmp_path, "*rectified_flow*")
    assert (student / "checkpoints/last.ckpt").is_file()
    assert json.loads((student / "metrics.json").read_text())["nfe"] == 5


def test_sampler_that_does_not_apply_is_one_line(tmp_path, genflow_main):
    run_ok(genflow_main, "train", "model=ffjord", "trainer.max_steps=2", "num_samples=20", "model.objective.num_steps=2",
           "plot_every_n_steps=0", "net.hidden=16", "data.num_samples=500", "progress_refresh_per_second=0")
    code, _, err = genflow_main("sample", f"ckpt={find_run(tmp_path)}", "sampler=euler_maruyama")
    assert code == 2 and "use sampler=pf_ode" in err
    assert len(err.strip().splitlines()) == 1


def test_guidance_from_the_cli(tmp_path, tiny_run, genflow_main):
    small = ["plot_every_n_steps=0", "path.num_steps=50",
             "data.num_samples=1000", "net.hidden=32", "progress_refresh_per_second=0"]
    run_ok(genflow_main, "train", "data=eight_gaussians", "conditional=true", *small, "trainer.max_steps=5",
           "num_samples=50")
    conditional = find_run(tmp_path, "*ddpm_eight_gaussians")
    run_ok(genflow_main, "sample", f"ckpt={conditional}", "guidance=cfg", "guidance.scale=3", "guidance.label=[0,3]",
           "num_samples=50", "sampler=ancestral", "sampler.num_steps=5")
    data = np.load(find_run(tmp_path, "*_sample") / "samples.npz")
    assert data["x"].shape == (100, 2) and sorted(set(data["labels"].tolist())) == [0, 3]
    run_ok(genflow_main, "train", "model=noisy_classifier", "data=eight_gaussians", *small, "trainer.max_steps=60",
           "num_samples=200")
    classifier = find_run(tmp_path, "*noisy_classifier*")
    assert json.loads((classifier / "metrics.json").read_text())["accuracy_t0.01"] > 0.3
    run_ok(genflow_main, "sample", f"ckpt={conditional}", "guidance=classifier", f"guidance.classifier_ckpt={classifier}",
           "guidance.label=2", "num_samples=40", "sampler=ancestral", "sampler.num_steps=5")
    assert np.load(find_run(tmp_path, "*_sample") / "samples.npz")["x"].shape == (40, 2)
    for args, needle in (([f"ckpt={tiny_run}", "guidance=cfg"], "needs a conditional model"),
                         ([f"ckpt={conditional}", "guidance=cfg", "guidance.label=8"], "outside the data set's classes")):
        code, _, err = genflow_main("sample", *args)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_multirun_sweep_writes_one_run_per_job(tmp_path):
    run_cli("train", "-m", "model=ddpm,flow_matching", "data=moons", "trainer.max_steps=10", "num_samples=50",
            "plot_every_n_steps=0", "sampler.num_steps=5", "net.hidden=16", "data.num_samples=500",
            "progress_refresh_per_second=0", cwd=tmp_path)
    jobs = sorted(p.name for p in (tmp_path / "outputs" / "multirun").glob("*/*/*") if p.is_dir())
    assert [j.split("_", 1)[1] for j in jobs] == ["ddpm_moons", "flow_matching_moons"], jobs
    for ckpt in (tmp_path / "outputs" / "multirun").glob("*/*/*/checkpoints/last.ckpt"):
        assert torch.load(ckpt, weights_only=False)["global_step"] == 10
    assert len(list((tmp_path / "outputs" / "multirun").glob("*/*/*/checkpoints/last.ckpt"))) == 2


SWEEP_TINY = ["trainer.max_steps=5", "net.hidden=16", "num_samples=20", "plot_every_n_steps=0", "data.num_samples=500",
              "progress_refresh_per_second=0"]


def test_a_sweep_survives_a_failing_job_and_ends_with_a_summary(tmp_path):
    proc = run_cli("train", "-m", "path.num_steps=4,50", *SWEEP_TINY, cwd=tmp_path, check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    failed = [line for line in proc.stderr.splitlines() if line.startswith("genflow: error: job #0")]
    assert len(failed) == 1 and "path.num_steps=4 is too few for this schedule" in failed[0], proc.stderr[-3000:]
    summary = proc.stderr[proc.stderr.index("genflow: sweep "):].splitlines()
    assert "1 of 2 jobs completed, 1 failed" in summary[0], summary
    assert summary[1].split()[:3] == ["#0", "failed", "path.num_steps=4"] and "too few" in summary[1], summary
    assert summary[2].split()[:3] == ["#1", "completed", "path.num_steps=50"], summary
    assert summary[2].split()[3].startswith("energy_distance="), summary  # its final metrics
    sweep = next((tmp_path / "outputs" / "multirun").glob("*/*"))
    records = json.loads((sweep / "sweep_summary.json").read_text())
    assert [(r["num"], r["status"]) for r in records] == [(0, "failed"), (1, "completed")]
    assert records[0]["exit_code"] == 2 and "too few" in records[0]["error"]
    with open(sweep / "sweep_summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["status"], r["path.num_steps"], r["step"]) for r in rows] == [("failed", "4", ""), ("completed", "50", "5")]
    assert (sweep / "1_ddpm_moons" / "checkpoints" / "last.ckpt").is_file()  # the job after the failure ran
    assert json.loads((sweep / "1_ddpm_moons" / "metrics.json").read_text())["step"] == 5


def test_a_users_config_dir_and_search_path(tmp_path, genflow_main):
    conf = tmp_path / "my_conf" / "net"
    conf.mkdir(parents=True)
    (conf / "wide.yaml").write_text("_target_: genflow.nets.mlp.MLP\nhidden: 24\ndepth: 2\ntime_dim: 16\n")
    code, job, _ = genflow_main("train", f"hydra.searchpath=[file://{tmp_path / 'my_conf'}]", "net=wide", "--cfg", "job")
    assert code == 0 and "hidden: 24" in job
    code, _, err = genflow_main("train", "--config-dir", str(tmp_path / "my_conf"), "net=wid")
    assert code == 2 and "valid choices for net: mlp, unet_ddpm_cifar10, unet_small, wide" in err
    tiny = [a for a in SWEEP_TINY if not a.startswith("net.")]
    run_ok(genflow_main, "train", "--config-dir", "my_conf", "net=wide", *tiny, "path.num_steps=50")
    run = find_run(tmp_path)
    assert "hidden: 24" in (run / "config.yaml").read_text()
    assert json.loads((run / "metrics.json").read_text())["step"] == 5


def completion_query(line: str, tmp_path) -> list[str]:
    command = line.split()[1]
    env = {**os.environ, "COMP_LINE": line, "COMP_POINT": str(len(line)), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "genflow", command, "-sc", "query=bash"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_shell_completion_completes_each_commands_groups_and_keys(tmp_path):
    script = run_cli("train", "--shell-completion", "install=bash", cwd=tmp_path).stdout
    assert "complete -o nospace -o default -F _genflow_completion genflow\n" in script
    assert 'compgen -W "train sample eval"' in script and "${words[1]} -sc query=bash" in script
    assert script.count("complete ") == 1  # registers genflow alone, not a command named train
    assert completion_query("genflow train mod", tmp_path) == ["model=", "model/", "model."]
    assert "trainer.max_steps=" in completion_query("genflow train trainer.max", tmp_path)
    assert completion_query("genflow sample sam", tmp_path) == ["sampler="]
    offered = completion_query("genflow sample ", tmp_path)
    assert {"sampler=", "guidance=", "ckpt=", "num_samples="} <= set(offered) and "model=" not in offered, offered


def test_bash_runs_the_completion_script(tmp_path):
    """The installed function, called as bash calls it on <TAB>, offers the command's groups."""
    bash = "/bin/bash"
    if not os.path.exists(bash):
        pytest.skip("no bash")
    genflow = tmp_path / "genflow"
    genflow.write_text(f"#!/bin/sh\nexec {sys.executable} -m genflow \"$@\"\n")
    genflow.chmod(0o755)
    test = (f'export PATH="{tmp_path}:$PATH"\neval "$(genflow --shell-completion install=bash)"\n'
            'COMP_LINE="genflow sample sam" COMP_POINT=18 COMP_CWORD=2 _genflow_completion\necho "${COMPREPLY[@]}"\n'
            'COMP_LINE="genflow tr" COMP_POINT=10 COMP_CWORD=1 _genflow_completion\necho "${COMPREPLY[@]}"\n')
    proc = subprocess.run([bash, "-c", test], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.stdout.splitlines() == ["sampler=", "train"], proc.stdout + proc.stderr


def test_job_errors_are_picklable_one_liners():
    """A job's error crosses a launcher's process boundary (joblib, submitit) as a plain exception."""
    from hydra.errors import InstantiationException

    from genflow.app.runtime import JobError, job_error
    from genflow.errors import UserError

    error = pickle.loads(pickle.dumps(job_error(UserError("num_samples=0 must be\n a positive integer"))))
    assert isinstance(error, JobError) and (error.message, error.code) == ("num_samples=0 must be a positive integer", 2)
    wrapped = InstantiationException("Error in call to target")
    wrapped.__cause__ = UserError("path.num_steps=4 is too few")
    assert job_error(wrapped).message == "path.num_steps=4 is too few"
    assert job_error(FloatingPointError("loss is nan at step 7")).code == 1
    assert job_error(KeyError("a bug")) is None


def test_job_report_records_each_job_and_summarizes_the_sweep(tmp_path, capsys):
    """The callback as Hydra calls it: a bad value and a bug in a sweep, then the single-run exit."""
    from hydra.core.utils import JobReturn, JobStatus
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from genflow.app import job_report
    from genflow.app.runtime import JobError

    def config(num, mode=RunMode.MULTIRUN):
        return OmegaConf.create({"hydra": {"mode": mode, "sweep": {"dir": str(tmp_path)},
                                           "job": {"num": num}, "runtime": {"output_dir": str(tmp_path / str(num))}}})

    report = job_report.JobReport()
    report.on_multirun_start(config(0))
    outcomes = [(JobStatus.COMPLETED, 0.5), (JobStatus.FAILED, JobError("num_samples=0 must be positive")),
                (JobStatus.FAILED, KeyError("a bug"))]
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "metrics.json").write_text(json.dumps({"step": 5, "sliced_wasserstein": 0.25,
                                                             "prior_sliced_wasserstein": 2.0, "warnings": []}))
    for num, (status, value) in enumerate(outcomes):
        report.on_job_end(config(num), JobReturn(overrides=[f"seed={num}", "data=moons"], status=status,
                                                 _return_value=value))
    assert job_report.finish_sweep() == 1 and job_report.finish_sweep() is None
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "genflow: error: job #1 (seed=1 data=moons) failed: num_samples=0 must be positive"
    assert err[1].startswith("genflow: error: job #2 (seed=2 data=moons) failed: KeyError: 'a bug' (traceback in")
    assert "1 of 3 jobs completed, 2 failed" in err[2]
    assert [line.split()[:3] for line in err[3:6]] == [["#0", "completed", "seed=0"], ["#1", "failed", "seed=1"],
                                                       ["#2", "failed", "seed=2"]]
    assert err[3].split()[3:] == ["sliced_wasserstein=0.25"]  # the sample's own metrics, not the prior's
    assert err[6].strip() == f"(every job's overrides and metrics.json: {tmp_path / 'sweep_summary.csv'})"
    with open(tmp_path / "sweep_summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["num", "status", "seed", "data", "step", "sliced_wasserstein", "prior_sliced_wasserstein",
                             "error", "dir"]
    assert [(r["num"], r["status"], r["seed"], r["data"], r["sliced_wasserstein"]) for r in rows] == [
        ("0", "completed", "0", "moons", "0.25"), ("1", "failed", "1", "moons", ""), ("2", "failed", "2", "moons", "")]
    assert rows[1]["error"] == "num_samples=0 must be positive"
    records = json.loads((tmp_path / "sweep_summary.json").read_text())
    assert [r.get("exit_code") for r in records] == [None, 2, 1] and "KeyError" in records[2]["traceback"]
    with pytest.raises(SystemExit) as single_run:
        report.on_run_end(config(0, RunMode.RUN), JobReturn(status=JobStatus.FAILED,
                                                            _return_value=JobError("loss is nan", code=1)))
    assert single_run.value.code == 1 and capsys.readouterr().err == "genflow: error: loss is nan\n"


def test_edm_trains_on_moons_from_the_cli(tmp_path, genflow_main):
    """genflow train model=edm: the preconditioned x0 network on EDM's path, its PF-ODE on the Karras grid; the
    checkpoint restores the preconditioning and samples with another of the existing samplers."""
    from genflow.modules.loading import load_module
    from genflow.samplers.ddim import DDIMSampler

    run_ok(genflow_main, "train", "model=edm", "data=moons", "trainer.max_steps=20", "net.hidden=16", "num_samples=200",
           "plot_every_n_steps=0", "data.num_samples=500", "progress_refresh_per_second=0")
    run = find_run(tmp_path, "*edm_moons")
    config = (run / "config.yaml").read_text()
    assert "preconditioning: edm" in config and "KarrasGrid" in config and "weighting: edm" in config
    assert np.isfinite(json.loads((run / "metrics.json").read_text())["energy_distance"])
    module = load_module(run)
    assert module.denoiser.preconditioning is not None and module.denoiser.sigma_data == 1.0
    x, nfe = module.generate(DDIMSampler(num_steps=10, progress=False), 50)
    assert nfe == 10 and torch.isfinite(x).all()
