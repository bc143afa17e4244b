"""A user's own vector data: ``data=file data.path=points.npy`` (also .npz and .csv).

The file holds N x D floats and optionally integer labels: an .npz array named ``y`` / ``labels``,
or a CSV column chosen by ``data.label_column``. With ``normalize=true`` each dimension is
standardised for training; the shift and scale go into the checkpoint and samples come back in
the file's units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genflow.data.vector import VectorDataModule
from genflow.errors import UserError

SUFFIXES = (".npy", ".npz", ".csv")


def _read_csv(path: Path) -> np.ndarray:
    first = path.open().readline()
    try:
        [float(v) for v in first.strip().split(",")]
        skip = 0
    except ValueError:
        skip = 1  # header row
    return np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)


def read_vectors(path: str | Path, label_column: int | None = None):
    """Return (x float32 (N, D), labels int64 (N,) or None)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"data.path={str(path)!r} does not exist; give an .npy, .npz or .csv file of N x D floats")
    if path.suffix not in SUFFIXES:
        raise UserError(f"data.path={str(path)!r}: unsupported file type {path.suffix!r}; valid: {', '.join(SUFFIXES)}")
    labels = None
    try:
        if path.suffix == ".npy":
            x = np.load(path)
        elif path.suffix == ".npz":
            with np.load(path) as z:
                key = next((k for k in ("x", "data", "X") if k in z), z.files[0])
                x = z[key]
                lab = next((k for k in ("y", "labels", "label") if k in z), None)
                labels = None if lab is None else z[lab]
        else:
            x = _read_csv(path)
    except (ValueError, OSError) as e:
        raise UserError(f"data.path={str(path)!r} could not be read as numbers: {e}") from None
    x = np.asarray(x)
    if label_column is not None:
        if x.ndim != 2 or not -x.shape[1] <= label_column < x.shape[1]:
            raise UserError(f"data.label_column={label_column} is out of range for data of shape {x.shape}")
        labels, x = x[:, label_column], np.delete(x, label_column, axis=1)
    if x.ndim != 2 or x.shape[0] < 2 or not np.issubdtype(x.dtype, np.number):
        raise UserError(f"data.path={str(path)!r} must hold an N x D array of numbers, got shape {x.shape}")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (x.shape[0],) or np.any(labels != np.round(labels)) or labels.min() < 0:
            raise UserError(f"labels in {str(path)!r} must be N non-negative integers")
    return torch.as_tensor(x, dtype=torch.float32), None if labels is None else torch.as_tensor(labels, dtype=torch.long)


class FileDataModule(VectorDataModule):
    def __init__(self, path: str, label_column: int | None = None, normalize: bool = True,
                 batch_size: int = 256, seed: int = 0):
        super().__init__(batch_size, seed)
        self.path, self.label_column, self.normalize = path, label_column, bool(normalize)

    def load(self):
        x, y = read_vectors(self.path, self.label_column)
        if y is None:
            return x, torch.full((len(x),), -1, dtype=torch.long), 0
        return x, y, int(y.max()) + 1

    def normalization(self):
        self.setup()
        if not self.normalize:
            return super().normalization()
        return self.x.mean(0), self.x.std(0).clamp_min(1e-8)
