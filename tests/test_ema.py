"""The EMA of weights: the warm-up formula, AveragedModel's state-dict keys both ways, and its count
restored from a checkpoint."""

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from genflow.modules.ema import EMA


def averaged_model(net, decay):
    """torch's AveragedModel with the same warm-up, the layout of checkpoints written before EMA."""
    def update(ema, params, n):
        d = min(decay, (1 + int(n)) / (10 + int(n)))
        torch._foreach_lerp_(ema, params, 1 - d)
    return AveragedModel(net, multi_avg_fn=update, use_buffers=True)


def perturb(net):
    with torch.no_grad():
        for p in [*net.parameters(), *net.buffers()]:
            p.add_(torch.randn_like(p))


def test_ema_follows_the_warm_up_formula_and_averaged_models_checkpoints():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.GroupNorm(2, 4))
    net.register_buffer("scale", torch.ones(4))  # buffers are averaged too
    ours, theirs = EMA(net, 0.9), averaged_model(net, 0.9)
    for _ in range(4):
        perturb(net)
        ours.update_parameters(net)
        theirs.update_parameters(net)
    assert ours.state_dict().keys() == theirs.state_dict().keys() and int(ours.n_averaged) == 4
    for key, value in theirs.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], value)
    restored = EMA(net, 0.9)
    restored.load_state_dict(theirs.state_dict())  # n_averaged = 4: the next update uses d_4, not a copy
    perturb(net)
    restored.update_parameters(net)
    theirs.update_parameters(net)
    for key, value in theirs.state_dict().items():
        torch.testing.assert_close(restored.state_dict()[key], value)
    assert int(restored.n_averaged) == 5
