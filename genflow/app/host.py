"""Process-wide tuning for fast small workloads, applied by the ``genflow`` command only (never on
import of the library, nor in the tests unless a test asks for it). ``GENFLOW_HOST_TUNING=0`` turns
both settings off.

1. glibc malloc keeps freed memory for reuse. With glibc's defaults the memory freed at the end of a
   forward pass goes back to the kernel (heap trimming, munmap of large blocks), so the next step's
   activations are page-faulted in again, zero-filled. With the mmap threshold at glibc's maximum and
   a 1 GiB trim threshold the freed blocks are reused, as PyTorch's caching allocator does on a GPU
   (benchmarks/README.md, section 1). No effect on other C libraries (musl, macOS, Windows).
2. No failing NVML probe per optimizer step. Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` on
   import, so ``torch.cuda.is_available()`` dlopens libnvidia-ml on every call until CUDA is
   initialised; where the library is absent (CPU hosts) the dlopen fails each time and torch falls
   back to the answer it gives without the variable. AdamW asks once per step. Without libnvidia-ml
   the variable is dropped: same answer, no failing dlopen. Hosts with NVML keep Lightning's setting.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's upper bound on 64-bit (4 * 1024 * 1024 * sizeof(long))
TRIM_THRESHOLD = 2**30
TOP_PAD = 64 * 2**20
NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"
NVML_LIBRARY = "libnvidia-ml.so.1"


def tune_malloc() -> bool:
    """Apply the malloc settings above; True when glibc accepted them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(option, value) == 1 for option, value in
               ((M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD)))


def skip_failing_nvml_check() -> bool:
    """Drop the NVML-based CUDA check (after importing Lightning, which sets it) when libnvidia-ml cannot
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


def tune_host() -> dict:
    """Apply both settings unless ``GENFLOW_HOST_TUNING=0``; says which took effect."""
    if os.environ.get("GENFLOW_HOST_TUNING", "1") == "0":
        return {"malloc_tuned": False, "nvml_check_skipped": False}
    return {"malloc_tuned": tune_malloc(), "nvml_check_skipped": skip_failing_nvml_check()}
