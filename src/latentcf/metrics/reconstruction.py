"""Reconstruction metrics inside a mask: MAE, PSNR and SSIM of 3D volumes.

SSIM uses MONAI's implementation (Gaussian window, sigma 1.5 voxels, 11 voxels wide, k1=0.01,
k2=0.03). Both images are zero-padded by half a window first (the background of a
skull-stripped model-grid image is 0), so the SSIM map covers every voxel; the score is the
mean of the map over the mask. The data range used by PSNR and SSIM is the target's intensity
range inside the mask (max - min).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from monai.metrics.regression import compute_ssim_and_cs

SSIM_KERNEL_SIZE = 11
SSIM_SIGMA = 1.5


def _as_tensor(a: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a)
    return t.detach().float().cpu()


def ssim_map(pred: torch.Tensor, target: torch.Tensor, data_range: float) -> torch.Tensor:
    """Per-voxel SSIM of two 3D volumes (X, Y, Z) -> (X, Y, Z), zero padding at the borders."""
    pad = SSIM_KERNEL_SIZE // 2
    p = F.pad(pred[None, None], (pad,) * 6)
    t = F.pad(target[None, None], (pad,) * 6)
    ssim, _ = compute_ssim_and_cs(
        p,
        t,
        spatial_dims=3,
        kernel_size=[SSIM_KERNEL_SIZE] * 3,
        kernel_sigma=[SSIM_SIGMA] * 3,
        data_range=data_range,
    )
    return ssim[0, 0]


def masked_metrics(
    pred: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    mask: np.ndarray | torch.Tensor,
) -> dict[str, float]:
    """MAE, PSNR (dB) and SSIM of `pred` vs `target` inside `mask` (all 3D, same shape).

    Returns {"mae", "psnr", "ssim", "n_voxels"}. Raises ValueError on shape mismatch or an
    empty mask.
    """
    p, t, m = _as_tensor(pred), _as_tensor(target), _as_tensor(mask) > 0
    if p.ndim != 3 or p.shape != t.shape or t.shape != m.shape:
        raise ValueError(
            f"expected three 3D arrays of one shape, got {tuple(p.shape)}, {tuple(t.shape)}, {tuple(m.shape)}"
        )
    n = int(m.sum())
    if n == 0:
        raise ValueError("the mask is empty")
    inside = t[m]
    data_range = float(inside.max() - inside.min()) or 1.0
    diff = (p - t)[m]
    mae = float(diff.abs().mean())
    mse = float((diff**2).mean())
    psnr = float("inf") if mse == 0 else 10.0 * math.log10(data_range**2 / mse)
    ssim = float(ssim_map(p, t, data_range)[m].mean())
    return {"mae": mae, "psnr": psnr, "ssim": ssim, "n_voxels": n}
