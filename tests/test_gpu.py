"""Checks that need a CUDA GPU (skipped elsewhere; benchmarks/gpu_checks.sh runs them): the U-Net's
attention takes the fused kernels in bf16, and a training step never waits for the GPU (no host sync
between logging steps)."""

import warnings

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch.nn.attention import SDPBackend, sdpa_kernel

from genflow.app.compose import build_run, compose_config
from genflow.app.train import build_trainer
from genflow.nets.unet import UNet

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("heads", [1, 16])  # heads of 128 and of 8 channels
def test_attention_runs_on_the_flash_and_memory_efficient_kernels(heads, monkeypatch):
    seen = []
    sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda q, k, v, **kw: seen.append((q, k, v)) or sdpa(q, k, v, **kw))
    net = UNet((3, 32, 32), ch=64, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(16,), num_heads=heads).cuda()
    x, t = torch.randn(4, 3, 32, 32, device="cuda"), torch.rand(4, device="cuda")
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
        with sdpa_kernel([backend]), torch.autocast("cuda", dtype=torch.bfloat16):
            net(x, t).float().square().mean().backward()  # raises "No available kernel" if refused
    q, k, v = seen[0]
    params = torch.backends.cuda.SDPAParams(q, k, v, None, 0.0, False, False)
    assert torch.backends.cuda.can_use_flash_attention(params, True)
    assert torch.backends.cuda.can_use_efficient_attention(params, True)


class SyncCounter(L.Callback):
    """Counts synchronising CUDA calls (torch.cuda.set_sync_debug_mode) inside the training steps (from
    on_train_batch_start to on_train_batch_end: training step, backward, clipping, optimizer, EMA) and in
    the whole loop (data transfer, Lightning's loop and callbacks, progress bar, logger)."""

    def __init__(self, record):
        self.record, self.in_steps, self.start = record, 0, 0

    def on_train_batch_start(self, *_):
        self.start = len(self.record)

    def on_train_batch_end(self, *_):
        self.in_steps += len(self.record) - self.start


def count_syncs(steps: int, tmp_path, overrides) -> tuple[int, int]:
    overrides = [*overrides, f"trainer.max_steps={steps}", "trainer.log_every_n_steps=1000", "plot_every_n_steps=0",
                 "checkpoint_every_n_steps=100000", "logger=csv", f"logger.save_dir={tmp_path}"]
    cfg = compose_config(overrides)
    _, dm, module = build_run(overrides)
    trainer = build_trainer(cfg, tmp_path / str(steps), instantiate(cfg.sampler), dm)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        counter = SyncCounter(record)
        trainer.callbacks.append(counter)
        torch.cuda.set_sync_debug_mode("warn")
        try:
            trainer.fit(module, datamodule=dm)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in record if "synchroniz" in str(w.message)]
    return counter.in_steps, len(syncs)


@pytest.mark.parametrize("case", [["model=ddpm", "data=moons", "trainer=gpu"],
                                  ["model=ddpm", "data=digits", "trainer=gpu", "trainer.accumulate_grad_batches=2"]],
                         ids=["moons", "digits_accumulated"])
def test_training_steps_do_not_wait_for_the_gpu(case, tmp_path):
    """bf16-mixed, fused AdamW, clipping at 1, EMA: 10 and 30 steps without a logging step in between
    make the same number of host syncs (those of setting up and finishing)."""
    steps_short, total_short = count_syncs(10, tmp_path / "a", case)
    steps_long, total_long = count_syncs(30, tmp_path / "b", case)
    assert steps_short == steps_long == 0, (steps_short, steps_long)
    assert total_long == total_short, f"{(total_long - total_short) / 20:.2f} syncs per step outside the step"
