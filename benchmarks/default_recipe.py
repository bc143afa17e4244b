"""The default `genflow train` (DDPM on moons), end to end: sample quality and the whole run's time, seed
by seed, for the shipped recipe and the recipe it replaced, with the floors of a perfect sampler.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/default_recipe.py --seeds 3 4 5            # ~2 min a run, idle
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/default_recipe.py --seeds 0 1 2 --recipes new

Each run is the real command, `python -m genflow train seed=S <recipe>` in a fresh directory (training,
checkpoints, the pictures during training and the final picture with metrics.json), timed from the
outside: ``wall`` in seconds, and ``cpu``, the user + system time of the command. With one thread
(``OMP_NUM_THREADS=1``, inherited) the command keeps one core busy, so on a shared machine its CPU time
is what its wall time would be on an idle one; the wall time is printed with the load average beside it.

Quality, with the run's own sampler and EMA weights:

- ``sw_2k``: metrics.json's ``sliced_wasserstein`` (POT, 256 projections): 2,000 samples drawn with
  generator seed = training seed against ``dm.reference(2000)``, the number `genflow train` reports;
- ``sw_10k``: 10,000 samples from the saved checkpoint against 10,000 fresh points (less sampling noise);
- ``off_arc``: the share of those 10,000 samples farther than 0.2 (4 noise sd, data units before
  standardisation) from the noiseless arcs: the blur between the arcs.

Floors, same metric and sizes: ``two fresh draws`` (sklearn's make_moons spaces its points evenly
along the arcs, so two draws agree far better than independent points can); the same blurred by
N(0, 0.1^2) in standardised units; ``perfect sampler`` (independent points of the true distribution:
random subsets of 400k points) and the perfect sampler blurred. A model's samples are independent
points, so the perfect sampler is the floor it can reach; the even spacing of the reference is not.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from common import machine  # noqa: F401  (tunes the host as the genflow command does)
from genflow.data.toy import _standardisation, make_toy
from genflow.metrics.sample_distance import sliced_wasserstein
from genflow.modules.loading import load_module

# The defaults before issue 20.7; "new" is whatever the configs ship.
OLD = ["data.batch_size=256", "model.lr=2e-3", "model.lr_schedule=constant", "trainer.max_steps=3000"]
RECIPES = {"old": OLD, "new": []}


def arc_distance(x: torch.Tensor) -> np.ndarray:
    """Distance of standardised moons points to the noiseless arcs (unit half-circles centred at (0, 0),
    upper, and (1, 0.5), lower), in the data's own units."""
    mean, std = _standardisation("moons")
    p = x.double().numpy() * std + mean

    def arc(c, upper):
        q = p - np.asarray(c)
        on = q[:, 1] >= 0 if upper else q[:, 1] <= 0
        ends = np.minimum(np.hypot(q[:, 0] - 1, q[:, 1]), np.hypot(q[:, 0] + 1, q[:, 1]))
        return np.where(on, np.abs(np.hypot(q[:, 0], q[:, 1]) - 1), ends)

    return np.minimum(arc((0.0, 0.0), True), arc((1.0, 0.5), False))


def off_arc(x: torch.Tensor, threshold: float = 0.2) -> float:
    return float((arc_distance(x) > threshold).mean())


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_cli(recipe: str, seed: int, out: Path, extra=()) -> dict:
    """`genflow train` as a user runs it (progress bar and all), timed from the outside."""
    cmd = [sys.executable, "-m", "genflow", "train", f"seed={seed}", *RECIPES[recipe], *extra, f"hydra.run.dir={out}"]
    load = os.getloadavg()[0]
    c0, t0 = children_cpu_s(), time.perf_counter()
    with open(out.parent / f"{out.name}.log", "w") as log:
        subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=True)
    wall, cpu = time.perf_counter() - t0, children_cpu_s() - c0
    metrics = json.loads((out / "metrics.json").read_text())
    return {"wall_s": wall, "cpu_s": cpu, "load_1min": load, "nfe": metrics["nfe"], "sw_2k": metrics["sliced_wasserstein"]}


