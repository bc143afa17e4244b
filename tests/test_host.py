"""Host tuning applied by the genflow command: glibc malloc keeps a sampler's freed activations for reuse
instead of page-faulting them in again, and the NVML-based CUDA check is dropped only where libnvidia-ml
cannot be loaded, with the same answer."""

import inspect
import os
import subprocess
import sys

import lightning  # noqa: F401  imported before the tests patch ctypes.CDLL: it loads torchvision's kernels through it
import pytest
import torch

from genflow.app import host

FAULTS_PER_NFE = """
import resource
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from genflow.app.host import tune_malloc
from genflow.app.train import build_module
if TUNE:
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
    out = subprocess.run([sys.executable, "-c", f"TUNE = {tuning}\n" + FAULTS_PER_NFE], capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tuned_malloc_stops_page_faulting_the_activations_of_every_step():
    # by default glibc hands freed blocks back to the kernel, so each step faults some of its ~10 MB of
    # activations in again: how many depends on its dynamic mmap threshold and the machine's state (measured
    # 120 to 12,000 faults of 4 KiB per step); tuned, 0.1 to 500 (a fresh clone: ~4,900 against 250-500).
    # Two runs of each, interleaved: the most the default faulted against the least tuned, at least 4x apart.
    default, tuned = [], []
    for _ in range(2):
        default.append(_faults_per_nfe(False))
        tuned.append(_faults_per_nfe(True))
    assert min(tuned) < max(default) / 4, (default, tuned)


def test_tuning_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("GENFLOW_HOST_TUNING", "0")
    assert host.tune_host() == {"malloc_tuned": False, "nvml_check_skipped": False}


def test_without_nvml_the_check_is_dropped_and_the_answer_is_unchanged(monkeypatch):
    monkeypatch.setenv(host.NVML_CHECK, "1")
    probes = []
    real = torch.cuda._raw_device_count_nvml
    monkeypatch.setattr(torch.cuda, "_raw_device_count_nvml", lambda: probes.append(1) or real())
    monkeypatch.setattr(host.ctypes, "CDLL", _missing_library)
    with_probe = torch.cuda.is_available()
    probed = len(probes)
    assert host.skip_failing_nvml_check() is True
    assert host.NVML_CHECK not in os.environ
    assert torch.cuda.is_available() == with_probe
    assert len(probes) == probed  # no NVML probe any more
    if torch.cuda._is_compiled() and not torch.cuda.is_initialized():
        assert probed == 1  # the probe it saves (a CUDA build asks NVML before CUDA is initialised)


def test_with_nvml_lightnings_setting_is_kept(monkeypatch):
    monkeypatch.setenv(host.NVML_CHECK, "1")
    monkeypatch.setattr(host.ctypes, "CDLL", lambda name: object())
    assert host.skip_failing_nvml_check() is False
    assert os.environ[host.NVML_CHECK] == "1"


def _missing_library(name):
    raise OSError(f"{name}: cannot open shared object file")


def test_the_library_name_is_the_one_torch_probes():
    assert host.NVML_LIBRARY in inspect.getsource(torch.cuda._raw_device_count_nvml)
