"""The ``experiment`` group: every preset composes (``genflow train experiment=<name> --cfg job``), chooses
what its own defaults list says, passes genflow's value checks and builds a model whose sampler and grid
apply, without data and without training. A new file in genflow/conf/experiment is covered by itself."""

import sys
from importlib import resources

import pytest
import yaml
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

EXPERIMENTS = sorted(p.name[:-5] for p in resources.files("genflow.conf").joinpath("experiment").iterdir()
                     if p.name.endswith(".yaml"))


def test_the_presets_of_the_issue_ship():
    assert {"ddpm_cifar10", "vp_sde_cifar10", "ve_sde_cifar10", "flow_matching_cifar10", "quickstart"} <= set(EXPERIMENTS)


def chosen_in_file(name: str) -> dict:
    """``{group: option}`` from the preset's ``defaults: [override /group: option, ...]``."""
    text = resources.files("genflow.conf").joinpath("experiment", f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_\n"), f"{name}.yaml: a preset sets keys of the whole config"
    chosen = {}
    for entry in yaml.safe_load(text).get("defaults", []):
        for key, option in entry.items():
            chosen[key.removeprefix("override ").lstrip("/")] = option
    return chosen


class FakeData:
    """The data module's answers build_module asks for (CIFAR-10 32x32x3 or 2D points), without files."""

    def __init__(self, images: bool):
        import torch

        self.data_shape = (3, 32, 32) if images else (2,)
        self.num_classes, self.label_values = 0, None
        self._shift, self._scale = torch.zeros(self.data_shape), torch.ones(self.data_shape)

    def normalization(self):
        return self._shift, self._scale


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_builds(name, monkeypatch, capsys, tmp_path):
    from genflow.app.cli import main
    from genflow.app.train import build_module
    from genflow.app.values import check_train_values

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["genflow"])
    monkeypatch.setenv("GENFLOW_HOST_TUNING", "0")
    try:
        code = main(["train", f"experiment={name}", "--cfg", "job"])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert code in (0, None) and "_target_" in out, err
    assert yaml.safe_load(out)["model"]["_target_"]

    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        cfg = compose("train", overrides=[f"experiment={name}"], return_hydra_config=True)
    choices = cfg.hydra.runtime.choices
    for group, option in chosen_in_file(name).items():
        assert choices[group] == option, (group, choices[group], option)
    with open_dict(cfg):
        del cfg["hydra"]
    check_train_values(cfg)
    if "ch" in cfg.net:  # the recipe's U-Net, narrowed: building 35.7M parameters is not the point here
        cfg.net.ch, cfg.net.num_groups = 8, 4
    module = build_module(cfg, FakeData(images=cfg.data.get("name") in ("cifar10", "mnist", "digits")))
    module.time_grid(instantiate(cfg.sampler), instantiate(cfg.grid) if cfg.get("grid") else None)


def test_the_command_line_overrides_an_experiment():
    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        cfg = compose("train", overrides=["experiment=ddpm_cifar10", "model=vp_sde", "model.lr=1e-4"],
                      return_hydra_config=True)
    assert cfg.hydra.runtime.choices.model == "vp_sde" and cfg.model.parameterization == "score"
    assert cfg.model.lr == 1e-4 and cfg.data.name == "cifar10" and OmegaConf.select(cfg, "trainer.max_steps") == 800000
