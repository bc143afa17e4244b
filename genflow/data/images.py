"""Image data: scikit-learn's 8x8 digits (shipped, no download), MNIST and CIFAR-10 in
torchvision's on-disk format.

Images are held in memory as uint8 (N, C, H, W). Their data units are intensities in [0, 1]; the
stored normalisation (x - 1/2) / (1/2) gives the model [-1, 1]. Each batch is converted on the
fly: x / 255, or with ``dequantize=true`` the uniform dequantisation u = (x + U[0, 1)) / 256 that
makes bits/dim a bound on the discrete data's code length; ``hflip=true`` flips each image
left-right with probability 1/2 (CIFAR-10).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genflow.data.vector import VectorDataModule
from genflow.errors import UserError, flag

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def default_root() -> Path:
    """``$GENFLOW_DATA_ROOT``, else the user's data directory (e.g. ~/.local/share/genflow/datasets)."""
    if os.environ.get("GENFLOW_DATA_ROOT"):
        return Path(os.environ["GENFLOW_DATA_ROOT"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("genflow")) / "datasets"


def to_unit(x: Tensor, dequantize: bool = False, generator: torch.Generator | None = None) -> Tensor:
    """uint8 pixels to [0, 1]: x / 255, or (x + U) / 256 with U ~ U[0, 1) when dequantising."""
    if not dequantize:
        return x.float() / 255.0
    return (x.float() + torch.rand(x.shape, generator=generator)) / 256.0


class ImageTransform:
    """The per-batch conversion of uint8 images (dequantisation and random flips)."""

    def __init__(self, dequantize: bool, hflip: bool):
        self.dequantize, self.hflip = dequantize, hflip

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        x = to_unit(x, self.dequantize, generator)
        if self.hflip:
            flip = torch.rand(x.shape[0], generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x


class ImageDataModule(VectorDataModule):
    """Subclasses implement ``load_uint8() -> (x uint8 (N, C, H, W), y, num_classes)``."""

    def __init__(self, name: str | None = None, root: str | None = None, download: bool = False,
                 split: str = "train", hflip: bool = False, dequantize: bool = False, batch_size: int = 128,
                 seed: int = 0):
        super().__init__(batch_size, seed)
        self.name = name
        self.root = Path(root).expanduser() if root else default_root()
        self.download, self.split = flag("data.download", download), split
        if split not in ("train", "test"):
            raise UserError(f"data.split={split!r} is not valid; choose one of: train, test")
        self.transform = ImageTransform(dequantize, hflip)

    def load_uint8(self) -> tuple[Tensor, Tensor, int]:
        raise NotImplementedError

    def load(self):
        x, y, k = self.load_uint8()
        return x.contiguous(), y.long(), k

    def normalization(self) -> tuple[Tensor, Tensor]:
        return torch.full(self.data_shape, 0.5), torch.full(self.data_shape, 0.5)

    def reference(self, n: int, seed: int = 1) -> Tensor:
        return to_unit(super().reference(n, seed))

    def reference_labelled(self, n: int, seed: int = 1) -> tuple[Tensor, Tensor]:
        x, y = super().reference_labelled(n, seed)
        return to_unit(x), y

    def batch_transform(self):
        return self.transform

    def missing(self, what: str, where: Path, how: str) -> UserError:
        return UserError(f"{what} not found under data.root={self.root} (looked for {where}); {how}, "
                         f"or pass data.download=true when online, or set data.root= / $GENFLOW_DATA_ROOT")


class DigitsDataModule(ImageDataModule):
    """scikit-learn's 1,797 8x8 handwritten digits (0..16 levels, rescaled to 0..255), 10 classes."""

    def load_uint8(self):
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
        return torch.from_numpy(x)[:, None], torch.from_numpy(digits.target), 10


class MNISTDataModule(ImageDataModule):
    """MNIST 28x28 from ``<root>/MNIST/raw/*-idx?-ubyte`` (torchvision's layout)."""

    def load_uint8(self):
        from torchvision.datasets import MNIST

        try:
            ds = MNIST(str(self.root), train=self.split == "train", download=self.download)
        except RuntimeError as err:
            raise self.missing("MNIST", self.root / "MNIST" / "raw", "put the four idx files from "
                               "http://yann.lecun.com/exdb/mnist/ (gunzipped) there") from err
        except OSError as err:
            raise UserError(f"could not download MNIST to data.root={self.root}: {err}") from err
        return ds.data[:, None], ds.targets, 10


class _ArrayUnpickler(pickle.Unpickler):
    """Reads CIFAR-10's python batches (dicts of lists, strings and NumPy arrays) and nothing else:
    a data file is hostile, so any other global a pickle names is refused instead of imported."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
               ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it names GLOBAL {module}.{name}, which would run code: refused")
        return super().find_class(module, name)


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10 32x32x3 from ``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch}`` pickles."""

    def load_uint8(self):
        folder = self.root / "cifar-10-batches-py"
        names = [f"data_batch_{i}" for i in range(1, 6)] if self.split == "train" else ["test_batch"]
        if not all((folder / n).exists() for n in names) and self.download:
            self._download()
        if not all((folder / n).exists() for n in names):
            raise self.missing("CIFAR-10", folder, f"extract {CIFAR10_URL} into data.root")
        xs, ys = [], []
        for name in names:
            with open(folder / name, "rb") as f:
                try:
                    batch = _ArrayUnpickler(f, encoding="latin1").load()
                except (pickle.UnpicklingError, EOFError, ValueError) as err:
                    raise UserError(f"{folder / name} is not a CIFAR-10 batch: {err}") from None
            xs.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch["labels"], dtype=np.int64))
        return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys)), 10

    def _download(self) -> None:
        from torchvision.datasets import CIFAR10

        try:
            CIFAR10(str(self.root), train=True, download=True)
        except OSError as err:
            raise UserError(f"could not download CIFAR-10 to data.root={self.root}: {err}") from err
