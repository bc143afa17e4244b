"""Run every benchmark one after the other (each alone on the machine, as timings need):

    make bench        # installs the peers (pip install -e ".[bench]") and runs this; about two hours on 2 CPU cores

Results land in benchmarks/results/*.json (and PNG plots); benchmarks/README.md explains them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = (["overhead.py"], ["oracle_nfe.py"], *(["peers.py", "--data", data] for data in
                                                 ("eight_gaussians", "moons", "checkerboard")),
           ["likelihood_accuracy.py"], ["unet_throughput.py"], ["cosine_ddim.py", "--out", "results/cosine_ddim.json"],
           ["default_recipe.py", "--seeds", "3", "4", "5"])

if __name__ == "__main__":
    for script in SCRIPTS:
        print(f"== {' '.join(script)}", flush=True)
        subprocess.run([sys.executable, str(HERE / script[0]), *script[1:]], check=True, cwd=HERE)
