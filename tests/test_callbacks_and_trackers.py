"""The ``callbacks`` group (a user's Lightning callbacks beside genflow's), the loss curve, and what the
experiment trackers get: final metrics in TensorBoard's hparams and the W&B summary, W&B's run name,
group and tags from Hydra's choices."""

import json

import pytest
from omegaconf import OmegaConf

from cli_fixtures import genflow_main  # noqa: F401
from conftest import find_run


def test_a_callback_from_the_command_line_is_called(tmp_path, genflow_main):
    """``+callbacks.<name>._target_=...`` (here tests/cli_probes.py, importable as the tests folder is on the path) runs with genflow's own callbacks and a
    shipped option (``callbacks=early_stopping``); the checkpoint does not name the user's class."""
    from genflow.modules.loading import read_checkpoint

    probe = tmp_path / "probe.json"
    code, _, err = genflow_main("train", "callbacks=early_stopping", "+callbacks.probe._target_=cli_probes.FileProbe",
            f"+callbacks.probe.path={probe}", "trainer.max_steps=3", "trainer.log_every_n_steps=1", "net.hidden=16",
            "num_samples=20", "plot_every_n_steps=0", "data.num_samples=500", "progress_refresh_per_second=0",
            "path.num_steps=50")
    assert code == 0, err[-4000:]
    seen = json.loads(probe.read_text())
    assert seen["batches"] == 3
    names = seen["trainer_callbacks"]
    assert {"EarlyStopping", "ModelCheckpoint", "InterruptCheckpoint"} <= set(names), names
    assert names.index("FileProbe") > names.index("InterruptCheckpoint"), names  # after genflow's own
    run = find_run(tmp_path)
    assert (run / "loss_curve.png").stat().st_size > 0
    assert "cli_probes.FileProbe" in (run / "config.yaml").read_text()
    assert "callbacks" not in read_checkpoint(run)["genflow"]["config"]  # loads without trust_targets


@pytest.mark.parametrize("node,needle", [({"x": {"_target_": "collections.OrderedDict"}}, "is not a Lightning callback"),
                                         ({"x": {"patience": 3}}, "callbacks.x has no _target_")])
def test_a_callback_is_built_from_its_config_or_refused_in_one_line(node, needle):
    from genflow.app.callbacks import user_callbacks
    from genflow.errors import UserError

    with pytest.raises(UserError, match=needle):
        user_callbacks(OmegaConf.create({"callbacks": node}))
    assert user_callbacks(OmegaConf.create({"callbacks": {"off": None}})) == []
    timer = {"_target_": "lightning.pytorch.callbacks.Timer", "duration": {"hours": 12}}  # a plain dict reaches it
    assert [c._duration for c in user_callbacks(OmegaConf.create({"callbacks": {"timer": timer}}))] == [43200.0]


def test_a_callback_that_needs_a_logger_is_refused_without_one(genflow_main, tmp_path):
    from genflow.app.callbacks import user_callbacks

    code, _, err = genflow_main("train", "callbacks=device_stats", "logger=none")
    assert code == 2 and "callbacks.device_stats (DeviceStatsMonitor)" in err and "logger=csv" in err, err
    assert len(err.strip().splitlines()) == 1 and not list(tmp_path.rglob("*.ckpt"))
    with_logger = OmegaConf.create({"logger": {"csv": {}}, "callbacks": {
        "device_stats": {"_target_": "lightning.pytorch.callbacks.DeviceStatsMonitor"}}})
    assert len(user_callbacks(with_logger)) == 1


