"""Cosine vs linear betas for a digits DDPM sampled with 10-step DDIM.

For each schedule (``path/schedule=linear|cosine``, everything else the digits preset: the small U-Net,
lr 1e-3, warm-up, EMA) train ``--steps`` steps with ``--train-seed``, then draw ``--num-samples`` samples
with ``sampler=ddim sampler.num_steps=10`` (x0_clip=auto, i.e. static [-1, 1] for images) on each grid of
``--grids`` and each of ``--sample-seeds``, and print the digits Frechet distance (genflow.metrics.frechet)
to held-out digits. The ratio printed is FD(cosine) / FD(linear) on the same grid and sampling seed; the
target is <= 2. The floor (two disjoint sets of real digits) is printed too.

    OMP_NUM_THREADS=1 python benchmarks/cosine_ddim.py --steps 3000 --out benchmarks/results/cosine_ddim.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from hydra.utils import instantiate

from common import machine, train_genflow
from genflow.metrics.frechet import digits_features, frechet_distance
from genflow.samplers.ddim import DDIMSampler

GRIDS = {  # grid config overrides (the discrete DDPM grid is the preset's)
    "discrete_linspace": {"_target_": "genflow.samplers.grids.DiscreteGrid", "spacing": "linspace"},
    "discrete_trailing": {"_target_": "genflow.samplers.grids.DiscreteGrid", "spacing": "trailing"},
}


def fd_of(module, dm, grid_cfg, n: int, seed: int, features) -> float:
    sampler = DDIMSampler(num_steps=10, x0_clip="auto", progress=False)
    grid = instantiate(grid_cfg)
    g = torch.Generator().manual_seed(seed)
    x, nfe = module.generate(sampler, n, generator=g, grid=grid)
    assert nfe == 10 and torch.isfinite(x).all()
    return frechet_distance(dm.reference(n, seed=1000 + seed), x.clamp(0, 1), features)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)  # the digits preset's trainer.max_steps
    ap.add_argument("--train-seed", type=int, default=0)
    ap.add_argument("--sample-seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--num-samples", type=int, default=500)
    ap.add_argument("--grids", nargs="+", default=list(GRIDS), choices=list(GRIDS))
    ap.add_argument("--schedules", nargs="+", default=["linear", "cosine"])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--save-dir", type=Path, help="keep each trained module's state there (<schedule>.pt)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    features = digits_features()
    results = {"machine": machine(),
               "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "fd": {}}
    dm = None
    for schedule in args.schedules:
        overrides = ["model=ddpm", "data=digits", f"path/schedule={schedule}"]
        module, dm, seconds = train_genflow(overrides, args.steps, seed=args.train_seed)
        module.eval()
        print(f"{schedule}: trained {args.steps} steps in {seconds:.0f} s", flush=True)
        if args.save_dir:
            args.save_dir.mkdir(parents=True, exist_ok=True)
            torch.save(module.state_dict(), args.save_dir / f"{schedule}.pt")
        for grid in args.grids:
            fds = [fd_of(module, dm, GRIDS[grid], args.num_samples, s, features) for s in args.sample_seeds]
            results["fd"].setdefault(grid, {})[schedule] = fds
            print(f"  {grid:18s} fd_digits {statistics.mean(fds):7.3f}  per seed {[round(v, 3) for v in fds]}",
                  flush=True)
    n = args.num_samples
    floor = [frechet_distance(dm.reference(n, seed=1000 + s), dm.reference(2 * n, seed=2000 + s)[n:], features)
             for s in args.sample_seeds]
    results["data_floor"] = floor
    print(f"floor (real vs real digits): {statistics.mean(floor):.3f}")
    if {"linear", "cosine"} <= set(args.schedules):
        print("ratio FD(cosine) / FD(linear), per sampling seed (target <= 2):")
        for grid, by in results["fd"].items():
            ratios = [c / lin for c, lin in zip(by["cosine"], by["linear"])]
            results.setdefault("ratio_cosine_over_linear", {})[grid] = ratios
            print(f"  {grid:18s} {statistics.mean(ratios):.2f}  per seed {[round(r, 2) for r in ratios]}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
