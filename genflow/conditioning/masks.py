"""Inpainting masks and images from files: 1 = known, 0 = to fill in. Files are data, never code: .npy is read
without pickles, .png through Pillow; shapes and values are checked with one-line errors.

Built-in masks name the region to fill in, for an image of height H and width W:
``left_half`` ``right_half`` ``top_half`` ``bottom_half``, ``center_square`` (the central H/2 x W/2 block),
``every_other_row`` (rows 1, 3, 5, ... unknown) and ``random_half`` (each pixel unknown with probability 1/2, seeded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genflow.errors import UserError


def _hidden(name: str, h: int, w: int, generator: torch.Generator) -> Tensor:
    rows, cols = torch.arange(h)[:, None], torch.arange(w)[None, :]
    regions = {
        "left_half": cols < w // 2,
        "right_half": cols >= w - w // 2,
        "top_half": rows < h // 2,
        "bottom_half": rows >= h - h // 2,
        "center_square": ((rows >= h // 4) & (rows < h // 4 + h // 2)) & ((cols >= w // 4) & (cols < w // 4 + w // 2)),
        "every_other_row": (rows % 2 == 1).expand(h, w),
        "random_half": torch.rand(h, w, generator=generator) < 0.5,
    }
    return regions[name].expand(h, w)


BUILT_IN = ("left_half", "right_half", "top_half", "bottom_half", "center_square", "every_other_row", "random_half")


def image_mask(spec: str, shape: tuple[int, int, int], seed: int = 0, key: str = "guidance.mask") -> Tensor:
    """The boolean mask (True = known) of shape (C, H, W) for a built-in name or a .npy / .png file of shape (H, W),
    (1, H, W) or (C, H, W) with 1 = known."""
    c, h, w = shape
    spec = str(spec)
    if spec in BUILT_IN:
        return (~_hidden(spec, h, w, torch.Generator().manual_seed(seed))).expand(c, h, w).clone()
    if not spec.endswith((".npy", ".png")):
        raise UserError(f"{key}={spec!r} is not valid; choose one of {', '.join(BUILT_IN)}, or a .npy / .png file "
                        "(1 = known)")
    array = read_array(spec, key, "L")
    if spec.endswith(".png"):
        array = array.astype(np.float64) / 255.0
    if not np.isin(array, (0, 1)).all():
        raise UserError(f"{key}={spec!r} must hold only 0 (to fill in) and 1 (known)")
    mask = torch.from_numpy(array.astype(bool))
    if mask.dim() == 2:
        mask = mask[None]
    if mask.shape[1:] != (h, w) or mask.shape[0] not in (1, c):
        raise UserError(f"{key}={spec!r} has shape {tuple(array.shape)}; the model makes images of shape "
                        f"{(c, h, w)}: expected ({h}, {w}), (1, {h}, {w}) or ({c}, {h}, {w})")
    return mask.expand(c, h, w).clone()


def read_array(path: str, key: str, mode: str = "L") -> np.ndarray:
    """A .npy array (no pickles), or a .png converted to Pillow's ``mode``: uint8 (H, W) for "L", (H, W, 3) for
    "RGB"."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"{key}={path!r}: no such file")
    try:
        if p.suffix == ".npy":
            return np.load(p, allow_pickle=False)
        from PIL import Image

        with Image.open(p) as im:
            return np.asarray(im.convert(mode))
    except Exception as e:  # a corrupt or foreign file
        raise UserError(f"{key}={path!r} is not a readable {p.suffix} file ({type(e).__name__})") from None


def image_file(path: str, shape: tuple[int, int, int], key: str = "guidance.image") -> Tensor:
    """Images in data units [0, 1], (N, C, H, W): a .npy of shape (N, C, H, W), (N, H, W) or (H, W) with values in
    [0, 1], or a .png of one image (H, W) grey or (H, W, 3) colour."""
    c, h, w = shape
    array = read_array(path, key, "L" if c == 1 else "RGB")
    if str(path).endswith(".png"):
        x = torch.from_numpy(array.astype(np.float32) / 255.0)
        x = x[None, None] if x.dim() == 2 else x.permute(2, 0, 1)[None]
    else:
        if not np.issubdtype(array.dtype, np.number):
            raise UserError(f"{key}={path!r} must hold numbers in [0, 1]")
        x = torch.from_numpy(array.astype(np.float32))
        x = x[None, None] if x.dim() == 2 else x[:, None] if x.dim() == 3 and c == 1 and x.shape[1:] == (h, w) else x
        if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise UserError(f"{key}={path!r} must hold finite values in [0, 1] (data units)")
    if x.dim() == 4 and x.shape[1] == 1 and c == 3:
        x = x.expand(-1, 3, -1, -1)
    if x.dim() != 4 or tuple(x.shape[1:]) != (c, h, w):
        raise UserError(f"{key}={path!r} holds images of shape {tuple(array.shape)}; the model makes {(c, h, w)}")
    return x.contiguous()
