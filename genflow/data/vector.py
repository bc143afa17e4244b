"""A Lightning DataModule over an in-memory (x, y) tensor pair, fetched a whole batch at a time."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler


class _BatchIndexed(Dataset):
    """``ds[list_of_indices]`` returns the stacked batch: one tensor gather, no per-item collate."""

    def __init__(self, x: Tensor, y: Tensor, *extra: Tensor):
        self.x, self.y, self.extra = x, y, extra

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx):
        return (self.x[idx], self.y[idx], *(e[idx] for e in self.extra))


def _identity(batch):
    return batch


class VectorDataModule(L.LightningDataModule):
    """Subclasses implement ``load() -> (x, y, num_classes)``; labels are -1 when there are none.

    ``shift`` / ``scale`` is the normalisation x_model = (x - shift) / scale that the model trains
    on; it is stored in the checkpoint and undone when sampling.
    """

    def __init__(self, batch_size: int = 256, seed: int = 0):
        super().__init__()
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.x = self.y = None
        self.num_classes = 0

    def load(self) -> tuple[Tensor, Tensor, int]:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.x is None:
            self.x, self.y, self.num_classes = self.load()

    @property
    def data_shape(self) -> tuple[int, ...]:
        self.setup()
        return tuple(self.x.shape[1:])

    def extra_tensors(self) -> tuple[Tensor, ...]:
        """Per-example tensors batched alongside (x, y), e.g. fixed noise for reflow pairs."""
        return ()

    def normalization(self) -> tuple[Tensor, Tensor]:
        self.setup()
        return torch.zeros(self.data_shape), torch.ones(self.data_shape)

    def reference(self, n: int, seed: int = 1) -> Tensor:
        """Data to compare samples with (in data units)."""
        self.setup()
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.x), generator=g)[:n]
        return self.x[idx]

    def train_dataloader(self) -> DataLoader:
        self.setup()
        g = torch.Generator().manual_seed(self.seed)
        batches = BatchSampler(RandomSampler(range(len(self.x)), generator=g),
                               batch_size=min(self.batch_size, len(self.x)), drop_last=True)
        return DataLoader(_BatchIndexed(self.x, self.y, *self.extra_tensors()), sampler=batches, batch_size=None, collate_fn=_identity)
