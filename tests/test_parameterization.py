"""eps / score / x0 / velocity conversions round-trip and agree with the SDE picture."""

import itertools

import pytest
import torch

from genflow.prediction import KINDS, convert, from_x0_eps
from genflow.paths import CondOTPath, DiscreteVPPath, GeometricSchedule, LinearSchedule, SubVPPath, VEPath, VPPath

PATHS = [VPPath(LinearSchedule()), SubVPPath(LinearSchedule()), DiscreteVPPath(LinearSchedule(), 1000),
         VEPath(GeometricSchedule(0.01, 50.0)), CondOTPath(0.01)]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: type(p).__name__)
@pytest.mark.parametrize("src,dst", list(itertools.permutations(KINDS, 2)))
def test_round_trip(path, src, dst):
    torch.manual_seed(1)
    x = torch.randn(64, 3, dtype=torch.float64)
    t = torch.rand(64, dtype=torch.float64) * 0.9 + 0.05
    pred = torch.randn(64, 3, dtype=torch.float64)
    back = convert(convert(pred, src, dst, x, t, path), dst, src, x, t, path)
    assert torch.allclose(back, pred, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: type(p).__name__)
def test_velocity_is_the_probability_flow_drift(path):
    """alpha' x0 + sigma' eps = f x - 1/2 g^2 score for the pair behind x = alpha x0 + sigma eps."""
    x0, eps = torch.randn(32, 2, dtype=torch.float64), torch.randn(32, 2, dtype=torch.float64)
    t = torch.rand(32, dtype=torch.float64) * 0.9 + 0.05
    x, _ = path.sample_marginal(x0, t, eps)
    v = from_x0_eps(x0, eps, "velocity", x, t, path)
    score = from_x0_eps(x0, eps, "score", x, t, path)
    drift = path.f(t)[:, None] * x - 0.5 * path.g2(t)[:, None] * score
    assert torch.allclose(v, drift, rtol=1e-6, atol=1e-6)


def test_unknown_kind_is_rejected():
    p = VPPath(LinearSchedule())
    with pytest.raises(ValueError, match="valid: eps, score, x0, velocity"):
        convert(torch.zeros(1, 1), "eps", "noise", torch.zeros(1, 1), torch.full((1,), 0.5), p)
