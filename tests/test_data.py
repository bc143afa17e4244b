"""Toy sets and user files, in the real on-disk formats."""

import numpy as np
import pytest
import torch

from genflow.data.files import FileDataModule, read_vectors
from genflow.data.toy import TOY_SETS, ToyDataModule, make_toy
from genflow.errors import UserError


@pytest.mark.parametrize("name", sorted(TOY_SETS))
def test_toy_sets_are_seeded_standardised_and_labelled(name):
    x, y, k = make_toy(name, 5000, seed=3)
    x2, y2, _ = make_toy(name, 5000, seed=3)
    assert x.shape == (5000, 2) and x.dtype == torch.float32 and torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, make_toy(name, 5000, seed=4)[0])
    assert x.mean(0).abs().max() < 0.1 and abs(x.std().item() - 1) < 0.1
    assert y.min() >= 0 and y.max() == k - 1 and len(y.unique()) == k


def test_eight_gaussians_labels_are_components():
    x, y, _ = make_toy("eight_gaussians", 4000, seed=0)
    centers = torch.stack([x[y == k].mean(0) for k in range(8)])
    nearest = torch.cdist(x, centers).argmin(1)
    assert (nearest == y).float().mean() > 0.99


def test_dataloader_yields_whole_batches():
    dm = ToyDataModule("moons", num_samples=1000, batch_size=128)
    batches = list(dm.train_dataloader())
    assert len(batches) == 1000 // 128
    x, y = batches[0]
    assert x.shape == (128, 2) and y.shape == (128,)


def test_file_formats(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 3)) * [1, 10, 100] + [5, -5, 50]
    labels = rng.integers(0, 4, 50)
    np.save(tmp_path / "a.npy", pts)
    np.savez(tmp_path / "b.npz", x=pts, y=labels)
    np.savetxt(tmp_path / "c.csv", np.column_stack([pts, labels]), delimiter=",", header="a,b,c,label", comments="")
    for name, col in (("a.npy", None), ("b.npz", None), ("c.csv", 3)):
        x, y = read_vectors(tmp_path / name, col)
        assert x.shape == (50, 3) and torch.allclose(x.double(), torch.as_tensor(pts), rtol=1e-5)
        assert (y is None) == (name == "a.npy")
        if y is not None:
            assert torch.equal(y, torch.as_tensor(labels))
    dm = FileDataModule(str(tmp_path / "b.npz"))
    shift, scale = dm.normalization()
    assert dm.num_classes == 4 and torch.allclose(shift.double(), torch.as_tensor(pts.mean(0)), rtol=1e-4)
    assert torch.allclose(scale.double(), torch.as_tensor(pts.std(0, ddof=1)), rtol=1e-4)


def test_bad_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_vectors(tmp_path / "missing.npy")
    (tmp_path / "x.txt").write_text("1,2\n")
    with pytest.raises(UserError, match="unsupported file type"):
        read_vectors(tmp_path / "x.txt")
    np.save(tmp_path / "v.npy", np.zeros((5, 2, 2)))
    with pytest.raises(UserError, match="N x D"):
        read_vectors(tmp_path / "v.npy")
    np.save(tmp_path / "line.npy", np.arange(5.0))  # N values: N x 1 data
    assert read_vectors(tmp_path / "line.npy")[0].shape == (5, 1)