def test_loss_curve_from_metrics_csv(tmp_path):
    from genflow.app.loss_curve import plot_loss_curve, read_curves

    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,lr-AdamW,step,train/loss\n0,0.001,0,\n0,,4,0.9\n0,,9,0.5\n1,,14,0.25\n")
    assert read_curves(csv) == {"train/loss": ([4, 9, 14], [0.9, 0.5, 0.25])}
    assert plot_loss_curve(csv, tmp_path / "loss_curve.png").stat().st_size > 0
    assert plot_loss_curve(tmp_path / "absent.csv", tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()


METRICS = {"step": 30, "nfe": 50, "sliced_wasserstein": 0.125, "energy_distance": float("nan"), "warnings": ["x"]}


def test_final_metrics_go_into_tensorboards_hparams(tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    from genflow.app.trackers import publish_final_metrics

    logger = TensorBoardLogger(tmp_path, name="tensorboard", version="", default_hp_metric=False)
    sent = publish_final_metrics(logger, {"model": {"lr": 0.002}, "seed": 0}, METRICS)
    assert sent == {"final/step": 30.0, "final/nfe": 50.0, "final/sliced_wasserstein": 0.125}  # finite numbers only
    hparams, scalars = {}, set()
    for events in (tmp_path / "tensorboard").glob("events.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        scalars |= set(accumulator.Tags()["scalars"])
        for content in accumulator.PluginTagToContent("hparams").values():
            data = plugin_data_pb2.HParamsPluginData.FromString(content)
            hparams[data.WhichOneof("data")] = data
    assert [m.name.tag for m in hparams["experiment"].experiment.metric_infos] == list(sent)
    assert hparams["session_start_info"].session_start_info.hparams["model/lr"].number_value == 0.002
    assert set(sent) <= scalars


def test_final_metrics_go_into_the_wandb_summary():
    """A WandbLogger whose run is a stand-in (a real offline run takes ~20 s to start its service)."""
    from types import SimpleNamespace

    from lightning.pytorch.loggers import WandbLogger

    from genflow.app.trackers import publish_final_metrics

    class OfflineRun(WandbLogger):
        experiment = SimpleNamespace(summary={})

    logger = OfflineRun.__new__(OfflineRun)
    publish_final_metrics(logger, {}, METRICS)
    assert logger.experiment.summary == {"final/step": 30.0, "final/nfe": 50.0, "final/sliced_wasserstein": 0.125}


def test_a_jobs_wandb_run_ends_with_the_job():
    """Else the next job of a sweep in the same process logs into it (WandbLogger reuses a run in progress)."""
    from types import SimpleNamespace

    from lightning.pytorch.loggers import WandbLogger

    from genflow.app.trackers import tracked_run

    ended = []

    class OfflineRun(WandbLogger):
        experiment = SimpleNamespace(finish=lambda exit_code=None: ended.append(exit_code))

    logger = OfflineRun.__new__(OfflineRun)
    with tracked_run(logger):
        pass
    with pytest.raises(FloatingPointError), tracked_run(logger):
        raise FloatingPointError("loss is nan")
    assert ended == [None, 1]
    with tracked_run(None):  # other loggers: nothing to end
        pass


@pytest.mark.parametrize("mode", ["RUN", "MULTIRUN"])
def test_wandb_run_name_group_and_tags_come_from_hydras_choices(mode, tmp_path):
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from genflow.app.trackers import register_tracker_resolvers

    register_tracker_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        cfg = compose("train", overrides=["logger=wandb", "model=flow_matching", "data=checkerboard"],
                      return_hydra_config=True)
    job_dir = tmp_path / "multirun" / "2026-11-28" / "02-10-33" / "1_flow_matching_checkerboard"
    cfg.hydra.mode, cfg.hydra.runtime.output_dir = getattr(RunMode, mode), str(job_dir)
    HydraConfig.instance().set_config(cfg)
    try:
        logger = OmegaConf.to_container(cfg.logger, resolve=True)
    finally:
        HydraConfig.instance().cfg = None
    assert logger["name"] == "1_flow_matching_checkerboard"
    assert logger["group"] == ("2026-11-28/02-10-33" if mode == "MULTIRUN" else None)
    assert logger["tags"] == ["model=flow_matching", "data=checkerboard", "sampler=pf_ode"]
