"""Training and sampling throughput (images/s) of the DDPM CIFAR-10 U-Net on this device, and
diffusers' ``UNet2DModel`` of the same configuration side by side when diffusers is installed.

    .venv/bin/python benchmarks/unet_throughput.py                      # CPU: batch 8, fp32
    .venv/bin/python benchmarks/unet_throughput.py --batch 128 --bf16    # a GPU: bf16 autocast

Training: one DDPM step (random t, eps-prediction loss, backward, AdamW). Sampling: images per
second per network evaluation (one reverse step), i.e. divide by the number of sampler steps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from common import sync
from genflow.nets.unet import UNet

OUT = Path(__file__).parent / "results"


def genflow_unet():
    net = UNet((3, 32, 32), ch=128, ch_mult=(1, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,), dropout=0.1)
    return net, lambda x, t: net(x, t)


def diffusers_unet():
    from diffusers import UNet2DModel  # the google/ddpm-cifar10-32 configuration

    net = UNet2DModel(sample_size=32, in_channels=3, out_channels=3, layers_per_block=2,
                      block_out_channels=(128, 256, 256, 256),
                      down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
                      up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"), dropout=0.1)
    return net, lambda x, t: net(x, t * 1000).sample


def measure(make, device, batch: int, steps: int, bf16: bool) -> dict:
    net, call = make()
    net.to(device)
    params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.AdamW(net.parameters(), lr=2e-4)
    x = torch.rand(batch, 3, 32, 32, device=device) * 2 - 1
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()

    def train_step():
        t = torch.rand(batch, device=device)
        eps = torch.randn_like(x)
        with autocast:
            loss = (call(x * (1 - t)[:, None, None, None] + t[:, None, None, None] * eps, t) - eps).float().square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def sample_step():
        with autocast:
            call(x, torch.full((batch,), 0.5, device=device))

    out = {"params_M": params / 1e6}
    for name, fn in (("train", train_step), ("sample", sample_step)):
        for _ in range(2):
            fn()
        sync(device)
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            fn()
            sync(device)
            times.append(time.perf_counter() - t0)
        out[f"{name}_img_per_s"] = batch / statistics.median(times)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batch = args.batch or (128 if device.type == "cuda" else 8)
    steps = args.steps or (30 if device.type == "cuda" else 5)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    rows = {"device": name, "batch": batch, "bf16": args.bf16, "genflow": measure(genflow_unet, device, batch, steps,
                                                                                args.bf16)}
    try:
        rows["diffusers"] = measure(diffusers_unet, device, batch, steps, args.bf16)
        rows["train_ratio_genflow_over_diffusers"] = rows["genflow"]["train_img_per_s"] / rows["diffusers"]["train_img_per_s"]
        rows["sample_ratio_genflow_over_diffusers"] = rows["genflow"]["sample_img_per_s"] / rows["diffusers"]["sample_img_per_s"]
    except ImportError:
        rows["diffusers"] = "not installed (pip install diffusers)"
    print(json.dumps(rows, indent=2))
    OUT.mkdir(exist_ok=True)
    tag = ("cuda" if device.type == "cuda" else "cpu") + ("_bf16" if args.bf16 else "")
    (OUT / f"unet_throughput_{tag}.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
