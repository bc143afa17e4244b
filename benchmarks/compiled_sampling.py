"""Sampling the toy MLP with a compiled and/or bf16 network on a CPU, against that network's own time
(issue 23's CPU target: at most 1.1x).

    .venv/bin/python benchmarks/compiled_sampling.py                       # ~5 minutes on 2 cores
    .venv/bin/python benchmarks/compiled_sampling.py --variants compiled --sampler ddim --steps 50

DDPM on moons, genflow's default MLP (3 x 256), batch 10,000, as in section 1 (untrained weights:
the time does not depend on them). For each variant (``eager`` fp32, ``compiled`` = compile=true,
``bf16`` = sample precision=bf16-mixed, ``compiled_bf16``), two ratios, 1.00 at the limit, as in
section 1 of benchmarks/README.md:

- in-run: the sampler's wall time (``module.generate``, as ``genflow sample`` calls it) / the time
  spent inside the (compiled, bf16) network's calls during that same run (median of ``--repeats``);
  drift in machine speed between runs cannot bias it;
- alternated: min sampler wall / min wall of NFE chained bare calls of the same network
  (``x <- x - c net(x, t)``), the two timed alternately ``--repeats`` times.

Also each variant's sampler time over eager fp32's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from torch import nn

from common import machine
from genflow.app.acceleration import apply_sampling_precision
from genflow.app.compose import build_run

OUT = Path(__file__).parent / "results"
VARIANTS = {"eager": (False, "32-true"), "compiled": (True, "32-true"), "bf16": (False, "bf16-mixed"),
            "compiled_bf16": (True, "bf16-mixed")}


class NetworkClock(nn.Module):
    """Stands in for the denoiser's network and sums the wall time of its calls (the network itself,
    compiled or not, runs inside)."""

    def __init__(self, net):
        super().__init__()
        self.net, self.seconds = net, 0.0

    def forward(self, *args, **kwargs):
        t0 = time.perf_counter()
        out = self.net(*args, **kwargs)
        self.seconds += time.perf_counter() - t0
        return out


def measure(variant: str, sampler_name: str, steps: int, batch: int, repeats: int) -> dict:
    compiled, precision = VARIANTS[variant]
    cfg, _, module = build_run(["model=ddpm", "data=moons", f"sampler={sampler_name}", f"sampler.num_steps={steps}"])
    module.eval()
    apply_sampling_precision(module, precision)
    t0 = time.perf_counter()
    if compiled:
        module.compile_networks()
    sampler = instantiate(cfg.sampler, progress=False)
    net = module.ema.module.net
    x0, t = torch.randn(batch, 2), torch.full((batch,), 0.5)

    @torch.no_grad()
    def bare():
        x = x0
        for _ in range(nfe):
            x = x - 1e-3 * net(x, t, None)

    nfe = module.generate(sampler, batch, generator=torch.Generator().manual_seed(0))[1]  # warm-up (compiles)
    bare()
    setup = time.perf_counter() - t0
    walls, limits, in_run = [], [], []
    clock = module.ema.module.net = NetworkClock(net)
    for _ in range(repeats):  # alternated
        clock.seconds = 0.0
        t0 = time.perf_counter()
        module.generate(sampler, batch, generator=torch.Generator().manual_seed(0))
        walls.append(time.perf_counter() - t0)
        in_run.append(walls[-1] / clock.seconds)
        t0 = time.perf_counter()
        bare()
        limits.append(time.perf_counter() - t0)
    wall, limit = min(walls), min(limits)
    return {"variant": variant, "sampler": sampler_name, "nfe": nfe, "batch": batch, "setup_s": setup,
            "sampler_wall_s": wall, "network_ms_per_call": 1e3 * limit / nfe, "ratio_in_run": statistics.median(in_run),
            "ratio_alternated": wall / limit, "in_run": in_run, "walls": walls, "limits": limits}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--sampler", default="ddim")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for variant in args.variants:
        row = measure(variant, args.sampler, args.steps, args.batch, args.repeats)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k not in ("walls", "limits", "in_run")}), flush=True)
    eager = next((r for r in rows if r["variant"] == "eager"), None)
    for row in rows:
        if eager:
            row["sampler_speedup_over_eager"] = eager["sampler_wall_s"] / row["sampler_wall_s"]
    OUT.mkdir(exist_ok=True)
    (OUT / "compiled_sampling_cpu.json").write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    for row in rows:
        print(f"{row['variant']:<14} NFE {row['nfe']}  sampler {row['sampler_wall_s']:.3f} s  network "
              f"{row['network_ms_per_call']:.2f} ms/call  in-run {row['ratio_in_run']:.3f}  "
              f"alternated {row['ratio_alternated']:.3f}  "
              f"speed-up vs eager {row.get('sampler_speedup_over_eager', float('nan')):.2f}")


if __name__ == "__main__":
    main()
