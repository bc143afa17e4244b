"""Rectified-flow "reflow" pairs (Liu et al. 2023): noise eps ~ N(0, I) and the teacher's
deterministic PF-ODE image x = Phi(eps); training the straight path between them straightens the
flow, so fewer steps reach the same quality. The training app loads the teacher and hands it here."""

from __future__ import annotations

import torch

from genflow.data.vector import VectorDataModule
from genflow.samplers.grids import UniformGrid
from genflow.samplers.pf_ode import ProbabilityFlowSampler


class ReflowDataModule(VectorDataModule):
    def __init__(self, teacher, source=None, num_pairs: int = 20_000, batch_size: int = 256, seed: int = 0,
                 method: str = "dopri5", num_steps: int = 100, progress=None):
        """``teacher``: a trained module (genflow.modules.loading.load_module); ``source``: the teacher's data
        module, for reference samples; ``progress(t)`` sees the ODE's time."""
        super().__init__(batch_size, seed)
        self.teacher, self.source, self.progress = teacher, source, progress
        self.num_pairs = int(num_pairs)
        self.solver = ProbabilityFlowSampler(method, num_steps, x0_clip="none")
        self.noise = None

    def load(self):
        g = torch.Generator().manual_seed(self.seed)
        shape = (self.num_pairs, *self.teacher.hparams.data_shape)
        eps = self.teacher.path.prior_sample(shape, g)
        t_end = 0.0 if self.teacher.denoiser.kind == "velocity" else 1e-3  # a score model's ODE stops short of t = 0
        grid = UniformGrid(t_eps=t_end, denoise=False)(self.teacher.path, self.solver.num_steps)
        x = self.solver.sample(self.teacher.model_function(), eps.clone(), grid, progress=self.progress).x
        self.noise = eps
        labels = torch.full((self.num_pairs,), -1, dtype=torch.long)
        return self.teacher.denormalize(x), labels, 0

    def extra_tensors(self):
        return (self.noise,)

    def normalization(self):
        return self.teacher.data_shift.clone(), self.teacher.data_scale.clone()

    def reference(self, n: int, seed: int = 1):
        if self.source is not None:
            return self.source.reference(n, seed)
        return super().reference(n, seed)
