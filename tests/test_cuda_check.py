"""The NVML-based CUDA check is dropped only where libnvidia-ml cannot be loaded, and the answer stays."""

import inspect
import os

import torch

from genflow import cuda_check


def test_without_nvml_the_check_is_dropped_and_the_answer_is_unchanged(monkeypatch):
    monkeypatch.setenv(cuda_check.NVML_CHECK, "1")
    probes = []
    real = torch.cuda._raw_device_count_nvml
    monkeypatch.setattr(torch.cuda, "_raw_device_count_nvml", lambda: probes.append(1) or real())
    monkeypatch.setattr(cuda_check.ctypes, "CDLL", _missing_library)
    with_probe = torch.cuda.is_available()
    probed = len(probes)
    assert cuda_check.skip_failing_nvml_check() is True
    assert cuda_check.NVML_CHECK not in os.environ
    assert torch.cuda.is_available() == with_probe
    assert len(probes) == probed  # no NVML probe any more
    if torch.cuda._is_compiled() and not torch.cuda.is_initialized():
        assert probed == 1  # the probe it saves (a CUDA build asks NVML before CUDA is initialised)


def test_with_nvml_lightnings_setting_is_kept(monkeypatch):
    monkeypatch.setenv(cuda_check.NVML_CHECK, "1")
    monkeypatch.setattr(cuda_check.ctypes, "CDLL", lambda name: object())
    assert cuda_check.skip_failing_nvml_check() is False
    assert os.environ[cuda_check.NVML_CHECK] == "1"


def _missing_library(name):
    raise OSError(f"{name}: cannot open shared object file")


def test_the_library_name_is_the_one_torch_probes():
    assert cuda_check.NVML_LIBRARY in inspect.getsource(torch.cuda._raw_device_count_nvml)
