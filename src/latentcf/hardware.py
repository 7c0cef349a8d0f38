"""What this machine offers, found without importing torch (so the workflow can ask at parse time).

- :func:`host_sees_gpu`: an NVIDIA GPU is visible here (device files or nvidia-smi), honouring
  CUDA_VISIBLE_DEVICES. Used to decide whether a job with ``device: auto`` asks the scheduler
  for a GPU (``resources: gpu=1``).
- :func:`cpu_has_native_bf16`: the CPU executes bf16 matrix products natively (AVX-512 BF16 or
  AMX), where bf16 autocast speeds up 3D convolutions instead of emulating them.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

#: /proc/cpuinfo flags that mean native bf16 dot products.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.lru_cache(maxsize=1)
def host_sees_gpu() -> bool:
    """True when an NVIDIA GPU is visible to processes started here."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    if any(Path("/dev").glob("nvidia[0-9]*")):
        return True
    return shutil.which("nvidia-smi") is not None and Path("/proc/driver/nvidia").is_dir()


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of the first processor in /proc/cpuinfo (empty where unavailable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """True when the CPU has AVX-512 BF16 or AMX-BF16 instructions."""
    return bool(cpu_flags() & BF16_CPU_FLAGS)


def gpu_request(device: str) -> int:
    """GPUs a job should ask the scheduler for, given its `device` setting (auto, cpu, cuda)."""
    return int(device == "cuda" or (device == "auto" and host_sees_gpu()))
