"""The ``callbacks`` group: a user's Lightning callbacks beside genflow's."""

import json
import os

import pytest
from omegaconf import OmegaConf

from conftest import REPO, find_run, run_cli


def test_a_callback_from_the_command_line_is_called(tmp_path, monkeypatch):
    """``+callbacks.<name>._target_=...`` (here tests/cli_probes.py) runs with genflow's own callbacks and a
    shipped option (``callbacks=early_stopping``); the checkpoint does not name the user's class."""
    from genflow.modules.loading import read_checkpoint

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO / "tests"), os.environ.get("PYTHONPATH")])))
    probe = tmp_path / "probe.json"
    run_cli("train", "callbacks=early_stopping", "+callbacks.probe._target_=cli_probes.FileProbe",
            f"+callbacks.probe.path={probe}", "trainer.max_steps=3", "trainer.log_every_n_steps=1", "net.hidden=16",
            "num_samples=20", "plot_every_n_steps=0", "data.num_samples=500", "progress_refresh_per_second=0",
            "path.num_steps=50", cwd=tmp_path)
    seen = json.loads(probe.read_text())
    assert seen["batches"] == 3
    names = seen["trainer_callbacks"]
    assert {"EarlyStopping", "ModelCheckpoint", "InterruptCheckpoint"} <= set(names), names
    assert names.index("FileProbe") > names.index("InterruptCheckpoint"), names  # after genflow's own
    run = find_run(tmp_path)
    assert "cli_probes.FileProbe" in (run / "config.yaml").read_text()
    assert "callbacks" not in read_checkpoint(run)["genflow"]["config"]  # loads without trust_targets


@pytest.mark.parametrize("node,needle", [({"x": {"_target_": "collections.OrderedDict"}}, "is not a Lightning callback"),
                                         ({"x": {"patience": 3}}, "callbacks.x has no _target_")])
def test_a_callback_that_is_none_is_refused_in_one_line(node, needle):
    from genflow.app.callbacks import user_callbacks
    from genflow.errors import UserError

    with pytest.raises(UserError, match=needle):
        user_callbacks(OmegaConf.create({"callbacks": node}))
    assert user_callbacks(OmegaConf.create({"callbacks": {"off": None}})) == []

