"""The U-Net's attention: the layout fused attention kernels take, the same numbers as the single-head
layout it replaced, checkpoints of that layout load, heads, channels_last."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from genflow.errors import UserError
from genflow.nets.unet import AttnBlock, UNet

SMALL = dict(ch=16, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,), dropout=0.0, num_groups=4)


def reference_attention(block: AttnBlock, x):
    """The DDPM paper's single-head attention written out: softmax(q^T k / sqrt(C)) over positions."""
    b, c, h, w = x.shape
    q, k, v = block.qkv(block.norm(x)).reshape(b, 3, c, h * w).unbind(1)
    weights = torch.softmax(q.transpose(1, 2) @ k / c ** 0.5, dim=-1)  # (B, HW, HW)
    return x + block.proj((v @ weights.transpose(1, 2)).reshape(b, c, h, w))


class SingleHeadConvAttention(nn.Module):
    """The attention block of genflow before multi-head support (same parameter names and shapes)."""

    def __init__(self, channels, groups):
        super().__init__()
        self.norm = nn.GroupNorm(min(groups, channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


def with_old_attention(net: UNet) -> UNet:
    for stage in [*net.down, *net.mid, *net.up]:
        if isinstance(getattr(stage, "attn", None), AttnBlock):
            c = stage.attn.proj.in_channels
            stage.attn = SingleHeadConvAttention(c, stage.attn.norm.num_groups)
    return net


def test_attention_matches_the_paper_and_the_old_layout():
    torch.manual_seed(0)
    block = AttnBlock(32, 8)
    x = torch.randn(3, 32, 4, 4)
    torch.testing.assert_close(block(x), reference_attention(block, x), rtol=1e-5, atol=1e-5)
    old = SingleHeadConvAttention(32, 8)
    old.load_state_dict(block.state_dict())
    torch.testing.assert_close(block(x), old(x), rtol=1e-5, atol=1e-5)


def test_checkpoints_of_the_old_layout_load_and_give_the_same_output():
    torch.manual_seed(0)
    old = with_old_attention(UNet((1, 8, 8), **SMALL)).eval()
    new = UNet((1, 8, 8), **SMALL).eval()
    new.load_state_dict(old.state_dict(), strict=True)
    x, t = torch.randn(4, 1, 8, 8), torch.rand(4)
    torch.testing.assert_close(new(x, t), old(x, t), rtol=1e-5, atol=1e-5)


def test_attention_inputs_have_unit_stride_and_a_fused_kernel_takes_them(monkeypatch):
    """CPU PyTorch has a fused (flash) attention kernel that, like the CUDA ones, refuses inputs whose last
    dimension is strided; forcing it shows the old layout fell back to the unfused kernel."""
    seen = []
    sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda q, k, v, **kw: seen.append((q, k, v)) or sdpa(q, k, v, **kw))
    net = UNet((1, 8, 8), **SMALL)
    x, t = torch.randn(2, 1, 8, 8, requires_grad=True), torch.rand(2)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        net(x, t).square().mean().backward()  # forward and backward through the fused kernel
    assert seen and all(a.stride(-1) == 1 for qkv in seen for a in qkv)
    old = with_old_attention(UNet((1, 8, 8), **SMALL))
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]), pytest.raises(RuntimeError, match="No available kernel"):
        old(x, t)


@pytest.mark.parametrize("heads", [2, 4])
def test_heads_split_the_channels(heads):
    torch.manual_seed(0)
    block = AttnBlock(32, 8, num_heads=heads)
    x = torch.randn(2, 32, 4, 4)
    b, c, h, w = x.shape
    q, k, v = block.qkv(block.norm(x)).reshape(b, 3, heads, c // heads, h * w).unbind(1)  # (B, heads, d, HW)
    weights = torch.softmax(q.transpose(-1, -2) @ k / (c // heads) ** 0.5, dim=-1)
    expected = x + block.proj((v @ weights.transpose(-1, -2)).reshape(b, c, h, w))
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(UserError, match="net.num_heads=3"):
        AttnBlock(32, 8, num_heads=3)


def test_channels_last_gives_the_same_output_and_state_dict():
    torch.manual_seed(0)
    a = UNet((1, 8, 8), **SMALL).eval()
    b = UNet((1, 8, 8), **SMALL, channels_last=True).eval()
    b.load_state_dict(a.state_dict())
    assert b.stem.weight.is_contiguous(memory_format=torch.channels_last)
    x, t = torch.randn(3, 1, 8, 8), torch.rand(3)
    out = b(x, t)
    assert out.is_contiguous()
    torch.testing.assert_close(out, a(x, t), rtol=1e-5, atol=1e-5)
    assert a.state_dict().keys() == b.state_dict().keys()
