"""Every value and every data file is checked before training starts (one line, exit code 2);
N x 1 data trains, samples and plots; labels that are not 0..K-1 keep their own values."""

import numpy as np
import pytest
import torch

from cli_fixtures import genflow_main, trained_anything  # noqa: F401
from genflow.app.compose import build_run, compose_config, quiet_trainer
from genflow.app.values import check_eval_values, check_sample_values, check_train_values
from genflow.data.files import read_vectors
from genflow.data.labels import class_index, label_values
from genflow.errors import UserError


@pytest.mark.parametrize("override,needle", [
    ("seed=-1", "seed=-1 must be between 0 and 4294967295"),
    ("seed=4294967296", "seed=4294967296 must be between 0 and 4294967295"),
    ("trainer.max_steps=0", "trains for no steps or forever"),
    ("trainer.max_steps=-1", "trains for no steps or forever"),
    ("trainer.max_steps=-5", "trainer.max_steps=-5 must be >= -1"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0 trains nothing"),
    ("data.batch_size=0", "data.batch_size=0 must be a positive integer"),
    ("data.num_samples=0", "data.num_samples=0 must be >= 2"),
    ("num_samples=0", "num_samples=0 must be a positive integer"),
    ("model.lr=0.0", "model.lr=0.0 must be positive"),
    ("model.lr=nan", "model.lr=nan must be a finite number"),
    ("model.ema_decay=1.5", "model.ema_decay=1.5 must be between 0.0 and 1.0"),
    ("checkpoint_every_n_steps=-1", "checkpoint_every_n_steps=-1 must be >= 0"),
    ("net.hidden=0", "net.hidden=0 must be a positive integer"),
])
def test_a_bad_training_value_is_one_line(override, needle):
    with pytest.raises(UserError) as e:
        check_train_values(compose_config([override]))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_the_default_configs_pass():
    check_train_values(compose_config([]))
    check_train_values(compose_config(["trainer.max_steps=-1", "trainer.max_epochs=3"]))
    check_sample_values(compose_config(["ckpt=x"], name="sample"))
    check_eval_values(compose_config(["ckpt=x"], name="eval"))
    for name, override, needle in [("sample", "batch_size=0", "batch_size=0"), ("eval", "num_points=-3", "num_points"),
                                   ("sample", "seed=-2", "seed=-2"), ("eval", "rtol=-1e-5", "rtol")]:
        with pytest.raises(UserError, match=needle):
            (check_sample_values if name == "sample" else check_eval_values)(
                compose_config(["ckpt=x", override], name=name))


def save(tmp_path, name, **arrays):
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, arrays["x"], allow_pickle=True)
    elif name.endswith(".npz"):
        np.savez(path, **arrays)
    else:
        path.write_text(arrays["text"])
    return path


@pytest.mark.parametrize("name,arrays,needle", [
    ("empty.npy", {"x": np.zeros((0, 2))}, "holds no rows"),
    ("empty.npz", {}, "holds no arrays"),
    ("empty.csv", {"text": ""}, "holds no rows"),
    ("one.npy", {"x": np.zeros((1, 2))}, "holds 1 row; training needs at least 2"),
    ("nocols.npy", {"x": np.zeros((5, 0))}, "holds no columns"),
    ("nan.npy", {"x": np.array([[0.0, 1.0]] * 3 + [[np.nan, 1.0]])}, "row 3 (counting from 0) holds a NaN"),
    ("inf.csv", {"text": "a,b\n1,2\n3,inf\n"}, "row 1 (counting from 0) holds a NaN or infinite value"),
    ("huge.npy", {"x": np.array([[0.0], [1e39]])}, "row 1 (counting from 0) holds a value beyond float32"),
    ("complex.npy", {"x": np.ones((4, 2), complex)}, "holds complex numbers"),
    ("bool.npy", {"x": np.ones((4, 2), bool)}, "holds booleans"),
    ("objects.npy", {"x": np.array([[object()]] * 3)}, "could not be read as numbers"),
    ("text.csv", {"text": "1,2\n3,x\n"}, "could not be read as numbers"),
    ("cube.npy", {"x": np.zeros((4, 2, 2))}, "must hold an N x D array"),
    ("halves.npz", {"x": np.zeros((4, 2)), "y": np.array([0, 0.5, 1, 1])}, "must be N integers"),
    ("short.npz", {"x": np.zeros((4, 2)), "y": np.array([0, 1])}, "one per row"),
])
def test_a_bad_data_file_is_one_line(tmp_path, name, arrays, needle):
    with pytest.raises(UserError) as e:
        read_vectors(save(tmp_path, name, **arrays))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_sparse_labels_train_as_classes_and_keep_their_values(tmp_path, tiny_ckpt):
    rng = np.random.default_rng(0)
    y = rng.choice([0, 50000], 300)
    path = save(tmp_path, "sparse.npz", x=rng.normal(size=(300, 2)) + y[:, None] / 50000, y=y)
    _, dm, module = build_run(["data=file", f"data.path={path}", "conditional=true", "net.hidden=16",
                               "path.num_steps=50", "data.batch_size=64"])
    assert dm.num_classes == 2 and set(dm.y.tolist()) == {0, 1} and module.label_values == [0, 50000]
    trainer = quiet_trainer(2)
    trainer.fit(module, datamodule=dm)
    trainer.save_checkpoint(tmp_path / "sparse.ckpt", weights_only=False)
    from genflow.modules.loading import load_module

    loaded = load_module(tmp_path / "sparse.ckpt")
    assert loaded.label_values == [0, 50000] and loaded.hparams.num_classes == 2
    assert class_index(50000, loaded.label_values, 2) == 1
    with pytest.raises(UserError, match="guidance.label=7 is not one of the data's labels: 0, 50000"):
        class_index(7, loaded.label_values, 2)
    assert label_values(torch.tensor([1, 0, -1]), loaded.label_values).tolist() == [50000, 0, -1]


