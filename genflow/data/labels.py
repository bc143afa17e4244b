"""Labels as the user wrote them vs class indices as the model sees them.

A data file's labels may be any integers (``{0, 50000}``, ``{-1, 1}``); the model's label
embedding needs 0..K-1. ``dense_labels`` maps them to the index of each value in the sorted
distinct values, and genflow keeps those values (in the checkpoint, ``genflow.label_values``) so
that ``guidance.label`` and the labels written next to samples are the file's own values.
"""

from __future__ import annotations

import numpy as np
import torch

from genflow.errors import UserError


def dense_labels(labels: np.ndarray) -> tuple[np.ndarray, list[int] | None]:
    """(indices 0..K-1, the original values) when the labels are not already 0..K-1, else (labels, None)."""
    values, indices = np.unique(labels, return_inverse=True)
    if np.array_equal(values, np.arange(len(values))):
        return labels, None
    return indices, [int(v) for v in values]


def class_index(label, values: list[int] | None, num_classes: int, key: str = "guidance.label") -> int:
    """The class index of a user-facing label."""
    if values is None:
        if not 0 <= int(label) < num_classes:
            raise UserError(f"{key}={label} is outside the data set's classes 0..{num_classes - 1}")
        return int(label)
    if int(label) not in values:
        shown = ", ".join(map(str, values[:20])) + (", ..." if len(values) > 20 else "")
        raise UserError(f"{key}={label} is not one of the data's labels: {shown}")
    return values.index(int(label))


def label_values(indices: torch.Tensor, values: list[int] | None) -> torch.Tensor:
    """Class indices back to the file's label values (negative indices, 'no label', are kept)."""
    if values is None:
        return indices
    table = torch.tensor(values, dtype=torch.long)
    return torch.where(indices >= 0, table[indices.clamp_min(0)], indices)
