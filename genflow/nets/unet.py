"""DDPM U-Net (Ho et al. 2020, appendix B): residual blocks with group norm and a time embedding,
self-attention at chosen resolutions, dropout, and an optional label embedding.

``UNet(data_shape=(3, 32, 32), ch=128, ch_mult=(1, 2, 2, 2), num_res_blocks=2,
attn_resolutions=(16,), dropout=0.1)`` is the paper's CIFAR-10 network (35.7M parameters).
``num_heads`` splits each attention block into heads (1, the paper's, by default; diffusers'
``UNet2DModel`` uses heads of 8 channels); ``channels_last=True`` keeps the weights and activations in
NHWC memory layout, which cuDNN's tensor-core convolutions prefer (same results, same checkpoints).

With ``out_shape=[K]`` it is a time-conditioned classifier, the encoder half of the U-Net as in
ADM's ``EncoderUNetModel`` (Dhariwal & Nichol 2021, pool="adaptive"): stem, down path, middle, then
logits = W mean_{h,w} SiLU(GN(h)) + b (global average pooling and a linear layer); no up path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genflow.errors import UserError, flag
from genflow.nets.embeddings import LabelEmbedding, SinusoidalEmbedding


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(groups, channels), channels)


class ResBlock(nn.Module):
    """h = conv(SiLU(GN(x))) + W emb; out = skip(x) + conv(dropout(SiLU(GN(h))))."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float, groups: int):
        super().__init__()
        self.in_layers = nn.Sequential(_norm(c_in, groups), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, c_out))
        self.out_layers = nn.Sequential(_norm(c_out, groups), nn.SiLU(), nn.Dropout(dropout),
                                        nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.in_layers(x) + self.emb(emb)[:, :, None, None]
        return self.skip(x) + self.out_layers(h)


class AttnBlock(nn.Module):
    """Multi-head self-attention over the H*W positions (one head in the DDPM paper):
    x + proj(concat_heads softmax(q_h k_h^T / sqrt(d)) v_h), d = C / num_heads.

    q, k and v come out of one matrix product over the positions as (B, heads, H*W, d) views with unit
    stride along d, the layout PyTorch's fused attention kernels (flash, memory-efficient, cuDNN) take
    (views of a (B, 3C, H*W) convolution output would have stride H*W along d and run on the unfused
    math kernel). The projections keep their 1x1-convolution parameters: checkpoints load unchanged."""

    def __init__(self, channels: int, groups: int, num_heads: int = 1):
        super().__init__()
        if num_heads < 1 or channels % num_heads:
            raise UserError(f"net.num_heads={num_heads} must divide every attention block's channels ({channels})")
        self.num_heads = num_heads
        self.norm = _norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, HW, C); contiguous for channels_last input
        qkv = F.linear(tokens, self.qkv.weight.flatten(1), self.qkv.bias)  # (B, HW, 3C)
        q, k, v = qkv.view(b, h * w, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, HW, d)
        out = F.linear(out.transpose(1, 2).reshape(b, h * w, c), self.proj.weight.flatten(1), self.proj.bias)
        return x + out.transpose(1, 2).view(b, c, h, w)  # a channels_last view of (B, HW, C)


class Stage(nn.Module):
    """A residual block, optionally followed by attention."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float, groups: int, attention: bool,
                 num_heads: int = 1):
        super().__init__()
        self.res = ResBlock(c_in, c_out, emb_dim, dropout, groups)
        self.attn = AttnBlock(c_out, groups, num_heads) if attention else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        return self.attn(self.res(x, emb))


class UNet(nn.Module):
    def __init__(self, data_shape, ch: int = 128, ch_mult=(1, 2, 2, 2), num_res_blocks: int = 2,
                 attn_resolutions=(16,), dropout: float = 0.1, num_groups: int = 32, num_classes: int = 0,
                 time_scale: float = 1000.0, num_heads: int = 1, channels_last: bool = False, out_shape=None):
        super().__init__()
        if len(data_shape) != 3:
            raise UserError(f"net=unet needs image data (C, H, W); this data has shape {tuple(data_shape)} "
                            "(use net=mlp for vectors)")
        out_shape = tuple(data_shape) if out_shape is None else tuple(int(k) for k in out_shape)
        if out_shape != tuple(data_shape) and len(out_shape) != 1:
            raise UserError(f"net=unet outputs an image of the data's shape {tuple(data_shape)} or a vector of "
                            f"logits [K]; out_shape={list(out_shape)} is neither")
        self.encoder_only = out_shape != tuple(data_shape)
        channels, resolution = data_shape[0], data_shape[1]
        if resolution % 2 ** (len(ch_mult) - 1):
            raise UserError(f"net.ch_mult={list(ch_mult)} halves the resolution {len(ch_mult) - 1} times, "
                            f"which {resolution} does not allow")
        emb_dim = 4 * ch
        self.time = nn.Sequential(SinusoidalEmbedding(ch, time_scale), nn.Linear(ch, emb_dim), nn.SiLU(),
                                  nn.Linear(emb_dim, emb_dim))
        self.labels = LabelEmbedding(num_classes, emb_dim) if num_classes > 0 else None
        self.stem = nn.Conv2d(channels, ch, 3, padding=1)
        self.down, skips, c = nn.ModuleList(), [ch], ch
        for level, mult in enumerate(ch_mult):
            for _ in range(num_res_blocks):
                self.down.append(Stage(c, ch * mult, emb_dim, dropout, num_groups, resolution in attn_resolutions,
                                        num_heads))
                c = ch * mult
                skips.append(c)
            if level < len(ch_mult) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
                resolution //= 2
        self.mid = nn.ModuleList([Stage(c, c, emb_dim, dropout, num_groups, True, num_heads),
                                  Stage(c, c, emb_dim, dropout, num_groups, False)])
        if self.encoder_only:
            self.head = nn.Sequential(_norm(c, num_groups), nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                      nn.Linear(c, out_shape[0]))
        else:
            self.up = nn.ModuleList()
            for level, mult in reversed(list(enumerate(ch_mult))):
                for _ in range(num_res_blocks + 1):
                    self.up.append(Stage(c + skips.pop(), ch * mult, emb_dim, dropout, num_groups,
                                         resolution in attn_resolutions, num_heads))
                    c = ch * mult
                if level > 0:
                    self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                 nn.Conv2d(c, c, 3, padding=1)))
                    resolution *= 2
            self.head = nn.Sequential(_norm(c, num_groups), nn.SiLU(), nn.Conv2d(c, channels, 3, padding=1))
        self.channels_last = flag("net.channels_last", channels_last)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        emb = self.time(t.expand(x.shape[0]) if t.numel() == 1 else t)
        if self.labels is not None:
            emb = emb + self.labels(y, x.shape[0], x.device)
        h = self.stem(x.contiguous(memory_format=torch.channels_last) if self.channels_last else x)
        hs = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, Stage) else layer(h)
            hs.append(h)
        for layer in self.mid:
            h = layer(h, emb)
        if self.encoder_only:
            return self.head(h)
        for layer in self.up:
            h = layer(torch.cat([h, hs.pop()], 1), emb) if isinstance(layer, Stage) else layer(h)
        return self.head(h).contiguous()
