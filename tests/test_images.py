"""Image data in torchvision's on-disk formats, the DDPM U-Net, grids, Frechet distances, bits/dim."""

import json
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from conftest import find_run, run_cli
from genflow.data.images import CIFAR10DataModule, DigitsDataModule, ImageTransform, MNISTDataModule, to_unit
from genflow.errors import UserError
from genflow.metrics.frechet import digits_features, frechet_distance
from genflow.nets.unet import UNet
from image_files import write_cifar10, write_mnist


# --- data ------------------------------------------------------------------------------------
def test_cifar10_reads_the_pickles_pixel_for_pixel(tmp_path):
    arrays = write_cifar10(tmp_path, n_per_batch=3)
    dm = CIFAR10DataModule(root=str(tmp_path))
    dm.setup()
    assert dm.x.shape == (15, 3, 32, 32) and dm.x.dtype == torch.uint8 and dm.num_classes == 10
    row, labels = arrays["data_batch_2"][0][1], arrays["data_batch_2"][1][1]
    img = dm.x[4]  # batch 2, second image
    assert img[0, 0, 1] == row[1] and img[1, 0, 0] == row[1024] and img[2, 31, 31] == row[3071]
    assert dm.y[4] == labels
    test = CIFAR10DataModule(root=str(tmp_path), split="test")
    test.setup()
    assert torch.equal(test.x.flatten(1), torch.from_numpy(arrays["test_batch"][0]))


def test_mnist_reads_the_idx_files(tmp_path):
    arrays = write_mnist(tmp_path, n_train=5, n_test=3)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        dm = MNISTDataModule(root=str(tmp_path), split=split)
        dm.setup()
        images, labels = arrays[prefix]
        assert dm.data_shape == (1, 28, 28)
        assert torch.equal(dm.x[:, 0], torch.from_numpy(images)) and torch.equal(dm.y, torch.from_numpy(labels).long())


@pytest.mark.parametrize("cls, name", [(CIFAR10DataModule, "CIFAR-10"), (MNISTDataModule, "MNIST")])
def test_missing_files_say_where_to_put_them(tmp_path, cls, name):
    with pytest.raises(UserError, match=rf"{name} not found under data.root=.*data.download=true"):
        cls(root=str(tmp_path / "nothing")).setup()


def test_digits_are_8_bit_images_with_labels():
    dm = DigitsDataModule()
    dm.setup()
    assert dm.x.shape == (1797, 1, 8, 8) and dm.x.dtype == torch.uint8 and int(dm.x.max()) == 255
    assert sorted(dm.y.unique().tolist()) == list(range(10))
    shift, scale = dm.normalization()
    model_units = (to_unit(dm.x) - shift) / scale
    assert model_units.min() == -1 and model_units.max() == 1


def test_dequantisation_stays_in_the_pixels_bin_and_flips_are_random():
    x = torch.randint(0, 256, (4000, 1, 2, 2), dtype=torch.uint8)
    u = to_unit(x, dequantize=True)
    assert (u >= x / 256).all() and (u < (x.float() + 1) / 256).all()
    assert abs((u * 256 - x).mean().item() - 0.5) < 0.02  # U[0, 1) offsets
    flipped = ImageTransform(dequantize=False, hflip=True)(x)
    changed = (flipped != to_unit(x)).flatten(1).any(1).float().mean().item()
    same = (x[..., 0] == x[..., 1]).flatten(1).all(1).float().mean().item()  # flip-invariant images
    assert abs(changed - 0.5 * (1 - same)) < 0.04


# --- network ---------------------------------------------------------------------------------
def test_unet_ddpm_cifar10_has_the_papers_35_7m_parameters():
    net = UNet((3, 32, 32), ch=128, ch_mult=(1, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,), dropout=0.1)
    assert abs(sum(p.numel() for p in net.parameters()) / 1e6 - 35.7) < 0.1


def test_unet_depends_on_time_and_label_and_keeps_the_shape():
    net = UNet((3, 16, 16), ch=16, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(8,), dropout=0.0,
               num_groups=4, num_classes=3).eval()
    x = torch.randn(2, 3, 16, 16)
    t = torch.full((2,), 0.3)
    out = net(x, t, torch.tensor([0, 1]))
    assert out.shape == x.shape
    assert not torch.allclose(out, net(x, torch.full((2,), 0.7), torch.tensor([0, 1])))
    assert not torch.allclose(out, net(x, t, torch.tensor([2, 2])))
    assert not torch.allclose(out, net(x, t, None))  # the null label


