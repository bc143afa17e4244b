"""Every option of every config group composes with the defaults and instantiates."""

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

GROUPS_NEEDING_DATA_ARGS = {"net", "model", "logger", "trainer"}


def options():
    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        loader = GlobalHydra.instance().config_loader()
        groups = [g for g in sorted(loader.list_groups("")) if g != "hydra"]
        groups += [f"{g}/{sub}" for g in groups for sub in loader.list_groups(g)]  # nested: path/schedule
        return [(g, o) for g in sorted(groups) for o in sorted(loader.get_group_options(g)) if g != "model/base"]


OPTIONS = options()


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_instantiates(group, option, tmp_path):
    overrides = [f"{group}={option}"] + (["data.path=x.npy"] if option in ("file", "image_folder") else [])
    # the geometric schedule goes with a variance-exploding path, the others with variance-preserving ones
    overrides = {("path/schedule", "geometric"): ["path=ve"] + overrides}.get((group, option), overrides)
    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        cfg = compose("train", overrides=overrides, return_hydra_config=group == "sweep")
    if group == "sweep":  # a global preset: it sets the sweeper and the metric it minimises
        assert "optuna" in cfg.hydra.sweeper._target_.lower() and cfg.optimize_metric
        return
    if group == "experiment":  # a global preset of the whole run (tests/test_experiments.py builds each)
        assert cfg.model._target_ and cfg.data._target_ and cfg.trainer.max_steps > 0
        return
    if group == "recipe":  # a model's tuned settings on a data set, chosen by the pair <model>_<data>
        with initialize_config_module("genflow.conf", version_base=None):
            loader = GlobalHydra.instance().config_loader()
            pairs = [(m, d) for m in loader.get_group_options("model") for d in loader.get_group_options("data")
                     if option == f"{m}_{d}"]
            assert len(pairs) == 1, f"recipe {option} names no <model>_<data> pair"
            chosen = compose("train", overrides=[f"model={pairs[0][0]}", f"data={pairs[0][1]}"],
                             return_hydra_config=True)
        assert chosen.hydra.runtime.choices.recipe == option
        return
    if group == "callbacks":  # named Lightning callbacks, or none
        import lightning as L

        assert all(isinstance(instantiate(node), L.Callback) for node in cfg.callbacks.values())
        assert len(cfg.callbacks) == (0 if option == "none" else 1)
        return
    node = OmegaConf.select(cfg, group.replace("/", "."))
    assert node is not None or option == "none"
    if group in ("path", "path/schedule", "sampler", "grid", "guidance") or (group == "data" and option != "file"):
        if group == "guidance" and option == "classifier":
            node.classifier_ckpt = "x.ckpt"
        if group == "guidance" and option == "bridge":
            node.target = [0.0, 0.0]
        obj = instantiate(node) if node else None
        assert obj is not None or option == "none"


def test_sample_config_composes():
    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        cfg = compose("sample", overrides=["ckpt=x", "sampler=ancestral"])
    assert cfg.sampler._target_.endswith("AncestralSampler")


def test_a_failing_constructor_is_reported_with_its_key_and_error():
    """Hydra's message ends with 'full_key: data'; the one-line error keeps the key and the error itself."""
    from hydra.errors import InstantiationException
    from omegaconf import OmegaConf

    from genflow.app.runtime import instantiation_error_message

    cfg = OmegaConf.create({"data": {"_target_": "genflow.data.images.DigitsDataModule", "bogus": 1}})
    with pytest.raises(InstantiationException, match="full_key: data") as failed:
        instantiate(cfg.data)
    message = instantiation_error_message(failed.value)
    assert message.startswith("could not build data: TypeError(") and "unexpected keyword argument 'bogus'" in message
    assert "\n" not in message


def test_trainer_schema_mirrors_lightnings_trainer():
    """Every Trainer argument (but those genflow builds) with Lightning's default, typed no stricter than
    Lightning: a typed field's type is one Lightning's annotation admits."""
    import dataclasses
    import inspect
    import typing

    import lightning.pytorch as pl

    from genflow.conf.schema import TrainerConfig

    params = {n: p for n, p in inspect.signature(pl.Trainer.__init__).parameters.items() if n != "self"}
    hints = typing.get_type_hints(pl.Trainer.__init__)
    declared = typing.get_type_hints(TrainerConfig)
    fields = {f.name: f for f in dataclasses.fields(TrainerConfig) if f.name != "_target_"}
    assert set(params) - set(fields) == {"logger", "callbacks", "plugins", "default_root_dir"}
    assert set(fields) <= set(params)
    for name, f in fields.items():
        assert f.default == params[name].default, name
        if declared[name] is typing.Any:
            continue
        admitted = set(typing.get_args(hints[name]) or (hints[name],))
        assert set(typing.get_args(declared[name]) or (declared[name],)) <= admitted, (name, declared[name], hints[name])


@pytest.mark.parametrize("name,overrides", [("train", []), ("train", ["data=digits", "trainer=gpu"]),
                                            ("sample", ["ckpt=x"]), ("eval", ["ckpt=x"])])
def test_the_schemas_type_the_composed_configs(name, overrides):
    """The yaml files give every typed key a value of its type (eval's 1e-5 tolerances are numbers)."""
    from omegaconf import OmegaConf

    GlobalHydra.instance().clear()
    with initialize_config_module("genflow.conf", version_base=None):
        cfg = compose(name, overrides=overrides)
    assert "???" not in OmegaConf.to_yaml(cfg)
    if name == "eval":
        assert cfg.rtol == 1e-5 and isinstance(cfg.rtol, float)
    if name == "train":
        assert OmegaConf.get_type(cfg, "trainer").__name__ == "TrainerConfig" and isinstance(cfg.trainer.max_steps, int)
