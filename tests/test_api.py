"""genflow.load(run_or_ckpt).sample(...): the samples genflow sample draws (same configs, same code), in
data units; names are checked by Hydra and refused in one line."""

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

import genflow
from genflow.app.checkpoints import AtomicCheckpointIO
from genflow.app.compose import build_run, compose_config, quiet_trainer
from genflow.errors import UserError


@pytest.fixture(scope="module")
def model(tiny_ckpt):
    return genflow.load(tiny_ckpt, device="cpu")


@pytest.fixture(scope="module")
def file_model(tmp_path_factory):
    """A 2-step DDPM on a file of points around (100, -7) with scales (10, 0.5): normalised for training."""
    root = tmp_path_factory.mktemp("api")
    np.save(root / "points.npy", np.random.default_rng(0).normal(size=(256, 2)) * [10.0, 0.5] + [100.0, -7.0])
    _, dm, module = build_run(["data=file", f"data.path={root / 'points.npy'}", "net.hidden=16", "net.depth=1",
                               "path.num_steps=50", "data.batch_size=64"])
    trainer = quiet_trainer(2, plugins=[AtomicCheckpointIO()])
    trainer.fit(module, datamodule=dm)
    trainer.save_checkpoint(root / "file.ckpt", weights_only=False)
    return genflow.load(root / "file.ckpt", device="cpu")


def test_samples_are_the_composed_samplers_in_data_units(file_model):
    module = file_model.module
    x = file_model.sample(50, sampler="ddim", num_steps=5, seed=7, progress=False)
    sampler = instantiate(compose_config(["ckpt=x", "sampler=ddim", "sampler.num_steps=5"], name="sample").sampler)
    g = torch.Generator().manual_seed(7)
    prior = module.path.prior_sample((50, 2), g)
    raw = sampler.sample(module.model_function(), prior, module.time_grid(sampler), g).x  # model units
    assert x.shape == (50, *file_model.data_shape) and x.device.type == "cpu"
    torch.testing.assert_close(x, raw * module.data_scale + module.data_shift, rtol=0, atol=0)
    assert abs(module.data_shift[0] - 100) < 3 and abs(module.data_scale[0] - 10) < 2


def test_the_trained_sampler_takes_options_and_a_seed_repeats(model):
    a = model.sample(20, num_steps=4, seed=1, progress=False)
    b = model.sample(20, num_steps=4, seed=1, progress=False)
    c = model.sample(20, num_steps=4, seed=2, progress=False)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(sampler="nope"), "sampler=nope is not an option; valid choices for sampler: ancestral"),
    (dict(sampler="ddim", etaa=1.0), "sampler.etaa: no such key in sampler; did you mean sampler.eta?"),
    (dict(guidance="cfg", scale=3), "guidance=cfg needs a conditional model"),
    (dict(seed=-1), "seed=-1 must be between 0 and 4294967295"),
    (dict(guidance="classifier"), "missing required value guidance.classifier_ckpt"),
    (dict(guidance="classifier", classifier_ckpt="/nonexistent.ckpt"), "/nonexistent.ckpt"),
])
def test_bad_arguments_are_one_line_user_errors(model, kwargs, needle):
    with pytest.raises(UserError) as refused:
        model.sample(5, **kwargs)
    assert needle in str(refused.value) and "\n" not in str(refused.value)


def test_load_refuses_what_the_cli_refuses(tmp_path):
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="is not a readable checkpoint"):
        genflow.load(tmp_path / "bad.ckpt")
