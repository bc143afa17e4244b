"""device=auto|cpu|cuda|cuda:N|mps for genflow sample / eval: what is chosen and the one-line errors."""

import pytest
import torch

from genflow.app.devices import resolve_device
from genflow.errors import UserError


def test_auto_takes_the_gpu_when_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("genflow.app.devices._mps_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:x", ""])
def test_an_unknown_device_names_the_choices(name):
    with pytest.raises(UserError, match="choose one of auto, cpu, cuda, cuda:N, mps"):
        resolve_device(name)


def test_a_missing_gpu_says_what_to_use_instead(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="no CUDA GPU is visible.*device=cpu or device=auto"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(UserError, match=r"there are 2 CUDA GPU\(s\), cuda:0 to cuda:1"):
        resolve_device("cuda:2")
    monkeypatch.setattr("genflow.app.devices._mps_available", lambda: False)
    with pytest.raises(UserError, match="MPS backend is not available"):
        resolve_device("mps")