def test_n_by_1_data_trains_samples_and_plots(tmp_path):
    from genflow.app.plotting import plot_samples
    from genflow.app.train import sample_quality

    path = tmp_path / "line.npy"
    np.save(path, np.random.default_rng(0).normal(3.0, 0.5, size=400))  # a 1-D array: 400 x 1
    cfg, dm, module = build_run(["data=file", f"data.path={path}", "net.hidden=16", "path.num_steps=50",
                                 "data.batch_size=64"])
    assert dm.data_shape == (1,)
    quiet_trainer(3).fit(module, datamodule=dm)
    from hydra.utils import instantiate

    x, _ = module.generate(instantiate(cfg.sampler), 200)
    assert x.shape == (200, 1) and torch.isfinite(x).all()
    assert np.isfinite(sample_quality(x, dm.reference(200), dm)["sliced_wasserstein"])
    assert plot_samples(x, tmp_path / "samples.png", dm.reference(200)).stat().st_size > 1000


def test_a_bad_data_file_from_the_cli_is_one_line_before_training(tmp_path, genflow_main):
    np.save(tmp_path / "bad.npy", np.array([[0.0, 1.0], [2.0, np.inf], [1.0, 1.0]]))
    code, _, err = genflow_main("train", "data=file", f"data.path={tmp_path / 'bad.npy'}")
    err = err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "row 1 (counting from 0)" in err, err
    assert not list(tmp_path.glob("outputs/*/*/checkpoints")) and not trained_anything(tmp_path)


def test_a_cifar10_batch_that_would_run_code_is_refused(tmp_path):
    import os
    import pickle

    from genflow.data.images import CIFAR10DataModule
    from image_files import write_cifar10

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'PWNED'}",)

    arrays = write_cifar10(tmp_path)
    dm = CIFAR10DataModule(root=str(tmp_path))
    dm.setup()
    assert dm.x.shape == (20, 3, 32, 32) and dm.y.tolist()[:4] == arrays["data_batch_1"][1]  # real batches load
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_2", "wb") as f:
        pickle.dump({"data": Payload(), "labels": [0]}, f)
    with pytest.raises(UserError, match="data_batch_2 is not a CIFAR-10 batch: it names GLOBAL posix.system"):
        CIFAR10DataModule(root=str(tmp_path)).setup()
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("overrides,key,choices", [
    (["grid.denoise=maybe"], "grid.denoise", "true, false"),
    (["grid=discrete", "grid.drop_t1=yes please"], "grid.drop_t1", "auto, true, false"),
    (["sampler.progress=2"], "sampler.progress", "true, false"),
    (["path.schedule.zero_terminal_snr=on"], "path.schedule.zero_terminal_snr", "true, false"),
])
def test_a_yes_no_option_takes_only_true_or_false(overrides, key, choices, genflow_main, tmp_path):
    code, _, err = genflow_main("train", *overrides)
    assert code == 2 and f"{key}=" in err and f"choose one of {choices}" in err, err
    assert len(err.strip().splitlines()) == 1 and not trained_anything(tmp_path)
