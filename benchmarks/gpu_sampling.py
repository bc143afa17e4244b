"""GPU sampling: what drawing the samplers' noise from a seeded CPU generator costs (``genflow sample`` /
``eval`` do this, so that a seed gives the same samples on every device) against a generator on the
GPU, per network evaluation, for the 2D MLP (batch 10,000) and the DDPM CIFAR-10 U-Net (batch 64), with
the same ancestral sampler in the same run; also whether both runs' samples are equal in distribution.

    python benchmarks/gpu_sampling.py                                  # on a CUDA GPU
    python benchmarks/gpu_sampling.py --device cpu --scale 0.01       # a quick check of the script
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from hydra.utils import instantiate

from common import sync
from genflow.app.compose import build_run

OUT = Path(__file__).parent / "results"


def cifar_overrides(root: Path) -> list[str]:
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from image_files import write_cifar10

    write_cifar10(root, n_per_batch=4)
    return ["data=cifar10", f"data.root={root}"]


def seconds(module, sampler, n, generator):
    sync(module.device)
    t0 = time.perf_counter()
    x, _ = module.generate(sampler, n, generator=generator)
    sync(module.device)
    return time.perf_counter() - t0, x


def compare(name, overrides, n, steps, device, repeats=3) -> dict:
    cfg, _, module = build_run(["model=ddpm", *overrides])
    module.to(device)
    sampler = instantiate(cfg.sampler, num_steps=steps, progress=False)
    gens = {"cpu_generator": lambda: torch.Generator().manual_seed(0),
            "device_generator": lambda: torch.Generator(device=device).manual_seed(0)}
    for make in gens.values():
        seconds(module, sampler, n, make())  # warm-up
    times = {k: [] for k in gens}
    means = {}
    for _ in range(repeats):  # interleaved
        for k, make in gens.items():
            s, x = seconds(module, sampler, n, make())
            times[k].append(s)
            means[k] = x.float().mean().item()
    ms = {k: 1e3 * statistics.median(v) / steps for k, v in times.items()}
    row = {"case": name, "batch": n, "steps": steps, **{f"{k}_ms_per_nfe": v for k, v in ms.items()},
           "ratio_cpu_over_device_generator": ms["cpu_generator"] / ms["device_generator"],
           "sample_mean": means}
    print(json.dumps(row), flush=True)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies batch sizes and steps")
    args = ap.parse_args()
    device = torch.device(args.device)
    k = lambda n: max(2, int(n * args.scale))  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        rows = [compare("2D MLP", ["data=moons"], k(10_000), k(1000), device),
                compare("CIFAR-10 U-Net 35.7M, fp32", cifar_overrides(Path(tmp)), k(64), k(50), device)]
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    result = {"device": name, "torch": torch.__version__, "rows": rows}
    OUT.mkdir(exist_ok=True)
    (OUT / f"gpu_sampling_{device.type}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