def test_unet_rejects_shapes_it_cannot_serve():
    with pytest.raises(UserError, match="image data"):
        UNet((2,))
    with pytest.raises(UserError, match="ch_mult"):
        UNet((1, 12, 12), ch=8, ch_mult=(1, 2, 2, 2), num_groups=4)


# --- Frechet distance ------------------------------------------------------------------------
def test_frechet_distance_matches_the_gaussian_closed_form():
    g = torch.Generator().manual_seed(0)
    n, d = 20000, 4
    a = torch.randn(n, 1, 2, 2, generator=g, dtype=torch.float64) * 0.1 + 0.5
    mix = torch.tensor([[1.0, 0.3, 0, 0], [0, 0.8, 0, 0], [0, 0, 1.2, 0], [0.2, 0, 0, 0.5]], dtype=torch.float64)
    b = ((torch.randn(n, d, generator=g, dtype=torch.float64) @ mix) * 0.1 + 0.45).view(n, 1, 2, 2)
    fd = frechet_distance(a, b, nn.Flatten())
    ma, mb = a.flatten(1).mean(0).numpy(), b.flatten(1).mean(0).numpy()
    ca, cb = np.cov(a.flatten(1).numpy().T), np.cov(b.flatten(1).numpy().T)
    exact = ((ma - mb) ** 2).sum() + np.trace(ca + cb - 2 * scipy.linalg.sqrtm(ca @ cb).real)
    assert fd == pytest.approx(exact, rel=1e-3)
    assert frechet_distance(a, a, nn.Flatten()) < 1e-6


def test_digits_frechet_distance_ranks_real_digits_above_corruptions():
    dm = DigitsDataModule()
    dm.setup()
    x = to_unit(dm.x)[torch.randperm(1797)]
    features = digits_features()
    real = frechet_distance(x[:600], x[600:1200], features)
    blurred = frechet_distance(x[:600], nn.functional.avg_pool2d(x[600:1200], 3, 1, 1), features)
    noise = frechet_distance(x[:600], torch.rand(600, 1, 8, 8), features)
    assert real < blurred / 5 and blurred < noise


# --- end to end --------------------------------------------------------------------------------
IMAGE_TINY = ["trainer.max_steps=2", "data.batch_size=4", "num_samples=4", "path.num_steps=40",
              "checkpoint_every_n_steps=1", "plot_every_n_steps=1"]


# the DDPM paper's U-Net shrunk to a few thousand parameters: the 35.7M-parameter one takes minutes per step
# on a busy CPU (its size is checked above, and data=cifar10 choosing it in test_cifar10_chooses_the_papers_recipe)
TINY_UNET = ["net.ch=8", "net.ch_mult=[1,2]", "net.num_res_blocks=1", "net.num_groups=4"]


def test_cifar10_chooses_the_papers_recipe():
    from genflow.app.compose import compose_config

    cfg = compose_config(["data=cifar10"])
    assert (cfg.net.ch, list(cfg.net.ch_mult), cfg.net.num_res_blocks, list(cfg.net.attn_resolutions)) == (
        128, [1, 2, 2, 2], 2, [16])
    assert (cfg.model.lr, cfg.model.warmup_steps, cfg.model.ema_decay, cfg.data.hflip) == (2e-4, 5000, 0.9999, True)


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_cifar10(root / "data")
    run_cli("train", "data=cifar10", f"data.root={root / 'data'}", *IMAGE_TINY, *TINY_UNET, cwd=root)
    return root, find_run(root, "*_cifar10")


