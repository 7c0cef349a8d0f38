"""Device, precision and memory-format choices for training and inference."""

from __future__ import annotations

import contextlib
import logging

import torch

from latentcf.errors import ConfigError
from latentcf.hardware import cpu_has_native_bf16

log = logging.getLogger(__name__)


def select_device(requested: str = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU; 'cuda' fails clearly when no GPU is visible."""
    if requested not in ("auto", "cpu", "cuda"):
        raise ConfigError("train.device", f"expected auto, cpu or cuda, got {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "train.device", "'cuda' was requested but no CUDA GPU is visible", "Use 'auto' or 'cpu'"
        )
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def resolve_precision(precision: str, device: torch.device, key: str = "train.precision") -> str:
    """'auto' -> 'bf16' on CUDA GPUs that support it and on CPUs with native bf16 instructions
    (:func:`latentcf.hardware.cpu_has_native_bf16`), else 'fp32'."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ConfigError(key, f"expected auto, fp32 or bf16, got {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            use_bf16 = torch.cuda.is_bf16_supported()
        else:
            use_bf16 = cpu_has_native_bf16()
        return "bf16" if use_bf16 else "fp32"
    return precision


def resolve_channels_last(option: str | bool, device: torch.device) -> bool:
    """channels_last_3d memory format: 'auto' -> on for CUDA (faster cuDNN kernels), off on CPU."""
    if option == "auto":
        return device.type == "cuda"
    return bool(option)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast context for `precision == 'bf16'`, else a no-op context."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """x (B, C, X, Y, Z) in channels_last_3d layout when asked."""
    return x.contiguous(memory_format=torch.channels_last_3d) if channels_last else x
