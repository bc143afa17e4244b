"""A user's own vector data: ``data=file data.path=points.npy`` (also .npz and .csv).

The file holds N x D floats (a 1-D array is N x 1) and optionally integer labels: an .npz array
named ``y`` / ``labels``, or a CSV column chosen by ``data.label_column``. Labels may be any
integers; labels other than 0..K-1 (e.g. {0, 50000}) are trained as classes 0..K-1 in sorted order
and ``guidance.label`` and sampled labels use the file's own values (``genflow.data.labels``).
With ``normalize=true`` each dimension is standardised for training; the shift and scale go into
the checkpoint and samples come back in the file's units.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from genflow.data.labels import dense_labels
from genflow.data.vector import VectorDataModule
from genflow.errors import UserError, flag

SUFFIXES = (".npy", ".npz", ".csv")


def _read_csv(path: Path) -> np.ndarray:
    with path.open() as f:
        first = f.readline()
    try:
        [float(v) for v in first.strip().split(",")]
        skip = 0
    except ValueError:
        skip = 1  # header row
    with warnings.catch_warnings():  # an empty file is reported below, not as a NumPy warning
        warnings.simplefilter("ignore")
        return np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)


def _load(path: Path):
    """(x, labels or None) as stored in the file; never unpickles (``allow_pickle=False``)."""
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False), None
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if not z.files:
                raise UserError(f"data.path={str(path)!r} holds no arrays")
            key = next((k for k in ("x", "data", "X") if k in z), z.files[0])
            lab = next((k for k in ("y", "labels", "label") if k in z), None)
            return z[key], None if lab is None else z[lab]
    return _read_csv(path), None


def _first_bad_row(x: np.ndarray) -> int:
    return int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])


def read_vectors(path: str | Path, label_column: int | None = None):
    """Return (x float32 (N, D), labels int64 (N,) or None). A 1-D array is N x 1 data.

    Refused with one line: a missing or unreadable file, no rows, fewer than two rows, no columns,
    values that are not real numbers (complex, boolean, text, objects), non-finite values or values
    beyond float32 (naming the first such row, counted from 0), labels that are not integers."""
    path = Path(path).expanduser()
    name = f"data.path={str(path)!r}"
    if not path.is_file():
        raise UserError(f"{name} does not exist; give an .npy, .npz or .csv file of N x D floats")
    if path.suffix not in SUFFIXES:
        raise UserError(f"{name}: unsupported file type {path.suffix!r}; valid: {', '.join(SUFFIXES)}")
    try:
        x, labels = _load(path)
    except UserError:
        raise
    except Exception as e:  # not an array file, pickled objects, text in a CSV, a truncated file, ...
        lines = [ln for ln in str(e).splitlines() if ln.strip()]
        raise UserError(f"{name} could not be read as numbers: {lines[0] if lines else type(e).__name__}") from None
    x = np.asarray(x)
    if x.dtype.kind not in "iuf":
        kind = {"c": "complex numbers", "b": "booleans", "O": "Python objects", "U": "text", "S": "bytes",
                "M": "dates", "m": "time spans", "V": "records"}.get(x.dtype.kind, f"dtype {x.dtype}")
        raise UserError(f"{name} holds {kind}; give real numbers (N x D floats)")
    if x.ndim == 1:
        x = x[:, None]  # N values: N x 1 data
    if x.ndim != 2:
        raise UserError(f"{name} must hold an N x D array of numbers, got shape {x.shape}")
    if label_column is not None:
        if not -x.shape[1] <= label_column < x.shape[1]:
            raise UserError(f"data.label_column={label_column} is out of range for data of shape {x.shape}")
        labels, x = x[:, label_column], np.delete(x, label_column, axis=1)
    if x.shape[0] == 0:
        raise UserError(f"{name} holds no rows")
    if x.shape[1] == 0:
        raise UserError(f"{name} holds no columns (shape {x.shape}); give N x D floats")
    if x.shape[0] < 2:
        raise UserError(f"{name} holds {x.shape[0]} row; training needs at least 2")
    if not np.isfinite(x).all():
        raise UserError(f"{name}: row {_first_bad_row(x)} (counting from 0) holds a NaN or infinite value")
    x32 = x.astype(np.float32)
    if not np.isfinite(x32).all():
        raise UserError(f"{name}: row {_first_bad_row(x32)} (counting from 0) holds a value beyond float32's range "
                        "(|x| > 3.4e38)")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.dtype.kind not in "iuf" or labels.shape != (x.shape[0],):
            raise UserError(f"labels in {str(path)!r} must be N integers, one per row (got dtype {labels.dtype}, "
                            f"shape {labels.shape})")
        if not np.isfinite(labels).all() or np.any(labels != np.round(labels)) or np.abs(labels).max() > 2**62:
            raise UserError(f"labels in {str(path)!r} must be N integers")
        labels = labels.astype(np.int64)
    return torch.as_tensor(x32), None if labels is None else torch.as_tensor(labels, dtype=torch.long)


class FileDataModule(VectorDataModule):
    def __init__(self, path: str, label_column: int | None = None, normalize: bool = True,
                 batch_size: int = 256, seed: int = 0):
        super().__init__(batch_size, seed)
        self.path, self.label_column, self.normalize = path, label_column, flag("data.normalize", normalize)
        self.label_values: list[int] | None = None  # the file's labels when they are not 0..K-1

    def load(self):
        x, y = read_vectors(self.path, self.label_column)
        if y is None:
            return x, torch.full((len(x),), -1, dtype=torch.long), 0
        indices, self.label_values = dense_labels(y.numpy())
        return x, torch.as_tensor(indices, dtype=torch.long), int(indices.max()) + 1

    def normalization(self):
        self.setup()
        if not self.normalize:
            return super().normalization()
        return self.x.mean(0), self.x.std(0).clamp_min(1e-8)
