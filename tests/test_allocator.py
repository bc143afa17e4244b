"""glibc malloc tuning: a sampler's freed activations are reused instead of page-faulted in again."""

import os
import subprocess
import sys

import pytest

from genflow.allocator import tune_malloc

FAULTS_PER_NFE = """
import resource
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from genflow.allocator import tune_malloc
from genflow.train import build_module
tune_malloc()
with initialize_config_module("genflow.conf", version_base=None):
    cfg = compose("train", overrides=["logger=none", "sampler=ddim", "sampler.num_steps=20", "sampler.progress=false"])
dm = instantiate(cfg.data)
dm.setup()
module = build_module(cfg, dm)
sampler = instantiate(cfg.sampler)
module.generate(sampler, 10000)  # warm-up
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
_, nfe = module.generate(sampler, 10000)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / nfe)
"""


def _faults_per_nfe(tuning: str) -> float:
    env = {**os.environ, "GENFLOW_MALLOC_TUNING": tuning}
    out = subprocess.run([sys.executable, "-c", FAULTS_PER_NFE], capture_output=True, text=True, check=True,
                         env=env).stdout
    return float(out.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tuned_malloc_stops_page_faulting_the_activations_of_every_step():
    default, tuned = _faults_per_nfe("0"), _faults_per_nfe("1")
    # by default glibc hands freed blocks back to the kernel, so each step faults some of its
    # ~10 MB of activations in again (measured ~1,300 faults of 4 KiB per step); tuned: < 200
    assert default > 500, (default, tuned)
    assert tuned < default / 4, (default, tuned)


def test_tuning_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("GENFLOW_MALLOC_TUNING", "0")
    assert tune_malloc() is False
