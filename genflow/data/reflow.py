"""Rectified-flow "reflow" pairs (Liu et al. 2023): noise eps ~ N(0, I) and the teacher's
deterministic PF-ODE image x = Phi(eps); training the straight path between them straightens the
flow, so fewer steps reach the same quality."""

from __future__ import annotations

import torch
from hydra.utils import instantiate

from genflow.modules.loading import load_module
from genflow.data.vector import VectorDataModule
from genflow.samplers.pf_ode import ProbabilityFlowSampler


class ReflowDataModule(VectorDataModule):
    def __init__(self, teacher: str, num_pairs: int = 20_000, batch_size: int = 256, seed: int = 0,
                 method: str = "dopri5", num_steps: int = 100, trusted=()):
        super().__init__(batch_size, seed)
        self.teacher = load_module(teacher, key="teacher", trusted=trusted)
        self.num_pairs, self.solver = int(num_pairs), ProbabilityFlowSampler(method, num_steps, progress=True)
        config = self.teacher.run_config or {}
        self._source = instantiate(config["data"]) if config.get("data") else None
        self.noise = None

    def load(self):
        g = torch.Generator().manual_seed(self.seed)
        shape = (self.num_pairs, *self.teacher.hparams.data_shape)
        eps = self.teacher.path.prior_sample(shape, g)
        x = self.solver.sample(self.teacher.model_function(), shape, x_init=eps.clone()).x
        self.noise = eps
        labels = torch.full((self.num_pairs,), -1, dtype=torch.long)
        return self.teacher.denormalize(x), labels, 0

    def extra_tensors(self):
        return (self.noise,)

    def normalization(self):
        return self.teacher.data_shift.clone(), self.teacher.data_scale.clone()

    def reference(self, n: int, seed: int = 1):
        if self._source is not None and hasattr(self._source, "reference"):
            return self._source.reference(n, seed)
        return super().reference(n, seed)
