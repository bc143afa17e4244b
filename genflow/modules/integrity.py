"""A checksum of a checkpoint's weights, so a damaged file is refused instead of sampled from.

    weights_sha256 = SHA-256 over the state_dict, entry by entry in sorted key order:
                     key, dtype, shape, then the tensor's raw bytes

PyTorch's zip archive keeps no checksum that ``torch.load`` verifies: a flipped bit in a weight
loads silently (a data scale of 1e11 gives samples at 1e11). genflow stores the digest in
``checkpoint["genflow"]["weights_sha256"]`` when it saves and verifies it whenever it loads.
Checkpoints written before the digest existed load with a note that they are unverified.
"""

from __future__ import annotations

import hashlib
import logging

import torch

from genflow.errors import UserError

log = logging.getLogger("genflow.checkpoint")


def weights_digest(state_dict: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key]
        if not torch.is_tensor(t):
            h.update(f"{key}|{t!r}\n".encode())
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def verify_weights(checkpoint: dict, source: str) -> bool:
    """Raise a one-line UserError when the stored digest does not match the weights; return False
    (and log it) when the checkpoint has no digest, True when it matches."""
    stored = (checkpoint.get("genflow") or {}).get("weights_sha256")
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict):
        raise UserError(f"{source} holds no weights (no state_dict)")
    if stored is None:
        log.info("%s has no weights checksum (written by an older genflow): unverified", source)
        return False
    if weights_digest(state) != stored:
        raise UserError(f"{source} is damaged: its weights do not match their SHA-256 checksum (the file changed "
                        "after it was written); refused")
    return True
