"""Tiny MNIST and CIFAR-10 in torchvision's exact on-disk formats (idx files; python pickles)."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def write_mnist(root: Path, n_train: int = 16, n_test: int = 8, seed: int = 0) -> dict:
    """<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte; returns the arrays written."""
    rng = np.random.default_rng(seed)
    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">iiii", 2051, n, 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">ii", 2049, n) + labels.tobytes())
        arrays[prefix] = (images, labels)
    return arrays


def write_cifar10(root: Path, n_per_batch: int = 4, seed: int = 0) -> dict:
    """<root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}; rows are R, G, B planes."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n_per_batch).tolist()
        batch = {"batch_label": name, "labels": labels, "data": data,
                 "filenames": [f"img_{i}.png" for i in range(n_per_batch)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
        arrays[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"], "num_cases_per_batch": n_per_batch, "num_vis": 3072}, f)
    return arrays
