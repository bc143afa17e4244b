"""Process-wide settings for fast small workloads, applied by ``genflow``, the benchmarks and the tests:
glibc malloc keeps freed activations (genflow.allocator) and no failing NVML probe per optimizer step
(genflow.cuda_check)."""

from __future__ import annotations

from genflow.allocator import tune_malloc
from genflow.cuda_check import skip_failing_nvml_check


def tune_host() -> dict:
    """Apply both; says which took effect."""
    return {"malloc_tuned": tune_malloc(), "nvml_check_skipped": skip_failing_nvml_check()}
