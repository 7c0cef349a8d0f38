"""Intensity normalisation inside the brain: robust percentile scaling.

With ``lo``/``hi`` the `lower`/`upper` percentiles of the bias-corrected intensities inside
the native brain mask, every voxel becomes ``(x - lo) / (hi - lo)``, clipped to [0, 1] when
`clip` is set, and 0 outside the brain. Percentiles (not min/max or mean/std) make the scale
insensitive to a few hot voxels (vessels, residual skull) and to the brain's size; computing
them on the native voxels makes them independent of the model-grid resolution.
"""

from __future__ import annotations

import numpy as np

from latentcf.errors import ConfigError


def brain_percentiles(
    data: np.ndarray, mask: np.ndarray, lower: float, upper: float
) -> tuple[float, float]:
    """(lo, hi): the `lower`/`upper` percentiles (0-100) of `data` inside the boolean `mask`."""
    if not 0.0 <= lower < upper <= 100.0:
        raise ConfigError(
            "preprocess.normalisation",
            f"expected 0 <= lower_percentile < upper_percentile <= 100, got {lower} and {upper}",
        )
    values = np.asarray(data, dtype=np.float64)[np.asarray(mask, dtype=bool)]
    if values.size == 0:
        raise ValueError("the brain mask is empty")
    lo, hi = np.percentile(values, [lower, upper])
    if not hi > lo:
        hi = lo + 1.0  # a flat brain (synthetic data): avoid dividing by 0
    return float(lo), float(hi)


def scale(data: np.ndarray, mask: np.ndarray, lo: float, hi: float, *, clip: bool) -> np.ndarray:
    """float32 array: (data - lo) / (hi - lo) inside `mask` (clipped to [0, 1] if `clip`), 0 outside.

    `clip` is ``preprocess.normalisation.clip`` (default in preprocess.schema.yaml).
    """
    out = (np.asarray(data, dtype=np.float32) - np.float32(lo)) / np.float32(hi - lo)
    if clip:
        out = np.clip(out, 0.0, 1.0)
    out[~np.asarray(mask, dtype=bool)] = 0.0
    return out.astype(np.float32)
