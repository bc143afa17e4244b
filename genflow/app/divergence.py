"""Warnings for a run that finished with finite but useless numbers (e.g. ``model.lr=30``).

Two criteria, each a line in the log and in ``metrics.json["warnings"]``:
- the loss diverged: with m_k the moving average of the training loss (m_k = 0.98 m_{k-1} +
  0.02 loss_k, from step 1), the final average exceeds its minimum by more than ten times the
  loss's own scale, max(|min m|, |m_1| / 10);
- the samples are no better than noise: their sliced Wasserstein distance to the data is larger
  than that of the prior's samples (both are in metrics.json).
"""

from __future__ import annotations

import math

import lightning as L
import torch

BETA = 0.98


class LossDivergence(L.Callback):
    def __init__(self):
        self.first = self.smoothed = self.lowest = None
        self.lowest_step = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not torch.is_tensor(loss):
            return
        value = float(loss)
        if not math.isfinite(value):
            return
        self.smoothed = value if self.smoothed is None else BETA * self.smoothed + (1 - BETA) * value
        if self.first is None:
            self.first = self.smoothed
        if self.lowest is None or self.smoothed < self.lowest:
            self.lowest, self.lowest_step = self.smoothed, trainer.global_step

    def warnings(self) -> list[str]:
        if self.smoothed is None or self.lowest is None:
            return []
        scale = max(abs(self.lowest), abs(self.first) / 10, 1e-12)
        if self.smoothed - self.lowest > 10 * scale:
            return [f"the training loss diverged: its moving average rose from {self.lowest:.4g} (step "
                    f"{self.lowest_step}) to {self.smoothed:.4g}; lower model.lr or clip gradients "
                    "(trainer.gradient_clip_val)"]
        return []


def sample_warnings(metrics: dict) -> list[str]:
    ours, prior = metrics.get("sliced_wasserstein"), metrics.get("prior_sliced_wasserstein")
    if ours is None or prior is None or not ours > prior:
        return []
    return [f"the samples are farther from the data than the prior's noise (sliced W2 {ours:.4g} vs {prior:.4g}): "
            "train longer or check the learning rate"]
