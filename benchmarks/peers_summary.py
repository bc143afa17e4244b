"""Markdown tables from a ``peers.py`` log (its per-line output), for runs cut short as well as finished ones:
the settings chosen on the tuning seeds, genflow's best against the best peer at each budget, and the same
sampler on different trained nets, each paired over the evaluation seeds that every compared row reached.

    python benchmarks/peers_summary.py results/peers_fair_eight_gaussians.log

Paired difference: mean over seeds of (genflow's ED - the peer's ED) (negative: genflow better), its standard
error sd / sqrt(seeds), and on how many seeds genflow was ahead.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import re

EVAL = re.compile(r"(.+?) \[(.+?)\] @(\d+)\s+seed (\d+) NFE\s+(\d+)\s+SW (\S+)\s+ED (\S+)")
TUNE = re.compile(r"# tune (.+?)\s{2,}(\S.*?)\s+(\d+: \S+ \(.*)")
FAMILY = {"genflow DDPM": "ddpm", "diffusers DDPM": "ddpm", "genflow FM": "fm", "flow_matching FM": "fm",
          "torchcfm CFM": "fm"}


def read(path):
    text = open(path).read()
    chosen = json.loads(re.search(r"# chosen on the tuning seeds: (\{.*?\n\})", text, re.S)[1])
    tuning = collections.defaultdict(dict)  # (label, budget) -> {sampler: mean}
    evals = collections.defaultdict(dict)  # (label, sampler, budget) -> {seed: (ed, sw, nfe)}
    for line in text.splitlines():
        m = TUNE.match(line)
        if m:
            for budget, mean in re.findall(r"(\d+): (\S+) \(", m[3]):
                tuning[(m[1].strip(), int(budget))][m[2].strip()] = float(mean)
            continue
        m = EVAL.match(line)
        if m:
            evals[(m[1], m[2], int(m[3]))][int(m[4])] = (float(m[7]), float(m[6]), int(m[5]))
    return {label: {int(b): name for b, name in per.items()} for label, per in chosen.items()}, tuning, evals


def paired(a, b, metric):
    seeds = sorted(set(a) & set(b))
    d = [a[s][metric] - b[s][metric] for s in seeds]
    n = len(d)
    mean = math.fsum(d) / n
    se = math.sqrt(math.fsum((x - mean) ** 2 for x in d) / (n - 1) / n) if n > 1 else math.nan
    return (math.fsum(a[s][metric] for s in seeds) / n, math.fsum(b[s][metric] for s in seeds) / n, mean, se, n,
            sum(x < 0 for x in d))


def nfe(rows):
    spent = sorted({v[2] for v in rows.values()})
    return "/".join(map(str, spent))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    chosen, tuning, evals = read(ap.parse_args().log)
    budgets = sorted({b for per in chosen.values() for b in per})
    print("Chosen on the tuning seeds (sampler, NFE spent; mean tuning ED):\n")
    print("| model | " + " | ".join(f"NFE {b}" for b in budgets) + " |")
    print("| --- |" + " --- |" * len(budgets))
    for label, per in chosen.items():
        cells = []
        for b in budgets:
            rows = evals.get((label, per[b], b), {})
            cells.append(f"{per[b]} ({nfe(rows) if rows else '?'}; {tuning[(label, b)].get(per[b], math.nan):.4f})")
        print(f"| {label} | " + " | ".join(cells) + " |")

    print("\ngenflow's best vs the best peer (each picked by its tuning-seed mean), evaluation seeds:\n")
    print("| data family | NFE | genflow (ED / SW) | best peer (ED / SW) | ED diff (se) | SW diff (se) | genflow ahead (ED) |")
    print("| --- | ---: | --- | --- | ---: | ---: | ---: |")
    for family in ("ddpm", "fm", "all"):
        labels = [m for m in chosen if family == "all" or FAMILY[m] == family]
        for b in budgets:
            def tuned(m):
                return tuning[(m, b)].get(chosen[m][b], math.inf)
            ours = min((m for m in labels if m.startswith("genflow")), key=tuned)
            peer = min((m for m in labels if not m.startswith("genflow")), key=tuned)
            a, p = evals[(ours, chosen[ours][b], b)], evals[(peer, chosen[peer][b], b)]
            ed, sw = paired(a, p, 0), paired(a, p, 1)
            print(f"| {family} | {b} | {ours}, {chosen[ours][b]} ({ed[0]:.4f} / {sw[0]:.3f}) | {peer}, "
                  f"{chosen[peer][b]} ({ed[1]:.4f} / {sw[1]:.3f}) | {ed[2]:+.4f} ({ed[3]:.4f}) | "
                  f"{sw[2]:+.3f} ({sw[3]:.3f}) | {ed[5]} of {ed[4]} |")

    print("\nSame sampler, different nets (first net minus the second; flow_matching vs torchcfm: a control, two nets "
          "trained with the same loss in the same loop), evaluation seeds:\n")
    print("| nets | sampler | NFE | ED: first net / second | ED diff (se) | SW diff (se) | first net ahead (ED) |")
    print("| --- | --- | ---: | --- | ---: | ---: | ---: |")
    for (label, name, b) in sorted(evals, key=lambda k: (FAMILY[k[0]], k[1], k[2], k[0])):
        if label == "flow_matching FM":  # control: two peers' nets trained with the same loss in the same loop
            peers = ["torchcfm CFM"]
        elif label.startswith("genflow"):
            peers = [m for m in FAMILY if FAMILY[m] == FAMILY[label] and not m.startswith("genflow")]
        else:
            continue
        for peer in peers:
            if (peer, name, b) not in evals:
                continue
            ed, sw = paired(evals[(label, name, b)], evals[(peer, name, b)], 0), \
                paired(evals[(label, name, b)], evals[(peer, name, b)], 1)
            print(f"| {label} vs {peer} | {name} | {b} | {ed[0]:.4f} / {ed[1]:.4f} | {ed[2]:+.4f} ({ed[3]:.4f}) | "
                  f"{sw[2]:+.3f} ({sw[3]:.3f}) | {ed[5]} of {ed[4]} |")


if __name__ == "__main__":
    main()
