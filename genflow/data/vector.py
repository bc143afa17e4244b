"""A Lightning DataModule over in-memory (x, y) tensors, fetched a whole batch at a time, sharded\nacross DDP ranks and resumable mid-epoch."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor


class ShuffledBatches:
    """Batches of an in-memory (x, y, *extra) set: one tensor gather per batch, no per-item collate.

    Epoch e visits the permutation drawn from (seed, e); with W processes, rank r takes batches
    r, r + W, ... of it, so the ranks see disjoint shards. Its ``state_dict`` (epoch, batches done)
    is saved in Lightning's checkpoints, so a resumed run continues with the very next batch, and
    the batch transform draws from a generator seeded by (seed, epoch, batch) for the same reason.
    """

    def __init__(self, tensors, batch_size: int, seed: int, transform=None, rank: int = 0, world_size: int = 1):
        self.tensors, self.transform = tensors, transform
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.epoch = self.done = 0

    def __len__(self) -> int:
        return len(self.tensors[0]) // (self.batch_size * self.world_size)

    def __iter__(self):
        if self.done >= len(self):  # the previous epoch ran to its end
            self.epoch, self.done = self.epoch + 1, 0
        n, size = len(self.tensors[0]), self.batch_size
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 7919 + self.epoch))
        while self.done < len(self):
            start = (self.done * self.world_size + self.rank) * size
            idx = perm[start:start + size]
            x, *rest = (t[idx] for t in self.tensors)
            if self.transform is not None:
                g = torch.Generator().manual_seed(hash((self.seed, self.epoch, self.done, self.rank)) % 2**63)
                x = self.transform(x, g)
            self.done += 1
            yield (x, *rest)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "done": self.done}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.done = int(state["epoch"]), int(state["done"])


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

    def batch_transform(self):
        """``f(x, generator)`` applied to each batch of x (e.g. uint8 images to floats), or None."""
        return None

    def normalization(self) -> tuple[Tensor, Tensor]:
        self.setup()
        return torch.zeros(self.data_shape), torch.ones(self.data_shape)

    def reference(self, n: int, seed: int = 1) -> Tensor:
        """Data to compare samples with (in data units)."""
        self.setup()
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.x), generator=g)[:n]
        return self.x[idx]

    def reference_labelled(self, n: int, seed: int = 1) -> tuple[Tensor, Tensor]:
        """(x, labels) to evaluate a classifier on (in data units)."""
        self.setup()
        idx = torch.randperm(len(self.x), generator=torch.Generator().manual_seed(seed))[:n]
        return self.x[idx], self.y[idx]

    def train_dataloader(self) -> ShuffledBatches:
        self.setup()
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        size = min(self.batch_size, len(self.x) // world)
        return ShuffledBatches((self.x, self.y, *self.extra_tensors()), size, self.seed, self.batch_transform(),
                               rank, world)
