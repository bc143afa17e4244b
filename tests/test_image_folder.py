"""data=image_folder: a folder of class folders of images of any size, resized and center-cropped, grey or RGB,
labels and class names from the folder names; trains, and its class names reach genflow.load."""

import numpy as np
import pytest
import torch
from PIL import Image

from cli_fixtures import genflow_main  # noqa: F401

import genflow
from genflow.app.checkpoints import AtomicCheckpointIO
from genflow.app.compose import build_run, compose_config, quiet_trainer
from genflow.app.evaluate import compute_metrics
from genflow.data.image_folder import ImageFolderDataModule
from genflow.errors import UserError

TINY_UNET = ["net.ch=8", "net.num_groups=4", "net.attn_resolutions=[]"]


def write_folder(root):
    """cat/ 2 images, dog/ 3 images, grey and RGB, 9x9 to 40x30 pixels."""
    rng = np.random.default_rng(0)
    for name, sizes in (("cat", [(12, 10), (20, 31)]), ("dog", [(9, 9), (16, 8), (40, 30)])):
        (root / "images" / name).mkdir(parents=True)
        for i, (w, h) in enumerate(sizes):
            mode = "RGB" if i % 2 else "L"
            pixels = rng.integers(0, 256, (h, w, 3) if mode == "RGB" else (h, w), dtype=np.uint8)
            Image.fromarray(pixels, mode).save(root / "images" / name / f"{i}.png")
    return root / "images"


@pytest.fixture
def folder(tmp_path):
    return write_folder(tmp_path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(folder, checkpoint) of a conditional tiny U-Net trained 3 steps on 8x8 RGB crops of the folder."""
    root = tmp_path_factory.mktemp("image_folder")
    folder = write_folder(root)
    _, dm, module = build_run(["data=image_folder", f"data.path={folder}", "data.image_size=8", "data.channels=3",
                               "data.batch_size=4", "conditional=true", *TINY_UNET])
    trainer = quiet_trainer(3, plugins=[AtomicCheckpointIO()])
    trainer.fit(module, datamodule=dm)
    assert trainer.global_step == 3
    trainer.save_checkpoint(root / "folder.ckpt", weights_only=False)
    return folder, root / "folder.ckpt"


@pytest.mark.parametrize("channels", [1, 3])
def test_images_of_any_size_become_square_uint8_with_folder_labels(folder, channels):
    dm = ImageFolderDataModule(str(folder), image_size=8, channels=channels)
    dm.setup()
    assert dm.x.shape == (5, channels, 8, 8) and dm.x.dtype == torch.uint8
    assert dm.y.tolist() == [0, 0, 1, 1, 1] and dm.num_classes == 2 and dm.class_names == ["cat", "dog"]
    assert 0 <= dm.reference(5).min() and dm.reference(5).max() <= 1


def test_the_shorter_side_is_resized_and_the_rest_center_cropped(tmp_path):
    (tmp_path / "a").mkdir()
    pixels = np.zeros((8, 32), dtype=np.uint8)  # 32 wide, 8 high: black sides, white middle
    pixels[:, 4:28] = 255
    Image.fromarray(pixels, "L").save(tmp_path / "a" / "wide.png")
    dm = ImageFolderDataModule(str(tmp_path), image_size=4, channels=1)
    dm.setup()
    assert dm.x.shape == (1, 1, 4, 4) and (dm.x == 255).all()  # 8x32 -> 4x16 -> the middle 4x4


@pytest.mark.parametrize("setup,needle", [
    (lambda root: None, "is not a folder"),
    (lambda root: root.mkdir(), "Couldn't find any class folder"),
    (lambda root: (root / "a").mkdir(parents=True) or (root / "a" / "x.png").write_bytes(b"not a png"),
     "x.png is not a readable image"),
])
def test_bad_folders_are_one_line(tmp_path, setup, needle):
    root = tmp_path / "images"
    setup(root)
    with pytest.raises(UserError) as refused:
        ImageFolderDataModule(str(root), image_size=8).setup()
    assert needle in str(refused.value) and "\n" not in str(refused.value)


def test_channels_other_than_1_or_3_are_refused():
    with pytest.raises(UserError, match="data.channels=2 is not valid; choose one of 1"):
        ImageFolderDataModule("anywhere", channels=2)


def test_a_tiny_unet_trains_and_samples_by_class_name(trained):
    model = genflow.load(trained[1], device="cpu")
    assert model.class_names == ["cat", "dog"] and model.data_shape == (3, 8, 8)
    x = model.sample(2, sampler="ddim", num_steps=2, guidance="cfg", scale=2, label="dog", progress=False)
    assert x.shape == (2, 3, 8, 8) and 0 <= x.min() and x.max() <= 1
    with pytest.raises(UserError, match="label='cow' is not a class of this model; classes: cat, dog"):
        model.sample(2, guidance="cfg", label="cow")


@pytest.mark.parametrize("label,code,needle", [
    ("dog", 0, ""),
    ("cow", 2, "guidance.label='cow' is not a class of this model; classes: cat, dog"),
    ("2.5", 2, "guidance.label=2.5 is not a class label"),
])
def test_the_cli_takes_a_class_name_as_guidance_label(trained, genflow_main, label, code, needle):
    code_, _, err = genflow_main("sample", f"ckpt={trained[1]}", "guidance=cfg", f"guidance.label={label}",
                                 "sampler=ddim", "sampler.num_steps=2", "num_samples=2", "device=cpu")
    assert code_ == code and needle in err, err[-2000:]


def test_held_out_images_are_scored_at_the_models_size(trained):
    folder, ckpt = trained
    held_out = [f"ckpt={ckpt}", "metric=bpd", "data=image_folder", f"data.path={folder}", "method=rk4",
                "num_steps=2", "num_points=5", "device=cpu"]
    bpd = compute_metrics(compose_config([*held_out, "data.image_size=8"], name="eval"))
    assert bpd["num_points"] == 5 and np.isfinite(bpd["bits_per_dim"])
    wrong_size = r"shape \(3, 4, 4\), but .* shape \(3, 8, 8\); pass data.image_size=8 data.channels=3"
    with pytest.raises(UserError, match=wrong_size):
        compute_metrics(compose_config([*held_out, "data.image_size=4"], name="eval"))
