"""Skip PyTorch's NVML-based CUDA check on hosts without NVML.

Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` when imported, so that asking for a GPU does not
initialise CUDA before worker processes fork. ``torch.cuda.is_available()`` then dlopens
libnvidia-ml on every call until CUDA is initialised; where the library is absent (CPU hosts) the
dlopen fails each time (~70 us) and torch falls back to the CUDA runtime's device count, which is
the answer it gives without the variable. AdamW asks once per step (its graph-capture health
check): about 4% of a small CPU training step. Without libnvidia-ml the variable is dropped: same
answer, no failing dlopen. Hosts with NVML keep Lightning's setting.
"""

from __future__ import annotations

import ctypes
import os

NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"
NVML_LIBRARY = "libnvidia-ml.so.1"


def skip_failing_nvml_check() -> bool:
    """Drop the NVML-based check (after importing Lightning, which sets it) when libnvidia-ml cannot
    be loaded; True when it was dropped."""
    import lightning  # noqa: F401  (sets the variable on import; importing it later would set it again)

    if os.environ.get(NVML_CHECK) != "1":
        return False
    try:
        ctypes.CDLL(NVML_LIBRARY)
    except OSError:
        del os.environ[NVML_CHECK]
        return True
    return False