def test_train_cifar10_end_to_end(cifar_run):
    root, run = cifar_run
    for name in ("checkpoints/last.ckpt", "samples.png", "samples/step_0000001.png", "metrics.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "metrics.json").read_text())["step"] == 2
    run_cli("sample", f"ckpt={run}", "num_samples=3", "sampler=ddim", "sampler.num_steps=2", cwd=root)
    out = find_run(root, "*_sample")
    assert np.load(out / "samples.npz")["x"].shape == (3, 3, 32, 32) and (out / "samples.png").is_file()


def test_fid_through_a_stand_in_extractor_and_inception_weights_errors(cifar_run):
    root, run = cifar_run
    # the stand-in: 2x2 average pools of the 3 channels, 12 features (flattening all 3,072 pixels makes the
    # Frechet distance's 3,072 x 3,072 matrix functions the cost of the whole test)
    extractor = ("fid.extractor={_target_:torch.nn.Sequential,_args_:[{_target_:torch.nn.AdaptiveAvgPool2d,"
                 "output_size:2},{_target_:torch.nn.Flatten}]}")
    run_cli("eval", f"ckpt={run}", "metric=fid", "num_points=6", "sampler=ddim", "sampler.num_steps=2",
            extractor, cwd=root)
    metrics = json.loads((find_run(root, "*_eval_fid") / "metrics.json").read_text())
    assert metrics["num_points"] == 6 and math.isfinite(metrics["fid"]) and metrics["fid"] > 0
    proc = run_cli("eval", f"ckpt={run}", "metric=fid", cwd=root, check=False)
    assert proc.returncode == 2 and "needs the Inception weights file" in proc.stderr and "Traceback" not in proc.stderr
    from genflow.metrics.frechet import inception_fid  # the same UserError path, without a third CLI run

    with pytest.raises(UserError, match="fid.weights=/no/such.pth is not a file"):
        inception_fid("/no/such.pth")


def test_train_mnist_end_to_end(tmp_path):
    write_mnist(tmp_path / "data", n_train=8)
    run_cli("train", "data=mnist", f"data.root={tmp_path / 'data'}", *IMAGE_TINY, *TINY_UNET, cwd=tmp_path)
    assert (find_run(tmp_path, "*_mnist") / "samples.png").is_file()


def test_unknown_data_root_is_a_one_line_error(tmp_path):
    proc = run_cli("train", "data=cifar10", f"data.root={tmp_path / 'missing'}", "trainer.max_steps=1",
                   cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "CIFAR-10 not found under data.root=" in proc.stderr and "cifar-10-python.tar.gz" in proc.stderr


def test_digits_ddpm_learns_digits_and_eval_reports_fd_and_bpd(tmp_path):
    """A short DDPM run on digits: its digits-classifier FD beats the prior's by far."""
    # measured (seed 0, 100 samples): FD 74 after 100 steps of this half-width U-Net (117 after 60; 20 for
    # the 300-step full-width run) against the prior's 497
    run_cli("train", "data=digits", "net.ch=16", "trainer.max_steps=100", "model.warmup_steps=20", "num_samples=100",
            "path.num_steps=50", "plot_every_n_steps=0", "checkpoint_every_n_steps=100", cwd=tmp_path)
    run = find_run(tmp_path, "*_digits")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["fd_digits"] < 0.5 * metrics["prior_fd_digits"], metrics
    run_cli("eval", f"ckpt={run}", "metric=bpd", "num_points=8", "method=rk4", "num_steps=4", cwd=tmp_path)
    bpd = json.loads((find_run(tmp_path, "*_eval_bpd") / "metrics.json").read_text())
    assert bpd["bits_per_dim"] == pytest.approx(bpd["nll_nats"] / (64 * math.log(2)) + 8)
    assert 0 < bpd["bits_per_dim"] < 8 + bpd["prior_nll_nats"] / (64 * math.log(2))


def test_fid_reads_inception_weights_from_a_local_file(tmp_path, monkeypatch):
    """A randomly initialised Inception-v3 saved in torch-fidelity's weights format stands in for the
    real file: the loading and feature path of metric=fid run, nothing is downloaded."""
    import torch_fidelity.feature_extractor_inceptionv3 as tf

    from genflow.metrics.frechet import inception_fid

    with monkeypatch.context() as m:  # build the architecture without fetching the weights
        m.setattr(tf, "load_state_dict_from_url", lambda *a, **k: None)
        m.setattr(tf.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, *a, **k: None)
        net = tf.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    weights = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(net.state_dict(), weights)
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    same = frechet_distance(x, x, inception_fid(str(weights)))
    other = frechet_distance(x, 1 - x, inception_fid(str(weights)))
    assert abs(same) < 1e-3 and other > same
    (tmp_path / "junk.pth").write_bytes(b"not weights")
    with pytest.raises(UserError, match="could not be loaded as Inception weights"):
        inception_fid(str(tmp_path / "junk.pth"))
