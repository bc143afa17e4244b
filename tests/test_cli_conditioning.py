"""``genflow sample ... guidance=inpaint`` and ``guidance=bridge`` as a user runs them, on tiny models: the files
written, the known values kept exactly, hostile mask files refused with one line (exit 2), a diverging
conditioned sampler stopped (exit 1)."""

import json

import numpy as np
import pytest

from cli_fixtures import genflow_main, tiny_run, train_once  # noqa: F401
from conftest import find_run

FEW_STEPS = ["sampler=ancestral", "sampler.num_steps=10"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    return train_once(tmp_path_factory.mktemp("digits"), "data=digits", "trainer.max_steps=5", "num_samples=4",
                      "plot_every_n_steps=0", "path.num_steps=50", "net.ch=8", "net.num_groups=4",
                      "net.attn_resolutions=[]", "progress_refresh_per_second=0")


def sample(genflow_main, *args):
    code, _, err = genflow_main("sample", *args)
    assert code == 0, err[-4000:]


def test_inpaint_and_bridge_on_a_toy_set(tiny_run, genflow_main, tmp_path):
    root, run = tmp_path, tiny_run
    sample(genflow_main, f"ckpt={run}", "guidance=inpaint", "guidance.known=[[null,0.5],[-0.25,null]]",
           "num_samples=40", "guidance.paths=4", *FEW_STEPS)
    out = find_run(root, "*_sample")
    data = np.load(out / "samples.npz")
    x, labels = data["x"], data["labels"]
    assert x.shape == (80, 2) and np.isfinite(x).all()
    assert np.allclose(x[labels == 0, 1], 0.5, atol=1e-5) and np.allclose(x[labels == 1, 0], -0.25, atol=1e-5)
    assert (out / "trajectories.png").stat().st_size > 1000
    sample(genflow_main, f"ckpt={run}", "guidance=bridge", "guidance.target=[1.0,0.5]", "guidance.radius=0",
           "num_samples=30", *FEW_STEPS)
    out = find_run(root, "*_sample")
    assert np.allclose(np.load(out / "samples.npz")["x"], [1.0, 0.5], atol=1e-5)
    assert "trajectories.png" in json.loads((out / "metrics.json").read_text())


def test_a_diverging_conditioned_sampler_exits_1(tiny_run, genflow_main):
    """Guidance at every noise level (snr_min=0) with an absurd weight: the sample is not finite."""
    code, _, err = genflow_main("sample", f"ckpt={tiny_run}", "guidance=bridge", "guidance.target=[1.0,0.5]",
                                "guidance.snr_min=0", "guidance.scale=1e30", "num_samples=10", *FEW_STEPS)
    err = err.strip()
    assert code == 1 and "non-finite" in err and len(err.splitlines()) == 1, err


def test_inpaint_digits_with_a_mask_and_images_from_files(digits_run, tmp_path, genflow_main):
    root, run = tmp_path, digits_run
    mask = np.ones((8, 8))
    mask[2:6, 2:6] = 0
    images = np.random.default_rng(0).uniform(size=(2, 8, 8)).astype(np.float32)
    np.save(tmp_path / "mask.npy", mask)
    np.save(tmp_path / "images.npy", images)
    sample(genflow_main, f"ckpt={run}", "guidance=inpaint", f"guidance.mask={tmp_path / 'mask.npy'}",
           f"guidance.image={tmp_path / 'images.npy'}", "num_samples=3", *FEW_STEPS)
    out = find_run(root, "*_sample")
    data = np.load(out / "samples.npz")
    x, labels = data["x"], data["labels"]
    assert x.shape == (6, 1, 8, 8) and list(labels) == [0, 0, 0, 1, 1, 1]
    known = mask.astype(bool)
    for g in (0, 1):
        assert np.allclose(x[labels == g][:, 0][:, known], images[g][known], atol=1e-4)
    assert (out / "inpainting.png").stat().st_size > 1000


def test_bad_mask_file_is_one_line_exit_2(digits_run, tmp_path, genflow_main):
    """(The other hostile files are refused in-process: tests/test_conditioning.py.)"""
    run = digits_run
    np.save(tmp_path / "mask.npy", np.ones((4, 4)))
    needle = "has shape (4, 4); the model makes images of shape (1, 8, 8)"
    code, _, err = genflow_main("sample", f"ckpt={run}", "guidance=inpaint", f"guidance.mask={tmp_path / 'mask.npy'}")
    err = err.strip()
    assert code == 2 and needle in err and len(err.splitlines()) == 1, err
