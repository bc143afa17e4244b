"""genflow's training objectives are the peers' own, draw for draw (benchmarks/peers.py compares trained nets):
flow matching = facebookresearch flow_matching's AffineProbPath(CondOTScheduler) loss under s = 1 - t and v -> -v;
DDPM = diffusers' DDPMScheduler.add_noise at genflow's t = (k + 1)/T. Needs the bench extra."""

from __future__ import annotations

import pytest
import torch

from genflow.objectives import DenoisingObjective
from genflow.paths import CondOTPath, DiscreteVPPath, LinearSchedule
from genflow.prediction import Denoiser


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x, t, y=None):
        return self.lin(torch.cat([x, t[:, None]], 1))


def test_flow_matching_loss_equals_flow_matching_library():
    path_lib = pytest.importorskip("flow_matching.path")
    from flow_matching.path.scheduler import CondOTScheduler

    g = torch.Generator().manual_seed(0)
    x1, noise = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g)
    net = _Net()
    torch.manual_seed(1)
    t = torch.rand(64)  # what the objective draws next under the same seed: t ~ U(0, 1) (t_eps = 0)
    torch.manual_seed(1)
    ours = DenoisingObjective(t_eps=0.0)(Denoiser(_Flipped(net), CondOTPath(), "velocity"), x1, None, noise)
    peer = path_lib.AffineProbPath(scheduler=CondOTScheduler()).sample(x_0=noise, x_1=x1, t=1 - t)
    peer_loss = (net(peer.x_t, 1 - t) - peer.dx_t).square().mean()
    xt, _ = CondOTPath().sample_marginal(x1, t, noise)
    assert torch.allclose(xt, peer.x_t, atol=1e-6)
    assert torch.allclose(ours, peer_loss, rtol=1e-5)


class _Flipped(torch.nn.Module):
    """A peer net v(x, s) seen in genflow's time t = 1 - s: -v(x, 1 - t)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, t, y=None):
        return -self.net(x, 1 - t)


def test_ddpm_noising_equals_diffusers_add_noise():
    diffusers = pytest.importorskip("diffusers")
    sched = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False)
    path = DiscreteVPPath(LinearSchedule(), 1000)
    g = torch.Generator().manual_seed(0)
    x, eps = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    k = torch.tensor([0, 1, 10, 500, 998, 999])
    ours, _ = path.sample_marginal(x, (k + 1).float() / 1000, eps)
    assert torch.allclose(ours, sched.add_noise(x, eps, k), atol=1e-5)