def evaluate(recipe: str, seed: int, root: Path, n_large: int, extra=()) -> dict:
    out = root / f"{recipe}_seed{seed}"
    row = {"recipe": recipe, "seed": seed, **run_cli(recipe, seed, out, extra)}
    cfg = OmegaConf.load(out / "config.yaml")
    module = load_module(out)
    sampler = instantiate(cfg.sampler, progress=False)
    x, _ = module.generate(sampler, n_large, generator=torch.Generator().manual_seed(1000 + seed))
    row.update(steps=int(cfg.trainer.max_steps), batch_size=int(cfg.data.batch_size), lr=float(cfg.model.lr),
               lr_schedule=cfg.model.lr_schedule, sw_10k=sliced_wasserstein(x, make_toy("moons", n_large, seed=20_000 + seed)[0]),
               off_arc=off_arc(x))
    return row


def floors(draws: int, n_large: int) -> dict:
    dense = make_toy("moons", 400_000, seed=777)[0]
    names = ("two fresh draws", "two fresh draws + N(0, 0.1^2)", "perfect sampler", "perfect sampler + N(0, 0.1^2)")
    rows = {name: [] for name in names}
    for seed in range(draws):
        g = torch.Generator().manual_seed(seed)
        refs = ((2000, make_toy("moons", 2000, seed=10_001)[0]), (n_large, make_toy("moons", n_large, seed=20_000 + seed)[0]))
        for n, ref in refs:
            fresh = make_toy("moons", n, seed=30_000 + seed)[0]
            iid = dense[torch.randperm(len(dense), generator=g)[:n]]
            blur = 0.1 * torch.randn(iid.shape, generator=g)
            for name, x in zip(names, (fresh, fresh + blur, iid, iid + blur)):
                rows[name].append({"n": n, "sw": sliced_wasserstein(x, ref), "off_arc": off_arc(x) if n == n_large else None})
    return rows


def mean_sd(values) -> str:
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values) if len(values) > 1 else 0:.4f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--n-large", type=int, default=10_000, help="samples for sw_10k and off_arc")
    ap.add_argument("--floor-draws", type=int, default=10, help="independent draws for each floor")
    ap.add_argument("--floors-only", action="store_true", help="print the floors, train nothing")
    ap.add_argument("--extra", nargs="*", default=[], help="overrides added to every recipe (e.g. a smoke test)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "default_recipe.json"))
    args = ap.parse_args()
    print(f"machine: {machine()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"{os.cpu_count()} cores", flush=True)
    runs = []
    if args.floors_only:
        args.seeds = args.recipes = []
    with tempfile.TemporaryDirectory(prefix="genflow_default_recipe_") as tmp:
        for seed in args.seeds:  # recipes alternate, so that the machine's drift hits both alike
            for recipe in args.recipes:
                r = evaluate(recipe, seed, Path(tmp), args.n_large, args.extra)
                runs.append(r)
                print(f"{recipe:4s} seed {seed}  SW2 2k {r['sw_2k']:.4f}  {args.n_large // 1000}k {r['sw_10k']:.4f}  "
                      f"off-arc {r['off_arc']:.4f}  whole run: cpu {r['cpu_s']:.1f} s, wall {r['wall_s']:.1f} s at load "
                      f"{r['load_1min']:.1f} ({r['steps']} steps of {r['batch_size']}, {r['nfe']} NFE)", flush=True)
    floor = floors(args.floor_draws, args.n_large)
    print(f"\nseeds {args.seeds}: mean ± sd (floors: {args.floor_draws} draws)")
    print(f"{'':32s} {'SW2 2k':>17s} {'SW2 large':>17s} {'off-arc large':>17s} {'cpu s':>14s} {'wall s':>14s}")
    for recipe in args.recipes:
        rs = [r for r in runs if r["recipe"] == recipe]
        print(f"{recipe + ' recipe':32s} {mean_sd([r['sw_2k'] for r in rs]):>17s} {mean_sd([r['sw_10k'] for r in rs]):>17s} "
              f"{mean_sd([r['off_arc'] for r in rs]):>17s} {mean_sd([r['cpu_s'] for r in rs]):>14s} "
              f"{mean_sd([r['wall_s'] for r in rs]):>14s}")
    for name, rows in floor.items():
        sw = {n: [r["sw"] for r in rows if r["n"] == n] for n in (2000, args.n_large)}
        off = [r["off_arc"] for r in rows if r["n"] == args.n_large]
        print(f"{name:32s} {mean_sd(sw[2000]):>17s} {mean_sd(sw[args.n_large]):>17s} {mean_sd(off):>17s}")
    if args.floors_only:
        return
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine(), "seeds": args.seeds, "recipes": RECIPES, "runs": runs,
                                          "floors": floor}, indent=1))


if __name__ == "__main__":
    main()
