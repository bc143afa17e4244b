"""Resume checks the checkpoint against the run: another model, network, path or data shape is a
one-line refusal; changed hyperparameters are applied (the learning rate too, which Lightning's
optimizer restore would otherwise silently put back) and logged."""

import pytest
import torch
from omegaconf import OmegaConf

from genflow.app.compose import build_run, compose_config, quiet_trainer
from genflow.app.resume import config_changes, prepare_resume
from genflow.errors import UserError

TINY = ["net.hidden=16", "net.depth=1", "path.num_steps=50", "data.num_samples=256", "data.batch_size=64"]


def current(*overrides):
    base = [o for o in TINY if not (o.startswith("path.") and "model=flow_matching" in overrides)]
    return OmegaConf.to_container(compose_config([*base, *overrides]), resolve=True)


@pytest.mark.parametrize("overrides,needle", [
    (["net.hidden=32"], "net.hidden 16 -> 32"),
    (["model=flow_matching"], "model.parameterization 'eps' -> 'velocity'"),
    (["path.num_steps=100"], "path.num_steps 50 -> 100"),
    (["data=checkerboard"], "data.name 'moons' -> 'checkerboard'"),
    (["conditional=true"], "conditional False -> True"),
])
def test_another_model_network_path_or_data_is_refused(tiny_ckpt, overrides, needle):
    with pytest.raises(UserError, match="is another run") as e:
        prepare_resume(str(tiny_ckpt), current(*overrides), (2,))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_another_data_shape_is_refused(tiny_ckpt):
    with pytest.raises(UserError, match=r"trained on data of shape \(2,\); this run's data has shape \(3,\)"):
        prepare_resume(str(tiny_ckpt), current(), (3,))


def test_the_same_run_resumes_and_a_new_learning_rate_is_applied(tiny_ckpt, caplog):
    path, callbacks = prepare_resume(str(tiny_ckpt), current(), (2,))
    assert path == str(tiny_ckpt) and callbacks == []
    with caplog.at_level("INFO", logger="genflow.app.train"):
        _, callbacks = prepare_resume(str(tiny_ckpt), current("model.lr=5e-4", "trainer.max_steps=4"), (2,))
    assert "applied: model.lr 0.02 -> 0.0005, trainer.max_steps" in caplog.text
    _, dm, module = build_run([*TINY, "model.lr=5e-4"])
    stored = torch.load(tiny_ckpt, weights_only=True)["optimizer_states"][0]["param_groups"][0]
    trainer = quiet_trainer(4, callbacks=callbacks)
    trainer.fit(module, datamodule=dm, ckpt_path=str(tiny_ckpt))
    group = trainer.optimizers[0].param_groups[0]
    assert stored["initial_lr"] == 2e-2 and group["initial_lr"] == pytest.approx(5e-4)
    assert group["lr"] == pytest.approx(5e-4 * 5 / 100)  # after 4 steps of the 100-step warm-up, at the new rate


def test_config_changes_lists_leaves_and_ignores_the_invocation():
    old = {"model": {"lr": 1.0, "objective": {"weighting": "a"}}, "resume": None, "seed": 0}
    new = {"model": {"lr": 2.0, "objective": {"weighting": "a"}}, "resume": "x", "seed": 0, "extra": {"k": 1}}
    assert config_changes(old, new) == [("extra.k", "<none>", 1), ("model.lr", 1.0, 2.0)]
