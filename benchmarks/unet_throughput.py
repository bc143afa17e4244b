"""Training and sampling throughput of the DDPM CIFAR-10 U-Net (35.7M parameters) against diffusers'
``UNet2DModel`` of the same configuration, like for like: the same attention heads, the same precision
settings, both eager or both compiled, both in the same memory layout; repetitions interleaved
(genflow, diffusers, genflow, ...), median and spread over repetitions; images/s and MFU.

    python benchmarks/unet_throughput.py --groups fp32 bf16                # eager, on a GPU
    python benchmarks/unet_throughput.py --groups bf16-cl-compiled         # both compiled, channels_last
    python benchmarks/unet_throughput.py --groups genflow:bf16-cl-compiled,diffusers:bf16-cl
    python benchmarks/unet_throughput.py --batch 4 --reps 2 --iters 1      # a quick check on a CPU

Each group is timed on its own, its entries interleaved; an entry is ``net:config`` or a config for
both networks. A config is ``<precision>[-cl][-compiled]``: precision ``fp32`` (strict float32: TF32 off for matrix
products and convolutions), ``tf32`` (TF32 on for both) or ``bf16`` (bfloat16 autocast, TF32 on);
``-cl``: channels_last weights and activations; ``-compiled``: ``torch.compile`` (default mode) of the
network. ``--heads 1`` (default) is the DDPM paper's single head of 256 channels in both networks
(diffusers: ``attention_head_dim=None``); ``--heads 32`` is diffusers' default, heads of 8 channels.

Training step: random t, noisy input, eps-prediction loss, backward, fused AdamW step (zero_grad
included). Sampling: one network evaluation under no_grad in eval mode (a sampler step's network
cost). MFU = model FLOPs per second / the device's dense peak for the config's precision (H100 SXM /
H200: bf16 989, TF32 494, FP32 67 TFLOP/s; ``--peak-tflops`` overrides); model FLOPs are counted by
``torch.utils.flop_counter.FlopCounterMode`` on one eager step (matrix products, convolutions and
attention; forward and backward for training).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from common import sync
from genflow.nets.unet import UNet

OUT = Path(__file__).parent / "results"
PEAK_TFLOPS = {  # dense, per the vendor's datasheets: (bf16, tf32, fp32)
    "H100 PCIe": (756, 378, 51), "H100": (989, 494, 67), "H200": (989, 494, 67), "A100": (312, 156, 19.5),
}


def peak_tflops(device: torch.device, precision: str, override: float | None) -> tuple[float | None, str]:
    if override:
        return override, "given"
    if device.type != "cuda":
        return None, "unknown (CPU)"
    name = torch.cuda.get_device_name()
    for key, peaks in PEAK_TFLOPS.items():
        if key in name:
            return peaks[("bf16", "tf32", "fp32").index(precision)], f"{key} dense {precision}"
    return None, f"unknown ({name})"


WIDTH = 128  # the paper's base channel count; --width changes it (a quick check on a CPU)


def genflow_unet(heads: int, channels_last: bool):
    net = UNet((3, 32, 32), ch=WIDTH, ch_mult=(1, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,), dropout=0.1,
               num_heads=heads, channels_last=channels_last)
    return net, net


def diffusers_unet(heads: int, channels_last: bool):
    from diffusers import UNet2DModel  # the google/ddpm-cifar10-32 configuration

    net = UNet2DModel(sample_size=32, in_channels=3, out_channels=3, layers_per_block=2,
                      block_out_channels=(WIDTH, 2 * WIDTH, 2 * WIDTH, 2 * WIDTH),
                      down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
                      up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"), dropout=0.1,
                      attention_head_dim=None if heads == 1 else 2 * WIDTH // heads)
    if channels_last:
        net.to(memory_format=torch.channels_last)

    class Call(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x, t):
            return self.net(x, t * 1000).sample

    return net, Call()


def set_precision(precision: str) -> None:
    """TF32 for matrix products and convolutions except in strict fp32 (the API genflow uses: PyTorch
    refuses to report the matmul precision once its legacy and new TF32 switches were mixed)."""
    tf32 = precision != "fp32"
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = tf32


class Bench:
    """One network in one config: ``train()`` and ``sample()`` run one step; FLOPs counted once, eager."""

    def __init__(self, make, device, batch: int, heads: int, config: str):
        precision, *flags = config.split("-")
        self.precision, self.cl, self.compiled = precision, "cl" in flags, "compiled" in flags
        self.net, call = make(heads, self.cl)
        self.net.to(device)
        self.params = sum(p.numel() for p in self.net.parameters())
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=2e-4, fused=device.type in ("cuda", "cpu"))
        fmt = torch.channels_last if self.cl else torch.contiguous_format
        self.x = (torch.rand(batch, 3, 32, 32, device=device) * 2 - 1).contiguous(memory_format=fmt)
        self.device, self.batch = device, batch
        self.autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16" else nullcontext
        self.eager = call
        self.call = torch.compile(call) if self.compiled else call
        self.flops = {"train": self.count(self.train_loss, backward=True), "sample": self.count(self.sample_eager)}

    def loss(self, call):
        t = torch.rand(self.batch, device=self.device)
        eps = torch.randn_like(self.x)
        with self.autocast():
            out = call(self.x * (1 - t)[:, None, None, None] + t[:, None, None, None] * eps, t)
        return (out.float() - eps).square().mean()

    def train_loss(self):
        return self.loss(self.eager)

    def count(self, fn, backward=False) -> int:
        self.net.train(backward)
        with FlopCounterMode(display=False) as counter:
            out = fn()
            if backward:
                out.backward()
        self.opt.zero_grad(set_to_none=True)
        return counter.get_total_flops()

    def train(self):
        self.net.train()
        self.opt.zero_grad(set_to_none=True)
        self.loss(self.call).backward()
        self.opt.step()

    @torch.no_grad()
    def sample_eager(self):
        self.net.eval()
        with self.autocast():
            self.eager(self.x, torch.full((self.batch,), 0.5, device=self.device))

    @torch.no_grad()
    def sample(self):
        self.net.eval()
        with self.autocast():
            self.call(self.x, torch.full((self.batch,), 0.5, device=self.device))

    def timed(self, kind: str, iters: int) -> float:
        fn = self.train if kind == "train" else self.sample
        sync(self.device)
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        sync(self.device)
        return (time.perf_counter() - t0) / iters


NETS = {"genflow": genflow_unet, "diffusers": diffusers_unet}


def parse_group(group: str) -> list[tuple[str, str]]:
    """"bf16-cl" -> both networks in that config; "genflow:bf16-cl-compiled,diffusers:bf16-cl" -> as listed."""
    entries = []
    for item in group.split(","):
        net, _, config = item.rpartition(":")
        entries += [(n, config) for n in ([net] if net else list(NETS))]
    precisions = {config.split("-")[0] for _, config in entries}
    if len(precisions) > 1:
        raise SystemExit(f"group {group!r}: one precision per group (TF32 is a process-wide setting)")
    return entries


def measure(group: str, device, batch: int, heads: int, reps: int, iters: int, warm: int, peak_override) -> dict:
    entries = parse_group(group)
    try:
        import diffusers  # noqa: F401
    except ImportError:
        entries = [(net, config) for net, config in entries if net != "diffusers"]
    precision = entries[0][1].split("-")[0]
    set_precision(precision)
    row = {"group": group, "batch": batch, "heads": heads}
    benches = {}
    for net, config in entries:  # set-up, FLOP count, warm-up (and compilation) outside the timed repetitions
        t0 = time.perf_counter()
        bench = benches[f"{net}:{config}"] = Bench(NETS[net], device, batch, heads, config)
        for kind in ("train", "sample"):
            for _ in range(warm):
                getattr(bench, kind)()
        sync(device)
        row[f"{net}:{config}"] = {"params_M": bench.params / 1e6, "setup_s": time.perf_counter() - t0}
    peak, peak_source = peak_tflops(device, precision, peak_override)
    row["peak_tflops"], row["peak"] = peak, peak_source
    for kind in ("train", "sample"):
        seconds = {name: [] for name in benches}
        for _ in range(reps):  # interleaved: each repetition times every entry once, back to back
            for name, bench in benches.items():
                seconds[name].append(bench.timed(kind, iters))
        for name, bench in benches.items():
            img_s = sorted(batch / s for s in seconds[name])
            median_s = statistics.median(seconds[name])
            tflops = bench.flops[kind] / median_s / 1e12
            row[name][kind] = {"img_per_s": batch / median_s, "img_per_s_min": img_s[0], "img_per_s_max": img_s[-1],
                               "ms_per_step": 1e3 * median_s, "gflop_per_step": bench.flops[kind] / 1e9,
                               "tflop_per_s": tflops, "mfu": tflops / peak if peak else None}
        for a in benches:  # speed of each genflow entry over each diffusers entry, repetition by repetition
            for b in benches:
                if a.startswith("genflow:") and b.startswith("diffusers:"):
                    ratios = [tb / ta for ta, tb in zip(seconds[a], seconds[b])]
                    row.setdefault("ratios", {})[f"{kind} {a} / {b}"] = {
                        "median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
    del benches
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", nargs="+", default=["fp32", "bf16"],
                    help="each timed interleaved: a config <fp32|tf32|bf16>[-cl][-compiled] for both networks, "
                         "or net:config,net:config,... (one precision per group)")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions")
    ap.add_argument("--iters", type=int, default=None, help="steps per repetition")
    ap.add_argument("--warm", type=int, default=3)
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--width", type=int, default=128, help="base channels (128: the paper's network)")
    ap.add_argument("--out", default=None, help="JSON file (default: results/unet_throughput_<device>.json)")
    args = ap.parse_args()
    global WIDTH
    WIDTH = args.width
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batch = args.batch or (128 if device.type == "cuda" else 8)
    iters = args.iters or (10 if device.type == "cuda" else 2)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    out = Path(args.out) if args.out else OUT / f"unet_throughput_{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"device": name, "torch": torch.__version__, "width": WIDTH, "reps": args.reps, "iters": iters, "rows": []}
    for group in args.groups:
        row = measure(group, device, batch, args.heads, args.reps, iters, args.warm, args.peak_tflops)
        print(json.dumps(row), flush=True)
        result["rows"].append(row)
        out.write_text(json.dumps(result, indent=2))  # after every group: a time limit keeps what was measured


if __name__ == "__main__":
    main()
