"""Pair genflow's best variant with the best peer seed by seed, from the per-line output of one or
more ``peers.py`` runs (lines ``<method>  seed S NFE N  SW x  ED y``), and print, per NFE and metric,
the two means, the mean paired difference (genflow minus peer; negative: genflow better), its
standard error and on how many seeds genflow was ahead.

    python benchmarks/paired_seeds.py results/peers_ddpm_seeds012345.log results/peers_ddpm_seeds6to11.log
"""

from __future__ import annotations

import argparse
import collections
import re
import statistics

LINE = re.compile(r"(.+?)\s+seed (\d+) NFE\s+(\d+)\s+SW (-?[\d.]+)\s+ED (-?[\d.]+)")


def read(paths) -> dict:
    """{(method, nfe): {seed: (sw, ed)}}"""
    rows = collections.defaultdict(dict)
    for path in paths:
        for line in open(path):
            m = LINE.match(line)
            if m:
                rows[(m[1].strip(), int(m[3]))][int(m[2])] = (float(m[4]), float(m[5]))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("logs", nargs="+")
    rows = read(ap.parse_args().logs)
    print("| NFE | metric | genflow's best (mean) | best peer (mean) | paired difference (se) | seeds | genflow ahead |")
    print("| ---: | --- | --- | --- | ---: | ---: | ---: |")
    for nfe in sorted({n for _, n in rows}):
        for i, metric in enumerate(("SW", "ED")):
            means = {m: statistics.mean(v[i] for v in rows[(m, n)].values()) for m, n in rows if n == nfe}
            if not any(m.startswith("genflow") for m in means) or all(m.startswith("genflow") for m in means):
                continue  # an NFE that only one side reaches
            ours = min((m for m in means if m.startswith("genflow")), key=means.get)
            peer = min((m for m in means if not m.startswith("genflow")), key=means.get)
            seeds = sorted(set(rows[(ours, nfe)]) & set(rows[(peer, nfe)]))
            diffs = [rows[(ours, nfe)][s][i] - rows[(peer, nfe)][s][i] for s in seeds]
            se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
            print(f"| {nfe} | {metric} | {ours} ({means[ours]:.4f}) | {peer} ({means[peer]:.4f}) | "
                  f"{statistics.mean(diffs):+.4f} ({se:.4f}) | {len(diffs)} | {sum(d < 0 for d in diffs)} |")


if __name__ == "__main__":
    main()
